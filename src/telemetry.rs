//! The connector's internal events: each notable occurrence is logged and counted here, in one
//! place, so logs and metrics never disagree (the Vector habit from STYLE.md).
//!
//! [`Telemetry`] owns the Prometheus registry and one method per occurrence
//! (`event_delivered`, `routing_deadline_missed`, …); callers never touch a metric or write
//! the log line themselves. Metric names start with `byoc_` and carry their unit. Labels only
//! take values from closed sets (`&'static str` codes and small enums), never ids, URLs or
//! secrets, so cardinality stays bounded. The list is documented in the README (Metrics). This
//! file knows nothing about HTTP serving: `server` encodes the registry on scrape.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tracing::{debug, error, info, trace, warn};

/// Upper bounds of the delivery latency buckets: 1 ms to 5 minutes, since retries count.
const DELIVERY_LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Upper bounds of the routing result age buckets, in seconds after `CreatedDate`: dense
/// near the 45 s decision timeout and the 60 s window.
const ROUTING_RESULT_AGE_BUCKETS_SECONDS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 45.0, 50.0, 55.0, 60.0,
];

pub use crate::pubsub::ReconnectReason;

/// What a posted routingResult said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutingOutcome {
    /// `success: true`: routed, or routed externally.
    Success,
    /// `success: false`: declined by the partner, rejected by strategy, or timed out.
    Failure,
}

