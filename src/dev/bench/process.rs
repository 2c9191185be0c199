//! `bench process`: the shipped binary as its own process against `fake-salesforce` in
//! another, over TLS, with durable checkpoints, as an operator runs it.
//!
//! It starts `<this binary> fake-salesforce --tls`, publishes the events through the fake's
//! control plane, then runs `<this binary> run` from EARLIEST (or `--connector-binary`'s, such
//! as the lean daemon build) and times the first to the last delivery: to stdout into a file,
//! or to a webhook served inside the bench (one event per request, or batches with `--batch`).
//! With `--rate` the events are published at that pace while the connector runs, and each one's
//! publish → partner latency is measured (webhook only; publish and arrival are read from the
//! same clock). Optionally one event in ten is a RoutingRequested, answered by the `reject`
//! strategy. CPU time of each process comes from `/proc/<pid>/stat` over that window,
//! FetchRequests from the connector's `/metrics`. With an npm script (`bench/npm/consume.mjs`),
//! the npm `salesforce-pubsub-api-client` then consumes the same stream from the same fake, for
//! a comparison in one run. The fake and the partner stand in for services on other machines,
//! so they run on one tokio worker each (`--harness-workers`) and leave the rest of the CPUs to
//! the connector, which keeps its defaults. It knows the binary's command line and config file,
//! not its internals; Linux only (`/proc`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};
use tokio::process::{Child, Command};

use super::proc_stats::{
    command_output, cpu_time, free_loopback_port, machine, metric, metric_sum, peak_rss_kb,
};
use super::process_partner::PartnerLog;
pub use super::process_report::{ConsumerFigures, ProcessReport};
use super::BenchResult;

/// Events per control-plane publish request.
const PUBLISH_CHUNK: u64 = 5_000;
/// How long a run may take before the bench gives up.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How often the output file is polled for new lines.
const POLL: Duration = Duration::from_millis(2);

/// How often a paced publisher publishes.
const PACE_TICK: Duration = Duration::from_millis(10);
/// How long the bench waits for the routing results after the last message.
const ROUTING_LIMIT: Duration = Duration::from_secs(60);

/// Where the connector delivers in `bench process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessDelivery {
    /// One JSON line per event on stdout, into a file.
    Stdout,
    /// A webhook inside the bench; `batch` is `delivery.batch_max_events`.
    Webhook {
        /// Most events per request; 1 is one event per request.
        batch: usize,
    },
}

/// What `bench process` runs.
#[derive(Debug, Clone)]
pub struct ProcessBenchPlan {
    /// Events published and consumed.
    pub events: u64,
    /// The npm comparison script, run with `node` after the connector when given and when
    /// node and the client's package are there (skipped, saying why, when not).
    pub npm_script: Option<PathBuf>,
    /// Where the connector delivers.
    pub delivery: ProcessDelivery,
    /// Conversations the messages are spread over.
    pub conversations: u64,
    /// One event in this many is a RoutingRequested, when set.
    pub routing_every: Option<u64>,
    /// Publish at this many events per second while the connector runs, instead of a backlog
    /// published before it starts.
    pub rate: Option<u64>,
    /// The binary run as the connector, when not this one (the lean daemon build).
    pub connector_binary: Option<PathBuf>,
    /// Tokio worker threads each of the fake and of the webhook partner.
    pub harness_workers: usize,
}

impl ProcessBenchPlan {
    fn is_routing(&self, sequence: u64) -> bool {
        self.routing_every
            .is_some_and(|every| every > 0 && sequence % every == every - 1)
    }

    fn messages(&self) -> u64 {
        (0..self.events)
            .filter(|sequence| !self.is_routing(*sequence))
            .count() as u64
    }

