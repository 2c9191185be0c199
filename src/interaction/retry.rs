//! Retrying retryable Interaction Service errors until a deadline, and never past it.
//!
//! Used for routingResult and friends, whose deadline is the 60-second routing window: a sleep
//! that would end at or after the deadline is not taken, and the last error is returned instead.
//! Delays are jittered exponential (backon), stretched to the server's `Retry-After` when it
//! gives one. It knows nothing about which call it repeats.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;
use tracing::warn;

use crate::interaction::{ErrorClass, InteractionError};

/// First delay between attempts (before jitter, which adds up to 100%).
pub(crate) const RETRY_MIN_DELAY: Duration = Duration::from_millis(200);
/// Longest delay between attempts (before jitter).
pub(crate) const RETRY_MAX_DELAY: Duration = Duration::from_secs(5);
/// Growth of the delay per attempt.
const RETRY_FACTOR: f32 = 2.0;

/// Runs `op` until it succeeds, fails with a non-retryable error, or the next attempt could not
/// start before `deadline`; then returns the last error. Never sleeps past `deadline`.
///
/// Attempts are not cut off at the deadline: an HTTP call in flight may already have reached
/// Salesforce, so bound each one with the client's request timeout instead.
pub async fn retry_until<T, F, Fut>(deadline: Instant, mut op: F) -> Result<T, InteractionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, InteractionError>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(RETRY_MIN_DELAY)
        .with_max_delay(RETRY_MAX_DELAY)
        .with_factor(RETRY_FACTOR)
        .with_jitter()
        .without_max_times()
        .build();
    if Instant::now() >= deadline {
        return Err(InteractionError::DeadlineExceeded);
    }
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let err = match op().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if err.class() != ErrorClass::Retryable {
            return Err(err);
        }
        let backoff = delays.next().unwrap_or(RETRY_MAX_DELAY);
        let delay = err
            .retry_after()
            .map_or(backoff, |asked| asked.max(backoff));
        let wake_at = Instant::now() + delay;
        if wake_at >= deadline {
            warn!(attempt, status = err.status(), code = err.code(), error = %err, "giving up on interaction call, the next attempt would start after the deadline");
            return Err(err);
        }
        warn!(attempt, status = err.status(), code = err.code(), delay_ms = crate::log_value::millis(delay), error = %err, "interaction call failed, retrying");
        tokio::time::sleep_until(wake_at).await;
    }
}
