//! Shared helpers for integration tests: start the fake Salesforce, point a subscriber
//! at it, and wait for items with bounded timeouts.

pub mod batch;
pub mod config;
pub mod events;
pub mod pipeline;
pub mod routing;
pub mod salesforce;
pub mod server;
pub mod store;
pub mod tenants;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use byoc_connector::pubsub::{
    CredentialError, CredentialSource, EndpointSettings, PubSubCredentials, ReceivedEvent,
    ReconnectReason, StaticCredentials, Subscriber, SubscriberItem, SubscriberOccurrence,
    SubscriberSettings, SubscriberTelemetry,
};
use byoc_connector::secret::SecretString;
use byoc_connector::telemetry::Telemetry;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::tokens::TokenRegistry;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};

/// The value of the unlabelled sample `name` in a Prometheus scrape; panics, showing the
/// scrape, when it has none.
pub fn metric_sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{scrape}"))
        .trim()
        .parse()
        .unwrap()
}

/// Serves `app` on an ephemeral loopback port; returns the bound address and the server task.
pub async fn serve_on_loopback(app: axum::Router) -> (std::net::SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (address, server)
}

/// Longest a test waits for one expected item before failing.
pub const ITEM_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts the fake on loopback, with or without TLS.
pub async fn start_fake(tls: bool, pubsub: PubSubFakeConfig) -> FakeSalesforce {
    byoc_connector::install_crypto_provider();
    FakeSalesforce::start(FakeConfig {
        tls,
        pubsub,
        ..FakeConfig::default()
    })
    .await
    .expect("fake salesforce starts")
}

/// Subscriber settings for `fake`, trusting its certificate, with fast reconnects.
pub fn subscriber_settings(fake: &FakeSalesforce) -> SubscriberSettings {
    let endpoints = fake.endpoints();
    let mut config = SubscriberSettings::new(endpoints.topic.clone());
    config.endpoint = EndpointSettings {
        url: endpoints.pubsub.clone(),
        insecure: !endpoints.tls,
        ca_certificate_pem: fake.certificate_pem().map(str::to_owned),
        ..EndpointSettings::default()
    };
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(200);
    config
}

/// The fake's long-lived static token as credentials.
pub fn static_credentials(fake: &FakeSalesforce) -> StaticCredentials {
    let endpoints = fake.endpoints();
    StaticCredentials(PubSubCredentials {
        access_token: SecretString::new(endpoints.token.clone()),
        instance_url: endpoints.instance_url.clone(),
        tenant_id: endpoints.org_id.clone(),
    })
}

/// Credentials that get a new expiring token from the fake on every refresh, and count
/// how often they are asked.
#[derive(Debug)]
pub struct RefreshingCredentials {
    tokens: Arc<TokenRegistry>,
    instance_url: String,
    lifetime: Duration,
    current: Mutex<PubSubCredentials>,
    /// Calls to `credentials()`.
    pub asked: AtomicU32,
    /// Calls to `refresh()`.
    pub refreshes: AtomicU32,
}

impl RefreshingCredentials {
    /// Starts with a freshly issued token valid for `lifetime`.
    pub fn new(fake: &FakeSalesforce, lifetime: Duration) -> Arc<Self> {
        let tokens = fake.tokens().clone();
        let current = PubSubCredentials {
            access_token: SecretString::new(tokens.issue(lifetime)),
            instance_url: fake.endpoints().instance_url.clone(),
            tenant_id: tokens.org_id().to_owned(),
        };
        Arc::new(Self {
            instance_url: fake.endpoints().instance_url.clone(),
            tokens,
            lifetime,
            current: Mutex::new(current),
            asked: AtomicU32::new(0),
            refreshes: AtomicU32::new(0),
        })
    }
}

impl CredentialSource for RefreshingCredentials {
    async fn credentials(&self) -> Result<PubSubCredentials, CredentialError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.current.lock().unwrap().clone())
    }

    async fn refresh(
        &self,
        _rejected: &PubSubCredentials,
    ) -> Result<PubSubCredentials, CredentialError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let fresh = PubSubCredentials {
            access_token: SecretString::new(self.tokens.issue(self.lifetime)),
            instance_url: self.instance_url.clone(),
            tenant_id: self.tokens.org_id().to_owned(),
        };
        *self.current.lock().unwrap() = fresh.clone();
        Ok(fresh)
    }
}

