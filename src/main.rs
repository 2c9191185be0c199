//! The `byoc-connector` command line: parse, then call the library.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use byoc_connector::channel::{AnyChannel, StdoutChannel, WebhookChannel};
use byoc_connector::config::Config;
use byoc_connector::harness::avro::{EventSchemaSpec, EventWriter, PlatformEventFields};
use byoc_connector::harness::pubsub_fake::PubSubFakeConfig;
use byoc_connector::harness::{FakeConfig, FakeSalesforce};
use byoc_connector::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

/// Connects a partner messaging channel to Salesforce Bring Your Own Channel for CCaaS.
#[derive(Debug, Parser)]
#[command(name = "byoc-connector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fake Salesforce + connector + a printing demo channel in one process: plays one
    /// conversation and a routing request, then exits
    Demo(DemoArgs),
    /// Run the connector (the long-running daemon or sidecar)
    Run(RunArgs),
    /// Inspect and act on dead letters in the store of a stopped connector
    Dlq(DlqArgs),
    /// Run a fake Salesforce (Pub/Sub gRPC + control plane) on loopback; prints one JSON
    /// line with its endpoints when ready
    FakeSalesforce(Box<FakeSalesforceArgs>),
    /// Run a benchmark scenario and print its figures
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// Text messages to play before the routing request
    #[arg(long, default_value_t = 4)]
    messages: u64,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// TOML configuration file; BYOC__SECTION__KEY environment variables override it
    #[arg(long, short, env = "BYOC_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct DlqArgs {
    /// The connector's configuration (for the store path and, for replay, the channel)
    #[arg(long, short, env = "BYOC_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    action: DlqAction,
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// One line per dead letter
    List,
    /// One dead letter in full, as JSON
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

#[derive(Debug, clap::Args)]
struct FakeSalesforceArgs {
    /// Pub/Sub gRPC address (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// HTTP address for the control plane (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    http_listen: SocketAddr,
    /// Serve Pub/Sub over TLS with a generated self-signed certificate
    #[arg(long)]
    tls: bool,
    /// Write the self-signed certificate (PEM) here, for clients to trust
    #[arg(long, requires = "tls")]
    cert_out: Option<PathBuf>,
    /// Accept this long-lived token (generated when absent)
    #[arg(long)]
    static_token: Option<String>,
    /// Platform event API name (the topic is /event/<NAME>)
    #[arg(long, default_value = "Byoc_Event__e")]
    event_name: String,
    /// Name of the event-type field
    #[arg(long, default_value = "EventType__c")]
    event_type_field: String,
    /// Name of the payload field
    #[arg(long, default_value = "Payload__c")]
    payload_field: String,
    /// Seconds between keepalives on idle streams
    #[arg(long, default_value_t = 60)]
    keepalive_secs: u64,
    /// Seconds events stay replayable
    #[arg(long, default_value_t = 72 * 3600)]
    retention_secs: u64,
    /// Register a JWT bearer client: CLIENT_ID=PUBLIC_KEY_PEM_FILE (repeatable)
    #[arg(long, value_name = "CLIENT_ID=FILE")]
    jwt_client: Vec<String>,
    /// Register a client-credentials client: CLIENT_ID=SECRET (repeatable)
    #[arg(long, value_name = "CLIENT_ID=SECRET")]
    secret_client: Vec<String>,
    /// Lifetime of tokens the fake OAuth server issues, in seconds
    #[arg(long, default_value_t = 7200)]
    token_lifetime_secs: u64,
    /// The AuthorizationContext (channel definition developer name) the fake Interaction
    /// Service accepts
    #[arg(long, default_value = byoc_connector::harness::FAKE_CHANNEL_DEFINITION)]
    channel_definition: String,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Which scenario to run
    scenario: BenchScenario,
    /// Events to push through
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Added latency per server response, in milliseconds
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Conversations the events are spread over (throughput)
    #[arg(long, default_value_t = 100)]
    conversations: u64,
    /// Events per second (latency; default 1000) or routing requests per second in the
    /// steady phase (routing; default 50)
    #[arg(long)]
    rate: Option<u64>,
    /// Routing requests in the steady phase (routing)
    #[arg(long, default_value_t = 500)]
    requests: u64,
    /// Routing requests published at once after the steady phase (routing)
    #[arg(long, default_value_t = 200)]
    burst: u64,
    /// Seconds to run (latency, stalled)
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BenchScenario {
    /// Subscribe + decode against the fake on loopback
    Pubsub,
    /// Text message: Avro bytes -> OutboundEvent -> envelope JSON, on one core
    Events,
    /// Fake Pub/Sub -> pipeline -> local HTTP webhook, as fast as it goes
    Throughput,
    /// Publish at --rate events/s for --seconds; publish -> webhook latency percentiles
    Latency,
    /// Partner never answers: the connector's peak memory as the backlog grows
    Stalled,
    /// RoutingRequested at --rate for --requests, then a --burst at once; partner decision ->
    /// routingResult latency and misses
    Routing,
}

/// Exit status for a configuration error (sysexits EX_USAGE, as linkerd2-proxy uses).
const EXIT_BAD_CONFIG: i32 = 64;

fn main() -> anyhow::Result<()> {
    byoc_connector::install_crypto_provider();
    let cli = Cli::parse();
    let config_path = match &cli.command {
        Command::Run(args) => Some(args.config.clone()),
        Command::Dlq(args) => Some(args.config.clone()),
        _ => None,
    };
    let config = match config_path {
        Some(path) => match Config::load(path.as_deref(), Config::environment()) {
            Ok(config) => Some(config),
            Err(err) => {
                eprintln!("byoc-connector: invalid configuration\n{err}");
                std::process::exit(EXIT_BAD_CONFIG);
            }
        },
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        match (cli.command, config) {
            (Command::Run(_), Some(config)) => run(config).await,
            (Command::Dlq(args), Some(config)) => dlq(args.action, config).await,
            (Command::Run(_) | Command::Dlq(_), None) => {
                unreachable!("configuration is loaded above")
            }
            (Command::FakeSalesforce(args), _) => fake_salesforce(*args).await,
            (Command::Bench(args), _) => bench(args).await,
            (Command::Demo(args), _) => demo(args).await,
        }
    })
}

