//! The `demo`, `fake-salesforce` and `bench` subcommands: their flags and what each runs.

use std::time::Duration;

/// Flags of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Text messages to play before the transfer, alternating the end user's (through the
    /// sidecar) and the rep's (on the stream), the end user first
    #[arg(long, default_value_t = 4)]
    pub messages: u64,
}

/// Flags of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which scenario to run
    pub scenario: BenchScenario,
    /// Events to push through
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    /// Added latency per server response, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Time the consumer takes over each event before acknowledging it, in milliseconds
    /// (pubsub; 0 is a fast consumer)
    #[arg(long, default_value_t = 0)]
    pub ack_delay_ms: u64,
    /// Conversations the events are spread over (throughput)
    #[arg(long, default_value_t = 100)]
    pub conversations: u64,
    /// Events per second (latency; default 1000), routing requests per second in the
    /// steady phase (routing; default 50), send-message requests per second (sidecar;
    /// default 500) or messages per second (failover; default 20)
    #[arg(long)]
    pub rate: Option<u64>,
    /// Routing requests in the steady phase (routing)
    #[arg(long, default_value_t = 500)]
    pub requests: u64,
    /// Routing requests published at once after the steady phase (routing)
    #[arg(long, default_value_t = 200)]
    pub burst: u64,
    /// Seconds to run (latency, stalled, sidecar)
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The npm comparison script (`bench/npm/consume.mjs`), run with `node` on the same fake
    /// and stream after the connector (process)
    #[arg(long)]
    pub npm_script: Option<std::path::PathBuf>,
    /// Where the connector delivers (process)
    #[arg(long, value_enum, default_value_t = ProcessDeliveryArg::Stdout)]
    pub delivery: ProcessDeliveryArg,
    /// Most events per webhook request, `delivery.batch_max_events` (process, webhook)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// One RoutingRequested in ten events, answered by the `reject` strategy (process)
    #[arg(long)]
    pub routing_mix: bool,
    /// The connector binary to run (process; default: this one). The lean daemon the
    /// Dockerfile ships is `cargo build --release --no-default-features`.
    #[arg(long)]
    pub connector_binary: Option<std::path::PathBuf>,
    /// Tokio worker threads each of the fake and of the webhook partner (process). They stand
    /// in for services on other machines, so by default they take one each and leave the rest
    /// of the CPUs to the connector, which keeps its own default
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub harness_workers: u16,
    /// Run the pipeline without the conversation-state tracker the connector adds to it, to
    /// measure what keeping state costs (throughput, latency)
    #[arg(long)]
    pub without_conversation_state: bool,
    /// The store of the in-process pipeline (throughput): a redb file in a temp directory,
    /// or a fresh namespace in the PostgreSQL at --postgres-url
    #[arg(long, value_enum, default_value_t = BenchStoreArg::Redb)]
    pub store: BenchStoreArg,
    /// The PostgreSQL for `--store postgres` and `failover` (`scripts/postgres start DIR`
    /// prints one)
    #[arg(long, env = "BYOC_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Leader failures (failover)
    #[arg(long, default_value_t = 10)]
    pub failovers: usize,
}

/// The store `bench throughput` runs its pipeline on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchStoreArg {
    /// A redb file in a temp directory
    Redb,
    /// A fresh namespace in --postgres-url
    Postgres,
}

/// Where `bench process` has the connector deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProcessDeliveryArg {
    /// One JSON line per event into a file
    Stdout,
    /// A webhook served inside the bench (batched with --batch)
    Webhook,
}

/// The scenarios `bench` runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchScenario {
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
    /// The release binary and `fake-salesforce` as separate processes over TLS: --events to
    /// --delivery (stdout or a webhook, --batch N) with durable checkpoints, --routing-mix,
    /// --rate for publish -> partner latency, and the npm client with --npm-script
    Process,
    /// RoutingRequested at --rate for --requests, then a --burst at once; partner decision ->
    /// routingResult latency and misses
    Routing,
    /// --events messages, then as many with one RoutingRequested in ten (events/s of both),
    /// then --requests routing requests at --rate and a --burst at once
    Mixed,
    /// The release binary as its own process: one 25 MB attachment through the sidecar (the
    /// connector's RSS growth), then send-message at --rate for --seconds (the latency the
    /// connector adds over the fake Interaction Service's own)
    Sidecar,
    /// Three replicas of the release binary with `ha.enabled` on --postgres-url, the default
    /// takeover: messages at --rate and one RoutingRequested a second while the leader is taken
    /// down --failovers times (SIGKILL with the replacement started at once, SIGKILL with it
    /// started after the failover, SIGSTOP then SIGCONT, in turn); failover times, messages
    /// lost, routing misses and repeats
    Failover,
}

