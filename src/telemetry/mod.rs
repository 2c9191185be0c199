//! The connector's internal events: each notable occurrence is logged and counted here, in one
//! place, so logs and metrics never disagree (the Vector habit from STYLE.md). This is the one
//! source of counts: no other module keeps counters of its own.
//!
//! [`Telemetry`] owns the Prometheus registry and one method per occurrence, grouped by who
//! reports it: `pipeline.rs` (`event_delivered`, `checkpoint_advanced`, …), `routing.rs`
//! (`routing_deadline_missed`, …), `health.rs` (dead letters, stream state, checkpoint age,
//! read with `process.rs`'s `/proc` figures at each scrape) and `subscriber.rs`, which
//! implements the subscriber's
//! [`SubscriberTelemetry`](crate::pubsub::SubscriberTelemetry) so `pubsub` reports without
//! knowing this module. Callers never touch a metric or write the log line themselves; tests
//! read the counts back through [`Telemetry::snapshot`]. Metric names start with `byoc_` and
//! carry their unit. Labels only take values from closed sets (`&'static str` codes and small
//! enums), never ids, URLs or secrets, so cardinality stays bounded. Every family has a
//! sample from the first scrape; the list is documented in `docs/metrics.md`. This module
//! knows nothing about HTTP serving: `server` encodes the
//! registry on scrape.

mod ha;
mod health;
mod metrics;
mod pipeline;
mod process;
mod routing;
mod subscriber;
mod tenants;

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;

use self::metrics::{family_value, Metrics, OutcomeLabels, ReasonLabels, Scope};

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

/// Logs and counts the connector's notable occurrences; cheap to clone, and every clone
/// counts into the same registry.
#[derive(Clone)]
pub struct Telemetry {
    metrics: Arc<Metrics>,
    /// When the checkpoint last advanced (or the first event started waiting), for
    /// `byoc_checkpoint_age_seconds`.
    checkpoint_clock: Arc<health::CheckpointClock>,
    /// The last CPU reading, so the CPU counter only moves forward by the difference.
    last_cpu_seconds: Arc<std::sync::Mutex<f64>>,
    /// With `[[tenants]]`: each tenant's telemetry, encoded with this process's.
    tenants: Arc<std::sync::Mutex<Vec<Telemetry>>>,
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

/// Every count at one moment, as plain numbers. Each field is named after its metric
/// (`events_received` is `byoc_events_received_total`); a labelled metric is summed over its
/// labels or split into the closed set of its values. The few fields marked "not exported"
/// are counted here only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetrySnapshot {
    /// Events received from the Pub/Sub API.
    pub events_received: u64,
    /// Events the partner accepted (or routing took over), all envelope types.
    pub events_delivered: u64,
    /// Delivery attempts that failed and will be retried, all statuses.
    pub delivery_retries: u64,
    /// Events written to the dead-letter store, all reasons.
    pub events_dead_lettered: u64,
    /// Events skipped because their idempotency key was already completed.
    pub duplicates_skipped: u64,
    /// Events of other channels, completed without delivery (not exported).
    pub events_filtered: u64,
    /// Times the durable checkpoint advanced.
    pub checkpoints: u64,
    /// `byoc_pubsub_fetch_requests_total`.
    pub pubsub_fetch_requests: u64,
    /// Replay id of the latest checkpoint, as an integer.
    pub checkpoint_replay_id: i64,
    /// New Pub/Sub streams opened after the previous one ended, by reason.
    pub subscriber_reconnects: ReconnectCounts,
    /// routingResult calls Salesforce accepted, by outcome.
    pub routing_results_posted: OutcomeCounts,
    /// Routing requests that got no accepted routingResult inside the window, refusals
    /// included.
    pub routing_deadlines_missed: u64,
    /// Routing requests answered `success=false` because no decision came in time.
    pub routing_decision_timeouts: u64,
    /// Of the missed: routingResults Salesforce refused for good (not exported).
    pub routing_results_refused: u64,
    /// Routing requests cancelled by a RoutingResult entry; nothing posted (not exported).
    pub routing_requests_cancelled: u64,
    /// Redelivered RoutingRequested events recognised and not acted on again (not exported).
    pub routing_requests_redelivered: u64,
    /// Events received and not yet complete (a gauge).
    pub in_flight_events: i64,
    /// Events between the checkpoint and the newest received event (a gauge).
    pub watermark_lag_events: i64,
    /// Routing requests waiting for their routingResult (a gauge).
    pub pending_routing_requests: i64,
}

