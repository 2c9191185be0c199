//! `byoc-connector demo`: the whole path in one process, both directions, so a first run needs
//! no Salesforce org and no partner.
//!
//! It starts the fake Salesforce, a demo channel (a loopback HTTP partner that prints what it
//! receives and routes every request to a queue at once) and the connector between them, with
//! its store in a temp directory and its sidecar API behind a bearer token. It then plays one
//! conversation turn by turn: the end user writes (the demo's partner app calls the sidecar's
//! `POST /v1/messages` over HTTP, as a real partner app would, and the demo prints what the fake
//! Interaction Service recorded), the rep answers (an event on the fake's stream, which the
//! channel receives), and finally the rep transfers the conversation (a RoutingRequested the
//! channel routes; the demo prints the routingResult the fake received). It exits once every
//! step has arrived. This module only wires existing parts together; it knows nothing of their
//! insides.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connector::Listeners;
use crate::dev::embedded::{serve_loopback, EmbeddedConnector, EmbeddedError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use fake_salesforce::samples::{routing_requested, text_message_payload};
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};
use serde_json::{json, Value};
use tokio::time::Instant;

/// The channel address the connector is configured with (the one the sample events carry).
const CHANNEL_ADDRESS: &str = "b0ffeafe-0d89-4338-b14a-172ad203f22a";

/// The end user (the one the sample events are addressed to).
const END_USER: &str = "end-user-42";

/// The bearer token the demo's partner app presents to the sidecar.
const SIDECAR_TOKEN: &str = "demo-sidecar-token";

/// The demo routing request's `channelData.eventId`.
const EVENT_ID: &str = "e7e7e7e7-0000-4000-8000-00000000d3e0";

/// What the two sides say, in turn: the end user first.
const LINES: [&str; 4] = [
    "Hi, my order #4711 has not arrived yet.",
    "Sorry to hear that! Let me check the tracking for you.",
    "Thanks. It was due on Monday.",
    "I am transferring you to our shipping team.",
];

/// How long the demo waits for everything to arrive.
const LIMIT: Duration = Duration::from_secs(30);

/// Why the demo failed.
pub(crate) type DemoError = EmbeddedError;

/// What the demo plays.
#[derive(Debug, Clone, Copy)]
pub struct DemoSettings {
    /// Text messages before the transfer, alternating end user and rep (at least one: the
    /// end user's first message opens the conversation).
    pub messages: u64,
}

/// What the demo channel has received.
#[derive(Default)]
struct ChannelLog {
    deliveries: Vec<String>,
    routing_requests: usize,
}

type SharedLog = Arc<Mutex<ChannelLog>>;

/// Where the demo's partner app and the stream meet the connector.
struct Stage {
    fake: FakeSalesforce,
    log: SharedLog,
    http: reqwest::Client,
    ops: SocketAddr,
    sidecar: SocketAddr,
    deadline: Instant,
}

/// What the demo played.
#[derive(Debug, Default)]
struct Played {
    sent: u64,
    answered: u64,
}

/// Plays the demo, printing as it goes; fails if anything does not arrive in time.
pub async fn run(settings: DemoSettings) -> Result<(), DemoError> {
    let fake = FakeSalesforce::start(FakeConfig::default()).await?;
    let log = SharedLog::default();
    let app = Router::new()
        .route("/events", post(delivery))
        .route("/routing", post(routing))
        .with_state(log.clone());
    let channel = serve_loopback(app).await?;
    let listeners = Listeners::loopback().await?;
    let (ops, sidecar) = (listeners.ops.local_addr()?, listeners.sidecar.local_addr()?);
    let connector = EmbeddedConnector::start_with(
        &fake,
        "demo",
        listeners,
        channel,
        &[
            ("server", "sidecar_token", SIDECAR_TOKEN.into()),
            (
                "channel",
                "address_identifiers",
                toml::Value::Array(vec![CHANNEL_ADDRESS.into()]),
            ),
        ],
    )?;
    let endpoints = fake.endpoints();
    println!(
        "demo: fake Salesforce Pub/Sub at {}, HTTP at {}; demo channel at http://{channel}; \
         connector sidecar API at http://{sidecar}, ops at http://{ops} (try /metrics); store {}",
        endpoints.pubsub,
        endpoints.instance_url,
        connector.store_dir().display()
    );
    let stage = Stage {
        fake,
        log,
        http: reqwest::Client::builder().no_proxy().build()?,
        ops,
        sidecar,
        deadline: Instant::now() + LIMIT,
    };
    let played = stage.play(settings.messages.max(1)).await;
    let stopped = connector.stop().await;
    stage.fake.shutdown().await;
    stopped?;
    let played = played?;
    println!(
        "demo: done. {} end-user message(s) reached Salesforce through the sidecar, {} rep \
         answer(s) reached the channel, and the transfer was routed inside Salesforce's 60 s \
         window. Next: `byoc-connector fake-salesforce`, then `byoc-connector run --config \
         <file>` (see the README).",
        played.sent, played.answered
    );
    Ok(())
}

impl Stage {
    /// Plays `messages` turns, then the transfer.
    async fn play(&self, messages: u64) -> Result<Played, DemoError> {
        self.wait_ready().await?;
        let mut played = Played::default();
        let mut conversation = String::new();
        for turn in 0..messages {
            let line = LINES[usize::try_from(turn).unwrap_or(0) % LINES.len()];
            if turn % 2 == 0 {
                conversation = self.end_user_writes(turn, line).await?;
                played.sent += 1;
            } else {
                self.rep_answers(&conversation, turn, line).await?;
                played.answered += 1;
            }
        }
        self.rep_transfers(&conversation).await?;
        Ok(played)
    }

