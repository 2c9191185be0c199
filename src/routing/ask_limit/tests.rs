use std::time::Duration;

use futures::FutureExt;
use proptest::prelude::*;
use tokio::time::Instant;

use super::{
    AskLimit, Estimate, BASELINE_MAX_AGE, INITIAL_LIMIT, MAX_LIMIT, MIN_LIMIT, WAIT_AT_MOST,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every place free right now, taken without waiting.
fn take_every_place(limit: &AskLimit) -> Vec<super::AskPermit<'_>> {
    std::iter::from_fn(|| limit.acquire().now_or_never()).collect()
}

/// Feeds `count` round trips of `round_trip`, one millisecond apart from `at`; returns the
/// time after the last.
fn feed(estimate: &mut Estimate, round_trip: Duration, count: usize, mut at: Instant) -> Instant {
    for _ in 0..count {
        estimate.sample(round_trip, at, true);
        at += ms(1);
    }
    at
}

#[test]
fn round_trips_as_fast_as_the_fastest_open_the_limit_to_its_maximum() {
    let mut estimate = Estimate::default();
    feed(&mut estimate, ms(50), 2_000, Instant::now());
    assert_eq!(estimate.limit(), MAX_LIMIT);
}

#[test]
fn round_trips_that_queue_close_the_limit_to_its_minimum() {
    let mut estimate = Estimate::default();
    let at = feed(&mut estimate, ms(1), 10, Instant::now());
    // Ten times the fastest: asks wait behind each other.
    feed(&mut estimate, ms(10), 200, at);
    assert_eq!(estimate.limit(), MIN_LIMIT);
}

#[test]
fn fast_answers_while_the_limit_is_not_reached_do_not_grow_it() {
    let mut estimate = Estimate::default();
    let mut at = Instant::now();
    for _ in 0..500 {
        estimate.sample(ms(1), at, false);
        at += ms(20);
    }
    assert_eq!(estimate.limit(), INITIAL_LIMIT);
}

#[test]
fn a_far_partner_with_jitter_keeps_a_wide_limit() {
    let mut estimate = Estimate::default();
    let mut at = Instant::now();
    for n in 0..2_000u64 {
        // 40 to 60 ms: the network's jitter, not queueing.
        estimate.sample(ms(40 + (n * 7) % 21), at, true);
        at += ms(1);
    }
    assert_eq!(estimate.limit(), MAX_LIMIT);
}

#[test]
fn a_partner_that_became_slower_for_good_is_measured_anew_after_the_baseline_ages() {
    let mut estimate = Estimate::default();
    let at = feed(&mut estimate, ms(1), 10, Instant::now());
    let at = feed(&mut estimate, ms(100), 100, at);
    assert_eq!(estimate.limit(), MIN_LIMIT);
    // Past the baseline's age, 100 ms is the new fastest, and the limit opens again.
    feed(&mut estimate, ms(100), 2_000, at + BASELINE_MAX_AGE);
    assert_eq!(estimate.limit(), MAX_LIMIT);
}

