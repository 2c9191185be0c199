//! `bench failover`: how long a channel goes without a leader when its leader dies, at the
//! default `ha.takeover_secs`, and whether every routing request is still answered once.
//!
//! It starts `<this binary> fake-salesforce --tls` and three `<this binary> run` replicas with
//! `[ha] enabled` on a fresh namespace of a PostgreSQL database, delivering to a webhook served
//! in the bench and answering routing requests with the `reject` strategy (the fake knows each
//! routing conversation's session, so the connector's look-up succeeds and it posts
//! `success=false`). Messages and RoutingRequested are published steadily through the fake's
//! control plane while, round after round, the leader (the replica whose `/metrics` says
//! `byoc_ha_leader 1`) is SIGKILLed, or SIGSTOPped and resumed once another replica leads,
//! and a replacement replica is started as an orchestrator would: right after a SIGKILL (a
//! container restarted in place, which then stands by during the failover) or, in other
//! rounds, only after the failover (a node lost: only the survivors can take over). A failover is timed from
//! the signal to the first arrival at the webhook of a message published after it (only a new
//! leader can deliver that one), and to another replica's `byoc_ha_leader 1`. Afterwards every
//! message must have reached the webhook, and each RoutingRequested's routingResults, as the
//! fake recorded them, are checked against its 60-second window. It knows the binary's
//! command line, config file and metrics, not its internals; Linux only (`kill`,
//! `/proc/loadavg`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

pub use super::failover_report::{
    FailoverReport, Fault, MessageTally, Round, RoutingTally, Spread,
};
use super::failover_report::{RequestFacts, WINDOW_MS};
use super::proc_stats::{command_output, free_loopback_port, machine, metric};
use super::process::{start_fake, RunningFake};
use super::process_partner::PartnerLog;
use super::BenchResult;

/// Replicas running at any time (a SIGSTOPped one not counted).
const REPLICAS: usize = 3;
/// How often the publisher publishes.
const PUBLISH_TICK: Duration = Duration::from_millis(50);
/// Publisher ticks between two RoutingRequested: one a second.
const TICKS_PER_ROUTING_REQUEST: u64 = 20;
/// How often the leader's metrics and the webhook are checked during a failover.
const POLL: Duration = Duration::from_millis(50);
/// Longest a failover may take before the round gives up on it.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);
/// Longest a replica may take to answer `/readyz` 200 after it starts.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// Longest a resumed SIGSTOPped leader may take to exit.
const RESUMED_EXIT_LIMIT: Duration = Duration::from_secs(15);
/// Steady delivery before each round, plus a spread so signals land at different points of
/// the leader's renewal cycle.
const SETTLE: Duration = Duration::from_secs(5);
/// Longest the messages may take to arrive after publishing stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// How long after the last answer the bench still watches for repeated routingResults.
const REPEAT_WATCH: Duration = Duration::from_secs(3);
/// The text of every bench message.
const MESSAGE_TEXT: &str = "Hi, how are you? This is a typical agent reply.";

/// What `bench failover` runs.
#[derive(Debug, Clone)]
pub struct FailoverBenchPlan {
    /// The PostgreSQL the replicas share; the bench uses a fresh namespace in it.
    pub postgres_url: String,
    /// Leader failures.
    pub failovers: usize,
    /// Messages published per second.
    pub rate: u64,
    /// Conversations the messages are spread over.
    pub conversations: u64,
}

/// What the publisher published, in order.
#[derive(Debug, Default)]
struct Published {
    /// When each message (numbered from 0) was published.
    messages: Vec<Instant>,
    /// Each RoutingRequested: its conversation, its `CreatedDate` and the number of the first
    /// message published after it.
    requests: Vec<(String, u64, u64)>,
}

/// One `run` process.
struct Replica {
    id: String,
    child: Child,
    ops: SocketAddr,
}

/// Starts replicas, each with a config of its own and a replica id never used before.
struct Launcher {
    binary: PathBuf,
    dir: PathBuf,
    config_base: String,
    /// The database URL, a secret: handed over in the environment, never written to a file.
    database: String,
    started: usize,
}

