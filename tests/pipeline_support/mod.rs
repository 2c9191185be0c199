//! Helpers for delivery tests: a real HTTP partner endpoint that records what it gets and
//! answers as the test says, numbered text-message events, and a pipeline assembled over
//! the fake Salesforce the way the connector assembles it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use byoc_connector::channel::{AnyChannel, WebhookChannel, WebhookOptions};
use byoc_connector::harness::topic::NewEvent;
use byoc_connector::harness::FakeSalesforce;
use byoc_connector::pipeline::{Pipeline, PipelineSettings, PipelineStats};
use byoc_connector::pubsub::{AckHandle, ReplayStart, Subscriber};
use byoc_connector::secret::SecretString;
use byoc_connector::store::{CheckpointWriter, Store, StoreOptions};
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
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            received,
            server,
        }
    }

    /// A partner that accepts everything at once.
    pub async fn accepting() -> Self {
        Self::start(Arc::new(|_| (StatusCode::OK, Duration::ZERO))).await
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
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

fn seq_in_text(body: &serde_json::Value) -> Option<u64> {
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
            "transcriptedTimestamp": 1690344475508_i64,
            "clientTimestamp": 1690344475409_i64,
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
    pub stats: Arc<PipelineStats>,
    pub acks: AckHandle,
    pub store: Store,
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

/// Starts subscriber + pipeline against `fake`, delivering to `partner_url`.
pub async fn start_pipeline(
    fake: &FakeSalesforce,
    store_path: &Path,
    partner_url: &str,
    secret: Option<&str>,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> RunningPipeline {
    let store = Store::open(store_path, StoreOptions::default()).unwrap();
    let topic = fake.endpoints().topic.clone();
    let org_id = fake.endpoints().org_id.clone();
    let mut config = super::support::subscriber_config(fake);
    config.start = match store.load_checkpoint(&org_id, &topic).unwrap() {
        Some(replay_id) => {
            ReplayStart::After(byoc_connector::pubsub::ReplayId::from_bytes(replay_id))
        }
        None => ReplayStart::Earliest,
    };
    let shutdown = CancellationToken::new();
    let subscriber = Subscriber::spawn(
        config,
        super::support::static_credentials(fake),
        shutdown.child_token(),
    )
    .unwrap();
    let acks = subscriber.acks();
    let mut options = WebhookOptions::new(partner_url);
    options.secret = secret.map(SecretString::new);
    let channel = Arc::new(AnyChannel::Webhook(WebhookChannel::new(options).unwrap()));
    let mut settings = PipelineSettings::new(org_id, topic);
    settings.retry.initial_delay = Duration::from_millis(20);
    settings.retry.max_delay = Duration::from_millis(500);
    tweak(&mut settings);
    let writer = CheckpointWriter::spawn(store.clone());
    let pipeline = Pipeline::new(
        settings,
        subscriber,
        writer,
        channel,
        None,
        byoc_connector::telemetry::Telemetry::new(),
    );
    let stats = pipeline.stats();
    let task = tokio::spawn(pipeline.run(shutdown.clone()));
    RunningPipeline {
        task,
        shutdown,
        stats,
        acks,
        store,
    }
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

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// A connector config file for the real binary, pointed at `fake` and `partner_url`.
pub fn connector_config_toml(
    fake: &FakeSalesforce,
    partner_url: &str,
    store_path: &Path,
) -> String {
    connector_config_toml_with_routing(fake, partner_url, store_path, "strategy = \"reject\"")
}

/// As [`connector_config_toml`], with `routing` as the body of the `[routing]` section.
pub fn connector_config_toml_with_routing(
    fake: &FakeSalesforce,
    partner_url: &str,
    store_path: &Path,
    routing: &str,
) -> String {
    let endpoints = fake.endpoints();
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
