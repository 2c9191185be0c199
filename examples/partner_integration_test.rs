//! A partner's own integration test, to copy: the fake Salesforce and the connector run in
//! this process, a conversation is published, and the test asserts what the partner's webhook
//! received and which routingResults Salesforce was sent.
//!
//! It uses only what a partner has: the `fake-salesforce` crate and `byoc_connector` as a
//! library (add both as dev-dependencies). Run it with
//! `cargo test --example partner_integration_test` (`cargo test` runs it too) or, to watch
//! it once, `cargo run --example partner_integration_test`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use byoc_connector::config::Config;
use byoc_connector::connector::{run_on, Listeners};
use fake_salesforce::samples::{routing_requested, text_message_payload};
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const CONVERSATION: &str = "7d9b4b9e-2f0a-4c1e-9d3b-5a6c7e8f9a01";
/// The MessagingSession Salesforce holds for the conversation; the connector looks it up.
const WORK_ITEM: &str = "0MwXX0000000042AAA";
const ROUTING_EVENT_ID: &str = "9c2e7f00-0000-4000-8000-000000000042";

/// What the partner's webhook received: every request body, in arrival order.
type Received = Arc<Mutex<Vec<Value>>>;

/// The partner's webhook, a real HTTP server: accepts every event, and routes every
/// conversation it is asked to route.
async fn start_partner() -> (String, Received) {
    async fn event(State(received): State<Received>, Json(body): Json<Value>) {
        received.lock().unwrap().push(body);
    }
    async fn routing(State(received): State<Received>, Json(body): Json<Value>) -> Json<Value> {
        received.lock().unwrap().push(body);
        // Decide at once; `202` instead would mean "later, through the sidecar API".
        Json(json!({"success": true, "externallyRouted": false}))
    }
    let received = Received::default();
    let app = Router::new()
        .route("/events", post(event))
        .route("/routing", post(routing))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The connector's configuration for the fake: plaintext on loopback (`insecure = true`), the
/// fake's long-lived token, the partner's two URLs and a fresh store.
fn connector_config(fake: &FakeSalesforce, partner: &str, store: &std::path::Path) -> Config {
    let fake = fake.endpoints();
    Config::from_toml_str(&format!(
        r#"
[pubsub]
endpoint = "{pubsub}"
insecure = true
topic = "{topic}"
start = "earliest"

[auth]
kind = "static"
token = "{token}"
instance_url = "{instance}"
org_id = "{org}"

[interaction]
base_url = "{interaction}"
authorization_context = "{context}"
insecure = true

[delivery]
url = "{partner}/events"

[routing]
strategy = "partner"
url = "{partner}/routing"

[store]
path = "{store}"
"#,
        pubsub = fake.pubsub,
        topic = fake.topic,
        token = fake.token,
        instance = fake.instance_url,
        org = fake.org_id,
        interaction = fake.interaction,
        context = fake.authorization_context,
        store = store.display(),
    ))
    .expect("the configuration loads")
}

/// Polls `done` every 20 ms for up to 20 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_reaches_the_webhook_and_its_transfer_is_answered() {
    conversation_and_transfer().await;
}

/// The test's body, shared with `main`.
async fn conversation_and_transfer() {
    byoc_connector::install_crypto_provider();
    let fake = FakeSalesforce::start(FakeConfig::default()).await.unwrap();
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let (partner, received) = start_partner().await;
    let store = std::env::temp_dir().join(format!("partner-test-{}", std::process::id()));
    let config = connector_config(&fake, &partner, &store.join("state.redb"));

    // Salesforce's side of the conversation: two messages, then a transfer to the channel.
    let message = |sequence, text, agent| NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some(text_message_payload(CONVERSATION, sequence, text, agent)),
        ..NewEvent::default()
    };
    fake.publish(&[
        message(1, "Hello, I need help with my order", false),
        message(2, "Happy to help! Let me transfer you.", true),
        routing_requested(CONVERSATION, ROUTING_EVENT_ID),
    ])
    .unwrap();

    // The connector, in process, until the routingResult is posted.
    let shutdown = CancellationToken::new();
    let connector = tokio::spawn(run_on(
        config,
        Listeners::loopback().await.unwrap(),
        shutdown.clone(),
    ));
    let interaction = fake.interaction().clone();
    wait_until("the routingResult is posted", || {
        !interaction.calls_to("routingResult").is_empty()
    })
    .await;
    shutdown.cancel();
    connector.await.unwrap().unwrap();

    // The webhook got both messages, in order, and the routing request once. Order holds per
    // conversation among its deliveries; the routing request is answered on its own path, inside
    // its window, so it may arrive before the second message does.
    let received = received.lock().unwrap().clone();
    let of_type = |wanted: &str| -> Vec<Value> {
        received
            .iter()
            .filter(|body| body["type"] == wanted)
            .cloned()
            .collect()
    };
    let messages = of_type("interaction.message");
    assert_eq!(messages.len(), 2, "{received:?}");
    assert_eq!(of_type("routing.requested").len(), 1, "{received:?}");
    assert_eq!(received.len(), 3, "nothing else arrived: {received:?}");
    assert!(received
        .iter()
        .all(|body| body["conversationIdentifier"] == CONVERSATION));
    let text = |message: &Value| {
        message["entry"]["entryPayload"]["abstractMessage"]["staticContent"]["text"].clone()
    };
    assert_eq!(text(&messages[0]), "Hello, I need help with my order");
    assert_eq!(text(&messages[1]), "Happy to help! Let me transfer you.");

    // Salesforce was told once that the partner routed the conversation.
    let results = fake.interaction().calls_to("routingResult");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].body["conversationIdentifier"], CONVERSATION);
    assert_eq!(results[0].body["workItemId"], &WORK_ITEM[..15]);
    assert_eq!(results[0].body["success"], true);

    fake.shutdown().await;
    let _ = std::fs::remove_dir_all(store);
}

/// `cargo run --example partner_integration_test` plays the same scenario once.
#[cfg(not(test))]
#[tokio::main]
async fn main() {
    conversation_and_transfer().await;
    println!("ok: the webhook got the conversation and Salesforce got one routingResult");
}