    fn describe(&self) -> String {
        let delivery = match self.delivery {
            ProcessDelivery::Stdout => "stdout to a file".to_owned(),
            ProcessDelivery::Webhook { batch: 1 } => "webhook, one event per request".to_owned(),
            ProcessDelivery::Webhook { batch } => format!("webhook, batches of up to {batch}"),
        };
        let routing = match self.routing_every {
            Some(every) if every > 0 => format!(", one RoutingRequested in {every}"),
            _ => String::new(),
        };
        let pace = match self.rate {
            Some(rate) => format!(", published at {rate} events/s"),
            None => ", backlog published before the start".to_owned(),
        };
        let binary = match &self.connector_binary {
            Some(path) => format!(", connector binary {}", path.display()),
            None => String::new(),
        };
        let harness = match self.harness_workers {
            1 => ", fake and partner on one tokio worker each".to_owned(),
            workers => format!(", fake and partner on {workers} tokio workers each"),
        };
        format!("{delivery}{routing}{pace}{binary}{harness}")
    }
}

/// The fake, as its ready line describes it.
pub(super) struct RunningFake {
    pub(super) child: Child,
    pub(super) pid: u32,
    pub(super) pubsub: String,
    pub(super) control: String,
    pub(super) instance_url: String,
    pub(super) token: String,
    pub(super) org_id: String,
    pub(super) topic: String,
    pub(super) certificate: PathBuf,
    pub(super) authorization_context: String,
    /// One client for the control plane, so a paced publish costs one request on a kept
    /// connection, not a client build and a new connection inside the measured latency.
    pub(super) control_client: reqwest::Client,
}

impl RunningFake {
    /// The `[pubsub]` (from EARLIEST), `[auth]` and `[interaction]` sections of a connector
    /// config for this fake.
    pub(super) fn channel_toml(&self) -> String {
        format!(
            "[pubsub]\nendpoint = \"{pubsub}\"\nca_certificate_file = \"{cert}\"\ntopic = \"{topic}\"\n\
             start = \"earliest\"\n\n\
             [auth]\nkind = \"static\"\ntoken = \"{token}\"\ninstance_url = \"{instance}\"\norg_id = \"{org}\"\n\n\
             [interaction]\nbase_url = \"{instance}\"\nauthorization_context = \"{context}\"\n\n",
            pubsub = self.pubsub,
            cert = self.certificate.display(),
            topic = self.topic,
            token = self.token,
            instance = self.instance_url,
            org = self.org_id,
            context = self.authorization_context,
        )
    }
}

/// The connector's log file in the run's scratch directory, kept when the run fails.
const CONNECTOR_LOG: &str = "connector.log";

/// Runs the plan: fake, publish, connector, then the npm script if any.
pub async fn run(plan: ProcessBenchPlan) -> BenchResult<ProcessReport> {
    let binary = std::env::current_exe()?;
    let connector_binary = match &plan.connector_binary {
        Some(path) if !path.is_file() => {
            return Err(format!("--connector-binary {}: no such file", path.display()).into())
        }
        Some(path) => path.clone(),
        None => binary.clone(),
    };
    let (npm_script, npm_skipped) = match &plan.npm_script {
        Some(path) if !path.is_file() => {
            return Err(format!("--npm-script {}: no such file", path.display()).into())
        }
        Some(path) => match npm_unavailable(path) {
            Some(reason) => (None, Some(reason)),
            None => (Some(path.clone()), None),
        },
        None => (None, None),
    };
    let dir = crate::dev::embedded::scratch_dir("bench-process")?;
    let mut fake = start_fake(&binary, &dir, Some(plan.harness_workers)).await?;
    seed_routing_sessions(&fake, &plan).await?;
    if plan.rate.is_none() {
        publish(&fake, &plan, 0..plan.events).await?;
    }
    let gauge_before = host_gauge().await?;
    let connector = run_connector(&connector_binary, &dir, &fake, &plan)
        .await
        .map_err(|error| {
            format!(
                "{error} (the connector's log: {})",
                dir.join(CONNECTOR_LOG).display()
            )
        })?;
    let gauge_after = host_gauge().await?;
    let npm = match &npm_script {
        Some(script) => Some(run_npm(script, &fake, plan.events).await?),
        None => None,
    };
    fake.child.start_kill()?;
    fake.child.wait().await?;
    // Best effort: a leftover temp dir is harmless.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ProcessReport {
        variant: plan.describe(),
        connector,
        npm,
        npm_skipped,
        machine: machine(),
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        load: command_output("uptime", &[]),
        host_gauge_ns: (gauge_before, gauge_after),
        overrides: super::process_report::config_overrides(
            std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()),
        ),
    })
}