/// `count` Interaction events whose payload is `{"seq": n}` from `first_seq` on.
pub fn numbered_events(first_seq: u64, count: u64) -> Vec<NewEvent> {
    (first_seq..first_seq + count)
        .map(|seq| NewEvent {
            event_type: Some("Interaction".to_owned()),
            payload: Some(format!("{{\"seq\":{seq}}}")),
            ..NewEvent::default()
        })
        .collect()
}

/// The fields of the fake's default schema.
#[derive(Debug, serde::Deserialize)]
#[allow(non_snake_case)]
pub struct DefaultRecord {
    pub Payload__c: Option<String>,
}

/// Decodes the `seq` a numbered event carries.
pub fn seq_of<P>(event: &ReceivedEvent<P>) -> u64 {
    let record: DefaultRecord = event.decode().expect("event decodes");
    let payload: serde_json::Value =
        serde_json::from_str(&record.Payload__c.expect("payload")).unwrap();
    payload["seq"].as_u64().expect("seq")
}

/// Longest a paused-time test waits (in virtual time) for one expected item.
pub const PAUSED_ITEM_TIMEOUT: Duration = Duration::from_secs(900);

/// The next item, failing the test after [`ITEM_TIMEOUT`].
pub async fn next_item<T: Send + 'static>(subscriber: &mut Subscriber<T>) -> SubscriberItem<T> {
    next_item_within(subscriber, ITEM_TIMEOUT).await
}

/// The next item, failing the test after `wait`.
pub async fn next_item_within<T: Send + 'static>(
    subscriber: &mut Subscriber<T>,
    wait: Duration,
) -> SubscriberItem<T> {
    tokio::time::timeout(wait, subscriber.next())
        .await
        .expect("an item arrives in time")
        .expect("the subscriber is still running")
}

/// The next event, skipping keepalives.
pub async fn next_event<T: Send + 'static>(subscriber: &mut Subscriber<T>) -> ReceivedEvent<T> {
    for _ in 0..10_000 {
        if let SubscriberItem::Event(event) = next_item(subscriber).await {
            return event;
        }
    }
    panic!("no event among 10000 items");
}

/// Waits until the fake has a stream that started at `preset` (`LATEST`, `EARLIEST`,
/// `CUSTOM`) and took its first credit: its start position is fixed then, so an event
/// published afterwards is delivered on it.
pub async fn wait_until_stream_positioned(fake: &FakeSalesforce, preset: &str) {
    pipeline::wait_until("the stream is positioned", ITEM_TIMEOUT, || {
        fake.pubsub()
            .sessions()
            .iter()
            .any(|session| session.replay_preset == preset && !session.fetch_requests.is_empty())
    })
    .await;
}

/// Subscriber telemetry that logs and counts as the connector's does, and also records every
/// reconnect reason in order.
#[derive(Clone, Default)]
pub struct RecordingTelemetry {
    /// Where the occurrences are logged and counted.
    pub telemetry: Telemetry,
    /// The reason of each reconnect, oldest first.
    pub reconnects: Arc<Mutex<Vec<ReconnectReason>>>,
    /// For each refused token, how many refusals in a row it made, oldest first.
    pub token_refusals_in_a_row: Arc<Mutex<Vec<u32>>>,
}

impl SubscriberTelemetry for RecordingTelemetry {
    fn emit(&self, occurrence: SubscriberOccurrence<'_>) {
        if let Some(reason) = occurrence.reconnect_reason() {
            self.reconnects.lock().unwrap().push(reason);
        }
        if let SubscriberOccurrence::TokenRejected { in_a_row, .. } = &occurrence {
            self.token_refusals_in_a_row.lock().unwrap().push(*in_a_row);
        }
        self.telemetry.emit(occurrence);
    }
}

/// Spawns a subscriber on `fake` with its static token and a fresh telemetry handle, stopped
/// by `shutdown`.
pub fn spawn_subscriber(
    settings: SubscriberSettings,
    fake: &FakeSalesforce,
    shutdown: &CancellationToken,
) -> Subscriber {
    Subscriber::spawn(
        settings,
        static_credentials(fake),
        Telemetry::new(),
        shutdown.clone(),
    )
    .unwrap()
}
