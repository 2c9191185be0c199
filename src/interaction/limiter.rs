//! One client-side rate limiter per org: a token bucket every Interaction Service call takes a
//! token from, so the sidecar and routing together stay under Salesforce's documented 2,000
//! requests per second.
//!
//! A caller that finds the bucket empty reserves the next token (the level goes below zero) and
//! sleeps until it is due, so waiters are served in arrival order without a queue. It knows
//! nothing about HTTP.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Salesforce's documented limit for the Interaction Service API.
pub const INTERACTION_RATE_LIMIT: u32 = 2_000;
/// Tokens per second: the limit less the burst and less a twentieth, so no one-second window
/// of sends exceeds 1,900 and calls that reach Salesforce closer together than they left
/// (network and scheduling jitter) still count under the limit.
pub(crate) const DEFAULT_RATE: f64 = 1_800.0;
/// Tokens the bucket holds when full.
pub(crate) const DEFAULT_BURST: f64 = 100.0;

/// A token bucket; share it behind an `Arc`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens available; negative when callers have reserved tokens not yet due.
    level: f64,
    refilled_at: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_RATE, DEFAULT_BURST)
    }
}

impl RateLimiter {
    /// `rate` tokens per second, at most `burst` at once; both at least 1.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        let (rate, burst) = (rate.max(1.0), burst.max(1.0));
        Self {
            rate,
            burst,
            state: Mutex::new(Bucket {
                level: burst,
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Waits until the caller may send one request.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token at `now` and says how long to wait until it is due.
    fn reserve(&self, now: Instant) -> Duration {
        let mut bucket = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(bucket.refilled_at);
        bucket.level = (bucket.level + elapsed.as_secs_f64() * self.rate).min(self.burst);
        bucket.refilled_at = now;
        bucket.level -= 1.0;
        if bucket.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.level / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_spaces_calls_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.reserve(now), Duration::ZERO);
        }
        assert_eq!(limiter.reserve(now), Duration::from_millis(100));
        assert_eq!(limiter.reserve(now), Duration::from_millis(200));
    }

    #[test]
    fn no_one_second_window_exceeds_the_documented_limit() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        let admitted_within_a_second = (0..5_000)
            .map(|_| limiter.reserve(start))
            .filter(|wait| *wait < Duration::from_secs(1))
            .count();
        let limit = usize::try_from(INTERACTION_RATE_LIMIT).unwrap();
        assert!(admitted_within_a_second <= limit - limit / 20);
        assert!(admitted_within_a_second >= 1_800);
    }
}