impl Launcher {
    fn new(
        binary: PathBuf,
        dir: PathBuf,
        fake: &RunningFake,
        webhook: &str,
        plan: &FailoverBenchPlan,
    ) -> Self {
        let namespace = format!("bench-failover-{}", uuid::Uuid::new_v4().simple());
        let config_base = format!(
            "{channel}\
             [delivery]\nkind = \"webhook\"\nurl = \"{webhook}\"\n\n\
             [store]\nkind = \"postgres\"\nnamespace = \"{namespace}\"\n\n\
             [routing]\nstrategy = \"reject\"\n\n",
            channel = fake.channel_toml(),
        );
        Self {
            binary,
            dir,
            config_base,
            database: plan.postgres_url.clone(),
            started: 0,
        }
    }

    /// Starts the next replica; it logs into `<dir>/<id>.log`.
    fn start(&mut self) -> BenchResult<Replica> {
        let id = format!("replica-{}", self.started);
        self.started += 1;
        let ops = free_loopback_port()?;
        let config = format!(
            "{}[ha]\nenabled = true\nreplica_id = \"{id}\"\n\n\
             [server]\nlisten = \"{ops}\"\nsidecar_listen = \"127.0.0.1:0\"\n",
            self.config_base
        );
        let config_path = self.dir.join(format!("{id}.toml"));
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(self.dir.join(format!("{id}.log")))?;
        let child = Command::new(&self.binary)
            .args(["run", "--config"])
            .arg(&config_path)
            .env(
                "RUST_LOG",
                "warn,byoc_connector::ha=info,byoc_connector::connector=info",
            )
            .env("BYOC__STORE__URL", &self.database)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Replica { id, child, ops })
    }
}

/// Runs the plan: fake, webhook, three replicas, publishing, the rounds, then the checks.
pub async fn run(plan: FailoverBenchPlan) -> BenchResult<FailoverReport> {
    let load_at_start = command_output("uptime", &[]);
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let binary = std::env::current_exe()?;
    let dir = crate::dev::embedded::scratch_dir("bench-failover")?;
    let mut fake = start_fake(&binary, &dir, None).await?;
    let partner = Arc::new(PartnerLog::default());
    let webhook = super::process_partner::start(partner.clone()).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()?;
    let mut launcher = Launcher::new(binary, dir.clone(), &fake, &webhook, &plan);
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(launcher.start()?);
    }
    for replica in &replicas {
        wait_ready(&http, replica).await?;
    }

    let published = Arc::new(Mutex::new(Published::default()));
    let stop_publishing = CancellationToken::new();
    let publishing = tokio::spawn(publish(
        fake.control.clone(),
        fake.control_client.clone(),
        plan.clone(),
        published.clone(),
        stop_publishing.clone(),
    ));

    let mut rounds = Vec::new();
    for round in 0..plan.failovers {
        let spread = Duration::from_millis((round as u64 * 730) % 2_000);
        tokio::time::sleep(SETTLE + spread).await;
        if publishing.is_finished() {
            break;
        }
        let fault = Fault::for_round(round);
        let done = fail_leader(
            fault,
            &http,
            &mut replicas,
            &mut launcher,
            &partner,
            &published,
        )
        .await?;
        rounds.push(done);
    }
    tokio::time::sleep(SETTLE).await;
    stop_publishing.cancel();
    publishing.await??;

    let (message_count, requests) = {
        let published = published.lock().map_err(|_| "the publisher panicked")?;
        (published.messages.len() as u64, published.requests.clone())
    };
    let arrived = |seq: u64| {
        partner
            .arrivals
            .lock()
            .is_ok_and(|arrivals| arrivals.first(seq).is_some())
    };
    let drained_by = Instant::now() + DRAIN_LIMIT;
    while (0..message_count).any(|seq| !arrived(seq)) && Instant::now() < drained_by {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls = wait_for_routing_results(&fake, &requests).await?;
    let messages = MessageTally::of(
        message_count,
        arrived,
        partner.events.load(Ordering::Relaxed),
    );
    let facts = request_facts(&requests, &calls, &partner, &published)?;
    let routing = RoutingTally::of(&facts);

    for mut replica in replicas {
        replica.child.start_kill()?;
        replica.child.wait().await?;
    }
    fake.child.start_kill()?;
    fake.child.wait().await?;
    let clean = messages.lost_count == 0
        && routing.exceptions.is_empty()
        && rounds.iter().all(|round| round.to_delivery.is_some());
    let logs = if clean {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&dir);
        None
    } else {
        Some(dir.display().to_string())
    };
    Ok(FailoverReport {
        setup: format!(
            "{REPLICAS} replicas of `run` (ha.enabled, PostgreSQL store, routing strategy \
             reject), {} messages/s over {} conversations and one RoutingRequested/s, \
             published through the fake's control plane; each round's leader replaced by a \
             new replica, started at once or only after the failover (column `replaced`)",
            plan.rate, plan.conversations
        ),
        rounds,
        messages,
        routing,
        machine: machine(),
        date,
        load: (load_at_start, command_output("uptime", &[])),
        logs,
    })
}

