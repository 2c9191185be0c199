//! Helpers for delivery tests: a real HTTP partner endpoint that records what it gets and
//! answers as the test says, numbered text-message events, and a pipeline assembled over
//! the fake Salesforce the way the connector assembles it; plus, for end-to-end tests, the
//! real connector binary (config file, sidecar address, sidecar decisions, SIGKILL) and
//! routing requests built from the fixtures.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use byoc_connector::channel::{AnyChannel, WebhookChannel, WebhookSettings};
use byoc_connector::pipeline::{Pipeline, PipelineSettings};
use byoc_connector::pubsub::{AckHandle, ReplayStart, Subscriber};
use byoc_connector::secret::SecretString;
use byoc_connector::store::{CheckpointWriter, Store, StoreSettings};
use byoc_connector::telemetry::Telemetry;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::FakeSalesforce;
use tokio_util::sync::CancellationToken;

/// One request the partner received.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: String,
    pub event_type: String,
    pub signature: Option<String>,
    pub conversation: String,
    /// The `seq` the test put in the message text, when it is a numbered message.
    pub seq: Option<u64>,
    pub raw_body: Vec<u8>,
    pub body: serde_json::Value,
}

/// How the partner answers one request: a status, after an optional delay.
pub type Behaviour = Arc<dyn Fn(&Received) -> (StatusCode, Duration) + Send + Sync>;

/// A partner endpoint on loopback.
pub struct Partner {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct PartnerState {
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Behaviour,
}

impl Partner {
    /// Starts a partner answering with `behaviour`.
    pub async fn start(behaviour: Behaviour) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = PartnerState {
            received: received.clone(),
            behaviour,
        };
        let app = Router::new()
            .route("/webhook", post(receive))
            .with_state(state);
        let (address, server) = super::serve_on_loopback(app).await;
        Self {
            url: format!("http://{address}/webhook"),
            received,
            server,
        }
    }

    /// A partner that accepts everything at once.
    pub async fn accepting() -> Self {
        Self::start(Arc::new(|_| (StatusCode::OK, Duration::ZERO))).await
    }

    /// A partner that answers `answer` (a status, after a delay) to the requests `when` picks
    /// and accepts the others at once.
    pub async fn answering_when(
        when: impl Fn(&Received) -> bool + Send + Sync + 'static,
        answer: (StatusCode, Duration),
    ) -> Self {
        Self::start(Arc::new(move |received| {
            if when(received) {
                answer
            } else {
                (StatusCode::OK, Duration::ZERO)
            }
        }))
        .await
    }

