//! `deliver_with_retry` against a scripted channel, in paused time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use std::collections::BTreeSet;

use byoc_connector::channel::{
    deliver_with_retry, deliver_with_retry_observed, Channel, Delivery, DeliveryError,
    PermanentFailure, RetryPolicy, RetryStopped,
};
use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A channel that fails as scripted, then succeeds, and notes when each attempt came.
struct ScriptedChannel {
    script: Mutex<VecDeque<DeliveryError>>,
    attempts: Mutex<Vec<Instant>>,
}

impl ScriptedChannel {
    fn failing_with(script: Vec<DeliveryError>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            attempts: Mutex::new(Vec::new()),
        }
    }

    fn attempts(&self) -> Vec<Instant> {
        self.attempts.lock().unwrap().clone()
    }
}

impl Channel for ScriptedChannel {
    async fn deliver(&self, _delivery: &Delivery) -> Result<(), DeliveryError> {
        self.attempts.lock().unwrap().push(Instant::now());
        match self.script.lock().unwrap().pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

fn retryable(retry_after: Option<Duration>) -> DeliveryError {
    DeliveryError::Retryable {
        reason: "partner answered 503 Service Unavailable".to_owned(),
        retry_after,
        status: Some(http::StatusCode::SERVICE_UNAVAILABLE),
    }
}

fn delivery() -> Delivery {
    Delivery {
        idempotency_key: "key-1".to_owned(),
        event_type: "interaction.message".into(),
        body: Bytes::from_static(br#"{"id":"e1"}"#),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_before_the_next_attempt() {
    let retry_after = Duration::from_secs(7);
    let channel = ScriptedChannel::failing_with(vec![retryable(Some(retry_after))]);

    deliver_with_retry(
        &channel,
        &delivery(),
        &RetryPolicy::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();

    let attempts = channel.attempts();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1] - attempts[0] >= retry_after);
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_cap_waits_only_the_cap() {
    let policy = RetryPolicy {
        retry_after_max: Duration::from_secs(60),
        ..RetryPolicy::default()
    };
    let channel = ScriptedChannel::failing_with(vec![retryable(Some(Duration::from_secs(86_400)))]);

    deliver_with_retry(&channel, &delivery(), &policy, &CancellationToken::new())
        .await
        .unwrap();

    let attempts = channel.attempts();
    let waited = attempts[1] - attempts[0];
    assert!(waited >= Duration::from_secs(60));
    assert!(waited < Duration::from_secs(61), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_with_jittered_backoff_bounded_by_twice_the_max_delay() {
    let policy = RetryPolicy {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    let channel = ScriptedChannel::failing_with((0..12).map(|_| retryable(None)).collect());

    deliver_with_retry(&channel, &delivery(), &policy, &CancellationToken::new())
        .await
        .unwrap();

    let attempts = channel.attempts();
    assert_eq!(attempts.len(), 13);
    for pair in attempts.windows(2) {
        let waited = pair[1] - pair[0];
        assert!(waited >= policy.initial_delay, "{waited:?}");
        assert!(waited <= policy.max_delay * 2, "{waited:?}");
    }
}

/// Lanes failing at the same moment, as when one partner outage hits every conversation.
const FAILING_LANES: usize = 64;

#[tokio::test(start_paused = true)]
async fn lanes_failing_together_wait_different_jittered_delays() {
    const RETRIES_PER_LANE: usize = 4;
    let policy = RetryPolicy {
        initial_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(15),
        ..RetryPolicy::default()
    };
    let delays_by_retry: Vec<Mutex<Vec<Duration>>> =
        (0..RETRIES_PER_LANE).map(|_| Mutex::default()).collect();
    let lanes = (0..FAILING_LANES).map(|_| {
        let channel =
            ScriptedChannel::failing_with((0..RETRIES_PER_LANE).map(|_| retryable(None)).collect());
        let (policy, delays_by_retry) = (&policy, &delays_by_retry);
        async move {
            deliver_with_retry_observed(
                &channel,
                &delivery(),
                policy,
                &CancellationToken::new(),
                |notice| {
                    let retry = usize::try_from(notice.attempt - 1).unwrap();
                    delays_by_retry[retry].lock().unwrap().push(notice.delay);
                },
            )
            .await
        }
    });

    for outcome in futures::future::join_all(lanes).await {
        outcome.unwrap();
    }

    for (retry, delays) in delays_by_retry.iter().enumerate() {
        let delays = delays.lock().unwrap();
        assert_eq!(delays.len(), FAILING_LANES);
        // Jitter adds up to 100% of the exponential base delay.
        let base = policy.initial_delay * 2u32.pow(u32::try_from(retry).unwrap());
        for delay in delays.iter() {
            assert!(
                *delay >= base && *delay < base * 2,
                "retry {retry}: {delay:?}"
            );
        }
        // A fixed jitter seed gives every lane the same delay; real jitter spreads them.
        let distinct: BTreeSet<Duration> = delays.iter().copied().collect();
        assert!(
            distinct.len() >= FAILING_LANES / 2,
            "retry {retry}: {FAILING_LANES} lanes waited only {} distinct delays: {distinct:?}",
            distinct.len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_stops_at_once() {
    let failure = PermanentFailure {
        status: Some(http::StatusCode::BAD_REQUEST),
        body_prefix: Bytes::from_static(b"bad entry"),
        reason: "partner rejected the delivery with 400 Bad Request".to_owned(),
    };
    let channel = ScriptedChannel::failing_with(vec![
        retryable(None),
        DeliveryError::Permanent(failure.clone()),
    ]);

    let outcome = deliver_with_retry(
        &channel,
        &delivery(),
        &RetryPolicy::default(),
        &CancellationToken::new(),
    )
    .await;

    assert_eq!(outcome, Err(RetryStopped::Permanent(failure)));
    assert_eq!(channel.attempts().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_a_delivery_that_keeps_failing() {
    let channel = ScriptedChannel::failing_with((0..1_000).map(|_| retryable(None)).collect());
    let cancel = CancellationToken::new();
    let cancel_later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(120)).await;
        cancel_later.cancel();
    });

    let outcome = deliver_with_retry(&channel, &delivery(), &RetryPolicy::default(), &cancel).await;

    assert_eq!(outcome, Err(RetryStopped::Cancelled));
    let attempts = channel.attempts().len();
    assert!(attempts > 1 && attempts < 1_000, "{attempts}");
}