proptest! {
    #[test]
    fn the_limit_stays_within_its_bounds(round_trips in proptest::collection::vec(0u64..20_000, 1..300)) {
        let mut estimate = Estimate::default();
        let mut at = Instant::now();
        for micros in round_trips {
            estimate.sample(Duration::from_micros(micros), at, micros % 2 == 0);
            at += ms(7);
            prop_assert!(estimate.limit() >= MIN_LIMIT);
            prop_assert!(estimate.limit() <= MAX_LIMIT);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn asks_past_the_limit_wait_until_one_comes_back_then_go_in_order() {
    let limit = std::sync::Arc::new(AskLimit::default());
    let mut out = take_every_place(&limit);
    assert_eq!(out.len(), INITIAL_LIMIT);
    let (went, mut order) = tokio::sync::mpsc::unbounded_channel();
    let mut waiting = Vec::new();
    for n in 0..2 {
        let limit = limit.clone();
        let went = went.clone();
        waiting.push(tokio::spawn(async move {
            let permit = limit.acquire().await;
            went.send(n).unwrap();
            drop(permit);
        }));
        // Each waiter is queued before the next.
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(ms(100)).await;
    assert!(order.try_recv().is_err(), "an ask went out past the limit");

    // An abandoned ask frees its place without teaching the limit anything.
    drop(out.pop());
    assert_eq!(order.recv().await, Some(0));
    assert_eq!(order.recv().await, Some(1));
    assert_eq!(limit.current(), INITIAL_LIMIT);
    for task in waiting {
        task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn answered_asks_that_fill_the_limit_teach_it_their_round_trip() {
    let limit = std::sync::Arc::new(AskLimit::default());
    let askers = (0..INITIAL_LIMIT).map(|_| {
        let limit = limit.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let permit = limit.acquire().await;
                tokio::time::sleep(ms(20)).await;
                permit.done();
            }
        })
    });
    for asker in futures::future::join_all(askers).await {
        asker.unwrap();
    }
    assert!(limit.current() > INITIAL_LIMIT, "{}", limit.current());
}

#[tokio::test(start_paused = true)]
async fn a_freed_place_goes_to_the_ask_waiting_longest_not_to_a_newcomer() {
    let limit = std::sync::Arc::new(AskLimit::default());
    let mut out = take_every_place(&limit);
    let waiting = {
        let limit = limit.clone();
        tokio::spawn(async move { drop(limit.acquire().await) })
    };
    tokio::task::yield_now().await;

    drop(out.pop());
    assert!(
        limit.acquire().now_or_never().is_none(),
        "a newcomer took the place of the ask waiting for it"
    );
    waiting.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn once_the_limit_shrinks_no_more_asks_go_out_than_it_allows() {
    let limit = AskLimit::default();
    // Rounds that fill the limit and come back as fast as the first open it.
    for _ in 0..4 {
        let out = take_every_place(&limit);
        tokio::time::sleep(ms(20)).await;
        out.into_iter().for_each(super::AskPermit::done);
    }
    let opened = limit.current();
    assert!(opened > INITIAL_LIMIT, "{opened}");

    // A full round ten times slower closes it while every place is taken.
    let out = take_every_place(&limit);
    assert_eq!(out.len(), opened);
    tokio::time::sleep(ms(200)).await;
    out.into_iter().for_each(super::AskPermit::done);
    let closed = limit.current();
    assert!(closed < opened, "{closed} not under {opened}");

    assert_eq!(take_every_place(&limit).len(), closed);
}

#[tokio::test(start_paused = true)]
async fn an_ask_that_waited_its_longest_goes_out_over_the_limit_and_holds_no_place() {
    let limit = AskLimit::default();
    let out = take_every_place(&limit);
    let started = Instant::now();
    let over = limit.acquire().await;
    assert_eq!(started.elapsed(), WAIT_AT_MOST);

    // It took no place: when it and every ask under the limit are back, the limit's places
    // are all there and no more.
    drop(over);
    drop(out);
    assert_eq!(take_every_place(&limit).len(), INITIAL_LIMIT);
}

#[tokio::test(start_paused = true)]
async fn a_burst_behind_a_slow_partner_is_asked_within_the_wait_and_opens_the_limit() {
    const REQUESTS: usize = 100;
    let limit = std::sync::Arc::new(AskLimit::default());
    let (asked, mut asks) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let burst: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let limit = limit.clone();
            let asked = asked.clone();
            tokio::spawn(async move {
                let permit = limit.acquire().await;
                asked.send(Instant::now()).unwrap();
                // The partner takes ten seconds to answer each routing POST.
                tokio::time::sleep(Duration::from_secs(10)).await;
                permit.done();
            })
        })
        .collect();
    drop(asked);
    let mut last_asked = started;
    while let Some(at) = asks.recv().await {
        last_asked = last_asked.max(at);
    }
    assert_eq!(
        last_asked - started,
        WAIT_AT_MOST,
        "the last ask went out late"
    );
    for request in burst {
        request.await.unwrap();
    }
    // Answers as slow as the fastest are no sign of queueing: the limit opened.
    assert!(limit.current() > INITIAL_LIMIT, "{}", limit.current());
}