    /// A partner that answers `503` to everything until the returned flag is set, then
    /// accepts everything: nothing completes, so nothing is acknowledged, until released.
    pub async fn down_until_released() -> (Self, Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let up = Arc::new(AtomicBool::new(false));
        let released = up.clone();
        let partner = Self::answering_when(
            move |_| !released.load(Ordering::SeqCst),
            (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO),
        )
        .await;
        (partner, up)
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Cancels `shutdown` once `count` requests have arrived (waiting at most 20 s), from a
    /// task of its own, so the test's task can run the pipeline or connector itself.
    pub fn cancel_after(
        &self,
        count: usize,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let received = self.received.clone();
        tokio::spawn(async move {
            wait_until(
                "the partner gets every request",
                Duration::from_secs(20),
                || received.lock().unwrap().len() >= count,
            )
            .await;
            shutdown.cancel();
        })
    }

    /// The distinct message sequence numbers received so far (any answer, retries counted once).
    pub fn distinct_seqs(&self) -> std::collections::BTreeSet<u64> {
        self.received()
            .iter()
            .filter_map(|received| received.seq)
            .collect()
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<PartnerState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let received = Received {
        idempotency_key: header("idempotency-key").unwrap_or_default(),
        event_type: header("x-byoc-event-type").unwrap_or_default(),
        signature: header("x-byoc-signature"),
        conversation: json["conversationIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        seq: seq_in_text(&json),
        raw_body: body.to_vec(),
        body: json,
    };
    let (status, delay) = (state.behaviour)(&received);
    state.received.lock().unwrap().push(received);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    status
}

pub fn seq_in_text(body: &serde_json::Value) -> Option<u64> {
    let text =
        body["entry"]["entryPayload"]["abstractMessage"]["staticContent"]["text"].as_str()?;
    text.strip_prefix("seq-")?.parse().ok()
}

/// A text message from an agent in `conversation` whose text is `seq-<seq>`.
pub fn message_event(conversation: &str, seq: u64) -> NewEvent {
    let entry_id = format!("00000000-0000-4000-8000-{seq:012}");
    let payload = serde_json::json!({
        "conversationIdentifier": conversation,
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
        "payload": {
            "identifier": entry_id,
            "entryType": "Message",
            "entryPayload": {
                "entryType": "Message",
                "id": entry_id,
                "abstractMessage": {
                    "messageType": "StaticContentMessage",
                    "id": entry_id,
                    "staticContent": {"formatType": "Text", "text": format!("seq-{seq}")}
                },
                "messageReason": null
            },
            "sender": {"appType": "agent", "subject": "005xx0000012345", "role": "Agent"},
            "transcriptedTimestamp": 1_690_344_475_508_i64,
            "clientTimestamp": 1_690_344_475_409_i64,
            "clientDuration": 0
        }
    });
    NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some(payload.to_string()),
        ..NewEvent::default()
    }
}

/// `count` numbered messages spread round-robin over `conversations` conversations.
pub fn numbered_messages(count: u64, conversations: u64) -> Vec<NewEvent> {
    (0..count)
        .map(|seq| message_event(&conversation_name(seq % conversations), seq))
        .collect()
}

/// The conversation id used for conversation number `index`.
pub fn conversation_name(index: u64) -> String {
    format!("9bc16b48-cd9b-4d8b-b7f2-{index:012}")
}

/// A running pipeline and its handles.
pub struct RunningPipeline {
    pub task: tokio::task::JoinHandle<Result<(), byoc_connector::pipeline::PipelineError>>,
    pub shutdown: CancellationToken,
    pub acks: AckHandle,
    pub store: Store,
    /// The pipeline's and the subscriber's counts.
    pub telemetry: Telemetry,
}

impl RunningPipeline {
    /// Stops the pipeline and waits for its final checkpoint.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the pipeline stops in time")
            .unwrap()
            .unwrap();
    }
}

/// A pipeline over the fake, assembled the way the connector assembles it, not yet running.
pub struct AssembledPipeline {
    pub pipeline: Pipeline,
    /// Stops the pipeline (pass it to `run`) and, through a child token, its subscriber.
    pub shutdown: CancellationToken,
    pub acks: AckHandle,
    pub store: Store,
    pub telemetry: Telemetry,
}

/// Assembles subscriber + pipeline against `fake`, delivering to `partner_url`. Without a
/// `start`, the subscription resumes after the stored checkpoint, or from the earliest event.
pub fn assemble_pipeline(
    fake: &FakeSalesforce,
    store_path: &Path,
    partner_url: &str,
    secret: Option<&str>,
    start: Option<ReplayStart>,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> AssembledPipeline {
    assemble_routed_pipeline(fake, store_path, partner_url, secret, start, tweak, None)
}

/// [`assemble_pipeline`] handing RoutingRequested events to `routing`.
pub fn assemble_routed_pipeline(
    fake: &FakeSalesforce,
    store_path: &Path,
    partner_url: &str,
    secret: Option<&str>,
    start: Option<ReplayStart>,
    tweak: impl FnOnce(&mut PipelineSettings),
    routing: Option<Arc<dyn byoc_connector::pipeline::RoutingSink>>,
) -> AssembledPipeline {
    let mut options = WebhookSettings::new(partner_url);
    options.secret = secret.map(SecretString::new);
    let channel = AnyChannel::Webhook(WebhookChannel::new(options).unwrap());
    assemble_pipeline_over(fake, store_path, channel, start, tweak, routing)
}

/// [`assemble_routed_pipeline`] delivering through `channel`, as configuration would build it.
pub fn assemble_pipeline_over(
    fake: &FakeSalesforce,
    store_path: &Path,
    channel: AnyChannel,
    start: Option<ReplayStart>,
    tweak: impl FnOnce(&mut PipelineSettings),
    routing: Option<Arc<dyn byoc_connector::pipeline::RoutingSink>>,
) -> AssembledPipeline {
    let store = Store::open(store_path, StoreSettings::default()).unwrap();
    let topic = fake.endpoints().topic.clone();
    let org_id = fake.endpoints().org_id.clone();
    let mut config = crate::support::subscriber_settings(fake);
    config.start = match (start, store.load_checkpoint(&org_id, &topic).unwrap()) {
        (Some(start), _) => start,
        (None, Some(replay_id)) => {
            ReplayStart::After(byoc_connector::pubsub::ReplayId::from_bytes(replay_id))
        }
        (None, None) => ReplayStart::Earliest,
    };
    let shutdown = CancellationToken::new();
    // One telemetry for both, as the connector assembles them.
    let telemetry = Telemetry::new();
    let mut settings = PipelineSettings::new(org_id, topic);
    settings.retry.initial_delay = Duration::from_millis(20);
    settings.retry.max_delay = Duration::from_millis(500);
    tweak(&mut settings);
    let subscriber = Subscriber::spawn_preparing(
        config,
        crate::support::static_credentials(fake),
        telemetry.clone(),
        shutdown.child_token(),
        settings.decoder(),
    )
    .unwrap();
    let acks = subscriber.acks();
    let channel = Arc::new(channel);
    let writer = CheckpointWriter::spawn(store.clone());
    let pipeline = Pipeline::new(
        settings,
        subscriber,
        writer,
        channel,
        routing,
        telemetry.clone(),
    );
    AssembledPipeline {
        pipeline,
        shutdown,
        acks,
        store,
        telemetry,
    }
}

impl AssembledPipeline {
    /// Runs the pipeline on a task of its own.
    pub fn spawn(self) -> RunningPipeline {
        let task = tokio::spawn(self.pipeline.run(self.shutdown.clone()));
        RunningPipeline {
            task,
            shutdown: self.shutdown,
            acks: self.acks,
            store: self.store,
            telemetry: self.telemetry,
        }
    }
}

/// Starts subscriber + pipeline against `fake`, delivering to `partner_url`.
pub async fn start_pipeline(
    fake: &FakeSalesforce,
    store_path: &Path,
    partner_url: &str,
    secret: Option<&str>,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> RunningPipeline {
    assemble_pipeline(fake, store_path, partner_url, secret, None, tweak).spawn()
}

/// Starts subscriber + pipeline against `fake` with the usual settings, its store file in
/// `dir`, delivering unsigned to `partner`.
pub async fn start_default_pipeline(
    fake: &FakeSalesforce,
    dir: &ScratchDir,
    partner: &Partner,
) -> RunningPipeline {
    start_in_dir(fake, dir, partner, |_| {}).await
}

/// [`start_default_pipeline`] with `pipeline.prefetch_events` set to `prefetch`.
pub async fn start_pipeline_with_prefetch(
    fake: &FakeSalesforce,
    dir: &ScratchDir,
    partner: &Partner,
    prefetch: usize,
) -> RunningPipeline {
    start_in_dir(fake, dir, partner, |settings| {
        settings.prefetch_events = prefetch;
    })
    .await
}

/// [`start_pipeline`] with its store file in `dir`, delivering unsigned to `partner`.
async fn start_in_dir(
    fake: &FakeSalesforce,
    dir: &ScratchDir,
    partner: &Partner,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> RunningPipeline {
    start_pipeline(
        fake,
        &dir.path().join("store.redb"),
        &partner.url,
        None,
        tweak,
    )
    .await
}

/// The checkpoint `store` holds for the fake's (org, topic), as the fake's numeric replay id.
pub fn stored_checkpoint(store: &Store, fake: &FakeSalesforce) -> Option<u64> {
    let bytes = store
        .load_checkpoint(&fake.endpoints().org_id, &fake.endpoints().topic)
        .unwrap()?;
    Some(u64::from_be_bytes(bytes.try_into().unwrap()))
}

/// Waits (bounded) until `condition` holds, polling every 10 ms of tokio time.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "byoc-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A [`scratch_dir`] removed on drop, so a failing test leaves nothing behind either.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// A fresh scratch directory named after `name`.
    pub fn new(name: &str) -> Self {
        Self(scratch_dir(name))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    )
}

/// The `[routing]` body that answers every routing request `success: false` at once, for
/// tests about delivery, not routing.
pub const REJECT_ROUTING: &str = "strategy = \"reject\"";

/// A connector config for the real binary, pointed at `fake` and `partner_url`, with
/// `routing` as the body of the `[routing]` section.
pub fn connector_config_toml(
    fake: &FakeSalesforce,
    partner_url: &str,
    store_path: &Path,
    routing: &str,
) -> String {
    connector_config_toml_for(fake.endpoints(), partner_url, store_path, routing)
}

/// [`connector_config_toml`] for one org of a fake serving several (`fake.org(id).endpoints()`).
pub fn connector_config_toml_for(
    endpoints: &fake_salesforce::Endpoints,
    partner_url: &str,
    store_path: &Path,
    routing: &str,
) -> String {
    format!(
        r#"
[pubsub]
endpoint = "{pubsub}"
insecure = true
topic = "{topic}"
start = "earliest"
min_backoff_ms = 20
max_backoff_ms = 500

[auth]
kind = "static"
token = "{token}"
instance_url = "{instance}"
org_id = "{org}"

[interaction]
base_url = "{instance}"
authorization_context = "{context}"
insecure = true

[delivery]
kind = "webhook"
url = "{partner_url}"

[store]
path = "{store}"
ack_batch_max_delay_ms = 20

[server]
listen = "127.0.0.1:0"
sidecar_listen = "127.0.0.1:0"

[routing]
{routing}
"#,
        pubsub = endpoints.pubsub,
        topic = endpoints.topic,
        token = endpoints.token,
        instance = endpoints.instance_url,
        org = endpoints.org_id,
        context = endpoints.authorization_context,
        store = store_path.display(),
        routing = routing,
    )
}

/// Starts the fake Salesforce on loopback enforcing a routing window of `window` (the fake's
/// default is Salesforce's 60 s; tests that shrink `routing.window_secs` shrink it to match).
pub async fn start_fake_with_routing_window(window: Duration) -> FakeSalesforce {
    byoc_connector::install_crypto_provider();
    FakeSalesforce::start(fake_salesforce::FakeConfig {
        routing_window: Some(window),
        ..fake_salesforce::FakeConfig::default()
    })
    .await
    .expect("fake salesforce starts")
}

/// The payload of `tests/fixtures/events/routing-requested-<kind>.json`, moved to
/// `conversation`, with `event_id` as `channelData.eventId` (channelData is a JSON string).
pub fn routing_request_payload(
    kind: &str,
    conversation: &str,
    event_id: &str,
) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/events/routing-requested-{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut payload = fixture["payload"].clone();
    let request = &mut payload["payload"];
    request["conversationIdentifier"] = conversation.into();
    let parameters = &mut request["routingParameters"];
    let mut channel_data: serde_json::Value = serde_json::from_str(
        parameters["channelData"]
            .as_str()
            .expect("channelData is a JSON string"),
    )
    .unwrap();
    channel_data["eventId"] = event_id.into();
    channel_data["conversationId"] = conversation.into();
    parameters["channelData"] = channel_data.to_string().into();
    payload
}

/// A `RoutingRequested` event carrying `payload`, with `CreatedDate` `created_ms`.
pub fn routing_requested_event(payload: &serde_json::Value, created_ms: i64) -> NewEvent {
    NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(payload.to_string()),
        created_date: Some(created_ms),
        ..NewEvent::default()
    }
}

/// Wall-clock Unix epoch milliseconds, the unit of `CreatedDate`.
pub fn epoch_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// Spawns the real binary on `config` with its output discarded, killed on drop: for tests
/// that watch only the fakes.
pub fn spawn_quiet_connector(config: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the connector binary starts")
}

/// Longest the real binary may take to log its sidecar address.
const CONNECTOR_START_LIMIT: Duration = Duration::from_secs(30);
/// Longest a connector told to stop with SIGTERM may take to drain and exit.
const CONNECTOR_GRACEFUL_EXIT_LIMIT: Duration = Duration::from_secs(30);
/// Longest a killed connector may take to be reaped.
const CONNECTOR_EXIT_LIMIT: Duration = Duration::from_secs(10);
/// Sidecar calls answered 503 (routing still starting or resuming) are retried this often…
const SIDECAR_ATTEMPTS: u32 = 100;
/// …this far apart.
const SIDECAR_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The log line naming the sidecar server's bound address.
const SIDECAR_LISTENING: &str = "sidecar server listening";
/// The log line naming the ops server's bound address.
const OPS_LISTENING: &str = "ops server listening";

/// The real `byoc-connector` binary running `run --config <file>`, killed on drop.
///
/// The sidecar address is read from the binary's own "sidecar server listening" log line
/// rather than reserved up front: the config keeps `listen = "127.0.0.1:0"`, so there is no
/// window between releasing a reserved port and the binary binding it in which another test
/// (or process) could take it, and the address used is the one the binary actually bound.
pub struct ConnectorProcess {
    child: tokio::process::Child,
    /// Where the sidecar API (`/v1/routing/{eventId}/result`, `/v1/…`) listens.
    pub sidecar: SocketAddr,
    /// Where `/livez`, `/readyz` and `/metrics` are served.
    pub ops: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl ConnectorProcess {
    /// Spawns the binary on `config` and waits (bounded) until its sidecar server listens.
    pub async fn start(config: &Path) -> Self {
        Self::start_writing_stdout_to(config, std::process::Stdio::null()).await
    }

    /// [`ConnectorProcess::start`], with the process's standard output going to `stdout`
    /// (for `delivery.kind = "stdout"`).
    pub async fn start_writing_stdout_to(config: &Path, stdout: std::process::Stdio) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
        command.args(["run", "--config"]).arg(config).stdout(stdout);
        Self::spawn(command).await
    }

    /// [`ConnectorProcess::start`], with no file the process writes allowed to grow past
    /// `max_file_bytes` (rounded down to 512-byte blocks): a write beyond fails with EFBIG, as
    /// on a full disk. The shell ignores SIGXFSZ, which the binary inherits, so the write
    /// fails instead of killing the process.
    pub async fn start_with_file_size_limit(config: &Path, max_file_bytes: u64) -> Self {
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(r#"trap '' XFSZ; ulimit -f "$1" || exit 99; shift; exec "$@""#)
            .arg("sh")
            .arg((max_file_bytes / 512).to_string())
            .arg(env!("CARGO_BIN_EXE_byoc-connector"))
            .args(["run", "--config"])
            .arg(config)
            .stdout(std::process::Stdio::null());
        Self::spawn(command).await
    }

    /// [`ConnectorProcess::start`] logging as `RUST_LOG=filter` says (which must keep the
    /// servers' "listening" lines).
    pub async fn start_logging(config: &Path, filter: &str) -> Self {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
        command
            .args(["run", "--config"])
            .arg(config)
            .stdout(std::process::Stdio::null())
            .env("RUST_LOG", filter);
        Self::spawn(command).await
    }

    /// Starts `command`, whose standard output is already set; `RUST_LOG` keeps what the
    /// command set, else the tests' own filter.
    async fn spawn(mut command: tokio::process::Command) -> Self {
        use tokio::io::AsyncBufReadExt;

        let filter_set = command
            .as_std()
            .get_envs()
            .any(|(name, _)| name == "RUST_LOG");
        if !filter_set {
            command.env(
                "RUST_LOG",
                "warn,byoc_connector::server=info,byoc_connector::routing=info,byoc_connector::ha=info,byoc_connector::connector=info",
            );
        }
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the connector binary starts");
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        let lines_log = log.clone();
        // Drains stderr for the whole life of the process (a full pipe would block it) and
        // hands over the first sidecar and ops addresses; ends when the process closes stderr.
        tokio::spawn(async move {
            let mut address_tx = Some(address_tx);
            let (mut sidecar, mut ops) = (None, None);
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sidecar = sidecar.or_else(|| listening_address_in(&line, SIDECAR_LISTENING));
                ops = ops.or_else(|| listening_address_in(&line, OPS_LISTENING));
                if let (Some(sidecar), Some(ops)) = (sidecar, ops) {
                    if let Some(sender) = address_tx.take() {
                        let _ = sender.send((sidecar, ops));
                    }
                }
                lines_log.lock().unwrap().push(line);
            }
        });
        let (sidecar, ops) = match tokio::time::timeout(CONNECTOR_START_LIMIT, address_rx).await {
            Ok(Ok(addresses)) => addresses,
            outcome => panic!(
                "the connector did not log its sidecar address ({}); its log:\n{}",
                if outcome.is_err() {
                    "timed out"
                } else {
                    "it exited"
                },
                log.lock().unwrap().join("\n")
            ),
        };
        assert!(sidecar.ip().is_loopback(), "sidecar on {sidecar}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            child,
            sidecar,
            ops,
            log,
            http,
        }
    }

    /// Everything the process logged so far, one JSON line each.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `POST /v1/routing/{event_id}/result` with `decision`; returns the status and JSON body.
    /// A `503` (routing starting, or the request not resumed yet) is retried, boundedly.
    pub async fn decide(
        &self,
        event_id: &str,
        decision: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let url = format!("http://{}/v1/routing/{event_id}/result", self.sidecar);
        for _ in 0..SIDECAR_ATTEMPTS {
            let response = self
                .http
                .post(&url)
                .json(decision)
                .send()
                .await
                .expect("the sidecar answers");
            let status = response.status().as_u16();
            if status != 503 {
                let body = response.json().await.unwrap_or(serde_json::Value::Null);
                return (status, body);
            }
            tokio::time::sleep(SIDECAR_RETRY_DELAY).await;
        }
        panic!(
            "the sidecar still answered 503 after {SIDECAR_ATTEMPTS} attempts; log:\n{}",
            self.log()
        );
    }

    /// Sends SIGTERM (readiness off, drain, final checkpoint) and waits, at most for the
    /// shutdown grace, until the process exits.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the connector is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "SIGTERM was sent");
        tokio::time::timeout(CONNECTOR_GRACEFUL_EXIT_LIMIT, self.child.wait())
            .await
            .expect("the connector exits within its shutdown grace")
            .unwrap()
    }

    /// Waits, at most `limit`, until the process exits on its own.
    pub async fn exit_within(mut self, limit: Duration) -> std::process::ExitStatus {
        let Ok(status) = tokio::time::timeout(limit, self.child.wait()).await else {
            panic!(
                "the connector did not exit within {limit:?}; its log:\n{}",
                self.log()
            )
        };
        status.unwrap()
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process, as an operator or the kernel would.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the connector is still running");
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "SIG{signal} was sent");
    }

