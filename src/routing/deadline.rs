//! Deadlines of one routing request: when the partner's time to decide ends and when
//! Salesforce stops waiting for the routingResult, both counted from the event's `CreatedDate`.
//!
//! Receipt time never counts: lag on the stream eats the window (DESIGN §5). Wall-clock
//! epoch milliseconds come from a [`Clock`], so tests can make an event old without waiting;
//! each request turns its epoch deadlines into tokio [`Instant`]s once, when it is armed, and
//! every timer after that runs on tokio's clock. Knows nothing about strategies, HTTP or the
//! store.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Time kept for the routingResult call after a preliminary call (`/route`, `/agentWork`), at
/// most; a shrunken window keeps a sixth of itself instead.
pub(crate) const ROUTING_RESULT_RESERVE: Duration = Duration::from_secs(5);

/// Below this much time left, a rep transfer posts routingResult before `/agentWork`, as the
/// spec advises; a shrunken window uses a sixth of itself instead.
pub(crate) const AGENT_WORK_SAFETY_MARGIN: Duration = Duration::from_secs(10);

/// Wall-clock time as Unix epoch milliseconds, the unit of `CreatedDate`.
///
/// Production uses [`SystemClock`]. Tests inject their own clock to make an event older than
/// it is, or to move "now" past stored deadlines before a resume.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Salesforce's clock, as its `Date` headers show it: deadlines counted from `CreatedDate`
/// (stamped by Salesforce) then hold however far the local clock is off.
impl Clock for crate::salesforce_clock::SalesforceClock {
    fn now_ms(&self) -> i64 {
        crate::salesforce_clock::SalesforceClock::now_ms(self)
    }
}

impl fmt::Debug for dyn Clock {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Clock")
    }
}

/// A duration in whole milliseconds, saturating.
pub(super) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The two epoch deadlines of a routing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestDeadlines {
    /// `CreatedDate + decision_timeout`: without a decision by then, the connector answers
    /// `success=false` itself.
    pub decision_ms: i64,
    /// `CreatedDate + window`: Salesforce stops waiting; nothing is posted at or after it.
    pub deadline_ms: i64,
}

impl RequestDeadlines {
    /// The deadlines of a request created at `created_ms`.
    pub(crate) fn new(created_ms: i64, decision_timeout: Duration, window: Duration) -> Self {
        debug_assert!(
            decision_timeout < window,
            "decisions must be due before the window ends"
        );
        Self {
            decision_ms: created_ms.saturating_add(duration_ms(decision_timeout)),
            deadline_ms: created_ms.saturating_add(duration_ms(window)),
        }
    }

    /// Whether Salesforce has stopped waiting at `now_ms`.
    pub(crate) fn is_past(&self, now_ms: i64) -> bool {
        now_ms >= self.deadline_ms
    }

    /// The deadlines as tokio instants, seen from `now_ms`.
    pub(crate) fn timeline(&self, now_ms: i64) -> Timeline {
        let now = Instant::now();
        Timeline {
            decision_at: instant_at(self.decision_ms, now_ms, now),
            deadline_at: instant_at(self.deadline_ms, now_ms, now),
        }
    }
}

/// A request's deadlines on tokio's clock, fixed when the request is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// When the partner's time to decide ends.
    pub decision_at: Instant,
    /// When Salesforce stops waiting for the routingResult.
    pub deadline_at: Instant,
}

/// Time kept for routingResult after a preliminary call, for a `window`: a shrunken window
/// keeps a sixth of itself.
pub(super) fn result_reserve(window: Duration) -> Duration {
    ROUTING_RESULT_RESERVE.min(window / 6)
}

/// Below this much time left a rep transfer posts routingResult before `/agentWork`, for a
/// `window`: a shrunken window uses a sixth of itself.
pub(super) fn agent_work_margin(window: Duration) -> Duration {
    AGENT_WORK_SAFETY_MARGIN.min(window / 6)
}

/// The tokio instant of epoch `at_ms`, given that epoch `now_ms` is tokio's `now`.
fn instant_at(at_ms: i64, now_ms: i64, now: Instant) -> Instant {
    let ahead_ms = at_ms.saturating_sub(now_ms);
    if ahead_ms <= 0 {
        return now;
    }
    now + Duration::from_millis(u64::try_from(ahead_ms).unwrap_or(u64::MAX))
}

/// A duration as seconds for messages: `45` or `1.5`.
pub(super) fn seconds_text(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        duration.as_secs().to_string()
    } else {
        format!("{:.1}", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ROUTING_WINDOW;

    #[test]
    fn deadlines_count_from_created_date_not_from_receipt() {
        let deadlines =
            RequestDeadlines::new(1_000_000, Duration::from_secs(45), Duration::from_secs(60));
        assert_eq!(deadlines.decision_ms, 1_045_000);
        assert_eq!(deadlines.deadline_ms, 1_060_000);
        assert!(!deadlines.is_past(1_059_999));
        assert!(deadlines.is_past(1_060_000));
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_event_gets_only_the_time_it_has_left() {
        let created_ms = 5_000_000;
        let deadlines =
            RequestDeadlines::new(created_ms, Duration::from_secs(45), Duration::from_secs(60));
        let now = Instant::now();
        let timeline = deadlines.timeline(created_ms + 40_000);
        assert_eq!(timeline.decision_at - now, Duration::from_secs(5));
        assert_eq!(timeline.deadline_at - now, Duration::from_secs(20));
        let expired = deadlines.timeline(created_ms + 70_000);
        assert_eq!(
            expired.deadline_at, now,
            "a past deadline is now, never earlier"
        );
    }

    #[test]
    fn reserves_scale_down_with_a_shrunken_window() {
        let window = Duration::from_secs(3);
        assert_eq!(result_reserve(window), Duration::from_millis(500));
        assert_eq!(agent_work_margin(window), Duration::from_millis(500));
        assert_eq!(result_reserve(ROUTING_WINDOW), ROUTING_RESULT_RESERVE);
        assert_eq!(agent_work_margin(ROUTING_WINDOW), AGENT_WORK_SAFETY_MARGIN);
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds_text(Duration::from_secs(45)), "45");
        assert_eq!(seconds_text(Duration::from_millis(1_500)), "1.5");
    }
}