/// Publishes `plan.rate` messages a second and one RoutingRequested a second until `stop`.
async fn publish(
    control: String,
    http: reqwest::Client,
    plan: FailoverBenchPlan,
    published: Arc<Mutex<Published>>,
    stop: CancellationToken,
) -> BenchResult<()> {
    let per_tick = plan.rate * u64::try_from(PUBLISH_TICK.as_millis()).unwrap_or(50) / 1_000;
    let mut ticks = tokio::time::interval(PUBLISH_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut next_message, mut next_request) = (0_u64, 0_u64);
    for tick in 0_u64.. {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let mut items: Vec<serde_json::Value> = (next_message..next_message + per_tick.max(1))
            .map(|seq| message_item(seq, plan.conversations))
            .collect();
        let mut request = None;
        if tick % TICKS_PER_ROUTING_REQUEST == 0 {
            let conversation = super::routing::conversation_id(next_request);
            http.post(format!("{control}/_harness/interaction/conversations"))
                .json(&serde_json::json!({
                    "conversationIdentifier": conversation,
                    "workItemId": super::routing::work_item_id(next_request),
                }))
                .send()
                .await?
                .error_for_status()?;
            let event = fake_salesforce::samples::routing_requested(
                &conversation,
                &format!("e7e7e7e7-0000-4000-8000-{next_request:012}"),
            );
            let created_ms = event
                .created_date
                .and_then(|ms| u64::try_from(ms).ok())
                .ok_or("a routing request without a CreatedDate")?;
            items.push(serde_json::json!({
                "eventType": event.event_type,
                "payload": event.payload,
                "createdDate": event.created_date,
            }));
            next_request += 1;
            request = Some((conversation, created_ms));
        }
        let count = per_tick.max(1);
        let at = Instant::now();
        http.post(format!("{control}/_harness/publish"))
            .json(&serde_json::json!({ "events": items }))
            .send()
            .await?
            .error_for_status()?;
        let mut log = published
            .lock()
            .map_err(|_| "the published log is poisoned")?;
        log.messages
            .extend(std::iter::repeat_n(at, usize::try_from(count)?));
        next_message += count;
        if let Some((conversation, created_ms)) = request {
            // Published after this tick's messages: the next tick's first message follows it.
            log.requests.push((conversation, created_ms, next_message));
        }
    }
    Ok(())
}

fn message_item(seq: u64, conversations: u64) -> serde_json::Value {
    let conversation = format!("9bc16b48-cd9b-4d8b-b7f2-{:012}", seq % conversations.max(1));
    let payload =
        fake_salesforce::samples::text_message_payload(&conversation, seq, MESSAGE_TEXT, true);
    serde_json::json!({"eventType": "Interaction", "payload": payload})
}