/// Sample events the host gauge decodes, about 0.15 s on a quiet core of the benchmark host.
const GAUGE_EVENTS: u64 = 100_000;

/// `bench events`' work timed on one thread while nothing else of the bench runs: the shared
/// host's speed just before and just after the connector's run, for reading its figures.
async fn host_gauge() -> BenchResult<f64> {
    tokio::task::spawn_blocking(|| super::events::host_gauge_ns(GAUGE_EVENTS)).await?
}

/// Starts `<binary> fake-salesforce --tls` and reads its ready line; with `workers`, the fake
/// runs that many tokio worker threads instead of one per CPU.
pub(super) async fn start_fake(
    binary: &Path,
    dir: &Path,
    workers: Option<usize>,
) -> BenchResult<RunningFake> {
    let certificate = dir.join("fake.pem");
    let mut command = Command::new(binary);
    if let Some(workers) = workers {
        command.env("TOKIO_WORKER_THREADS", workers.to_string());
    }
    let mut child = command
        .arg("fake-salesforce")
        .arg("--tls")
        .arg("--cert-out")
        .arg(&certificate)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the fake has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| "the fake printed no ready line within 30 s")??
        .ok_or("the fake exited before its ready line")?;
    let ready: serde_json::Value = serde_json::from_str(&ready)?;
    let field = |name: &str| -> BenchResult<String> {
        Ok(ready[name]
            .as_str()
            .ok_or_else(|| format!("the fake's ready line has no {name}"))?
            .to_owned())
    };
    Ok(RunningFake {
        pid: child.id().ok_or("the fake has no pid")?,
        pubsub: field("pubsub")?,
        control: field("control")?,
        instance_url: field("instanceUrl")?,
        authorization_context: field("authorizationContext")?,
        token: field("token")?,
        org_id: field("orgId")?,
        topic: field("topic")?,
        certificate,
        child,
        control_client: reqwest::Client::builder().no_proxy().build()?,
    })
}

/// Tells the fake, over its control plane, the MessagingSession of every routing
/// conversation the plan publishes, so the connector's SOQL look-up finds a work item and
/// posts a routingResult, as against an org.
async fn seed_routing_sessions(fake: &RunningFake, plan: &ProcessBenchPlan) -> BenchResult<()> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    for sequence in (0..plan.events).filter(|sequence| plan.is_routing(*sequence)) {
        http.post(format!(
            "{}/_harness/interaction/conversations",
            fake.control
        ))
        .json(&serde_json::json!({
            "conversationIdentifier": super::routing::conversation_id(sequence),
            "workItemId": super::routing::work_item_id(sequence),
        }))
        .send()
        .await?
        .error_for_status()?;
    }
    Ok(())
}

/// Publishes the events numbered `sequences` through the control plane: text messages spread
/// over the plan's conversations, with a RoutingRequested (a conversation of its own) where the
/// plan mixes them in.
async fn publish(
    fake: &RunningFake,
    plan: &ProcessBenchPlan,
    sequences: std::ops::Range<u64>,
) -> BenchResult<()> {
    let http = &fake.control_client;
    let mut next = sequences.start;
    while next < sequences.end {
        let chunk = PUBLISH_CHUNK.min(sequences.end - next);
        let items: Vec<serde_json::Value> = (next..next + chunk)
            .map(|sequence| publish_item(plan, sequence))
            .collect();
        http.post(format!("{}/_harness/publish", fake.control))
            .json(&serde_json::json!({ "events": items }))
            .send()
            .await?
            .error_for_status()?;
        next += chunk;
    }
    Ok(())
}

