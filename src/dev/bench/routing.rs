//! `bench routing`: from a partner's decision to the routingResult the fake Salesforce receives.
//!
//! The whole connector runs in this process ([`crate::connector::run_on`]) against the fake.
//! RoutingRequested events are published on the fake's topic, each for a conversation of its
//! own whose MessagingSession the fake's SOQL endpoint knows. The bench partner decides even
//! requests in its answer (`200`) and odd ones through the sidecar endpoint right after
//! answering `202`. The figure is the time from the decision (the answer being returned, or
//! the sidecar call starting) to the fake Interaction Service receiving the routingResult.
//! Two phases run one after the other: a steady rate, then a burst published at once. A miss
//! is a request without an accepted routingResult inside its 60-second window. Figures are
//! printed, never asserted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tokio::time::Instant;

use super::{field_in, percentile, BenchResult};
use crate::connector::Listeners;
use crate::dev::embedded::{serve_loopback, EmbeddedConnector};
use crate::events::ROUTING_WINDOW;
use fake_salesforce::interaction_service::RecordedCall;
use fake_salesforce::samples;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};

/// Longest a phase waits for its routingResults (past the window, everything has an outcome).
pub(super) const PHASE_LIMIT: Duration = Duration::from_secs(75);

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct RoutingBenchPlan {
    /// Requests in the steady phase.
    pub steady_requests: u64,
    /// Requests per second in the steady phase.
    pub rate: u64,
    /// Requests published at once in the burst phase.
    pub burst: u64,
}

/// What the bench partner saw and decided.
#[derive(Default)]
pub(super) struct PartnerLog {
    /// Decision time per request number.
    decided: HashMap<u64, Instant>,
    /// Sidecar answers other than `200`, with the request number.
    sidecar_refusals: Vec<(u64, u16)>,
}

#[derive(Clone)]
pub(super) struct PartnerState {
    pub(super) log: Arc<Mutex<PartnerLog>>,
    pub(super) http: reqwest::Client,
    pub(super) sidecar: String,
}

impl PartnerLog {
    /// When the partner received the last of `numbers` (it decides on receipt), if all came.
    pub(super) fn last_received(&self, numbers: &[u64]) -> Option<Instant> {
        let mut last = None;
        for n in numbers {
            last = last.max(Some(*self.decided.get(n)?));
        }
        last
    }
}

impl PartnerState {
    fn record_decision(&self, n: u64) {
        if let Ok(mut log) = self.log.lock() {
            log.decided.insert(n, Instant::now());
        }
    }
}

/// The routing URL: decide now for even requests, later through the sidecar for odd ones.
pub(super) async fn route(State(partner): State<PartnerState>, body: Bytes) -> Response {
    let Some(n) = field_in(&body, "conversationIdentifier").and_then(request_number) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if n % 2 == 0 {
        partner.record_decision(n);
        return axum::Json(json!({"success": true})).into_response();
    }
    tokio::spawn(async move {
        let url = format!("{}/v1/routing/{}/result", partner.sidecar, event_id(n));
        partner.record_decision(n);
        let status = match partner
            .http
            .post(url)
            .json(&json!({"success": true}))
            .send()
            .await
        {
            Ok(answer) => answer.status().as_u16(),
            Err(_) => 0,
        };
        if status != 200 {
            if let Ok(mut log) = partner.log.lock() {
                log.sidecar_refusals.push((n, status));
            }
        }
    });
    StatusCode::ACCEPTED.into_response()
}

pub(super) fn conversation_id(n: u64) -> String {
    format!("c0ffee00-0000-4000-8000-{n:012}")
}

fn event_id(n: u64) -> String {
    format!("e7e7e7e7-0000-4000-8000-{n:012}")
}

pub(super) fn work_item_id(n: u64) -> String {
    format!("0Mw{n:012}AAA")
}

/// The request number at the end of a bench conversation id.
fn request_number(conversation: &str) -> Option<u64> {
    conversation.rsplit('-').next()?.parse().ok()
}