/// Takes the current leader down with `fault`, times the failover, starts the replacement
/// (before the failover or after it, as `fault` says), and leaves [`REPLICAS`] running
/// replicas, every one ready.
async fn fail_leader(
    fault: Fault,
    http: &reqwest::Client,
    replicas: &mut Vec<Replica>,
    launcher: &mut Launcher,
    partner: &PartnerLog,
    published: &Mutex<Published>,
) -> BenchResult<Round> {
    let load = load_average();
    let old = wait_for_leader(http, replicas, Instant::now() + FAILOVER_LIMIT)
        .await
        .ok_or("no replica leads")?;
    let old_id = replicas[old].id.clone();
    let signalled = Instant::now();
    let first_after = published
        .lock()
        .map_err(|_| "the published log is poisoned")?
        .messages
        .len() as u64;
    let mut leader = replicas.remove(old);
    let mut stopped = None;
    if fault == Fault::Stop {
        signal(&leader, "STOP").await?;
        stopped = Some(leader);
    } else {
        leader.child.start_kill()?;
        leader.child.wait().await?;
        if fault.replaced_at_once() {
            replicas.push(launcher.start()?);
        }
    }

    // Until another replica leads and a message published after the signal arrived.
    let limit = signalled + FAILOVER_LIMIT;
    let mut new_leader = None;
    let mut to_leader = None;
    let mut to_delivery = None;
    while Instant::now() < limit && (to_leader.is_none() || to_delivery.is_none()) {
        if to_leader.is_none() {
            if let Some(index) = wait_for_leader(http, replicas, Instant::now()).await {
                to_leader = Some(signalled.elapsed());
                new_leader = Some(replicas[index].id.clone());
            }
        }
        if to_delivery.is_none() {
            to_delivery = first_delivery_since(partner, first_after, signalled);
        }
        tokio::time::sleep(POLL).await;
    }

    let mut resumed = None;
    if let Some(mut paused) = stopped {
        signal(&paused, "CONT").await?;
        let exited = tokio::time::timeout(RESUMED_EXIT_LIMIT, paused.child.wait()).await;
        resumed = Some(if let Ok(status) = exited {
            status?.to_string()
        } else {
            paused.child.start_kill()?;
            paused.child.wait().await?;
            format!("still running {RESUMED_EXIT_LIMIT:?} after SIGCONT; killed")
        });
    }
    if !fault.replaced_at_once() {
        replicas.push(launcher.start()?);
    }
    for replica in replicas.iter() {
        wait_ready(http, replica).await?;
    }
    Ok(Round {
        fault,
        old_leader: old_id,
        new_leader,
        to_leader,
        to_delivery,
        resumed,
        load,
    })
}

/// The earliest arrival, counted from `signalled`, of a message numbered `first` or later.
fn first_delivery_since(partner: &PartnerLog, first: u64, signalled: Instant) -> Option<Duration> {
    let arrivals = partner.arrivals.lock().ok()?;
    arrivals
        .iter()
        .filter(|(seq, _)| *seq >= first)
        .map(|(_, at)| at.saturating_duration_since(signalled))
        .min()
}