/// `byoc_subscriber_reconnects_total`, one field per `reason`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconnectCounts {
    /// `watchdog`: the stream was silent for longer than the keepalive timeout.
    pub watchdog: u64,
    /// `server_closed`: the server ended the stream cleanly.
    pub server_closed: u64,
    /// `stream_failed`: the call failed (network, UNAVAILABLE, RESOURCE_EXHAUSTED, …).
    pub stream_failed: u64,
    /// `auth_rejected`: the token was rejected and refreshed first.
    pub auth_rejected: u64,
    /// `replay_reset`: the stored replay id was refused and the policy applied.
    pub replay_reset: u64,
}

/// `byoc_routing_results_posted_total`, one field per `outcome`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// `success`.
    pub success: u64,
    /// `failure`.
    pub failure: u64,
}

impl Telemetry {
    /// A fresh registry with every `byoc_` metric at zero, for a process serving one channel.
    pub fn new() -> Self {
        Self::with_scope(&Scope::Channel)
    }

    /// The telemetry of a process serving `[[tenants]]`: the build and process figures
    /// here, each tenant's metrics in the telemetry [`Telemetry::tenant`] adds.
    pub fn for_tenants() -> Self {
        Self::with_scope(&Scope::Process)
    }

    fn with_scope(scope: &Scope) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(scope)),
            checkpoint_clock: Arc::default(),
            last_cpu_seconds: Arc::default(),
            tenants: Arc::default(),
        }
    }

    /// Every metric family's name as `/metrics` shows it (counters end in `_total`): what
    /// dashboards, alert rules and documentation may use.
    pub fn family_names() -> Vec<String> {
        Metrics::family_names()
    }

    /// The Prometheus (OpenMetrics) text exposition of every metric, every tenant's included.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        self.refresh_sampled_metrics();
        let mut text = String::new();
        encode(&mut text, &self.metrics.registry)?;
        let tenants = self.tenants();
        if tenants.is_empty() {
            return Ok(text);
        }
        let mut expositions = vec![text];
        for tenant in tenants {
            tenant.refresh_checkpoint_age();
            let mut text = String::new();
            encode(&mut text, &tenant.metrics.registry)?;
            expositions.push(text);
        }
        Ok(tenants::merge_expositions(&expositions))
    }

    /// Every count now.
    pub fn snapshot(&self) -> TelemetrySnapshot {
        let metrics = &*self.metrics;
        let reconnects = |reason: ReconnectReason| {
            family_value(
                &metrics.subscriber_reconnects,
                &ReasonLabels {
                    reason: reason.as_str(),
                },
            )
        };
        let posted = |outcome: RoutingOutcome| {
            family_value(
                &metrics.routing_results_posted,
                &OutcomeLabels {
                    outcome: outcome.as_str(),
                },
            )
        };
        let unexported = &metrics.unexported;
        TelemetrySnapshot {
            events_received: metrics.events_received.get(),
            events_delivered: unexported.events_delivered.get(),
            delivery_retries: unexported.delivery_retries.get(),
            events_dead_lettered: unexported.events_dead_lettered.get(),
            duplicates_skipped: metrics.duplicates_skipped.get(),
            events_filtered: unexported.events_filtered.get(),
            checkpoints: metrics.checkpoints.get(),
            pubsub_fetch_requests: metrics.fetch_requests.get(),
            checkpoint_replay_id: metrics.checkpoint_replay_id.get(),
            subscriber_reconnects: ReconnectCounts {
                watchdog: reconnects(ReconnectReason::Watchdog),
                server_closed: reconnects(ReconnectReason::ServerClosed),
                stream_failed: reconnects(ReconnectReason::StreamFailed),
                auth_rejected: reconnects(ReconnectReason::AuthRejected),
                replay_reset: reconnects(ReconnectReason::ReplayReset),
            },
            routing_results_posted: OutcomeCounts {
                success: posted(RoutingOutcome::Success),
                failure: posted(RoutingOutcome::Failure),
            },
            routing_deadlines_missed: metrics.routing_deadlines_missed.get(),
            routing_decision_timeouts: metrics.routing_decision_timeouts.get(),
            routing_results_refused: unexported.routing_results_refused.get(),
            routing_requests_cancelled: unexported.routing_requests_cancelled.get(),
            routing_requests_redelivered: unexported.routing_requests_redelivered.get(),
            in_flight_events: metrics.in_flight_events.get(),
            watermark_lag_events: metrics.watermark_lag_events.get(),
            pending_routing_requests: metrics.pending_routing_requests.get(),
        }
    }
}

/// `count` as a gauge value, saturating.
fn saturating_i64(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
