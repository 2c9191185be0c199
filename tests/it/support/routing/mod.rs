//! Shared setup for the `routing_*` tests: the fake Interaction Service and REST query endpoint
//! on one loopback port, a scriptable partner webhook on another, the sidecar on a third,
//! routing requests built from JSON, a temporary store file, and a clock tests can shift.
//!
//! Time: every test runs on real time. Paused tokio time does not mix with real sockets: the
//! runtime auto-advances to the next timer whenever it waits for I/O, which would fire the
//! decision timeout while a loopback answer is in flight. Tests that need a request to be old
//! give it an old `CreatedDate` (or shift the engine's clock); tests that wait for a timeout
//! shrink the window.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use byoc_connector::auth::{AuthConfig, StaticConfig, TokenProvider};
use byoc_connector::channel::{WebhookChannel, WebhookSettings};
use byoc_connector::interaction::{ClientSettings, InteractionClient};
use byoc_connector::routing::{
    Clock, RoutingDeps, RoutingEngine, RoutingRequestInput, RoutingSettings, RoutingStrategy,
    SystemClock,
};
use byoc_connector::secret::SecretString;
use byoc_connector::store::{Store, StoreSettings};
use byoc_connector::telemetry::Telemetry;
use fake_salesforce::interaction_service::{self, InteractionFake, RecordedCall};
use fake_salesforce::soql::{self, SoqlFake};
use fake_salesforce::tokens::TokenRegistry;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::serve_on_loopback;

mod requests;
pub use requests::*;

/// The fake org's 18-character id.
pub const ORG_ID: &str = "00D5g000004abcdEAA";
/// The channel definition developer name used as `AuthorizationContext`.
pub const CHANNEL_DEFINITION: &str = "Partner1_ChannelDefinition1";
/// The channel address of every request.
pub const CHANNEL_ADDRESS: &str = "afc64d6f-ad61-4df2-82f7-b2fa83540c78";
/// The webhook signing secret of the partner.
pub const PARTNER_SECRET: &str = "whsec-routing-test-secret";
/// Upper bound on waiting for something a test expects.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);
/// How often waiting loops look again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long a test watches for something that must not happen. Tests watch only after seeing
/// the engine do the expected thing against the same fakes, so a silent engine or a fake that
/// records nothing cannot pass for a correct one.
pub const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// Wall-clock epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// A clock `offset_ms` ahead of the wall clock; tests move it to jump past deadlines.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    pub offset_ms: AtomicI64,
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// Waits until `condition` holds, polling; false when `limit` passes first.
pub async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let give_up_at = Instant::now() + limit;
    let max_polls = (limit.as_millis() / POLL_INTERVAL.as_millis()) as usize + 1;
    for _ in 0..max_polls {
        if condition() {
            return true;
        }
        if Instant::now() >= give_up_at {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    condition()
}

/// Fake Interaction Service and REST query endpoint on one loopback port.
pub struct Salesforce {
    pub base_url: String,
    pub registry: Arc<TokenRegistry>,
    pub interaction: Arc<InteractionFake>,
    pub soql: Arc<SoqlFake>,
    server: tokio::task::JoinHandle<()>,
}

impl Salesforce {
    /// Binds 127.0.0.1:0 and serves both fakes.
    pub async fn start() -> Self {
        let registry = Arc::new(TokenRegistry::new(ORG_ID, None));
        let interaction = Arc::new(InteractionFake::new(registry.clone(), CHANNEL_DEFINITION));
        let soql = Arc::new(SoqlFake::new(registry.clone(), interaction.clone()));
        let app =
            interaction_service::router(interaction.clone()).merge(soql::router(soql.clone()));
        let (address, server) = serve_on_loopback(app).await;
        let base_url = format!("http://{address}");
        Self {
            base_url,
            registry,
            interaction,
            soql,
            server,
        }
    }

    /// Tells the fake the MessagingSession `request` names, as Salesforce knows the session of
    /// every routing request it publishes; a conversation it knows keeps its session.
    pub fn knows(&self, request: &RequestSpec) {
        if let Some(work_item) = &request.work_record_id {
            if self
                .interaction
                .work_item_for(&request.conversation)
                .is_none()
            {
                self.interaction
                    .seed_conversation(&request.conversation, work_item);
            }
        }
    }

    /// The engine's input for `request`, once the fake knows its MessagingSession.
    pub fn input_for(&self, request: &RequestSpec) -> RoutingRequestInput {
        self.knows(request);
        request.input()
    }

    /// A static-token provider for this fake.
    pub fn token_provider(&self) -> TokenProvider {
        TokenProvider::new(&AuthConfig::Static(StaticConfig {
            token: SecretString::new(self.registry.static_token()),
            instance_url: self.base_url.clone(),
            org_id: ORG_ID.parse().unwrap(),
        }))
        .unwrap()
    }

    /// A fresh Interaction Service client (its own connection pool).
    pub fn client(&self) -> InteractionClient {
        let options = ClientSettings {
            insecure: true,
            ..ClientSettings::default()
        };
        InteractionClient::new(
            &self.base_url,
            CHANNEL_DEFINITION,
            self.token_provider(),
            options,
        )
        .unwrap()
    }

    /// Recorded calls to `path` (`routingResult`, `route`, `agentWork`).
    pub fn calls_to(&self, path: &str) -> Vec<RecordedCall> {
        self.interaction.calls_to(path)
    }

    /// Every recorded call to the routing endpoints, in arrival order.
    pub fn routing_calls(&self) -> Vec<RecordedCall> {
        self.interaction
            .calls()
            .into_iter()
            .filter(|call| {
                [
                    "/api/v1/routingResult",
                    "/api/v1/route",
                    "/api/v1/agentWork",
                ]
                .contains(&call.path.as_str())
            })
            .collect()
    }
}

impl Drop for Salesforce {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One request the partner received.
#[derive(Debug, Clone)]
pub struct PartnerRequest {
    pub headers: HeaderMap,
    pub body: Value,
    pub raw_body: Bytes,
}

/// What the partner answers: a status, a body, and how long it waits first.
#[derive(Debug, Clone)]
pub struct PartnerReply {
    pub status: u16,
    pub body: Value,
    pub delay: Duration,
}

impl PartnerReply {
    /// `200` with a decision body.
    pub fn decide(decision: Value) -> Self {
        Self {
            status: 200,
            body: decision,
            delay: Duration::ZERO,
        }
    }

    /// `202`: the decision comes later through the sidecar.
    pub fn accept() -> Self {
        Self {
            status: 202,
            body: json!({}),
            delay: Duration::ZERO,
        }
    }

    /// Any status with an empty object body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: json!({}),
            delay: Duration::ZERO,
        }
    }

    /// Never answers in time.
    pub fn hang() -> Self {
        Self {
            status: 202,
            body: json!({}),
            delay: Duration::from_secs(120),
        }
    }
}