fn publish_item(plan: &ProcessBenchPlan, sequence: u64) -> serde_json::Value {
    if plan.is_routing(sequence) {
        let event = fake_salesforce::samples::routing_requested(
            &super::routing::conversation_id(sequence),
            &format!("e7e7e7e7-0000-4000-8000-{sequence:012}"),
        );
        return serde_json::json!({
            "eventType": event.event_type,
            "payload": event.payload,
            "createdDate": event.created_date,
        });
    }
    let conversation = format!(
        "9bc16b48-cd9b-4d8b-b7f2-{:012}",
        sequence % plan.conversations.max(1)
    );
    let payload = fake_salesforce::samples::text_message_payload(
        &conversation,
        sequence,
        "Hi, how are you? This is a typical agent reply.",
        true,
    );
    serde_json::json!({"eventType": "Interaction", "payload": payload})
}

/// Publishes every event at `rate` per second, in small chunks; returns each message's
/// publish time (taken just before its chunk is sent, so the latency includes the publish).
async fn publish_paced(
    fake: &RunningFake,
    plan: &ProcessBenchPlan,
    rate: u64,
) -> BenchResult<HashMap<u64, Instant>> {
    let per_tick = (rate * u64::try_from(PACE_TICK.as_millis()).unwrap_or(10) / 1_000).max(1);
    let mut ticks = tokio::time::interval(PACE_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut published = HashMap::new();
    let mut next = 0;
    while next < plan.events {
        ticks.tick().await;
        let end = (next + per_tick).min(plan.events);
        let at = Instant::now();
        publish(fake, plan, next..end).await?;
        published.extend(
            (next..end)
                .filter(|s| !plan.is_routing(*s))
                .map(|s| (s, at)),
        );
        next = end;
    }
    Ok(published)
}

async fn run_connector(
    binary: &Path,
    dir: &Path,
    fake: &RunningFake,
    plan: &ProcessBenchPlan,
) -> BenchResult<ConsumerFigures> {
    let listen = free_loopback_port()?;
    let partner_log = Arc::new(PartnerLog::default());
    let delivery = match plan.delivery {
        ProcessDelivery::Stdout => "kind = \"stdout\"\n".to_owned(),
        ProcessDelivery::Webhook { batch } => {
            let url =
                super::process_partner::start_apart(partner_log.clone(), plan.harness_workers)
                    .await?;
            format!("kind = \"webhook\"\nurl = \"{url}\"\nbatch_max_events = {batch}\n")
        }
    };
    // A batch holds one event per conversation, so batches need as many lanes at once.
    let lanes = match plan.delivery {
        ProcessDelivery::Webhook { batch } if batch > 1 => {
            (batch * crate::channel::BATCHES_IN_FLIGHT).max(64)
        }
        _ => crate::pipeline::DEFAULT_MAX_CONCURRENT_CONVERSATIONS,
    };
    let config = format!(
        "{channel}\
         [delivery]\n{delivery}\n\
         [pipeline]\nmax_concurrent_conversations = {lanes}\n\n\
         [store]\npath = \"{store}\"\n\n\
         [server]\nlisten = \"{listen}\"\nsidecar_listen = \"127.0.0.1:0\"\n\n\
         [routing]\nstrategy = \"reject\"\n",
        channel = fake.channel_toml(),
        store = dir.join("state.redb").display(),
    );
    let config_path = dir.join("connector.toml");
    std::fs::write(&config_path, config)?;
    let output_path = dir.join("delivered.jsonl");
    let output = std::fs::File::create(&output_path)?;
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config_path)
        // Logging as users run it: the connector's default filter, its lines in a file.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(std::fs::File::create(dir.join(CONNECTOR_LOG))?)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the connector has no pid")?;
    let messages = plan.messages();
    let watch = async {
        match plan.delivery {
            ProcessDelivery::Stdout => watch_lines(&output_path, messages, pid, fake.pid).await,
            ProcessDelivery::Webhook { .. } => {
                watch_partner(&partner_log, messages, pid, fake.pid).await
            }
        }
    };
    let delivered = async {
        BenchResult::Ok(match plan.rate {
            Some(rate) => {
                let (window, published) = tokio::join!(watch, publish_paced(fake, plan, rate));
                (window?, published?)
            }
            None => (watch.await?, HashMap::new()),
        })
    };
    // A connector that cannot start (a refused config, a taken port) ends the run at once,
    // instead of the whole wait for events that will never come.
    let (window, published) = tokio::select! {
        delivered = delivered => delivered?,
        status = child.wait() => {
            return Err(exited_early(status?, &dir.join(CONNECTOR_LOG)).into());
        }
    };
    let http = reqwest::Client::builder().no_proxy().build()?;
    let metrics_url = format!("http://{listen}/metrics");
    let routed = plan.events - messages;
    let routing_deadline = Instant::now() + ROUTING_LIMIT;
    let metrics = loop {
        let metrics = http.get(&metrics_url).send().await?.text().await?;
        let posted = metric_sum(&metrics, "byoc_routing_results_posted_total");
        if posted >= routed || Instant::now() > routing_deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let fetch_requests = metric(&metrics, "byoc_pubsub_fetch_requests_total");
    let peak_rss_kb = peak_rss_kb(pid);
    child.start_kill()?;
    child.wait().await?;
    let webhook = matches!(plan.delivery, ProcessDelivery::Webhook { .. });
    Ok(ConsumerFigures {
        fetch_requests,
        peak_rss_kb,
        requests: webhook.then(|| partner_log.requests.load(Ordering::Relaxed)),
        latencies: if webhook {
            partner_log.latencies(&published)
        } else {
            Vec::new()
        },
        routing: (routed > 0).then(|| {
            (
                routed,
                metric_sum(&metrics, "byoc_routing_results_posted_total"),
            )
        }),
        ..window
    })
}

/// Why the run stopped when the connector exited before delivering every event: its exit
/// status and the last line it logged, which says why for a connector that could not start.
fn exited_early(status: std::process::ExitStatus, log: &Path) -> String {
    /// Enough of a line to name the key or the error; a JSON log line can be long.
    const MOST_CHARS: usize = 600;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(line) => {
            let line: String = line.chars().take(MOST_CHARS).collect();
            format!("the connector exited ({status}) before delivering every event; its last log line: {line}")
        }
        None => format!(
            "the connector exited ({status}) before delivering every event, logging nothing"
        ),
    }
}

