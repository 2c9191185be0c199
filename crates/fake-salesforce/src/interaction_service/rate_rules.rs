//! Salesforce's documented rate limit of the Interaction Service API, 2,000 requests per
//! second per org, as the fake enforces it: a call is refused with 429 `Interaction request
//! rate limit exceeded` when 2,000 calls were accepted in the second before it, counted over a
//! sliding window (the strictest reading; how Salesforce counts is not documented). Refused
//! calls do not count. It knows nothing about what the calls carry.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::time::Instant;

use super::checks::Refusal;

/// Calls accepted in any one second.
pub(super) const CALLS_PER_SECOND: usize = 2_000;
/// What Salesforce says when the limit is exceeded.
const RATE_LIMIT_EXCEEDED: &str = "Interaction request rate limit exceeded";

/// The times of the calls accepted in the last second, oldest first.
#[derive(Debug, Default)]
pub(super) struct RateWindow {
    accepted: VecDeque<Instant>,
}

impl RateWindow {
    /// Counts a call at `now`, or refuses it when the last second holds the limit already.
    pub(super) fn admit(&mut self, now: Instant) -> Result<(), Refusal> {
        while self
            .accepted
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= Duration::from_secs(1))
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= CALLS_PER_SECOND {
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Err(Refusal::new(
                status,
                i64::from(status.as_u16()),
                RATE_LIMIT_EXCEEDED,
            ));
        }
        self.accepted.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_past_two_thousand_in_one_second_is_refused_and_the_window_slides() {
        let mut window = RateWindow::default();
        let start = Instant::now();
        for call in 0..CALLS_PER_SECOND {
            let at = start + Duration::from_micros(u64::try_from(call).unwrap() * 100);
            assert!(window.admit(at).is_ok(), "call {call}");
        }
        let refused = window
            .admit(start + Duration::from_millis(999))
            .unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.message, RATE_LIMIT_EXCEEDED);
        // A second after the first call its slot is free, and only its slot.
        assert!(window.admit(start + Duration::from_secs(1)).is_ok());
        assert!(window.admit(start + Duration::from_secs(1)).is_err());
    }
}