/// The RoutingRequested of request `n`, created now.
pub(super) fn routing_requested(n: u64) -> NewEvent {
    samples::routing_requested(&conversation_id(n), &event_id(n))
}

/// Figures of one phase.
pub(super) struct PhaseReport {
    requests: usize,
    /// Decision → receipt, for requests decided in the answer and through the sidecar.
    answered_in_reply: Vec<Duration>,
    decided_by_sidecar: Vec<Duration>,
    /// Requests with an accepted routingResult inside the window.
    in_window: usize,
    /// routingResults beyond the first for a request (the connector must never send any).
    repeated: usize,
    /// Largest CreatedDate → receipt.
    max_age: Duration,
    /// Sidecar answers other than `200`, by status (`0`: no answer).
    sidecar_refusals: std::collections::BTreeMap<u16, usize>,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut all: Vec<Duration> = self
            .answered_in_reply
            .iter()
            .chain(&self.decided_by_sidecar)
            .copied()
            .collect();
        all.sort_unstable();
        let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
        write!(
            f,
            "decision -> routingResult p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
             (in the answer: p99 {:.2} ms; through the sidecar: p99 {:.2} ms); \
             answered in the window {}/{}, missed {}; oldest answer {:.0} ms after CreatedDate",
            ms(percentile(&all, 0.50)),
            ms(percentile(&all, 0.99)),
            ms(all.last().copied().unwrap_or_default()),
            ms(percentile(&self.answered_in_reply, 0.99)),
            ms(percentile(&self.decided_by_sidecar, 0.99)),
            self.in_window,
            self.requests,
            self.requests - self.in_window,
            ms(self.max_age),
        )?;
        if self.repeated > 0 {
            write!(f, "; {} repeated routingResults", self.repeated)?;
        }
        for (status, count) in &self.sidecar_refusals {
            write!(f, "; {count} sidecar calls answered {status}")?;
        }
        Ok(())
    }
}

/// Runs the steady phase, then the burst; returns the printed figures.
pub async fn run(plan: RoutingBenchPlan) -> BenchResult<String> {
    let fake = FakeSalesforce::start(FakeConfig {
        routing_window: Some(ROUTING_WINDOW),
        ..FakeConfig::default()
    })
    .await?;
    let connector_runtime = ConnectorRuntime::start()?;
    let listeners = connector_runtime
        .handle()
        .spawn(Listeners::loopback())
        .await??;
    let log = Arc::new(Mutex::new(PartnerLog::default()));
    let partner = PartnerState {
        log: log.clone(),
        http: reqwest::Client::builder().tcp_nodelay(true).build()?,
        sidecar: format!("http://{}", listeners.sidecar.local_addr()?),
    };
    let app = Router::new()
        .route("/routing", post(route))
        .route("/events", post(|| async { StatusCode::OK }))
        .with_state(partner);
    let partner_address = serve_loopback(app).await?;
    let connector = {
        let _on_its_runtime = connector_runtime.handle().enter();
        EmbeddedConnector::start(&fake, "bench-routing", listeners, partner_address)?
    };

    let mut created = HashMap::new();
    let steady: Vec<u64> = (0..plan.steady_requests).collect();
    let period = Duration::from_secs_f64(1.0 / plan.rate.max(1) as f64);
    let started = Instant::now();
    for (index, n) in steady.iter().enumerate() {
        tokio::time::sleep_until(started + period.mul_f64(index as f64)).await;
        fake.interaction()
            .seed_conversation(&conversation_id(*n), &work_item_id(*n));
        let event = routing_requested(*n);
        created.insert(*n, event.created_date.unwrap_or_default());
        fake.publish(&[event])?;
    }
    let steady_report = finish_phase(&fake, &log, &steady, &created).await;

    let burst: Vec<u64> = (plan.steady_requests..plan.steady_requests + plan.burst).collect();
    for n in &burst {
        fake.interaction()
            .seed_conversation(&conversation_id(*n), &work_item_id(*n));
    }
    let events: Vec<NewEvent> = burst.iter().map(|n| routing_requested(*n)).collect();
    for (n, event) in burst.iter().zip(&events) {
        created.insert(*n, event.created_date.unwrap_or_default());
    }
    fake.publish(&events)?;
    let burst_report = finish_phase(&fake, &log, &burst, &created).await;

    connector.stop().await?;
    drop(connector_runtime);
    fake.shutdown().await;
    Ok(format!(
        "routing, steady {} requests/s ({} requests, even ones decided in the partner's answer, odd ones through the sidecar): {steady_report}\n\
         routing, burst of {} requests published at once: {burst_report}",
        plan.rate, plan.steady_requests, plan.burst
    ))
}