/// Waits until the bench's webhook has `events` distinct events; the window runs from the
/// first arrival to the last.
async fn watch_partner(
    log: &PartnerLog,
    events: u64,
    consumer: u32,
    fake: u32,
) -> BenchResult<ConsumerFigures> {
    let deadline = Instant::now() + RUN_LIMIT;
    let mut start: Option<(Duration, Duration)> = None;
    loop {
        let arrived = log
            .arrivals
            .lock()
            .map_or(0, |arrivals| arrivals.len() as u64);
        if start.is_none() && arrived > 0 {
            start = Some((cpu_time(consumer)?, cpu_time(fake)?));
        }
        if arrived >= events {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {arrived} of {events} events within {RUN_LIMIT:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
    let (consumer_cpu, fake_cpu) = start.ok_or("no event was delivered")?;
    let (first, last) = log
        .span
        .lock()
        .ok()
        .and_then(|span| *span)
        .ok_or("no event was delivered")?;
    Ok(ConsumerFigures {
        events: log.events.load(Ordering::Relaxed),
        elapsed: last - first,
        consumer_cpu: cpu_time(consumer)?.saturating_sub(consumer_cpu),
        fake_cpu: cpu_time(fake)?.saturating_sub(fake_cpu),
        ..ConsumerFigures::empty()
    })
}

/// Waits until `path` holds `events` lines; the window runs from its first line to its last.
async fn watch_lines(
    path: &Path,
    events: u64,
    consumer: u32,
    fake: u32,
) -> BenchResult<ConsumerFigures> {
    let deadline = Instant::now() + RUN_LIMIT;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buffer = vec![0_u8; 1 << 20];
    let mut lines = 0_u64;
    let mut start: Option<(Instant, Duration, Duration)> = None;
    while lines < events {
        if Instant::now() > deadline {
            return Err(format!("only {lines} of {events} lines within {RUN_LIMIT:?}").into());
        }
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            tokio::time::sleep(POLL).await;
            // Re-reading from the same position picks up what was appended meanwhile.
            file.seek(std::io::SeekFrom::Current(0)).await?;
            continue;
        }
        if start.is_none() {
            start = Some((Instant::now(), cpu_time(consumer)?, cpu_time(fake)?));
        }
        // Counting is not what is measured here: the connector runs in another process.
        #[allow(clippy::naive_bytecount)]
        let newlines = buffer[..read].iter().filter(|byte| **byte == b'\n').count();
        lines += newlines as u64;
    }
    let (started, consumer_cpu, fake_cpu) = start.ok_or("no line was delivered")?;
    Ok(ConsumerFigures {
        events,
        elapsed: started.elapsed(),
        consumer_cpu: cpu_time(consumer)?.saturating_sub(consumer_cpu),
        fake_cpu: cpu_time(fake)?.saturating_sub(fake_cpu),
        ..ConsumerFigures::empty()
    })
}

/// The npm client's package, which the comparison script imports.
const NPM_CLIENT: &str = "salesforce-pubsub-api-client";

/// Why the npm comparison cannot run on this machine, if it cannot: no `node`, or the
/// client's package not installed where node would look for it from the script. The
/// connector's run is measured either way.
fn npm_unavailable(script: &Path) -> Option<String> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|status| status.success()) {
        return Some(
            "`node` is not on PATH (bench/npm/README.md: Node 20, then `npm install`)".to_owned(),
        );
    }
    let script = std::path::absolute(script).unwrap_or_else(|_| script.to_path_buf());
    let dir = script.parent().unwrap_or(Path::new("/"));
    // Node resolves a bare import from the script's directory upwards.
    let installed = dir
        .ancestors()
        .any(|ancestor| ancestor.join("node_modules").join(NPM_CLIENT).is_dir());
    (!installed).then(|| {
        format!(
            "{NPM_CLIENT} is not installed for {} (run `npm install` in {})",
            script.display(),
            dir.display()
        )
    })
}

