//! `byoc-connector demo`: the whole path in one process, so a first run needs no Salesforce
//! org and no partner.
//!
//! It starts the fake Salesforce, a demo channel (a loopback HTTP partner that prints what it
//! receives and routes every request to a queue at once) and the connector between them, with
//! its store in a temp directory. It then plays one conversation: a few text messages, then a
//! RoutingRequested. It prints each delivery as the channel sees it and the routingResult as the
//! fake Interaction Service sees it, and exits once everything has arrived. This module only
//! wires existing parts together; it knows nothing of their insides.

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

/// The demo conversation.
const CONVERSATION: &str = "c0ffee00-0000-4000-8000-00000000d3e0";

/// The MessagingSession the fake's SOQL endpoint knows for it.
const WORK_ITEM: &str = "0MwXX00000000D3AAA";

/// The demo routing request's `channelData.eventId`.
const EVENT_ID: &str = "e7e7e7e7-0000-4000-8000-00000000d3e0";

/// What the two sides say, in turn.
const LINES: [&str; 4] = [
    "Hi, my order #4711 has not arrived yet.",
    "Sorry to hear that! Let me check the tracking for you.",
    "Thanks. It was due on Monday.",
    "I am transferring you to our shipping team.",
];

/// How long the demo waits for everything to arrive.
const LIMIT: Duration = Duration::from_secs(30);

/// Why the demo failed.
pub type DemoError = EmbeddedError;

/// What the demo plays.
#[derive(Debug, Clone, Copy)]
pub struct DemoSettings {
    /// Text messages before the routing request.
    pub messages: u64,
}

/// What the demo channel has received.
#[derive(Default)]
struct ChannelLog {
    deliveries: Vec<String>,
    routing_requests: usize,
}

type SharedLog = Arc<Mutex<ChannelLog>>;

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
    let connector = EmbeddedConnector::start(&fake, "demo", listeners, channel)?;
    let endpoints = fake.endpoints();
    println!(
        "demo: fake Salesforce Pub/Sub at {}, HTTP at {}; demo channel at http://{channel}; \
         connector sidecar API at http://{sidecar}, ops at http://{ops} (try /metrics); store {}",
        endpoints.pubsub,
        endpoints.instance_url,
        connector.store_dir().display()
    );

    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let messages: Vec<NewEvent> = (0..settings.messages)
        .map(|n| {
            let line = LINES[usize::try_from(n).unwrap_or(0) % LINES.len()];
            NewEvent {
                event_type: Some("Interaction".to_owned()),
                payload: Some(text_message_payload(CONVERSATION, n, line, n % 2 == 1)),
                ..NewEvent::default()
            }
        })
        .collect();
    fake.publish(&messages)?;
    let request = routing_requested(CONVERSATION, EVENT_ID);
    let created_ms = request.created_date.unwrap_or_default();
    fake.publish(&[request])?;
    println!(
        "salesforce -> published {} messages and 1 routing request on {}",
        settings.messages, endpoints.topic
    );

    let arrived = wait_for(&fake, &log, settings.messages).await;
    let answer = fake
        .interaction()
        .calls_to("routingResult")
        .into_iter()
        .next();
    if let Some(call) = &answer {
        let age_ms = i64::try_from(call.received_at_ms).unwrap_or(i64::MAX) - created_ms;
        println!(
            "salesforce <- routingResult success={} workItemId={} ({age_ms} ms after CreatedDate; \
             the window is 60 s)",
            call.body["success"], call.body["workItemId"]
        );
    }
    let stopped = connector.stop().await;
    fake.shutdown().await;
    stopped?;
    let (delivered, asked) = log
        .lock()
        .map(|log| (log.deliveries.len(), log.routing_requests))
        .unwrap_or_default();
    if !arrived || answer.is_none() {
        return Err(format!(
            "the demo did not complete within {} s: {delivered} of {} messages delivered, \
             routingResult {}",
            LIMIT.as_secs(),
            settings.messages,
            if answer.is_some() {
                "posted"
            } else {
                "missing"
            }
        )
        .into());
    }
    println!(
        "demo: done. {delivered} messages delivered to the channel; the channel was asked to route \
         {asked} time(s) and Salesforce got its answer in the window. Next: `byoc-connector fake-salesforce`, then `byoc-connector run --config \
         <file>` (see the README)."
    );
    Ok(())
}

/// Waits until the channel has `messages` deliveries and the fake a routingResult.
async fn wait_for(fake: &FakeSalesforce, log: &SharedLog, messages: u64) -> bool {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while tokio::time::Instant::now() < deadline {
        let delivered = log.lock().map_or(0, |log| log.deliveries.len());
        let answered = !fake.interaction().calls_to("routingResult").is_empty();
        if delivered as u64 >= messages && answered {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
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
