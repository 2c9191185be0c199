//! Retry policy: which failures are worth another try, and how long to wait before it.
//!
//! Classification (`classify_status`, `classify_transport_error`, `parse_retry_after`) is
//! kept apart from the code that sends, in the manner of Vector's `RetryLogic`.
//! [`deliver_with_retry`] retries retryable failures forever with jittered exponential
//! backoff, and lets a partner's `Retry-After` set the next delay. Retrying forever is the
//! backpressure of DESIGN §2: a partner outage pauses consumption while the events wait in
//! Salesforce. It knows nothing about what is being delivered.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use bytes::Bytes;
use http::StatusCode;
use tokio_util::sync::CancellationToken;

use super::partner_http::TransportError;
use super::{Channel, Delivery, DeliveryError, PermanentFailure};

/// First backoff delay after a retryable failure.
pub(crate) const RETRY_INITIAL_DELAY: Duration = Duration::from_millis(250);

/// Largest backoff delay before jitter; jitter adds up to as much again, so waits stay under
/// 30 s.
pub(crate) const RETRY_MAX_DELAY: Duration = Duration::from_secs(15);

/// Largest delay a partner's `Retry-After` can impose.
pub(crate) const RETRY_AFTER_MAX: Duration = Duration::from_secs(5 * 60);

/// How [`deliver_with_retry`] waits between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff delay.
    pub initial_delay: Duration,
    /// Largest backoff delay before jitter.
    pub max_delay: Duration,
    /// Largest delay honoured from `Retry-After`.
    pub retry_after_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_delay: RETRY_INITIAL_DELAY,
            max_delay: RETRY_MAX_DELAY,
            retry_after_max: RETRY_AFTER_MAX,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt: the partner's `Retry-After` (capped, and never less
    /// than the first backoff delay, so `Retry-After: 0` or a past date is no tight loop) if
    /// it gave one, else the backoff delay.
    pub(crate) fn next_delay(
        &self,
        backoff_delay: Duration,
        retry_after: Option<Duration>,
    ) -> Duration {
        match retry_after {
            Some(retry_after) => retry_after
                .min(self.retry_after_max)
                .max(self.initial_delay),
            None => backoff_delay,
        }
    }
}

/// Why [`deliver_with_retry`] stopped without delivering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryStopped {
    /// The partner refused the delivery for good.
    #[error("delivery failed permanently: {0}")]
    Permanent(PermanentFailure),
    /// The cancellation token fired first.
    #[error("delivery cancelled before it succeeded")]
    Cancelled,
    /// The channel can never deliver again; the pipeline must stop.
    #[error("the delivery channel is closed: {0}")]
    Closed(String),
}

/// A failed attempt that is about to be retried, as reported to an observer.
#[derive(Debug, Clone, Copy)]
pub struct RetryNotice<'a> {
    /// The attempt that failed, from 1.
    pub attempt: u64,
    /// Its HTTP status; `None` for connect errors, timeouts and local I/O.
    pub status: Option<StatusCode>,
    /// What went wrong.
    pub reason: &'a str,
    /// The wait before the next attempt.
    pub delay: Duration,
}

/// Delivers, retrying retryable failures forever, until delivered, refused, cancelled or the
/// channel is closed for good.
///
/// Cancellation also abandons an attempt in flight: the partner may have received it, and the
/// event stays incomplete, so it is delivered again (same idempotency key) after a restart.
pub async fn deliver_with_retry<C: Channel + ?Sized>(
    channel: &C,
    delivery: &Delivery,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
) -> Result<(), RetryStopped> {
    deliver_with_retry_observed(channel, delivery, policy, cancel, |_| {}).await
}

/// [`deliver_with_retry`], telling `on_retry` about every failed attempt it retries (for
/// metrics).
pub async fn deliver_with_retry_observed<C: Channel + ?Sized>(
    channel: &C,
    delivery: &Delivery,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    on_retry: impl Fn(&RetryNotice<'_>),
) -> Result<(), RetryStopped> {
    let first = deliver_once(channel, delivery, cancel).await?;
    retry_after_first(channel, delivery, policy, cancel, on_retry, first).await
}

/// One attempt, unless `cancel` fires first.
pub async fn deliver_once<C: Channel + ?Sized>(
    channel: &C,
    delivery: &Delivery,
    cancel: &CancellationToken,
) -> Result<Result<(), DeliveryError>, RetryStopped> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(RetryStopped::Cancelled),
        outcome = channel.deliver(delivery) => Ok(outcome),
    }
}