    /// Waits until the connector is ready: its stream is open and its sidecar routes live.
    async fn wait_ready(&self) -> Result<(), DemoError> {
        let url = format!("http://{}/readyz", self.ops);
        while Instant::now() < self.deadline {
            let ready = self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("the connector was not ready within {} s", LIMIT.as_secs()).into())
    }

    /// The end user's message, sent by the partner app through the sidecar; returns the
    /// conversation.
    async fn end_user_writes(&self, turn: u64, line: &str) -> Result<String, DemoError> {
        println!("end user   -> {line:?} (the partner app: POST /v1/messages on the sidecar)");
        let key = format!("demo-message-{turn}");
        let response = self
            .http
            .post(format!("http://{}/v1/messages", self.sidecar))
            .bearer_auth(SIDECAR_TOKEN)
            .header("idempotency-key", &key)
            .json(&json!({"endUserClientId": END_USER, "text": line}))
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the sidecar answered {status}: {answer}").into());
        }
        let entry_id = answer["entryId"].as_str().unwrap_or_default();
        let recorded = self
            .fake
            .interaction()
            .calls_to("interactions")
            .into_iter()
            .find(|call| call.body["json"]["interactions"][0]["payload"]["id"] == entry_id)
            .ok_or("the fake Interaction Service recorded no /interactions call for it")?;
        let sent = &recorded.body["json"];
        let header = |name: &str| recorded.headers.get(name).cloned().unwrap_or_default();
        println!(
            "salesforce <- {} {} from {}: {:?} ({}; OrgId {} and RequestId {} added by the \
             connector)",
            recorded.method,
            recorded.path,
            sent["from"].as_str().unwrap_or("?"),
            first_string(&sent["interactions"], "text").unwrap_or_default(),
            recorded.status,
            header("orgid"),
            header("requestid"),
        );
        let conversation = answer["conversationIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        println!(
            "partner    <- {} conversation {conversation}, MessagingSession {}",
            status.as_u16(),
            answer["messagingSessionId"].as_str().unwrap_or("?")
        );
        Ok(conversation)
    }

    /// The rep's answer, published on the stream; waits until the channel has it.
    async fn rep_answers(
        &self,
        conversation: &str,
        turn: u64,
        line: &str,
    ) -> Result<(), DemoError> {
        let delivered_before = self.deliveries();
        println!(
            "rep        -> {line:?} (an Interaction event on {})",
            self.fake.endpoints().topic
        );
        self.fake.publish(&[NewEvent {
            event_type: Some("Interaction".to_owned()),
            payload: Some(text_message_payload(conversation, turn, line, true)),
            ..NewEvent::default()
        }])?;
        self.until("the rep's answer reached the channel", || {
            self.deliveries() > delivered_before
        })
        .await
    }

    /// The rep's transfer: a RoutingRequested the channel routes, answered to Salesforce.
    async fn rep_transfers(&self, conversation: &str) -> Result<(), DemoError> {
        let request = routing_requested(conversation, EVENT_ID);
        let created_ms = request.created_date.unwrap_or_default();
        println!("rep        -> transfers the conversation to a queue (a RoutingRequested event)");
        self.fake.publish(&[request])?;
        let answered = || {
            self.fake
                .interaction()
                .calls_to("routingResult")
                .into_iter()
                .next()
        };
        self.until("Salesforce received the routingResult", || {
            answered().is_some()
        })
        .await?;
        if let Some(call) = answered() {
            let age_ms = i64::try_from(call.received_at_ms).unwrap_or(i64::MAX) - created_ms;
            println!(
                "salesforce <- routingResult success={} workItemId={} ({age_ms} ms after \
                 CreatedDate; the window is 60 s)",
                call.body["success"], call.body["workItemId"]
            );
        }
        Ok(())
    }

    /// Deliveries the channel has had.
    fn deliveries(&self) -> usize {
        self.log.lock().map_or(0, |log| log.deliveries.len())
    }

    /// Waits until `done`, or fails naming `what` at the demo's deadline.
    async fn until(&self, what: &str, done: impl Fn() -> bool) -> Result<(), DemoError> {
        while Instant::now() < self.deadline {
            if done() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let asked = self.log.lock().map_or(0, |log| log.routing_requests);
        Err(format!(
            "the demo did not complete within {} s: not yet: {what} ({} deliveries and {asked} \
             routing request(s) at the channel)",
            LIMIT.as_secs(),
            self.deliveries()
        )
        .into())
    }
}

/// An event delivery: print it and accept it.
async fn delivery(State(log): State<SharedLog>, body: Bytes) -> StatusCode {
    let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = envelope["type"].as_str().unwrap_or("?").to_owned();
    let text = first_string(&envelope, "text").unwrap_or_default();
    println!(
        "channel    <- {kind:<22} conversation {} {text:?}",
        envelope["conversationIdentifier"].as_str().unwrap_or("?")
    );
    if let Ok(mut log) = log.lock() {
        log.deliveries.push(kind);
    }
    StatusCode::OK
}

/// A routing request: print it and route it to a queue at once.
async fn routing(State(log): State<SharedLog>, body: Bytes) -> impl IntoResponse {
    let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
    println!(
        "channel    <- routing.requested      conversation {} deadline {}; answering: routed",
        envelope["conversationIdentifier"].as_str().unwrap_or("?"),
        envelope["deadline"].as_str().unwrap_or("?")
    );
    if let Ok(mut log) = log.lock() {
        log.routing_requests += 1;
    }
    Json(json!({"success": true}))
}

/// The first string value under `key` anywhere in `value`, depth first.
fn first_string(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(members) => members.iter().find_map(|(name, member)| match member {
            Value::String(text) if name == key => Some(text.clone()),
            other => first_string(other, key),
        }),
        Value::Array(items) => items.iter().find_map(|item| first_string(item, key)),
        _ => None,
    }
}
