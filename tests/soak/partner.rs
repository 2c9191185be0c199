//! The soak's partner: one axum server on loopback that takes deliveries (`/webhook`) and
//! routing requests (`/routing`), records every request with what it answered, and answers as
//! the fault plan says (503s, slow answers).
//!
//! A routing request is decided by a fixed function of the run's seed and the request's
//! `eventId`: most are decided in the answer (200), some later through the connector's sidecar
//! (202, then `POST /v1/routing/{eventId}/result`), and a few never, so the connector's own
//! decision timeout answers them. Asked twice (after a restart), the partner decides the same.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::{epoch_ms, mix};

/// Longest a sidecar decision keeps trying to reach a (restarting) connector.
const SIDECAR_GIVE_UP: Duration = Duration::from_secs(65);
/// Pause between two tries of a sidecar decision.
const SIDECAR_RETRY: Duration = Duration::from_millis(200);

/// One delivery request as the partner saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub key: String,
    pub conversation: String,
    /// The `seq` the soak put in the message text (`seq-<n>`), if it is one of its messages.
    pub seq: Option<u64>,
    pub replay_id: Option<u64>,
    /// Whether the partner answered 2xx (its answer may still have been delayed).
    pub accepted: bool,
}

/// One routing request as the partner saw it.
#[derive(Debug, Clone)]
pub struct RoutingAsk {
    pub event_id: String,
    pub key: String,
    pub at_ms: u64,
    pub status: u16,
}

/// Partner-side faults, switched on and off by the fault plan.
#[derive(Debug, Default)]
pub struct PartnerFaults {
    /// Percent of requests answered 503.
    pub fail_percent: AtomicU32,
    /// Delay before every answer.
    pub delay_ms: AtomicU64,
}

/// Everything the partner recorded.
#[derive(Debug, Default)]
pub struct PartnerLog {
    pub deliveries: Vec<Delivery>,
    pub asks: Vec<RoutingAsk>,
    /// Final status of each sidecar decision (`None`: gave up without an answer).
    pub sidecar: Vec<(String, Option<u16>)>,
    /// Epoch ms of the last request of any kind, for quiescence.
    pub last_request_ms: u64,
}

/// The running partner.
pub struct Partner {
    pub delivery_url: String,
    pub routing_url: String,
    pub log: Arc<Mutex<PartnerLog>>,
    pub faults: Arc<PartnerFaults>,
    /// Where the running connector's sidecar listens; `None` while it is down.
    pub sidecar: Arc<Mutex<Option<SocketAddr>>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    seed: u64,
    log: Arc<Mutex<PartnerLog>>,
    faults: Arc<PartnerFaults>,
    rng: Arc<Mutex<StdRng>>,
    sidecar: Arc<Mutex<Option<SocketAddr>>>,
    http: reqwest::Client,
}

/// How the partner decides one routing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// 200 with the decision.
    Now,
    /// 202, then the decision through the sidecar after this delay.
    Later(Duration),
    /// 202 and nothing more: the connector's decision timeout answers.
    Never,
}

/// The plan and the decision body for `event_id` in a run seeded `seed`.
pub fn plan_for(seed: u64, event_id: &str) -> (Plan, Value) {
    let hash = event_id
        .bytes()
        .fold(mix(seed), |hash, byte| mix(hash ^ u64::from(byte)));
    let plan = match hash % 20 {
        0..=10 => Plan::Now,
        11..=18 => Plan::Later(Duration::from_millis(200 + (hash >> 8) % 12_000)),
        _ => Plan::Never,
    };
    let decision = if (hash >> 32) % 3 == 0 {
        json!({"success": false, "externallyRouted": false, "errorMessage": "soak: no rep available"})
    } else {
        json!({"success": true, "externallyRouted": false})
    };
    (plan, decision)
}