/// The connector's own runtime, as its own process would have: its tasks are not queued
/// behind the fake's and the partner's, which a real Salesforce and partner run elsewhere.
struct ConnectorRuntime(Option<tokio::runtime::Runtime>);

impl ConnectorRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-connector")
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .expect("the runtime is taken only on drop")
    }
}

impl Drop for ConnectorRuntime {
    /// Shuts down without waiting: the bench drops it from async code, where dropping a
    /// runtime outright panics.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Waits until every request in `numbers` has a routingResult (or the limit passes), then
/// measures them. `created` holds each request's CreatedDate (epoch ms).
pub(super) async fn finish_phase(
    fake: &FakeSalesforce,
    log: &Mutex<PartnerLog>,
    numbers: &[u64],
    created: &HashMap<u64, i64>,
) -> PhaseReport {
    let wanted: HashMap<String, u64> = numbers.iter().map(|n| (conversation_id(*n), *n)).collect();
    let interaction = fake.interaction();
    // Read only the calls recorded since the last look: copying every recorded call on each
    // poll held the fake's lock long enough to delay the answers being measured.
    let mut answers: Vec<(u64, RecordedCall)> = Vec::new();
    let mut answered = std::collections::HashSet::new();
    let mut seen_seq = 0;
    let limit = Instant::now() + PHASE_LIMIT;
    loop {
        for call in interaction.calls_to_after("routingResult", seen_seq) {
            seen_seq = seen_seq.max(call.seq);
            let n = call.body["conversationIdentifier"]
                .as_str()
                .and_then(|id| wanted.get(id).copied());
            if let Some(n) = n {
                answered.insert(n);
                answers.push((n, call));
            }
        }
        if answered.len() >= numbers.len() || Instant::now() >= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (decided, refusals) = log
        .lock()
        .map(|log| (log.decided.clone(), log.sidecar_refusals.clone()))
        .unwrap_or_default();
    let mut report = PhaseReport {
        requests: numbers.len(),
        answered_in_reply: Vec::new(),
        decided_by_sidecar: Vec::new(),
        in_window: 0,
        repeated: 0,
        max_age: Duration::ZERO,
        sidecar_refusals: std::collections::BTreeMap::new(),
    };
    for (n, status) in refusals {
        if numbers.contains(&n) {
            *report.sidecar_refusals.entry(status).or_default() += 1;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (n, call) in answers {
        if !seen.insert(n) {
            report.repeated += 1;
            continue;
        }
        let created_ms = created.get(&n).copied().unwrap_or_default();
        let age_ms = i64::try_from(call.received_at_ms).unwrap_or(i64::MAX) - created_ms;
        report.max_age = report
            .max_age
            .max(Duration::from_millis(u64::try_from(age_ms).unwrap_or(0)));
        let window_ms = i64::try_from(ROUTING_WINDOW.as_millis()).unwrap_or(i64::MAX);
        if call.status == 202 && age_ms < window_ms {
            report.in_window += 1;
        }
        if let Some(decided_at) = decided.get(&n) {
            let latency = call.received_at.saturating_duration_since(*decided_at);
            if n % 2 == 0 {
                report.answered_in_reply.push(latency);
            } else {
                report.decided_by_sidecar.push(latency);
            }
        }
    }
    report.answered_in_reply.sort_unstable();
    report.decided_by_sidecar.sort_unstable();
    report
}
