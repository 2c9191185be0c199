//! What happened to routing requests: results posted, refused or missed, decisions that timed
//! out, requests cancelled or redelivered, and how many are pending. The routing engine
//! reports here; nothing in this file knows strategies, HTTP or the store.

use std::time::Duration;

use tracing::{debug, error, info, warn};

use super::metrics::OutcomeLabels;
use super::{saturating_i64, RoutingOutcome, Telemetry};

impl Telemetry {
    /// Salesforce accepted the routingResult for `event_id`, `age` after its `CreatedDate`;
    /// `source` says who decided (`partner`, `sidecar`, `decision_timeout`, `strategy`).
    pub fn routing_result_posted(
        &self,
        outcome: RoutingOutcome,
        source: &'static str,
        event_id: &str,
        age: Duration,
    ) {
        info!(
            outcome = outcome.as_str(),
            source,
            event_id,
            age_ms = crate::log_value::millis(age),
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

    /// Salesforce refused the routingResult for `event_id` for good (a 4xx such as 15107); it
    /// is a missed deadline too, logged and counted as one.
    /// One line says both.
    pub fn routing_result_refused(&self, event_id: &str, conversation_id: &str, reason: &str) {
        error!(
            event_id,
            conversation_id,
            reason,
            "routing result refused by salesforce; routing deadline missed"
        );
        self.metrics.unexported.routing_results_refused.inc();
        self.metrics.routing_deadlines_missed.inc();
    }

    /// No routingResult for `event_id` could be posted inside the window.
    pub fn routing_deadline_missed(&self, event_id: &str, conversation_id: &str, reason: &str) {
        error!(event_id, conversation_id, reason, "routing deadline missed");
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

    /// Salesforce reported the routing of `event_id` failed or was cancelled before the
    /// connector answered; nothing is posted.
    pub fn routing_request_cancelled(&self, event_id: &str, reason: &str) {
        info!(
            event_id,
            reason, "routing request cancelled, nothing posted"
        );
        self.metrics.unexported.routing_requests_cancelled.inc();
    }

    /// A redelivered RoutingRequested for `event_id` was recognised; `state` is where the
    /// request already is (`armed`, `stored`, `posted`, …).
    pub fn routing_request_redelivered(&self, event_id: &str, state: &str) {
        info!(event_id, state, "redelivered routing request ignored");
        self.metrics.unexported.routing_requests_redelivered.inc();
    }

    /// Sets how many routing requests wait for their routingResult.
    pub fn set_pending_routing_requests(&self, count: usize) {
        self.metrics
            .pending_routing_requests
            .set(saturating_i64(count));
    }

    /// Sets how many routing asks may be out to the partner at once.
    pub fn set_partner_ask_limit(&self, limit: usize) {
        self.metrics
            .routing_partner_ask_limit
            .set(saturating_i64(limit));
    }

    /// Counts an ask that waited its longest for a place under the limit and went out over it.
    pub fn partner_ask_over_limit(&self, event_id: &str) {
        debug!(
            event_id,
            "routing ask went out over the limit after waiting for a place"
        );
        self.metrics.routing_partner_asks_over_limit.inc();
    }

    /// Sets the estimated skew of Salesforce's clock, in seconds (Salesforce minus local).
    pub fn set_clock_skew(&self, seconds: f64) {
        self.metrics.clock_skew.set(seconds);
    }

    /// The Interaction Service refused a call with 10005 (a configuration error, logged once by
    /// the client); counted every time.
    pub fn authorization_context_mismatch(&self) {
        self.metrics.authorization_context_mismatches.inc();
    }
}