/// Runs `demo`; the caller sets up logging (warnings only keeps the demo's lines readable).
pub async fn demo(args: DemoArgs) -> Result<(), String> {
    let settings = crate::dev::demo::DemoSettings {
        messages: args.messages,
    };
    crate::dev::demo::run(settings)
        .await
        .map_err(|err| err.to_string())
}

/// Runs one `bench` scenario and prints its report. The caller sets up logging: warnings only,
/// or the in-process connector would log every request and the bench would measure logging.
pub async fn bench(args: BenchArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match args.scenario {
        BenchScenario::Pubsub => {
            let report = crate::dev::bench::pubsub::run(
                args.events,
                Duration::from_millis(args.latency_ms),
                Duration::from_millis(args.ack_delay_ms),
            )
            .await?;
            println!("{report}");
        }
        BenchScenario::Throughput => {
            let postgres_url =
                match args.store {
                    BenchStoreArg::Redb => None,
                    BenchStoreArg::Postgres => Some(args.postgres_url.ok_or(
                        "--store postgres needs --postgres-url (or BYOC_BENCH_POSTGRES_URL)",
                    )?),
                };
            let report = crate::dev::bench::pipeline::throughput(
                args.events,
                args.conversations,
                !args.without_conversation_state,
                postgres_url.as_deref(),
            )
            .await?;
            println!("{report}");
        }
        BenchScenario::Latency => {
            let report = crate::dev::bench::pipeline::latency(
                args.rate.unwrap_or(1_000),
                args.seconds,
                !args.without_conversation_state,
            )
            .await?;
            println!("{report}");
        }
        BenchScenario::Routing => {
            let plan = crate::dev::bench::routing::RoutingBenchPlan {
                steady_requests: args.requests,
                rate: args.rate.unwrap_or(50),
                burst: args.burst,
            };
            let report = crate::dev::bench::routing::run(plan).await?;
            println!("{report}");
        }
        BenchScenario::Mixed => {
            let plan = crate::dev::bench::mixed::MixedBenchPlan {
                events: args.events,
                routing_every: 10,
                rate: args.rate.unwrap_or(50),
                steady_requests: args.requests,
                burst: args.burst,
            };
            let report = crate::dev::bench::mixed::run(plan).await?;
            println!("{report}");
        }
        BenchScenario::Sidecar => {
            let plan = crate::dev::bench::sidecar::SidecarBenchPlan {
                rate: args.rate.unwrap_or(500),
                seconds: args.seconds,
            };
            let report = crate::dev::bench::sidecar::run(plan).await?;
            println!("{report}");
        }
        BenchScenario::Process => {
            use crate::dev::bench::process::{ProcessBenchPlan, ProcessDelivery};
            let delivery = match (args.delivery, args.batch) {
                (ProcessDeliveryArg::Stdout, _) => ProcessDelivery::Stdout,
                (ProcessDeliveryArg::Webhook, batch) => ProcessDelivery::Webhook {
                    batch: usize::from(batch),
                },
            };
            let plan = ProcessBenchPlan {
                events: args.events,
                npm_script: args.npm_script,
                delivery,
                conversations: args.conversations,
                routing_every: args.routing_mix.then_some(10),
                rate: args.rate,
                connector_binary: args.connector_binary,
                harness_workers: usize::from(args.harness_workers),
            };
            let report = crate::dev::bench::process::run(plan).await?;
            println!("{report}");
        }
        BenchScenario::Failover => {
            let plan = crate::dev::bench::failover::FailoverBenchPlan {
                postgres_url: args
                    .postgres_url
                    .ok_or("bench failover needs --postgres-url (or BYOC_BENCH_POSTGRES_URL)")?,
                failovers: args.failovers,
                rate: args.rate.unwrap_or(20),
                conversations: args.conversations,
            };
            let report = crate::dev::bench::failover::run(plan).await?;
            println!("{report}");
        }
        BenchScenario::Stalled => {
            let report =
                crate::dev::bench::pipeline::stalled(&[10_000, 100_000, 300_000], args.seconds)
                    .await?;
            println!("{report}");
        }
        BenchScenario::Events => {
            let (avro_bytes, schema_json) = crate::dev::bench::events::sample_text_message()?;
            let report = crate::dev::bench::events::run(&avro_bytes, &schema_json, args.events)?;
            println!("{report}");
        }
    }
    Ok(())
}