type Script = Arc<dyn Fn(&PartnerRequest, usize) -> PartnerReply + Send + Sync>;

#[derive(Clone)]
struct PartnerState {
    requests: Arc<Mutex<Vec<PartnerRequest>>>,
    attempts: Arc<AtomicUsize>,
    script: Script,
}

/// A partner webhook on a loopback port answering as its script says.
pub struct Partner {
    pub url: String,
    requests: Arc<Mutex<Vec<PartnerRequest>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Partner {
    /// Starts a partner; `script` gets each request and its 0-based attempt number.
    pub async fn start(
        script: impl Fn(&PartnerRequest, usize) -> PartnerReply + Send + Sync + 'static,
    ) -> Self {
        let state = PartnerState {
            requests: Arc::new(Mutex::new(Vec::new())),
            attempts: Arc::new(AtomicUsize::new(0)),
            script: Arc::new(script),
        };
        let requests = state.requests.clone();
        let app = Router::new()
            .route("/routing", post(partner_handler))
            .with_state(state);
        let (address, server) = serve_on_loopback(app).await;
        Self {
            url: format!("http://{address}/routing"),
            requests,
            server,
        }
    }

    /// A partner that always answers the same way.
    pub async fn always(reply: PartnerReply) -> Self {
        Self::start(move |_, _| reply.clone()).await
    }

    /// What it received so far.
    pub fn requests(&self) -> Vec<PartnerRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// A signed webhook channel to it.
    pub fn channel(&self) -> WebhookChannel {
        let mut options = WebhookSettings::new(self.url.clone());
        options.secret = Some(SecretString::new(PARTNER_SECRET));
        WebhookChannel::new(options).unwrap()
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn partner_handler(
    State(state): State<PartnerState>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let request = PartnerRequest {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: body,
    };
    let attempt = state.attempts.fetch_add(1, Ordering::SeqCst);
    state.requests.lock().unwrap().push(request.clone());
    let reply = (state.script)(&request, attempt);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        axum::Json(reply.body),
    )
}

/// A store file under the temp dir, removed when dropped.
pub struct TempStore {
    pub path: PathBuf,
}

impl TempStore {
    pub fn new() -> Self {
        Self {
            path: std::env::temp_dir().join(format!("byoc-routing-{}.redb", uuid::Uuid::new_v4())),
        }
    }

    /// Opens the file, waiting briefly while a killed engine's last blocking write lets go.
    pub async fn open(&self) -> Store {
        let max_attempts = 200;
        for _ in 0..max_attempts {
            match Store::open(&self.path, StoreSettings::default()) {
                Ok(store) => return store,
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
        Store::open(&self.path, StoreSettings::default()).unwrap()
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Settings for `strategy` with a window and decision timeout.
pub fn settings(
    strategy: RoutingStrategy,
    window: Duration,
    decision_timeout: Duration,
) -> RoutingSettings {
    RoutingSettings {
        strategy,
        window,
        decision_timeout,
        insecure: true,
        ..RoutingSettings::default()
    }
}

/// An engine against `salesforce`, on `store`, delivering to `partner`.
pub fn engine(
    salesforce: &Salesforce,
    store: Store,
    partner: Option<&Partner>,
    settings: RoutingSettings,
) -> RoutingEngine {
    let deps = RoutingDeps {
        interaction: salesforce.client(),
        store,
        partner: partner.map(Partner::channel),
        token_provider: salesforce.token_provider(),
        http: reqwest::Client::new(),
        telemetry: Telemetry::new(),
    };
    RoutingEngine::new(settings, deps)
}

/// Starts the fake Salesforce and an engine on a fresh store file that delivers to `partner`;
/// the [`TempStore`] must live as long as the engine.
pub async fn start_engine(
    partner: Option<&Partner>,
    settings: RoutingSettings,
) -> (Salesforce, TempStore, RoutingEngine) {
    let salesforce = Salesforce::start().await;
    let store = TempStore::new();
    let engine = engine(&salesforce, store.open().await, partner, settings);
    (salesforce, store, engine)
}

/// Serves `engine`'s sidecar router on a loopback port; returns its base URL.
pub async fn serve_sidecar(engine: &RoutingEngine) -> (String, tokio::task::JoinHandle<()>) {
    let (address, server) = serve_on_loopback(engine.sidecar_router()).await;
    (format!("http://{address}"), server)
}

/// Sends a decision to the sidecar; returns status and body.
pub async fn sidecar_decide(base: &str, event_id: &str, decision: Value) -> (u16, Value) {
    sidecar_post(&format!("{base}/v1/routing/{event_id}/result"), decision).await
}

/// Names the rep for a request through the sidecar; returns status and body.
pub async fn sidecar_assign(base: &str, event_id: &str, user_id: &str) -> (u16, Value) {
    sidecar_post(
        &format!("{base}/v1/routing/{event_id}/assign"),
        json!({"userId": user_id}),
    )
    .await
}

async fn sidecar_post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .timeout(WAIT_LIMIT)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Waits for `count` recorded calls to `path`.
pub async fn wait_for_calls(
    salesforce: &Salesforce,
    path: &str,
    count: usize,
) -> Vec<RecordedCall> {
    let arrived = wait_until(WAIT_LIMIT, || salesforce.calls_to(path).len() >= count).await;
    assert!(
        arrived,
        "expected {count} calls to {path}, got {:?}",
        salesforce.calls_to(path)
    );
    salesforce.calls_to(path)
}

/// Asserts the fake received exactly one routingResult, and that it answers `request`.
pub fn assert_only_routing_result_is_for(salesforce: &Salesforce, request: &RequestSpec) {
    let calls = salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1, "one routingResult: {calls:?}");
    assert_eq!(
        calls[0].body["conversationIdentifier"],
        json!(request.conversation),
        "the routingResult answers {}",
        request.event_id
    );
}

/// Asserts `call` reached the fake before `created_ms + window`.
pub fn assert_before_deadline(call: &RecordedCall, created_ms: i64, window: Duration) {
    let deadline_ms = created_ms + window.as_millis() as i64;
    assert!(
        (call.received_at_ms as i64) < deadline_ms,
        "call {} arrived at {} ms, {} ms after the deadline",
        call.seq,
        call.received_at_ms,
        call.received_at_ms as i64 - deadline_ms
    );
}