/// Runs the npm script; it prints one line per event it received and a summary JSON line.
async fn run_npm(script: &Path, fake: &RunningFake, events: u64) -> BenchResult<ConsumerFigures> {
    let mut child = Command::new("node")
        .arg(script)
        .env(
            "PUBSUB_ENDPOINT",
            fake.pubsub.trim_start_matches("https://"),
        )
        .env("INSTANCE_URL", &fake.instance_url)
        .env("ACCESS_TOKEN", &fake.token)
        .env("ORG_ID", &fake.org_id)
        .env("TOPIC", &fake.topic)
        .env("EVENTS", events.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run node {}: {err}", script.display()))?;
    let pid = child.id().ok_or("node has no pid")?;
    let stdout = child.stdout.take().ok_or("node has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    let mut marks = Vec::new();
    let mut peak_rss = None;
    // The script prints "first" at its first event and "last" at the last one.
    while marks.len() < 2 {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| "the npm script did not finish in time")??
            .ok_or("the npm script exited early")?;
        if line == "first" || line == "last" {
            marks.push((Instant::now(), cpu_time(pid)?, cpu_time(fake.pid)?));
            peak_rss = peak_rss_kb(pid);
        }
    }
    let _ = child.wait().await?;
    let ((started, consumer_start, fake_start), (ended, consumer_end, fake_end)) =
        (marks[0], marks[1]);
    Ok(ConsumerFigures {
        events,
        elapsed: ended - started,
        consumer_cpu: consumer_end.saturating_sub(consumer_start),
        fake_cpu: fake_end.saturating_sub(fake_start),
        peak_rss_kb: peak_rss,
        ..ConsumerFigures::empty()
    })
}