/// The index of the one replica whose metrics say it leads; polls until `until` (at least
/// once). `None` when none or several do. A stopped replica must not be among `replicas`: it
/// would hold every poll up for the client's timeout.
async fn wait_for_leader(
    http: &reqwest::Client,
    replicas: &[Replica],
    until: Instant,
) -> Option<usize> {
    loop {
        let mut leaders = Vec::new();
        for (index, replica) in replicas.iter().enumerate() {
            let text = match http
                .get(format!("http://{}/metrics", replica.ops))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if metric(&text, "byoc_ha_leader") == Some(1) {
                leaders.push(index);
            }
        }
        if leaders.len() == 1 {
            return leaders.first().copied();
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `replica` answers `/readyz` 200 (a standby does once it watches the lease).
async fn wait_ready(http: &reqwest::Client, replica: &Replica) -> BenchResult<()> {
    let limit = Instant::now() + READY_LIMIT;
    loop {
        let ready = http
            .get(format!("http://{}/readyz", replica.ops))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success());
        if ready {
            return Ok(());
        }
        if Instant::now() > limit {
            return Err(format!("{} was not ready within {READY_LIMIT:?}", replica.id).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn signal(replica: &Replica, name: &str) -> BenchResult<()> {
    let pid = replica.child.id().ok_or("the replica has exited")?;
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .await?;
    if !status.success() {
        return Err(format!("kill -{name} {pid} failed: {status}").into());
    }
    Ok(())
}

/// The 1-minute load average, 0 when unknown.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A routingResult the fake recorded: its conversation, when it arrived (epoch ms), whether it
/// was accepted.
type Call = (String, u64, bool);

/// Waits until every request has an accepted routingResult or its deadline passed, and then a
/// little longer for repeats; the routingResult calls the fake recorded.
async fn wait_for_routing_results(
    fake: &RunningFake,
    requests: &[(String, u64, u64)],
) -> BenchResult<Vec<Call>> {
    let last_deadline = requests
        .iter()
        .map(|(_, created_ms, _)| created_ms + WINDOW_MS)
        .max()
        .unwrap_or(0);
    loop {
        let calls = routing_calls(fake).await?;
        let all_answered = requests.iter().all(|(conversation, _, _)| {
            calls
                .iter()
                .any(|(answered, _, accepted)| *accepted && answered == conversation)
        });
        if all_answered || epoch_ms() > last_deadline + 1_000 {
            tokio::time::sleep(REPEAT_WATCH).await;
            return routing_calls(fake).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn routing_calls(fake: &RunningFake) -> BenchResult<Vec<Call>> {
    let calls: Vec<serde_json::Value> = fake
        .control_client
        .get(format!(
            "{}/_harness/calls?path=routingResult",
            fake.control
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(calls
        .iter()
        .filter_map(|call| {
            let conversation = call["body"]["conversationIdentifier"].as_str()?.to_owned();
            let at = call["receivedAtMs"].as_u64()?;
            let status = call["status"].as_u64()?;
            Some((conversation, at, (200..300).contains(&status)))
        })
        .collect())
}

/// What is known about each request: its accepted routingResults, and the latest it can have
/// been received: its first routingResult call, or the first arrival of a message published
/// after it (the stream is in order, so the leader had the request by then).
fn request_facts(
    requests: &[(String, u64, u64)],
    calls: &[Call],
    partner: &PartnerLog,
    published: &Mutex<Published>,
) -> BenchResult<Vec<RequestFacts>> {
    let arrivals = partner
        .arrivals
        .lock()
        .map_err(|_| "the partner log is poisoned")?;
    let message_count = published
        .lock()
        .map_err(|_| "the published log is poisoned")?
        .messages
        .len() as u64;
    // Arrivals as epoch ms: the bench's monotonic clock mapped onto the wall clock once.
    let (base_instant, base_ms) = (Instant::now(), epoch_ms());
    let wall_ms =
        |at: Instant| base_ms - u64::try_from((base_instant - at).as_millis()).unwrap_or(0);
    // The earliest arrival of any message numbered `seq` or later, from the last one back.
    let mut earliest_from = vec![None::<u64>; usize::try_from(message_count).unwrap_or(0) + 1];
    for seq in (0..message_count).rev() {
        let index = usize::try_from(seq).unwrap_or(usize::MAX);
        let here = arrivals.first(seq).map(wall_ms);
        earliest_from[index] = match (here, earliest_from[index + 1]) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(requests
        .iter()
        .map(|(conversation, created_ms, next_message)| {
            let own: Vec<&Call> = calls
                .iter()
                .filter(|call| call.0 == *conversation)
                .collect();
            let first_call = own.iter().map(|call| call.1).min();
            let next_delivery = usize::try_from(*next_message)
                .ok()
                .and_then(|index| earliest_from.get(index).copied().flatten());
            let received_by_ms = match (first_call, next_delivery) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            RequestFacts {
                conversation: conversation.clone(),
                created_ms: *created_ms,
                accepted_ms: own
                    .iter()
                    .filter(|call| call.2)
                    .map(|call| call.1)
                    .collect(),
                received_by_ms,
            }
        })
        .collect())
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}