/// [`deliver_with_retry_observed`] after its first attempt ended with `first`: a caller can
/// make that attempt itself and pay for what retrying needs (a log span) only when it failed.
pub async fn retry_after_first<C: Channel + ?Sized>(
    channel: &C,
    delivery: &Delivery,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    on_retry: impl Fn(&RetryNotice<'_>),
    first: Result<(), DeliveryError>,
) -> Result<(), RetryStopped> {
    let mut backoff = ExponentialBuilder::new()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_jitter()
        .without_max_times()
        .build();
    let mut attempt: u64 = 1;
    let mut outcome = first;
    loop {
        let (reason, retry_after, status) = match outcome {
            Ok(()) => return Ok(()),
            Err(DeliveryError::Permanent(failure)) => return Err(RetryStopped::Permanent(failure)),
            Err(DeliveryError::Closed { reason }) => return Err(RetryStopped::Closed(reason)),
            Err(DeliveryError::Retryable {
                reason,
                retry_after,
                status,
            }) => (reason, retry_after, status),
        };
        // Without a limit the backoff never ends; the fallback only satisfies the type.
        let backoff_delay = backoff.next().unwrap_or(policy.max_delay);
        let delay = policy.next_delay(backoff_delay, retry_after);
        tracing::warn!(
            attempt,
            idempotency_key = %delivery.idempotency_key,
            event_type = %delivery.event_type,
            reason = %reason,
            retry_after_ms = retry_after.map(crate::log_value::millis),
            retry_in_ms = crate::log_value::millis(delay),
            "delivery failed, retrying"
        );
        on_retry(&RetryNotice {
            attempt,
            status,
            reason: &reason,
            delay,
        });
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RetryStopped::Cancelled),
            () = tokio::time::sleep(delay) => {}
        }
        attempt += 1;
        outcome = deliver_once(channel, delivery, cancel).await?;
    }
}

/// Classifies a response status: 2xx delivered; 408, 429 and 5xx retryable; other 4xx
/// permanent. Redirects are not followed and, like other unexpected statuses, retried.
pub(crate) fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    body_prefix: Bytes,
) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        return Err(DeliveryError::Retryable {
            reason: format!("partner answered {status}"),
            retry_after,
            status: Some(status),
        });
    }
    if status.is_client_error() {
        return Err(DeliveryError::Permanent(PermanentFailure {
            status: Some(status),
            body_prefix,
            reason: format!("partner rejected the delivery with {status}"),
        }));
    }
    // 1xx and 3xx: a misconfigured URL rather than a verdict on this event, so wait instead
    // of dead-lettering everything.
    Err(DeliveryError::Retryable {
        reason: format!("partner answered unexpected status {status}; redirects are not followed"),
        retry_after,
        status: Some(status),
    })
}

/// Classifies a failure to get a response: timeouts and transport errors are retryable. The
/// reason starts with the kind ("connect error", "request timed out", …) and holds the cause,
/// never the URL.
pub(crate) fn classify_transport_error(error: TransportError) -> DeliveryError {
    DeliveryError::Retryable {
        reason: crate::error_chain::render(&error),
        retry_after: None,
        status: None,
    }
}

/// Parses `Retry-After`; shared with the Interaction Service client.
pub(crate) use crate::retry_after::parse_retry_after;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_webhook_contract_says() {
        let classify = |code: u16| {
            let status = StatusCode::from_u16(code).unwrap();
            classify_status(status, None, Bytes::new()).map_err(|error| error.is_retryable())
        };
        assert_eq!(classify(200), Ok(()));
        assert_eq!(classify(204), Ok(()));
        for retryable in [408, 429, 500, 502, 503, 504, 301, 302] {
            assert_eq!(classify(retryable), Err(true), "status {retryable}");
        }
        for permanent in [400, 401, 403, 404, 409, 410, 413, 422] {
            assert_eq!(classify(permanent), Err(false), "status {permanent}");
        }
    }

    #[test]
    fn retry_after_sets_the_next_delay_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let backoff = Duration::from_secs(1);
        assert_eq!(policy.next_delay(backoff, None), backoff);
        assert_eq!(
            policy.next_delay(backoff, Some(Duration::from_secs(9))),
            Duration::from_secs(9)
        );
        assert_eq!(
            policy.next_delay(backoff, Some(Duration::from_secs(86_400))),
            RETRY_AFTER_MAX
        );
    }

    #[test]
    fn a_retry_after_of_nothing_still_waits_the_first_backoff_delay() {
        let policy = RetryPolicy::default();
        let backoff = Duration::from_secs(1);
        assert_eq!(
            policy.next_delay(backoff, Some(Duration::ZERO)),
            RETRY_INITIAL_DELAY
        );
    }
}
