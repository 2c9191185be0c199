//! The Prometheus registry behind [`super::Telemetry`]: every `byoc_` metric, registered once,
//! plus the few counts the snapshot reports that `/metrics` does not export.
//!
//! Only the occurrence methods in the sibling files bump these, so a metric can never exist
//! without something feeding it. Nothing outside `telemetry` sees a metric type.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Upper bounds of the delivery latency buckets: 1 ms to 5 minutes, since retries count.
const DELIVERY_LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Upper bounds of the routing result age buckets, in seconds after `CreatedDate`: dense
/// near the 45 s decision timeout and the 60 s window.
const ROUTING_RESULT_AGE_BUCKETS_SECONDS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 45.0, 50.0, 55.0, 60.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EventTypeLabels {
    pub(super) event_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StatusLabels {
    // An HTTP status code ("503") or "transport"; retryable statuses are 408, 429 and 5xx.
    pub(super) status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BuildLabels {
    pub(super) version: &'static str,
    /// `release` or `debug`.
    pub(super) profile: &'static str,
    /// Whether the harness (fake Salesforce, demo, bench) is compiled in.
    pub(super) harness: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pub(super) outcome: &'static str,
}

/// Which of the metrics a registry exports, and under which label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    /// One channel per process: every metric, unlabelled.
    Channel,
    /// The process serving `[[tenants]]`: the build and process figures only.
    Process,
    /// One tenant of such a process: its channel's metrics, labelled `tenant="<name>"`.
    Tenant(String),
}

impl Scope {
    fn exports_channel_metrics(&self) -> bool {
        *self != Self::Process
    }

    fn exports_process_metrics(&self) -> bool {
        !matches!(self, Self::Tenant(_))
    }
}

/// `registry` when `wanted`, else `discard`: a metric that is not exported still counts, so
/// the code feeding it needs no branch.
fn pick<'a>(
    wanted: bool,
    registry: &'a mut Registry,
    discard: &'a mut Registry,
) -> &'a mut Registry {
    if wanted {
        registry
    } else {
        discard
    }
}

/// Every metric, registered once in `registry`; the handles share state with it.
#[derive(Debug)]
pub(super) struct Metrics {
    // Registered once at construction and only read afterwards, so no lock is needed.
    pub(super) registry: Registry,
    pub(super) events_received: Counter,
    pub(super) events_delivered: Family<EventTypeLabels, Counter>,
    pub(super) delivery_latency: Histogram,
    pub(super) delivery_retries: Family<StatusLabels, Counter>,
    pub(super) events_dead_lettered: Family<ReasonLabels, Counter>,
    pub(super) duplicates_skipped: Counter,
    pub(super) checkpoints: Counter,
    pub(super) fetch_requests: Counter,
    pub(super) checkpoint_replay_id: Gauge,
    pub(super) subscriber_reconnects: Family<ReasonLabels, Counter>,
    pub(super) routing_results_posted: Family<OutcomeLabels, Counter>,
    pub(super) routing_result_age: Histogram,
    pub(super) routing_deadlines_missed: Counter,
    pub(super) routing_decision_timeouts: Counter,
    pub(super) in_flight_events: Gauge,
    pub(super) watermark_lag_events: Gauge,
    pub(super) pending_routing_requests: Gauge,
    pub(super) routing_partner_ask_limit: Gauge,
    pub(super) routing_partner_asks_over_limit: Counter,
    pub(super) clock_skew: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(super) authorization_context_mismatches: Counter,
    pub(super) dead_letters: Gauge,
    pub(super) stream_connected: Gauge,
    pub(super) checkpoint_age: Gauge,
    pub(super) build_info: Family<BuildLabels, Gauge>,
    pub(super) process_resident_memory: Gauge,
    pub(super) process_cpu: Counter<f64, AtomicU64>,
    pub(super) process_open_fds: Gauge,
    pub(super) ha_leader: Gauge,
    pub(super) ha_takeovers: Counter,
    pub(super) ha_leases_lost: Family<ReasonLabels, Counter>,
    pub(super) channel_up: Gauge,
    /// Counts the snapshot needs and `/metrics` cannot give back or does not show.
    pub(super) unexported: Unexported,
}