impl RoutingOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventTypeLabels {
    event_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    // An HTTP status code ("503") or "transport"; retryable statuses are 408, 429 and 5xx.
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Every metric, registered once in `registry`; the handles share state with it.
#[derive(Debug)]
struct Metrics {
    // Registered once at construction and only read afterwards, so no lock is needed.
    registry: Registry,
    events_received: Counter,
    events_delivered: Family<EventTypeLabels, Counter>,
    delivery_latency: Histogram,
    delivery_retries: Family<StatusLabels, Counter>,
    events_dead_lettered: Family<ReasonLabels, Counter>,
    duplicates_skipped: Counter,
    checkpoints: Counter,
    checkpoint_replay_id: Gauge,
    subscriber_reconnects: Family<ReasonLabels, Counter>,
    routing_results_posted: Family<OutcomeLabels, Counter>,
    routing_result_age: Histogram,
    routing_deadlines_missed: Counter,
    routing_decision_timeouts: Counter,
    in_flight_events: Gauge,
    watermark_lag_events: Gauge,
    pending_routing_requests: Gauge,
}

/// Logs and counts the connector's notable occurrences; cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    metrics: Arc<Metrics>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A fresh registry with every `byoc_` metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics {
            events_received: register(
                &mut registry,
                "byoc_events_received",
                "Events received from the Pub/Sub API",
            ),
            events_delivered: register(
                &mut registry,
                "byoc_events_delivered",
                "Events the partner channel accepted, by envelope type",
            ),
            delivery_latency: register_seconds(
                &mut registry,
                "byoc_delivery_latency",
                "Time from receiving an event to the partner accepting it, retries included",
                Histogram::new(DELIVERY_LATENCY_BUCKETS_SECONDS),
            ),
            delivery_retries: register(
                &mut registry,
                "byoc_delivery_retries",
                "Delivery attempts that failed and will be retried, by HTTP status or transport",
            ),
            events_dead_lettered: register(
                &mut registry,
                "byoc_events_dead_lettered",
                "Events written to the dead-letter store, by reason",
            ),
            duplicates_skipped: register(
                &mut registry,
                "byoc_duplicates_skipped",
                "Events skipped because their idempotency key was already completed",
            ),
            checkpoints: register(
                &mut registry,
                "byoc_checkpoints",
                "Times the durable checkpoint advanced",
            ),
            checkpoint_replay_id: register(
                &mut registry,
                "byoc_checkpoint_replay_id",
                "Replay id of the latest checkpoint, as an integer",
            ),
            subscriber_reconnects: register(
                &mut registry,
                "byoc_subscriber_reconnects",
                "New Pub/Sub streams opened after the previous one ended, by reason",
            ),
            routing_results_posted: register(
                &mut registry,
                "byoc_routing_results_posted",
                "routingResult calls Salesforce accepted, by outcome",
            ),
            routing_result_age: register_seconds(
                &mut registry,
                "byoc_routing_result_age",
                "Time from a routing request's CreatedDate to its routingResult being accepted",
                Histogram::new(ROUTING_RESULT_AGE_BUCKETS_SECONDS),
            ),
            routing_deadlines_missed: register(
                &mut registry,
                "byoc_routing_deadlines_missed",
                "Routing requests whose routingResult could not be posted inside the window",
            ),
            routing_decision_timeouts: register(
                &mut registry,
                "byoc_routing_decision_timeouts",
                "Routing requests answered success=false because no decision came in time",
            ),
            in_flight_events: register(
                &mut registry,
                "byoc_in_flight_events",
                "Events received and not yet complete",
            ),
            watermark_lag_events: register(
                &mut registry,
                "byoc_watermark_lag_events",
                "Events between the checkpoint and the newest received event",
            ),
            pending_routing_requests: register(
                &mut registry,
                "byoc_pending_routing_requests",
                "Routing requests waiting for their routingResult",
            ),
            registry,
        };
        Self {
            metrics: Arc::new(metrics),
        }
    }

    /// The Prometheus (OpenMetrics) text exposition of every metric.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.metrics.registry)?;
        Ok(text)
    }

    /// An event arrived from the Pub/Sub API.
    pub fn event_received(&self) {
        trace!("event received");
        self.metrics.events_received.inc();
    }

    /// The partner accepted an event `latency` after it was received.
    pub fn event_delivered(&self, event_type: &'static str, latency: Duration) {
        debug!(
            event_type,
            latency_ms = latency.as_millis(),
            "event delivered"
        );
        let labels = EventTypeLabels { event_type };
        self.metrics.events_delivered.get_or_create(&labels).inc();
        self.metrics.delivery_latency.observe(latency.as_secs_f64());
    }

    /// A delivery attempt failed retryably; `status` is `None` for connect errors and timeouts.
    pub fn delivery_retried(&self, status: Option<StatusCode>, attempt: u32, reason: &str) {
        let status =
            status.map_or_else(|| "transport".to_owned(), |code| code.as_u16().to_string());
        // The retry loop already logs each failure at warn with its idempotency key.
        debug!(status = %status, attempt, reason, "delivery retry counted");
        let labels = StatusLabels { status };
        self.metrics.delivery_retries.get_or_create(&labels).inc();
    }

    /// An event went to the dead-letter store; `reason_kind` is a stable code such as
    /// `DecodeError::kind()` or `delivery_rejected`.
    pub fn event_dead_lettered(&self, reason_kind: &'static str, replay_id: &str, reason: &str) {
        warn!(reason_kind, replay_id, reason, "event dead-lettered");
        let labels = ReasonLabels {
            reason: reason_kind,
        };
        self.metrics
            .events_dead_lettered
            .get_or_create(&labels)
            .inc();
    }

    /// An event was skipped because its idempotency key was already completed.
    pub fn duplicate_skipped(&self, idempotency_key: &str) {
        debug!(idempotency_key, "duplicate event skipped");
        self.metrics.duplicates_skipped.inc();
    }

    /// The durable checkpoint moved to `replay_id`.
    pub fn checkpoint_advanced(&self, replay_id: u64) {
        debug!(replay_id, "checkpoint advanced");
        self.metrics.checkpoints.inc();
        self.metrics
            .checkpoint_replay_id
            .set(i64::try_from(replay_id).unwrap_or(i64::MAX));
    }

    /// The subscriber opened a new stream because the previous one ended for `reason`.
    pub fn subscriber_reconnected(&self, reason: ReconnectReason) {
        // The subscriber already logs why the stream ended.
        debug!(reason = reason.as_str(), "pubsub reconnect counted");
        let labels = ReasonLabels {
            reason: reason.as_str(),
        };
        self.metrics
            .subscriber_reconnects
            .get_or_create(&labels)
            .inc();
    }

    /// Salesforce accepted the routingResult for `event_id`, `age` after its `CreatedDate`.
    pub fn routing_result_posted(&self, outcome: RoutingOutcome, event_id: &str, age: Duration) {
        info!(
            outcome = outcome.as_str(),
            event_id,
            age_ms = age.as_millis(),
            "routing result posted"
        );
        let labels = OutcomeLabels {
            outcome: outcome.as_str(),
        };
        self.metrics
            .routing_results_posted
            .get_or_create(&labels)
            .inc();
        self.metrics.routing_result_age.observe(age.as_secs_f64());
    }

    /// No routingResult for `event_id` could be posted inside the window.
    pub fn routing_deadline_missed(&self, event_id: &str, reason: &str) {
        error!(event_id, reason, "routing deadline missed");
        self.metrics.routing_deadlines_missed.inc();
    }

    /// No decision for `event_id` came by the decision timeout; `success=false` follows.
    pub fn routing_decision_timed_out(&self, event_id: &str) {
        warn!(
            event_id,
            "routing decision timed out, answering success=false"
        );
        self.metrics.routing_decision_timeouts.inc();
    }

    /// Sets how many received events are not yet complete.
    pub fn set_in_flight_events(&self, count: usize) {
        self.metrics.in_flight_events.set(saturating_i64(count));
    }

    /// Sets how many events lie between the checkpoint and the newest received event.
    pub fn set_watermark_lag_events(&self, lag: u64) {
        self.metrics
            .watermark_lag_events
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// Sets how many routing requests wait for their routingResult.
    pub fn set_pending_routing_requests(&self, count: usize) {
        self.metrics
            .pending_routing_requests
            .set(saturating_i64(count));
    }
}

/// Registers `metric` under `name` (counters get `_total` appended by the encoder).
fn register<M>(registry: &mut Registry, name: &str, help: &str) -> M
where
    M: prometheus_client::registry::Metric + Clone + Default,
{
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// Registers `histogram` under `name` with unit seconds (`_seconds` is appended).
fn register_seconds(
    registry: &mut Registry,
    name: &str,
    help: &str,
    histogram: Histogram,
) -> Histogram {
    registry.register_with_unit(name, help, Unit::Seconds, histogram.clone());
    histogram
}

fn saturating_i64(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
