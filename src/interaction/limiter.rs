//! One client-side rate limiter per org, shared by every Interaction Service call (the sidecar's
//! and routing's), so together they stay under Salesforce's documented 2,000 requests per second.
//!
//! It counts what Salesforce can have seen rather than what the client has sent: a call holds a
//! slot from before it is sent until a second after its answer (or failure) came back. A call
//! reaches Salesforce after it was granted and before its answer returns, so every call that
//! Salesforce received in any one-second window held its slot at the moment the latest of
//! them was granted; with [`CONCURRENT_SLOTS`] slots no window of arrivals can exceed that many,
//! however long calls queue on the way (a token bucket counts sends, and a burst that queues
//! arrives compressed). A burst up to the limit therefore goes out at once, and the sustained
//! rate is the slots over one second plus the round trip. Waiters are served in arrival order.
//! It knows nothing about HTTP.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Salesforce's documented limit for the Interaction Service API.
pub const INTERACTION_RATE_LIMIT: u32 = 2_000;
/// Slots: the limit less a fortieth, headroom for a call abandoned in flight (its answer is
/// never seen, so it may still arrive after its slot was counted from the abandonment) and for
/// the two clocks' rates.
pub(crate) const CONCURRENT_SLOTS: usize = 1_950;
/// How long a slot stays taken after its call's answer: the length of the counted window.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// The limiter; cheap to clone, clones share the slots.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    slots: Arc<Semaphore>,
    window: Duration,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(CONCURRENT_SLOTS, WINDOW)
    }
}

impl RateLimiter {
    /// At most `slots` calls answered within `window` of one another, plus those in flight.
    pub(crate) fn new(slots: usize, window: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            window,
        }
    }

    /// Waits until the caller may send one request; hold the permit until its answer is read.
    pub(crate) async fn acquire(&self) -> RatePermit {
        // The semaphore is never closed, so acquiring cannot fail.
        let slot = self.slots.clone().acquire_owned().await.ok();
        RatePermit {
            slot,
            window: self.window,
        }
    }

    /// Slots free right now.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// One call's slot: dropping it frees the slot one window later.
#[derive(Debug)]
pub(crate) struct RatePermit {
    slot: Option<OwnedSemaphorePermit>,
    window: Duration,
}

impl Drop for RatePermit {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let window = self.window;
        // Without a runtime nothing else can send either, so the slot is simply freed.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(window).await;
                drop(slot);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;
    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_up_to_the_slots_goes_at_once_and_the_next_call_waits_a_window_after_an_answer()
    {
        let limiter = RateLimiter::new(3, Duration::from_secs(1));
        let start = Instant::now();
        let mut permits = Vec::new();
        for _ in 0..3 {
            permits.push(limiter.acquire().await);
        }
        assert_eq!(Instant::now(), start, "the burst waited");
        tokio::time::sleep(Duration::from_millis(250)).await;
        drop(permits.pop());
        let fourth = limiter.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(1_250));
        drop(fourth);
        drop(permits);
        tokio::time::sleep(Duration::from_millis(1_001)).await;
        assert_eq!(limiter.available(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_still_in_flight_keeps_its_slot_however_long_it_takes() {
        let limiter = RateLimiter::new(1, Duration::from_secs(1));
        let slow = limiter.acquire().await;
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                let _permit = limiter.acquire().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        let answered = Instant::now();
        drop(slow);
        assert_eq!(waiting.await.unwrap() - answered, Duration::from_secs(1));
    }

    /// Simulates calls through the limiter on paused time, each reaching the server some delay
    /// after its grant and answered some delay after that; returns the arrival times.
    async fn simulate(slots: usize, calls: &[(u64, u64, u64)]) -> Vec<Instant> {
        let limiter = RateLimiter::new(slots, Duration::from_secs(1));
        let start = Instant::now();
        let tasks: Vec<_> = calls
            .iter()
            .map(|&(start_ms, to_server_ms, to_answer_ms)| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(start + Duration::from_millis(start_ms)).await;
                    let permit = limiter.acquire().await;
                    tokio::time::sleep(Duration::from_millis(to_server_ms)).await;
                    let arrived = Instant::now();
                    tokio::time::sleep(Duration::from_millis(to_answer_ms)).await;
                    drop(permit);
                    arrived
                })
            })
            .collect();
        let mut arrivals = Vec::new();
        for task in tasks {
            arrivals.push(task.await.unwrap());
        }
        arrivals.sort();
        arrivals
    }

    /// The most arrivals within any window shorter than one second.
    fn busiest_second(arrivals: &[Instant]) -> usize {
        let mut window = VecDeque::new();
        let mut busiest = 0;
        for at in arrivals {
            while window
                .front()
                .is_some_and(|first: &Instant| *at - *first >= Duration::from_secs(1))
            {
                window.pop_front();
            }
            window.push_back(*at);
            busiest = busiest.max(window.len());
        }
        busiest
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the delays on the way (queueing that compresses a burst included), the
        /// server never sees more calls in one second than there are slots.
        #[test]
        fn no_second_of_arrivals_exceeds_the_slots(
            slots in 1usize..20,
            calls in proptest::collection::vec((0u64..3_000, 0u64..1_500, 0u64..200), 1..120),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let arrivals = runtime.block_on(simulate(slots, &calls));
            prop_assert_eq!(arrivals.len(), calls.len());
            prop_assert!(busiest_second(&arrivals) <= slots);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_that_queues_on_the_way_still_arrives_within_the_limit() {
        // All granted at once, the first arriving only after 900 ms: the compressed arrivals a
        // token bucket or a grant-time window let through.
        let calls: Vec<_> = (0..40).map(|n| (0, 900 - n * 20, 10)).collect();
        let arrivals = simulate(30, &calls).await;
        assert!(busiest_second(&arrivals) <= 30);
        assert_eq!(arrivals.len(), 40);
    }

    #[test]
    fn the_slots_leave_headroom_under_the_documented_limit() {
        let limit = usize::try_from(INTERACTION_RATE_LIMIT).unwrap();
        assert!(CONCURRENT_SLOTS < limit);
        assert!(CONCURRENT_SLOTS >= limit - limit / 20);
    }
}