impl Partner {
    /// Starts the partner; its random answers (503 or not) come from `seed`.
    pub async fn start(seed: u64) -> anyhow::Result<Self> {
        let shared = Shared {
            seed,
            log: Arc::default(),
            faults: Arc::default(),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(mix(seed ^ 0x5eed)))),
            sidecar: Arc::default(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        let app = Router::new()
            .route("/webhook", post(deliver))
            .route("/routing", post(route))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            delivery_url: format!("http://{address}/webhook"),
            routing_url: format!("http://{address}/routing"),
            log: shared.log,
            faults: shared.faults,
            sidecar: shared.sidecar,
            server,
        })
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Shared {
    /// The status (503 or 2xx) and delay the current faults give the next answer.
    fn fault_answer(&self) -> (bool, Duration) {
        let fail_percent = self.faults.fail_percent.load(Ordering::Relaxed);
        let delay = Duration::from_millis(self.faults.delay_ms.load(Ordering::Relaxed));
        let mut rng = self.rng.lock().unwrap();
        let fail = fail_percent > 0 && rng.random_range(0..100) < fail_percent;
        let delay = if delay.is_zero() {
            delay
        } else {
            delay.mul_f64(rng.random_range(0.2..1.0))
        };
        (fail, delay)
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn deliver(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Json<Value>,
) -> StatusCode {
    let (fail, delay) = shared.fault_answer();
    let text = body["entry"]["entryPayload"]["abstractMessage"]["staticContent"]["text"].as_str();
    let delivery = Delivery {
        key: header(&headers, "idempotency-key"),
        conversation: body["conversationIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        seq: text
            .and_then(|text| text.strip_prefix("seq-"))
            .and_then(|seq| seq.parse().ok()),
        replay_id: body["replayId"]
            .as_str()
            .and_then(|hex| u64::from_str_radix(hex, 16).ok()),
        accepted: !fail,
    };
    {
        let mut log = shared.log.lock().unwrap();
        log.deliveries.push(delivery);
        log.last_request_ms = epoch_ms();
    }
    tokio::time::sleep(delay).await;
    if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// The routing request's `channelData.eventId` (channelData is a JSON string).
fn event_id_in(envelope: &Value) -> String {
    let channel_data = envelope["routing"]["routingParameters"]["channelData"]
        .as_str()
        .or_else(|| envelope["routing"]["payload"]["routingParameters"]["channelData"].as_str())
        .unwrap_or_default();
    serde_json::from_str::<Value>(channel_data)
        .ok()
        .and_then(|data| data["eventId"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn route(State(shared): State<Shared>, headers: HeaderMap, body: Json<Value>) -> Response {
    let (fail, delay) = shared.fault_answer();
    let event_id = event_id_in(&body);
    let (plan, decision) = plan_for(shared.seed, &event_id);
    let status = match (fail, plan) {
        (true, _) => 503,
        (false, Plan::Now) => 200,
        (false, _) => 202,
    };
    {
        let mut log = shared.log.lock().unwrap();
        log.asks.push(RoutingAsk {
            event_id: event_id.clone(),
            key: header(&headers, "idempotency-key"),
            at_ms: epoch_ms(),
            status,
        });
        log.last_request_ms = epoch_ms();
    }
    if let (false, Plan::Later(after)) = (fail, plan) {
        tokio::spawn(decide_later(
            shared.clone(),
            event_id,
            decision.clone(),
            after,
        ));
    }
    tokio::time::sleep(delay).await;
    match status {
        503 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        200 => (StatusCode::OK, Json(decision)).into_response(),
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

/// Posts `decision` to whichever connector is running after `after`, retrying while it is
/// down, starting (503) or has not resumed the request yet (404).
async fn decide_later(shared: Shared, event_id: String, decision: Value, after: Duration) {
    tokio::time::sleep(after).await;
    let give_up = tokio::time::Instant::now() + SIDECAR_GIVE_UP;
    let mut outcome = None;
    while tokio::time::Instant::now() < give_up {
        let address = *shared.sidecar.lock().unwrap();
        if let Some(address) = address {
            let url = format!("http://{address}/v1/routing/{event_id}/result");
            if let Ok(response) = shared.http.post(&url).json(&decision).send().await {
                let status = response.status().as_u16();
                if status != 503 && status != 404 {
                    outcome = Some(status);
                    break;
                }
            }
        }
        tokio::time::sleep(SIDECAR_RETRY).await;
    }
    let mut log = shared.log.lock().unwrap();
    log.sidecar.push((event_id, outcome));
    log.last_request_ms = epoch_ms();
}