/// Counters bumped beside the exported metrics but never registered: totals of labelled
/// families (a family cannot be summed without knowing every label value) and occurrences
/// that are logged and counted but have no metric of their own.
#[derive(Debug, Default)]
pub(super) struct Unexported {
    /// Sum of `byoc_events_delivered_total` over its `event_type` labels.
    pub(super) events_delivered: Counter,
    /// Sum of `byoc_delivery_retries_total` over its `status` labels.
    pub(super) delivery_retries: Counter,
    /// Sum of `byoc_events_dead_lettered_total` over its `reason` labels.
    pub(super) events_dead_lettered: Counter,
    /// Events of other channels, completed without delivery.
    pub(super) events_filtered: Counter,
    /// routingResults Salesforce refused for good (each is also a missed deadline).
    pub(super) routing_results_refused: Counter,
    /// Routing requests cancelled by a RoutingResult failure or cancel entry.
    pub(super) routing_requests_cancelled: Counter,
    /// Redelivered RoutingRequested events recognised and not acted on again.
    pub(super) routing_requests_redelivered: Counter,
}

impl Metrics {
    /// A fresh registry with the metrics of `scope` at zero.
    pub(super) fn new(scope: &Scope) -> Self {
        let mut registry = match scope {
            Scope::Tenant(name) => Registry::with_labels(std::iter::once((
                std::borrow::Cow::Borrowed("tenant"),
                std::borrow::Cow::Owned(name.clone()),
            ))),
            Scope::Channel | Scope::Process => Registry::default(),
        };
        let mut discard = Registry::default();
        let channel = scope.exports_channel_metrics();
        let process = scope.exports_process_metrics();
        Self {
            events_received: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_events_received",
                "Events received from the Pub/Sub API",
            ),
            events_delivered: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_events_delivered",
                "Events the partner channel accepted, by envelope type",
            ),
            delivery_latency: register_seconds(
                pick(channel, &mut registry, &mut discard),
                "byoc_delivery_latency",
                "Time from receiving an event to the partner accepting it, retries included",
                Histogram::new(DELIVERY_LATENCY_BUCKETS_SECONDS),
            ),
            delivery_retries: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_delivery_retries",
                "Delivery attempts that failed and will be retried, by HTTP status or transport",
            ),
            events_dead_lettered: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_events_dead_lettered",
                "Events written to the dead-letter store, by reason",
            ),
            duplicates_skipped: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_duplicates_skipped",
                "Events skipped because their idempotency key was already completed",
            ),
            checkpoints: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_checkpoints",
                "Times the durable checkpoint advanced",
            ),
            fetch_requests: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_pubsub_fetch_requests",
                "FetchRequests sent on Subscribe streams (first requests and credit top-ups)",
            ),
            checkpoint_replay_id: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_checkpoint_replay_id",
                "Replay id of the latest checkpoint, as an integer",
            ),
            subscriber_reconnects: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_subscriber_reconnects",
                "New Pub/Sub streams opened after the previous one ended, by reason",
            ),
            routing_results_posted: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_results_posted",
                "routingResult calls Salesforce accepted, by outcome",
            ),
            routing_result_age: register_seconds(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_result_age",
                "Time from a routing request's CreatedDate to its routingResult being accepted",
                Histogram::new(ROUTING_RESULT_AGE_BUCKETS_SECONDS),
            ),
            routing_deadlines_missed: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_deadlines_missed",
                "Routing requests whose routingResult could not be posted inside the window",
            ),
            routing_decision_timeouts: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_decision_timeouts",
                "Routing requests answered success=false because no decision came in time",
            ),
            in_flight_events: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_in_flight_events",
                "Events received and not yet complete",
            ),
            watermark_lag_events: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_watermark_lag_events",
                "Events between the checkpoint and the newest received event",
            ),
            pending_routing_requests: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_pending_routing_requests",
                "Routing requests waiting for their routingResult",
            ),
            routing_partner_ask_limit: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_partner_ask_limit",
                "Routing asks allowed out to the partner at once, as of the latest answer; it follows their round trips",
            ),
            routing_partner_asks_over_limit: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_routing_partner_asks_over_limit",
                "Routing asks that waited a second for a place under the limit and went out over it",
            ),
            clock_skew: {
                let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                pick(channel, &mut registry, &mut discard).register_with_unit(
                    "byoc_clock_skew",
                    "Salesforce's clock minus the local clock, estimated from the Date headers of its answers",
                    Unit::Seconds,
                    gauge.clone(),
                );
                gauge
            },
            authorization_context_mismatches: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_authorization_context_mismatches",
                "Interaction Service calls refused with 10005: interaction.authorization_context does not match the token",
            ),
            dead_letters: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_dead_letters",
                "Dead letters in the store (counted at start and after each new one)",
            ),
            stream_connected: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_pubsub_stream_connected",
                "1 while a Subscribe stream is open, 0 otherwise",
            ),
            checkpoint_age: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_checkpoint_age_seconds",
                "Seconds since the checkpoint last advanced while events wait for it; 0 when none wait",
            ),
            build_info: register(
                pick(process, &mut registry, &mut discard),
                "byoc_build_info",
                "Always 1; the labels say which build runs",
            ),
            process_resident_memory: register(
                pick(process, &mut registry, &mut discard),
                "process_resident_memory_bytes",
                "Resident memory size in bytes (Linux)",
            ),
            process_cpu: register(
                pick(process, &mut registry, &mut discard),
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds (Linux)",
            ),
            process_open_fds: register(
                pick(process, &mut registry, &mut discard),
                "process_open_fds",
                "Open file descriptors (Linux)",
            ),
            ha_leader: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_ha_leader",
                "1 while this replica holds its channel's lease (ha.enabled), 0 otherwise",
            ),
            ha_takeovers: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_ha_takeovers",
                "Times this replica took its channel's lease and became the leader",
            ),
            ha_leases_lost: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_ha_leases_lost",
                "Times this replica lost the lease while leading, by reason",
            ),
            channel_up: register(
                pick(channel, &mut registry, &mut discard),
                "byoc_channel_up",
                "1 while this channel runs (leading or standing by), 0 once it stopped with an error",
            ),
            unexported: Unexported::default(),
            registry,
        }
        .with_every_closed_series()
    }

    /// Creates every series whose label values form a closed set, so each exists at zero
    /// from the first scrape (an absent series reads as "no data", not as "no failures").
    fn with_every_closed_series(self) -> Self {
        for reason in crate::pubsub::ReconnectReason::ALL {
            let _series = self.subscriber_reconnects.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        for reason in crate::ha::LostReason::ALL {
            let _series = self.ha_leases_lost.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        for outcome in ["success", "failure"] {
            let _series = self
                .routing_results_posted
                .get_or_create(&OutcomeLabels { outcome });
        }
        for status in RETRY_STATUSES_AT_START {
            let _series = self.delivery_retries.get_or_create(&StatusLabels {
                status: (*status).to_owned(),
            });
        }
        for event_type in DELIVERED_TYPES_AT_START {
            let _series = self
                .events_delivered
                .get_or_create(&EventTypeLabels { event_type });
        }
        for reason in DEAD_LETTER_REASONS_AT_START {
            let _series = self
                .events_dead_lettered
                .get_or_create(&ReasonLabels { reason });
        }
        self.channel_up.set(1);
        self.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                profile: if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                },
                harness: if cfg!(feature = "harness") {
                    "true"
                } else {
                    "false"
                },
            })
            .set(1);
        self
    }

    /// Every metric family's name as a scrape shows it (counters with `_total`).
    pub(super) fn family_names() -> Vec<String> {
        let mut text = String::new();
        let metrics = Self::new(&Scope::Channel);
        // Encoding a fresh registry cannot fail: it writes into a String.
        let _ = prometheus_client::encoding::text::encode(&mut text, &metrics.registry);
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| {
                let (name, kind) = rest.split_once(' ')?;
                Some(match kind {
                    "counter" => format!("{name}_total"),
                    _ => name.to_owned(),
                })
            })
            .collect()
    }
}

/// Delivery retry series shown at zero from the start: the statuses a failing partner most
/// often answers, and connection failures. Others appear when first seen.
const RETRY_STATUSES_AT_START: &[&str] = &["transport", "429", "500", "502", "503", "504"];

/// Delivered event types shown at zero from the start: the messages and routing requests
/// every channel carries. The other entry types appear when first delivered.
const DELIVERED_TYPES_AT_START: &[&str] = &["interaction.message", "routing.requested"];

/// Dead-letter reasons shown at zero from the start: a partner's refusal and undecodable
/// input. Finer decode reasons appear when first seen.
const DEAD_LETTER_REASONS_AT_START: &[&str] = &["delivery_rejected", "undecodable"];

/// The value of `family`'s series for `labels`, without creating the series.
pub(super) fn family_value<S>(family: &Family<S, Counter>, labels: &S) -> u64
where
    S: Clone + std::hash::Hash + Eq,
{
    family.get(labels).map_or(0, |counter| counter.get())
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
