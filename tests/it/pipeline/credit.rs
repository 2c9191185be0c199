//! Credit as the partner's pace sets it, seen from the fake's side: a slow partner costs one
//! `FetchRequest` per quarter window, and a conversation holding most of the window does not
//! stall the others. Both run with `prefetch_events = 0`, so the pipeline holds credit from
//! the first event on: with a prefetch these rules apply once the pipeline holds that many.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;

/// Every `FetchRequest` the fake received, over all streams.
fn fetch_requests(fake: &FakeSalesforce) -> u64 {
    fake.pubsub()
        .sessions()
        .iter()
        .map(|session| session.fetch_requests.len() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_partner_costs_one_fetch_request_per_quarter_window() {
    const EVENTS: u64 = 1_000;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    // One conversation, so deliveries go one at a time, each slower than a round trip to
    // the fake: the pipeline holds the whole window and frees one event at a time.
    let partner = Partner::start(Arc::new(|_| (StatusCode::OK, Duration::from_millis(1)))).await;
    let dir = ScratchDir::new("slow-partner");
    fake.publish(&numbered_messages(EVENTS, 1)).unwrap();
    let pipeline = start_pipeline_with_prefetch(&fake, &dir, &partner, 0).await;
    wait_until("every event is delivered", Duration::from_secs(120), || {
        partner.distinct_seqs().len() as u64 == EVENTS
    })
    .await;
    let requests = fetch_requests(&fake);
    // The first request, one per 25 events, and slack for a scheduler pause longer than the
    // held-credit linger.
    let bound = EVENTS / 25 + 8;
    assert!(
        requests <= bound,
        "{requests} fetch requests for {EVENTS} events (at most {bound})"
    );
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_holding_most_of_the_window_does_not_stall_the_others() {
    const HELD: u64 = 90;
    const OTHERS: u64 = 200;
    // No idle close: a stream left without credit would stay stalled rather than be
    // rescued by a resubscribe.
    let fake = start_fake(
        false,
        PubSubFakeConfig {
            idle_close_after: None,
            ..PubSubFakeConfig::default()
        },
    )
    .await;
    let stuck = conversation_name(0);
    let refusing = Arc::new(AtomicBool::new(true));
    let partner = {
        let (stuck, refusing) = (stuck.clone(), refusing.clone());
        Partner::answering_when(
            move |received| received.conversation == stuck && refusing.load(Ordering::SeqCst),
            (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO),
        )
        .await
    };
    let dir = ScratchDir::new("held-window");
    // The stuck conversation's events fill 90 of the first 100; the others cycle through
    // the 10 left, fewer than a top-up batch.
    let mut events: Vec<_> = (0..HELD).map(|seq| message_event(&stuck, seq)).collect();
    events.extend(
        (HELD..HELD + OTHERS).map(|seq| message_event(&conversation_name(1 + seq % 4), seq)),
    );
    fake.publish(&events).unwrap();
    let pipeline = start_pipeline_with_prefetch(&fake, &dir, &partner, 0).await;
    wait_until(
        "the other conversations are delivered",
        Duration::from_secs(20),
        || {
            partner
                .distinct_seqs()
                .iter()
                .filter(|seq| **seq >= HELD)
                .count() as u64
                == OTHERS
        },
    )
    .await;
    refusing.store(false, Ordering::SeqCst);
    wait_until(
        "the stuck conversation catches up",
        Duration::from_secs(60),
        || partner.distinct_seqs().len() as u64 == HELD + OTHERS,
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}
