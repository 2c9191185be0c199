//! What happens to events between the subscriber and the partner: received, delivered,
//! retried, dead-lettered, skipped, checkpointed. The pipeline and the delivery jobs report
//! here; nothing in this file knows how they do their work.

use std::time::Duration;

use http::StatusCode;
use tracing::{debug, info, trace, warn};

use super::metrics::{EventTypeLabels, ReasonLabels, StatusLabels};
use super::{saturating_i64, Telemetry};

impl Telemetry {
    /// An event arrived from the Pub/Sub API.
    pub fn event_received(&self) {
        trace!("event received");
        self.metrics.events_received.inc();
    }

    /// The partner accepted an event `latency` after it was received.
    pub fn event_delivered(&self, event_type: &'static str, latency: Duration) {
        debug!(
            event_type,
            latency_ms = crate::log_value::millis(latency),
            "event delivered"
        );
        let labels = EventTypeLabels { event_type };
        self.metrics.events_delivered.get_or_create(&labels).inc();
        self.metrics.delivery_latency.observe(latency.as_secs_f64());
        self.metrics.unexported.events_delivered.inc();
    }

    /// A delivery attempt failed retryably; `status` is `None` for connect errors and timeouts.
    pub fn delivery_retried(&self, status: Option<StatusCode>, attempt: u32, reason: &str) {
        let status_code = status.map(|code| code.as_u16());
        // The retry loop already logs each failure at warn with its idempotency key.
        debug!(
            status = status_code,
            transport_error = status_code.is_none(),
            attempt,
            reason,
            "delivery retry counted"
        );
        let status = status_code.map_or_else(|| "transport".to_owned(), |code| code.to_string());
        let labels = StatusLabels { status };
        self.metrics.delivery_retries.get_or_create(&labels).inc();
        self.metrics.unexported.delivery_retries.inc();
    }

    /// An event went to the dead-letter store; `reason_kind` is a stable code such as
    /// `DecodeError::kind()`, `delivery_rejected` or `handling_panicked`.
    /// `conversation_id` is the event's lane, when it has one.
    pub fn event_dead_lettered(
        &self,
        reason_kind: &'static str,
        replay_id: &str,
        conversation_id: Option<&str>,
        reason: &str,
    ) {
        warn!(
            reason_kind,
            replay_id, conversation_id, reason, "event dead-lettered"
        );
        let labels = ReasonLabels {
            reason: reason_kind,
        };
        self.metrics
            .events_dead_lettered
            .get_or_create(&labels)
            .inc();
        self.metrics.unexported.events_dead_lettered.inc();
    }

    /// An event was skipped because its idempotency key was already completed.
    pub fn duplicate_skipped(&self, idempotency_key: &str) {
        debug!(idempotency_key, "duplicate event skipped");
        self.metrics.duplicates_skipped.inc();
    }

    /// An event for a channel this connector does not serve was completed without delivery.
    pub fn event_filtered(&self, channel_address_identifier: &str) {
        trace!(
            channel_address_identifier,
            "event for another channel skipped"
        );
        self.metrics.unexported.events_filtered.inc();
    }

    /// The durable checkpoint moved to `replay_id`.
    pub fn checkpoint_advanced(&self, replay_id: u64) {
        debug!(replay_id, "checkpoint advanced");
        self.metrics.checkpoints.inc();
        self.restart_checkpoint_clock();
        self.metrics
            .checkpoint_replay_id
            .set(i64::try_from(replay_id).unwrap_or(i64::MAX));
    }

    /// The pipeline drained and wrote its final checkpoint.
    pub(crate) fn pipeline_stopped(&self) {
        info!(
            checkpoints = self.metrics.checkpoints.get(),
            "pipeline stopped"
        );
    }

    /// Sets how many received events are not yet complete.
    pub fn set_in_flight_events(&self, count: usize) {
        self.metrics.in_flight_events.set(saturating_i64(count));
    }

    /// Sets how many events lie between the checkpoint and the newest received event.
    pub fn set_watermark_lag_events(&self, lag: u64) {
        self.track_waiting(lag);
        self.metrics
            .watermark_lag_events
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
}
