//! A real HTTP partner that takes batched deliveries (`delivery.batch_max_events` > 1): it
//! records every request with the events it carried and answers as the test says, with
//! per-event results, a status for the whole batch, or a body of the test's choosing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use byoc_connector::channel::{AnyChannel, BatchedWebhook, WebhookChannel, WebhookSettings};
use byoc_connector::secret::SecretString;
use bytes::Bytes;

/// One event of a batch request.
#[derive(Debug, Clone)]
pub struct BatchEvent {
    pub idempotency_key: String,
    pub event_type: String,
    pub conversation: String,
    /// The `seq` of a numbered message (`seq-<n>` text).
    pub seq: Option<u64>,
}

/// One batch request as the partner received it.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub headers: HeaderMap,
    pub raw_body: Bytes,
    pub events: Vec<BatchEvent>,
}

/// How the partner answers one request.
pub enum BatchAnswer {
    /// 200 with `{"results": [...]}`, one result per event from the closure's value.
    PerEvent(Vec<serde_json::Value>),
    /// This status for the whole batch, with an empty body.
    Whole(StatusCode),
    /// This status and body, whatever they are.
    Raw(StatusCode, &'static str),
}

/// Decides the answer (and a delay before it) from the request and its index among all.
pub type BatchBehaviour =
    Arc<dyn Fn(&BatchRequest, usize) -> (BatchAnswer, Duration) + Send + Sync>;

/// A batch partner endpoint on loopback.
pub struct BatchPartner {
    pub url: String,
    pub requests: Arc<Mutex<Vec<BatchRequest>>>,
    open: Arc<OpenRequests>,
    server: tokio::task::JoinHandle<()>,
}

/// Requests being answered now, and the most there ever were at once.
#[derive(Default)]
struct OpenRequests {
    now: AtomicUsize,
    most: AtomicUsize,
}

#[derive(Clone)]
struct BatchState {
    requests: Arc<Mutex<Vec<BatchRequest>>>,
    behaviour: BatchBehaviour,
    open: Arc<OpenRequests>,
}

impl BatchPartner {
    /// Starts a partner answering with `behaviour`.
    pub async fn start(behaviour: BatchBehaviour) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(OpenRequests::default());
        let state = BatchState {
            requests: requests.clone(),
            behaviour,
            open: open.clone(),
        };
        let app = Router::new()
            .route("/batch", post(receive))
            .with_state(state);
        let (address, server) = super::serve_on_loopback(app).await;
        Self {
            url: format!("http://{address}/batch"),
            requests,
            open,
            server,
        }
    }

    /// A partner answering every event with `result(event)` after `delay`.
    pub async fn per_event(
        delay: Duration,
        result: impl Fn(&BatchEvent) -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        Self::start(Arc::new(move |request, _| {
            (
                BatchAnswer::PerEvent(request.events.iter().map(&result).collect()),
                delay,
            )
        }))
        .await
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<BatchRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The most requests the partner was answering at one time.
    pub fn most_open_at_once(&self) -> usize {
        self.open.most.load(Ordering::SeqCst)
    }

    /// The channel configuration builds for this partner with `batch_max_events = max_events`.
    pub fn channel(&self, max_events: usize, secret: Option<&str>) -> AnyChannel {
        let mut settings = WebhookSettings::new(&self.url);
        settings.secret = secret.map(SecretString::new);
        AnyChannel::BatchedWebhook(BatchedWebhook::new(
            WebhookChannel::new(settings).unwrap(),
            max_events,
        ))
    }
}

impl Drop for BatchPartner {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A per-event result: `{"idempotencyKey": <key>, "status": <status>}` plus `extra`'s fields.
pub fn result(event: &BatchEvent, status: u16, extra: serde_json::Value) -> serde_json::Value {
    let mut value = serde_json::json!({"idempotencyKey": event.idempotency_key, "status": status});
    if let (Some(value), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        value.extend(extra);
    }
    value
}

async fn receive(State(state): State<BatchState>, headers: HeaderMap, body: Bytes) -> Response {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let events = json["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|item| BatchEvent {
                    idempotency_key: item["idempotencyKey"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    event_type: item["type"].as_str().unwrap_or_default().to_owned(),
                    conversation: item["event"]["conversationIdentifier"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    seq: super::pipeline::seq_in_text(&item["event"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let request = BatchRequest {
        headers,
        raw_body: body,
        events,
    };
    let open_now = state.open.now.fetch_add(1, Ordering::SeqCst) + 1;
    state.open.most.fetch_max(open_now, Ordering::SeqCst);
    let (answer, delay) = {
        let mut requests = state.requests.lock().unwrap();
        let answer = (state.behaviour)(&request, requests.len());
        requests.push(request);
        answer
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    state.open.now.fetch_sub(1, Ordering::SeqCst);
    match answer {
        BatchAnswer::PerEvent(results) => {
            axum::Json(serde_json::json!({ "results": results })).into_response()
        }
        BatchAnswer::Whole(status) => status.into_response(),
        BatchAnswer::Raw(status, body) => (status, body).into_response(),
    }
}
