//! The connector's own knowledge of its conversations: the capabilities it registers at start,
//! the MessagingSession ids it learns from `/interactions` answers, the rep told about a
//! message the partner refused, and the conversation state the sidecar serves.

mod capabilities;
mod conversation;
mod delivery_failed;
mod fake_rules;
mod learning;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use byoc_connector::config::Config;
use byoc_connector::connector::{ConnectorError, Listeners};
use fake_salesforce::topic::NewEvent;
use fake_salesforce::FakeSalesforce;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::pipeline::{connector_config_toml, wait_until};
use crate::support::salesforce::raw_http;

/// Longest a test waits for one thing it expects.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a test watches to show that nothing more happens (never the assertion itself).
pub const GRACE: Duration = Duration::from_millis(700);

/// The connector's config for `fake`, delivering to `partner_url`, with each
/// `(dotted key, TOML value)` of `edits` set.
pub fn config_text(
    fake: &FakeSalesforce,
    partner_url: &str,
    store: &Path,
    routing: &str,
    edits: &[(&str, &str)],
) -> String {
    let mut root: toml::Table = connector_config_toml(fake, partner_url, store, routing)
        .parse()
        .unwrap();
    for (key, value) in edits {
        let (section, leaf) = key.split_once('.').unwrap();
        let value: toml::Table = format!("v = {value}").parse().unwrap();
        root.entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap()
            .insert(leaf.to_owned(), value["v"].clone());
    }
    toml::to_string(&root).unwrap()
}

/// A connector running in this process, its listeners on loopback ports.
pub struct Embedded {
    /// `/livez`, `/readyz`, `/metrics`.
    pub ops: SocketAddr,
    /// The sidecar API.
    pub sidecar: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ConnectorError>>,
}

impl Embedded {
    /// Starts the connector on `config_text`; does not wait for it to be ready.
    pub async fn start(config_text: &str) -> Self {
        let config = Config::from_toml_str(config_text).unwrap();
        let listeners = Listeners::loopback().await.unwrap();
        let ops = listeners.ops.local_addr().unwrap();
        let sidecar = listeners.sidecar.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(byoc_connector::connector::run_on(
            config,
            listeners,
            shutdown.clone(),
        ));
        Self {
            ops,
            sidecar,
            shutdown,
            task,
        }
    }

    /// Starts the connector and waits until `/readyz` answers 200.
    pub async fn ready(config_text: &str) -> Self {
        let connector = Self::start(config_text).await;
        connector.wait_ready().await;
        connector
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.status_of("/readyz").await == Some(200) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the connector is not ready in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The status of `GET path` on the ops listener, `None` when it does not answer.
    pub async fn status_of(&self, path: &str) -> Option<u16> {
        raw_http()
            .get(format!("http://{}{path}", self.ops))
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16())
    }

    /// `GET path` on the sidecar: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = raw_http()
            .get(format!("http://{}{path}", self.sidecar))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` on the sidecar with a raw body and a fresh `Idempotency-Key`: status and
    /// JSON body.
    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let response = raw_http()
            .post(format!("http://{}{path}", self.sidecar))
            .header("content-type", "application/json")
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// How `run_on` ended, if it ended within `WAIT`.
    pub async fn ended(self) -> Result<(), ConnectorError> {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the connector stops in time")
            .unwrap()
    }

    /// Stops it gracefully and says how it ended.
    pub async fn stop(self) -> Result<(), ConnectorError> {
        self.shutdown.cancel();
        self.ended().await
    }
}

/// The fixture event `tests/fixtures/events/<name>.json` moved to `conversation`.
pub fn fixture_event(name: &str, conversation: &str) -> NewEvent {
    let path = format!(
        "{}/tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut payload = fixture["payload"].clone();
    payload["conversationIdentifier"] = conversation.into();
    if payload["payload"]["entryPayload"]
        .get("conversationIdentifier")
        .is_some()
    {
        payload["payload"]["entryPayload"]["conversationIdentifier"] = conversation.into();
    }
    NewEvent {
        event_type: Some(fixture["eventType"].as_str().unwrap().to_owned()),
        payload: Some(payload.to_string()),
        ..NewEvent::default()
    }
}

/// The `/interactions` calls the fake recorded whose entry is a MessageDeliveryFailed.
pub fn delivery_failures(fake: &FakeSalesforce) -> Vec<Value> {
    fake.interaction()
        .calls_to("interactions")
        .into_iter()
        .filter(|call| {
            call.body["json"]["interactions"][0]["payload"]["entryType"] == "MessageDeliveryFailed"
        })
        .map(|call| {
            let mut seen = call.body["json"].clone();
            seen["status"] = call.status.into();
            seen
        })
        .collect()
}

/// Waits until the fake has recorded `count` MessageDeliveryFailed calls.
pub async fn wait_for_delivery_failures(fake: &FakeSalesforce, count: usize) {
    wait_until("salesforce receives the delivery failure", WAIT, || {
        delivery_failures(fake).len() >= count
    })
    .await;
}
