//! What happened to routing requests, counted and logged in one place so logs and metrics
//! never disagree.
//!
//! Each notable occurrence is one method on [`RoutingStats`] that bumps its counter and logs.
//! When a [`RoutingObserver`] is set (the connector's telemetry), the occurrences it handles
//! go to it instead of the log line here, so each is still logged exactly once. Knows nothing
//! about HTTP, the store or strategies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::{error, info, warn};

use super::pending::{Decision, DecisionSource};

/// Receives routing occurrences, e.g. to log them and update Prometheus metrics. Every method
/// has a no-op default.
pub trait RoutingObserver: Send + Sync + 'static {
    /// Salesforce accepted the routingResult of `event_id`, `age` after its `CreatedDate`.
    fn routing_result_posted(&self, event_id: &str, success: bool, age: Duration) {
        let _ = (event_id, success, age);
    }

    /// `event_id` got no accepted routingResult before its deadline.
    fn routing_deadline_missed(&self, event_id: &str, reason: &str) {
        let _ = (event_id, reason);
    }

    /// Nobody decided `event_id` by the decision timeout; `success=false` follows.
    fn routing_decision_timed_out(&self, event_id: &str) {
        let _ = event_id;
    }

    /// `count` routing requests are armed (waiting for, or posting, their routingResult).
    fn pending_routing_requests(&self, count: usize) {
        let _ = count;
    }
}

/// Routing counters; shared by the engine and whoever exports metrics.
#[derive(Default)]
pub struct RoutingStats {
    posted_success: AtomicU64,
    posted_failure: AtomicU64,
    decision_timeouts: AtomicU64,
    missed: AtomicU64,
    refused: AtomicU64,
    cancelled: AtomicU64,
    duplicates: AtomicU64,
    pending: AtomicU64,
    observer: OnceLock<Arc<dyn RoutingObserver>>,
}

impl std::fmt::Debug for RoutingStats {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RoutingStats")
            .field("snapshot", &self.snapshot())
            .field("observed", &self.observer.get().is_some())
            .finish()
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingStatsSnapshot {
    /// routingResult `success=true` accepted by Salesforce.
    pub posted_success: u64,
    /// routingResult `success=false` accepted by Salesforce.
    pub posted_failure: u64,
    /// Requests the partner did not decide by `decision_timeout` (then posted as failures).
    pub decision_timeouts: u64,
    /// Requests that got no accepted routingResult before their deadline, refusals included.
    pub missed: u64,
    /// Of `missed`: routingResults Salesforce refused for good (a 4xx such as 15107).
    pub refused: u64,
    /// Requests cancelled by a RoutingResult failure or cancel entry; nothing posted.
    pub cancelled: u64,
    /// Redelivered RoutingRequested events recognised and not acted on again.
    pub duplicates: u64,
    /// Requests armed right now (a gauge).
    pub pending: u64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl RoutingStats {
    /// The counters now.
    pub fn snapshot(&self) -> RoutingStatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RoutingStatsSnapshot {
            posted_success: read(&self.posted_success),
            posted_failure: read(&self.posted_failure),
            decision_timeouts: read(&self.decision_timeouts),
            missed: read(&self.missed),
            refused: read(&self.refused),
            cancelled: read(&self.cancelled),
            duplicates: read(&self.duplicates),
            pending: read(&self.pending),
        }
    }

    /// Sends occurrences to `observer` from now on; false when one was set already.
    pub fn set_observer(&self, observer: Arc<dyn RoutingObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Salesforce accepted the routingResult of `event_id`.
    pub(crate) fn posted(
        &self,
        event_id: &str,
        decision: &Decision,
        source: DecisionSource,
        age: Duration,
    ) {
        let success = decision.is_success();
        bump(if success {
            &self.posted_success
        } else {
            &self.posted_failure
        });
        if let Some(observer) = self.observer.get() {
            observer.routing_result_posted(event_id, success, age);
            return;
        }
        info!(
            event_id,
            success,
            source = source.as_str(),
            age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            "routing result posted"
        );
    }

    /// Nobody decided `event_id` in time; the connector answers `success=false` itself.
    pub(crate) fn decision_timed_out(&self, event_id: &str) {
        bump(&self.decision_timeouts);
        if let Some(observer) = self.observer.get() {
            observer.routing_decision_timed_out(event_id);
            return;
        }
        warn!(
            event_id,
            "no routing decision before the decision timeout, posting a failure result"
        );
    }

    /// `event_id` got no accepted routingResult before its deadline.
    pub(crate) fn missed(&self, event_id: &str, reason: &str) {
        bump(&self.missed);
        if let Some(observer) = self.observer.get() {
            observer.routing_deadline_missed(event_id, reason);
            return;
        }
        error!(event_id, reason, "routing deadline missed");
    }

    /// Salesforce refused the routingResult of `event_id` for good; it counts as missed too.
    pub(crate) fn refused(&self, event_id: &str, reason: &str) {
        bump(&self.refused);
        error!(event_id, reason, "routing result refused by salesforce");
        self.missed(event_id, reason);
    }

    /// Salesforce reported the routing of `event_id` failed or was cancelled first.
    pub(crate) fn cancelled(&self, event_id: &str, reason: &str) {
        bump(&self.cancelled);
        info!(
            event_id,
            reason, "routing request cancelled, nothing posted"
        );
    }

    /// A redelivered RoutingRequested for `event_id` was recognised.
    pub(crate) fn duplicate(&self, event_id: &str, state: &str) {
        bump(&self.duplicates);
        info!(event_id, state, "redelivered routing request ignored");
    }

    /// `count` requests are armed now.
    pub(crate) fn set_pending(&self, count: usize) {
        self.pending
            .store(u64::try_from(count).unwrap_or(u64::MAX), Ordering::Relaxed);
        if let Some(observer) = self.observer.get() {
            observer.pending_routing_requests(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl RoutingObserver for Recorder {
        fn routing_deadline_missed(&self, event_id: &str, _reason: &str) {
            self.0.lock().unwrap().push(format!("missed {event_id}"));
        }
    }

    #[test]
    fn an_observer_gets_the_occurrences_and_the_counters_still_count() {
        let stats = RoutingStats::default();
        let recorder = Arc::new(Recorder::default());
        assert!(stats.set_observer(recorder.clone()));
        assert!(!stats.set_observer(recorder.clone()), "set once");
        stats.refused("e-1", "15107");
        stats.decision_timed_out("e-2");
        assert_eq!(*recorder.0.lock().unwrap(), vec!["missed e-1".to_owned()]);
        let snapshot = stats.snapshot();
        assert_eq!(
            (
                snapshot.missed,
                snapshot.refused,
                snapshot.decision_timeouts
            ),
            (1, 1, 1)
        );
    }
}
