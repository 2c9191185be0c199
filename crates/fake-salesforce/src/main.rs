//! The `fake-salesforce` command: a fake Salesforce on loopback that prints one JSON line
//! naming its endpoints when ready, for integration tests in any language.

#![forbid(unsafe_code)]

use clap::Parser;

/// A fake Salesforce (Pub/Sub API, OAuth, Interaction Service, control plane) on loopback.
#[derive(Debug, Parser)]
#[command(name = "fake-salesforce", version, about)]
struct Cli {
    #[command(flatten)]
    args: fake_salesforce::cli::Args,
}

fn main() -> std::process::ExitCode {
    fake_salesforce::install_crypto_provider();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("fake-salesforce: cannot start the tokio runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fake_salesforce::cli::run(
        &cli.args,
        fake_salesforce::cli::stop_signal(),
    )) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fake-salesforce: {err}");
            std::process::ExitCode::from(1)
        }
    }
}
