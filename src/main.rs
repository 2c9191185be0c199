//! The `byoc-connector` command line: parse, then call the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use byoc_connector::config::{Config, LogFormat};
#[cfg(feature = "harness")]
use byoc_connector::dev::cli as dev;
use clap::{Parser, Subcommand};
use store_commands::{CheckpointArgs, DlqArgs};
use tokio_util::sync::CancellationToken;

mod store_commands;

/// mimalloc instead of glibc's malloc: a sixth of the daemon's CPU went to allocating and
/// freeing (see Cargo.toml and docs/benchmarks.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connects a partner messaging channel to Salesforce Bring Your Own Channel for CCaaS.
#[derive(Debug, Parser)]
#[command(
    name = "byoc-connector",
    version,
    about,
    after_help = "Logs go to stderr. RUST_LOG picks what is logged, e.g. RUST_LOG=info (the \
                  default for run), RUST_LOG=debug, or per module: \
                  RUST_LOG=info,byoc_connector::routing=debug."
)]
struct Cli {
    /// Log line format: text on a terminal and json otherwise (auto), or either always; wins
    /// over the config file's log.format [default: auto]
    #[arg(long, global = true, value_enum, env = "BYOC_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fake Salesforce + connector + a printing demo channel in one process: plays one
    /// conversation and a routing request, then exits
    #[cfg(feature = "harness")]
    Demo(dev::DemoArgs),
    /// Run the connector (the long-running daemon or sidecar)
    Run(RunArgs),
    /// Inspect and act on dead letters in the store of a stopped connector
    Dlq(DlqArgs),
    /// List, set (replay from a point) or reset the stream checkpoint of a stopped connector
    Checkpoint(CheckpointArgs),
    /// Check a setup step by step: config, token, org, Pub/Sub topic and schema, channel
    /// definition, Interaction Service, partner webhook, store. Exits 0 when every step
    /// passes, 64 when the configuration is refused, 69 when another step fails
    Doctor(DoctorArgs),
    /// Print an example configuration, or the effective one and where each value came from
    #[command(subcommand)]
    Config(ConfigAction),
    /// Run a fake Salesforce (Pub/Sub gRPC + control plane) on loopback; prints one JSON
    /// line with its endpoints when ready
    #[cfg(feature = "harness")]
    FakeSalesforce(Box<fake_salesforce::cli::Args>),
    /// Run a benchmark scenario and print its figures
    #[cfg(feature = "harness")]
    Bench(dev::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// TOML configuration file; BYOC__SECTION__KEY environment variables override it
    #[arg(long, short, env = "BYOC_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct DoctorArgs {
    /// TOML configuration file; BYOC__SECTION__KEY environment variables override it
    #[arg(long, short, env = "BYOC_CONFIG")]
    config: Option<PathBuf>,
    /// One JSON object instead of the lines
    #[arg(long)]
    json: bool,
    /// The tenant to check, with `[[tenants]]` (required when there are several)
    #[arg(long)]
    tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print a complete, commented configuration that loads as is
    Example,
    /// Print the effective configuration, secrets redacted: every key's value and whether it
    /// came from the file, the environment or the default
    Show {
        /// TOML configuration file; BYOC__SECTION__KEY environment variables override it
        #[arg(long, short, env = "BYOC_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Exit status for a configuration error (sysexits EX_USAGE, as linkerd2-proxy uses).
const EXIT_BAD_CONFIG: i32 = 64;

/// Exit status for any other failure.
const EXIT_FAILURE: i32 = 1;

/// Exit status of `doctor` when a step other than the configuration fails (sysexits
/// EX_UNAVAILABLE).
const EXIT_CHECK_FAILED: i32 = 69;

fn main() {
    byoc_connector::install_crypto_provider();
    let cli = Cli::parse();
    if let Err(err) = dispatch(cli) {
        eprintln!("byoc-connector: {}", error_chain(&err));
        std::process::exit(EXIT_FAILURE);
    }
}

/// The error and each of its causes once: a cause whose text the message already holds (a
/// `"cannot authenticate: {0}"` wrapper) is not repeated.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Prints every configuration problem at once and exits 64 (before anything binds).
fn exit_bad_config(path: Option<&std::path::Path>, err: &impl std::fmt::Display) -> ! {
    match path {
        Some(_) => eprintln!("byoc-connector: invalid configuration\n{err}"),
        None => eprintln!(
            "byoc-connector: invalid configuration\n\
             no config file: --config was not given and BYOC_CONFIG is not set, so only \
             BYOC__SECTION__KEY environment variables were read ({} set)\n{err}\n\
             hint: `byoc-connector config example > connector.toml`, edit it, then pass \
             --config connector.toml",
            Config::environment().len()
        ),
    }
    std::process::exit(EXIT_BAD_CONFIG);
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let (config_path, tenant) = match &cli.command {
        Command::Run(args) => (Some(args.config.clone()), None),
        Command::Dlq(args) => (Some(args.config.clone()), Some(args.tenant.clone())),
        Command::Checkpoint(args) => (Some(args.config.clone()), Some(args.tenant.clone())),
        Command::Config(action) => {
            config_command(action);
            return Ok(());
        }
        Command::Doctor(args) => doctor(args, cli.log_format.unwrap_or_default()),
        #[cfg(feature = "harness")]
        Command::Demo(_) | Command::FakeSalesforce(_) | Command::Bench(_) => (None, None),
    };
    let config = match config_path {
        Some(path) => match Config::load(path.as_deref(), Config::environment()) {
            // The store commands act on one tenant's store.
            Ok(config) => match tenant {
                Some(tenant) => match config.for_one_channel(tenant.as_deref()) {
                    Ok(config) => Some(config),
                    Err(err) => exit_bad_config(path.as_deref(), &err),
                },
                None => Some(config),
            },
            Err(err) => exit_bad_config(path.as_deref(), &err),
        },
        None => None,
    };
    if let (Command::Run(args), Some(config)) = (&cli.command, &config) {
        // What validation can foresee (a port in use) fails here, with the same exit status,
        // before the connector binds or connects anything.
        if let Err(err) = byoc_connector::connector::preflight(config) {
            exit_bad_config(args.config.as_deref(), &err);
        }
    }
    // Logging starts only now, after the configuration is loaded: `--log-format` or
    // `BYOC_LOG_FORMAT`, else the file's `log.format`, else auto. Nothing is logged before this
    // point; configuration errors go to stderr as plain text whatever the format.
    let log_format = cli
        .log_format
        .or(config.as_ref().map(|config| config.log.format))
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let outcome = runtime.block_on(async move {
        match (cli.command, config) {
            (Command::Run(args), Some(config)) => {
                init_logs("info", log_format);
                // On a worker, not on this thread: `block_on` polls its future on the main
                // thread, outside the workers, so every time the subscriber woke the dispatcher
                // running there, a parked thread would have to be unparked (docs/benchmarks.md,
                // "The dispatcher's thread").
                match tokio::spawn(run(config, args.config.is_none())).await {
                    Ok(outcome) => outcome,
                    Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                    Err(join) => Err(anyhow::anyhow!(join)),
                }
            }
            (Command::Dlq(args), Some(config)) => store_commands::dlq(args.action, config).await,
            (Command::Checkpoint(args), Some(config)) => {
                store_commands::checkpoint(args.action, &config)
            }
            (Command::Run(_) | Command::Dlq(_) | Command::Checkpoint(_), None) => {
                unreachable!("configuration is loaded above")
            }
            (Command::Config(_) | Command::Doctor(_), _) => {
                unreachable!("config and doctor commands return above")
            }
            #[cfg(feature = "harness")]
            (Command::FakeSalesforce(args), _) => {
                init_logs("info", log_format);
                fake_salesforce::cli::run(&args, wait_for_stop_signal()).await?;
                Ok(())
            }
            #[cfg(feature = "harness")]
            (Command::Bench(args), _) => {
                init_logs("warn", log_format);
                dev::bench(args).await.map_err(|err| anyhow::anyhow!(err))
            }
            #[cfg(feature = "harness")]
            (Command::Demo(args), _) => {
                init_logs("warn", log_format);
                dev::demo(args).await.map_err(|err| anyhow::anyhow!(err))
            }
        }
    });
    // Whatever the command awaited is done; a blocking task nobody waits for (a store call
    // left behind by a lost lease, say) must not hold the exit.
    runtime.shutdown_timeout(STRAGGLERS_LIMIT);
    outcome
}

/// How long the exit waits for blocking tasks that nothing awaits any more.
const STRAGGLERS_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `config example` and `config show`: print and return; a bad configuration exits like `run`.
fn config_command(action: &ConfigAction) {
    match action {
        ConfigAction::Example => print!("{}", Config::example_toml()),
        ConfigAction::Show { config } => {
            match Config::load_effective(config.as_deref(), Config::environment()) {
                Ok(effective) => print!("{effective}"),
                Err(err) => exit_bad_config(config.as_deref(), &err),
            }
        }
    }
}

/// `doctor`: every step's line (or one JSON object), then the exit status it calls for.
fn doctor(args: &DoctorArgs, log_format: LogFormat) -> ! {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("byoc-connector: cannot start the tokio runtime: {error}");
            std::process::exit(EXIT_FAILURE);
        }
    };
    // Quiet unless RUST_LOG asks (in --log-format or BYOC_LOG_FORMAT): the report is the output.
    init_logs("off", log_format);
    let report = runtime.block_on(byoc_connector::doctor::run(
        args.config.as_deref(),
        args.tenant.as_deref(),
        Config::environment(),
    ));
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("byoc-connector: cannot write the report as json: {error}"),
        }
    } else {
        print!("{}", report.to_text());
    }
    let code = if report.passed() {
        0
    } else if report.config_invalid() {
        EXIT_BAD_CONFIG
    } else {
        EXIT_CHECK_FAILED
    };
    std::process::exit(code);
}

async fn run(config: Config, without_file: bool) -> anyhow::Result<()> {
    if without_file {
        tracing::info!(
            "no config file (--config or BYOC_CONFIG); configured by BYOC__ environment variables only"
        );
    }
    let shutdown = CancellationToken::new();
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop signal received; shutting down");
        signal_shutdown.cancel();
    });
    byoc_connector::connector::run(config, shutdown).await?;
    Ok(())
}

/// Logs on stderr in `format`, filtered by `RUST_LOG` or else at `default_level`.
fn init_logs(default_level: &str, format: LogFormat) {
    use std::io::IsTerminal;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // tokio-postgres logs every statement's parameters at debug level: message text of dead
    // letters and conversation state. Kept at info unless the operator names it.
    let operator_named_it =
        std::env::var("RUST_LOG").is_ok_and(|value| value.contains("tokio_postgres"));
    let filter = if operator_named_it {
        filter
    } else {
        filter.add_directive(
            "tokio_postgres=info"
                .parse()
                .expect("a valid log directive"),
        )
    };
    let format = match format {
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
        LogFormat::Auto => LogFormat::Json,
        chosen => chosen,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn wait_for_stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