    /// The ops listener's `/metrics` text; empty when it does not answer within a second (a
    /// stopped process).
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.ops);
        let answer = tokio::time::timeout(Duration::from_secs(1), self.http.get(url).send()).await;
        match answer {
            Ok(Ok(response)) => response.text().await.unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// SIGKILLs the process (no shutdown, no drain, as in a crash) and reaps it.
    pub async fn kill(mut self) {
        self.child
            .start_kill()
            .expect("the connector can be killed");
        tokio::time::timeout(CONNECTOR_EXIT_LIMIT, self.child.wait())
            .await
            .expect("the killed connector exits in time")
            .unwrap();
    }
}

/// The address in a JSON log line whose message is `message`.
fn listening_address_in(line: &str, message: &str) -> Option<SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    // The binary logs JSON; fields are nested unless a subscriber flattens them.
    let fields = entry.get("fields").unwrap_or(&entry);
    if fields.get("message")?.as_str()? != message {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// Writes the connector's config for `fake` into `dir` and returns its path: deliveries go
/// to `delivery_url`, the store lives in `dir`, `routing` is the `[routing]` body.
pub fn write_connector_config(
    fake: &FakeSalesforce,
    dir: &Path,
    delivery_url: &str,
    routing: &str,
) -> std::path::PathBuf {
    write_connector_config_for(fake.endpoints(), dir, delivery_url, routing)
}

/// [`write_connector_config`] for one org of a fake serving several.
pub fn write_connector_config_for(
    endpoints: &fake_salesforce::Endpoints,
    dir: &Path,
    delivery_url: &str,
    routing: &str,
) -> std::path::PathBuf {
    let path = dir.join("connector.toml");
    let config =
        connector_config_toml_for(endpoints, delivery_url, &dir.join("state.redb"), routing);
    std::fs::write(&path, config).unwrap();
    path
}