async fn run(config: Config) -> anyhow::Result<()> {
    init_logs("info");
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
    let store = Store::open_existing(&config.store.path)
        .with_context(|| format!("cannot open the store {}", config.store.path.display()))?;
    match action {
        DlqAction::List => {
            for letter in dlq::list(&store)? {
                println!("{}", dlq::summary_line(&letter));
            }
        }
        DlqAction::Show { id } => println!("{:#}", dlq::show(&store, id)?),
        DlqAction::Replay { id, all } => {
            let channel = match config.delivery.webhook_options() {
                Some(options) => AnyChannel::Webhook(WebhookChannel::new(options)?),
                None => AnyChannel::Stdout(StdoutChannel::new()),
            };
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

async fn fake_salesforce(args: FakeSalesforceArgs) -> anyhow::Result<()> {
    init_logs("info");
    let config = FakeConfig {
        pubsub_listen: args.listen,
        http_listen: args.http_listen,
        tls: args.tls,
        static_token: args.static_token,
        schema: EventSchemaSpec {
            event_name: args.event_name,
            event_type_field: args.event_type_field,
            payload_field: args.payload_field,
        },
        retention: Duration::from_secs(args.retention_secs),
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        channel_definition: args.channel_definition,
        pubsub: PubSubFakeConfig {
            keepalive_interval: Duration::from_secs(args.keepalive_secs.max(1)),
            ..PubSubFakeConfig::default()
        },
        ..FakeConfig::default()
    };
    let fake = FakeSalesforce::start(config)
        .await
        .context("cannot start the fake salesforce")?;
    let mut ready =
        serde_json::to_value(fake.endpoints()).context("cannot describe the endpoints")?;
    if let (Some(path), Some(pem)) = (&args.cert_out, fake.certificate_pem()) {
        std::fs::write(path, pem)
            .with_context(|| format!("cannot write the certificate to {}", path.display()))?;
        ready["certificate"] = serde_json::Value::String(path.display().to_string());
    }
    println!("{ready}");
    wait_for_stop_signal().await;
    fake.shutdown().await;
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // Warnings only, so the demo's own lines stay readable.
    init_logs("warn");
    let options = byoc_connector::demo::DemoOptions {
        messages: args.messages,
    };
    byoc_connector::demo::run(options)
        .await
        .map_err(|err| anyhow::anyhow!(err))
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    // Warnings only: the scenarios' own components (the in-process connector) would otherwise
    // log every request and measure their logging.
    init_logs("warn");
    match args.scenario {
        BenchScenario::Pubsub => {
            let report = byoc_connector::bench::pubsub::run(
                args.events,
                Duration::from_millis(args.latency_ms),
            )
            .await?;
            println!("{report}");
        }
        BenchScenario::Throughput => {
            let report =
                byoc_connector::bench::pipeline::throughput(args.events, args.conversations)
                    .await
                    .map_err(|err| anyhow::anyhow!(err))?;
            println!("{report}");
        }
        BenchScenario::Latency => {
            let report =
                byoc_connector::bench::pipeline::latency(args.rate.unwrap_or(1_000), args.seconds)
                    .await
                    .map_err(|err| anyhow::anyhow!(err))?;
            println!("{report}");
        }
        BenchScenario::Routing => {
            let plan = byoc_connector::bench::routing::RoutingBenchPlan {
                steady_requests: args.requests,
                rate: args.rate.unwrap_or(50),
                burst: args.burst,
            };
            let report = byoc_connector::bench::routing::run(plan)
                .await
                .map_err(|err| anyhow::anyhow!(err))?;
            println!("{report}");
        }
        BenchScenario::Stalled => {
            let report =
                byoc_connector::bench::pipeline::stalled(&[10_000, 100_000, 300_000], args.seconds)
                    .await
                    .map_err(|err| anyhow::anyhow!(err))?;
            println!("{report}");
        }
        BenchScenario::Events => {
            let writer = EventWriter::new(EventSchemaSpec::default())?;
            let avro_bytes = writer.encode(&PlatformEventFields {
                created_date_ms: 1_690_344_475_579,
                created_by_id: "005000000000001AAA",
                event_uuid: Some("5f0c7e5e-8d4b-4f6e-9b8e-2f1d4c3b2a10"),
                event_type: Some("Interaction"),
                payload: Some(byoc_connector::bench_events::SAMPLE_TEXT_MESSAGE_PAYLOAD),
            })?;
            let schema_json = writer.spec().schema_json();
            let report = byoc_connector::bench_events::run(&avro_bytes, &schema_json, args.events)?;
            println!("{report}");
        }
    }
    Ok(())
}

/// JSON logs on stderr, filtered by `RUST_LOG` or else at `default_level`.
fn init_logs(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn wait_for_stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
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
