//! The `byoc-connector` command line: parse, then call the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use byoc_connector::channel::AnyChannel;
use byoc_connector::config::{Config, LogFormat};
#[cfg(feature = "harness")]
use byoc_connector::dev::cli as dev;
use byoc_connector::store::Store;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

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

#[derive(Debug, clap::Args)]
struct DlqArgs {
    /// The connector's configuration (for the store path and, for replay, the channel)
    #[arg(long, short, env = "BYOC_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: DlqAction,
}

#[derive(Debug, clap::Args)]
struct CheckpointArgs {
    /// The connector's configuration (for the store path and the topic)
    #[arg(long, short, env = "BYOC_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: CheckpointAction,
}

#[derive(Debug, Subcommand)]
enum CheckpointAction {
    /// Every checkpoint: org, topic and the replay id resumed after, as JSON lines
    List,
    /// Resume after this replay id on the next start (forwards or back, inside Salesforce's
    /// retention); the org defaults to the one that has a checkpoint of the topic
    Set {
        /// Replay id as hex, as `checkpoint list` shows it
        replay_id: String,
        /// Org id, when the store has no checkpoint of the topic yet or several orgs have one
        #[arg(long)]
        org: Option<String>,
    },
    /// Forget the checkpoint: the next start begins at pubsub.start (latest or earliest)
    Reset {
        /// Org id, when several orgs have a checkpoint of the topic
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// Every dead letter: a table on a terminal, JSON otherwise or with --json. Asks the
    /// running connector (on server.sidecar_listen) when it holds the store
    List {
        /// JSON even on a terminal
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full, as JSON, the decoded event as an object. Asks the running
    /// connector when it holds the store
    Show {
        /// Dead-letter id
        id: u64,
    },
    /// Re-deliver with the original Idempotency-Key; removed when the partner accepts
    Replay {
        /// Dead-letter id
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// Every dead letter
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete dead letters
    Purge {
        /// Dead-letter id
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// Every dead letter
        #[arg(long, conflicts_with = "id")]
        all: bool,
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
    let config_path = match &cli.command {
        Command::Run(args) => Some(args.config.clone()),
        Command::Dlq(args) => Some(args.config.clone()),
        Command::Checkpoint(args) => Some(args.config.clone()),
        Command::Config(action) => {
            config_command(action);
            return Ok(());
        }
        Command::Doctor(args) => doctor(args, cli.log_format.unwrap_or_default()),
        #[cfg(feature = "harness")]
        Command::Demo(_) | Command::FakeSalesforce(_) | Command::Bench(_) => None,
    };
    let config = match config_path {
        Some(path) => match Config::load(path.as_deref(), Config::environment()) {
            Ok(config) => Some(config),
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
    runtime.block_on(async move {
        match (cli.command, config) {
            (Command::Run(args), Some(config)) => {
                init_logs("info", log_format);
                run(config, args.config.is_none()).await
            }
            (Command::Dlq(args), Some(config)) => dlq(args.action, config).await,
            (Command::Checkpoint(args), Some(config)) => checkpoint(args.action, &config),
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
    })
}

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

async fn dlq(action: DlqAction, config: Config) -> anyhow::Result<()> {
    use byoc_connector::dlq;
    use byoc_connector::store::StoreError;
    use std::io::IsTerminal;

    let store = match Store::open_existing(&config.store.path) {
        Ok(store) => Some(store),
        // A running connector holds the file: read-only commands ask it instead.
        Err(StoreError::Locked { .. })
            if matches!(action, DlqAction::List { .. } | DlqAction::Show { .. }) =>
        {
            None
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!(
                "cannot open the store {}",
                config.store.path.display()
            )))
        }
    };
    match (action, store) {
        (DlqAction::List { json }, store) => {
            let summaries: Vec<serde_json::Value> = match &store {
                Some(store) => dlq::list(store)?.iter().map(dlq::summary).collect(),
                None => serde_json::from_value(ask_running_connector(&config, "").await?)?,
            };
            if json || !std::io::stdout().is_terminal() {
                println!("{}", serde_json::Value::from(summaries));
            } else {
                print!("{}", dlq::table(&summaries));
            }
        }
        (DlqAction::Show { id }, store) => {
            let letter = match &store {
                Some(store) => dlq::show(store, id)?,
                None => ask_running_connector(&config, &format!("/{id}")).await?,
            };
            println!("{letter:#}");
        }
        (_, None) => anyhow::bail!("the store is held by a running connector; stop it first"),
        (action, Some(store)) => dlq_write(action, &config, &store).await?,
    }
    Ok(())
}

/// `checkpoint list|set|reset` on the store of a stopped connector.
fn checkpoint(action: CheckpointAction, config: &Config) -> anyhow::Result<()> {
    use byoc_connector::store::operator;
    let store = Store::open_existing(&config.store.path)
        .with_context(|| format!("cannot open the store {}", config.store.path.display()))?;
    let topic = config.pubsub.topic.as_str();
    match action {
        CheckpointAction::List => {
            for checkpoint in operator::list(&store)? {
                println!("{}", serde_json::to_string(&checkpoint)?);
            }
        }
        CheckpointAction::Set { replay_id, org } => {
            let org = operator::resolve_org(&store, org.as_deref(), topic)?;
            let replaced = operator::set(&store, &org, topic, &replay_id)?;
            println!(
                "checkpoint of {topic} for org {org}: {} -> {}; the next start resumes after it",
                replaced.as_deref().unwrap_or("none"),
                replay_id.trim().to_ascii_lowercase()
            );
        }
        CheckpointAction::Reset { org } => {
            let org = operator::resolve_org(&store, org.as_deref(), topic)?;
            let existed = operator::reset(&store, &org, topic)?;
            println!(
                "checkpoint of {topic} for org {org} {}; the next start begins at pubsub.start ({:?})",
                if existed { "forgotten" } else { "was not set" },
                config.pubsub.start
            );
        }
    }
    Ok(())
}

/// `GET {DEAD_LETTERS_PATH}{suffix}` on the running connector's sidecar listener
/// (`server.sidecar_listen`), with `server.sidecar_token` when one is set: dead letters hold
/// message text, so they are served only there.
async fn ask_running_connector(config: &Config, suffix: &str) -> anyhow::Result<serde_json::Value> {
    let mut address = config.server.sidecar_listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!(
        "http://{address}{}{suffix}",
        byoc_connector::dlq::DEAD_LETTERS_PATH
    );
    let mut request = reqwest::Client::new().get(&url);
    if let Some(token) = &config.server.sidecar_token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.with_context(|| {
        format!("the store is in use, and the running connector at {address} cannot be asked")
    })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the running connector at {address} answered {status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// The dead-letter commands that change the store; they need it to themselves.
async fn dlq_write(action: DlqAction, config: &Config, store: &Store) -> anyhow::Result<()> {
    use byoc_connector::dlq;
    let store = store.clone();
    match action {
        DlqAction::List { .. } | DlqAction::Show { .. } => {}
        DlqAction::Replay { id, all } => {
            let channel = AnyChannel::try_from(&config.delivery)?;
            if all {
                let (replayed, failed) = dlq::replay_all(&store, &channel).await?;
                println!("replayed {} dead letters", replayed.len());
                for (id, reason) in &failed {
                    eprintln!("dead letter {id} kept: {reason}");
                }
                if !failed.is_empty() {
                    anyhow::bail!("{} dead letters could not be replayed", failed.len());
                }
            } else if let Some(id) = id {
                dlq::replay(&store, &channel, id).await?;
                println!("replayed dead letter {id}");
            }
        }
        DlqAction::Purge { id, all } => {
            if all {
                println!("purged {} dead letters", dlq::purge_all(&store)?);
            } else if let Some(id) = id {
                dlq::purge(&store, id)?;
                println!("purged dead letter {id}");
            }
        }
    }
    Ok(())
}

/// Logs on stderr in `format`, filtered by `RUST_LOG` or else at `default_level`.
fn init_logs(default_level: &str, format: LogFormat) {
    use std::io::IsTerminal;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
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
