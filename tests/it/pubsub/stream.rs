//! The subscriber against the fake Pub/Sub server over real sockets, with and without TLS:
//! bulk delivery, flow control as the server sees it, and the wire rules the fake enforces.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::wait_until;
use crate::support::*;
use byoc_connector::pubsub::{FetchRequestObserver, ReplayStart};
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

async fn ten_thousand_events_arrive_in_order(tls: bool) {
    let fake = start_fake(tls, PubSubFakeConfig::default()).await;
    let replay_ids = fake.publish(&numbered_events(0, 10_000)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    let acks = subscriber.acks();
    for (expected_seq, expected_replay_id) in replay_ids.iter().enumerate() {
        let event = next_event(&mut subscriber).await;
        assert_eq!(
            event.replay_id.as_u64(),
            Some(*expected_replay_id),
            "no gap, no duplicate"
        );
        assert_eq!(event.replay_id.as_bytes().len(), 8);
        assert_eq!(seq_of(&event), expected_seq as u64);
        acks.ack(&event.replay_id);
    }
    // Nothing after the last event: one published now is the very next to arrive.
    let marker = fake.publish(&numbered_events(10_000, 1)).unwrap();
    assert_eq!(
        next_event(&mut subscriber).await.replay_id.as_u64(),
        Some(marker[0]),
        "nothing after the last event"
    );
    assert_eq!(
        fake.pubsub().sessions().len(),
        1,
        "one stream carried everything"
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_arrive_in_order_decoded_without_gaps_over_tls() {
    ten_thousand_events_arrive_in_order(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_arrive_in_order_decoded_without_gaps_over_plaintext() {
    ten_thousand_events_arrive_in_order(false).await;
}

/// With small server batches and a little latency per response, the client must top
/// credit up while the server still has some: a client that waits for the window to
/// drain would leave the server with events and no credit once per window.
async fn credit_is_topped_up_before_the_window_drains(tls: bool, credit_window: u32) {
    let fake = start_fake(
        tls,
        PubSubFakeConfig {
            max_events_per_response: 10,
            ..PubSubFakeConfig::default()
        },
    )
    .await;
    fake.apply_faults(&FaultRequest {
        latency_ms: Some(2),
        ..FaultRequest::default()
    });
    fake.publish(&numbered_events(0, 2_000)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    config.credit_window = credit_window;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    let acks = subscriber.acks();
    for _ in 0..2_000 {
        let event = next_event(&mut subscriber).await;
        acks.ack(&event.replay_id);
    }
    let sessions = fake.pubsub().sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    for request in &session.fetch_requests {
        assert!(request.num_requested > 0);
        assert!(
            request.pending_before + request.num_requested <= credit_window as i32,
            "client asked past its bound: {request:?}"
        );
    }
    let top_ups = &session.fetch_requests[1..];
    let early_top_ups = top_ups
        .iter()
        .filter(|request| request.pending_before > 0)
        .count();
    assert!(
        early_top_ups * 10 >= top_ups.len() * 9,
        "most top-ups must arrive while the server still has credit: {early_top_ups} of {}",
        top_ups.len()
    );
    let starved = session
        .responses
        .iter()
        .filter(|response| response.backlog_after)
        .count();
    assert!(
        starved * 50 <= session.responses.len(),
        "the server ran out of credit with events waiting {starved} times in {} responses",
        session.responses.len()
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_never_exceeds_100_and_the_stream_never_pauses_at_a_window_boundary_over_tls() {
    credit_is_topped_up_before_the_window_drains(true, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_respects_a_configured_bound_below_100_over_plaintext() {
    credit_is_topped_up_before_the_window_drains(false, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_open_is_set_while_a_stream_is_open_and_cleared_when_it_drops_and_on_shutdown() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let mut config = subscriber_settings(&fake);
    // A reconnect delay long enough that the test surely sees the gap between two streams.
    config.min_backoff = std::time::Duration::from_millis(300);
    config.max_backoff = config.min_backoff;
    let shutdown = CancellationToken::new();
    let subscriber = spawn_subscriber(config, &fake, &shutdown);
    let mut stream_open = subscriber.stream_open();
    wait_for_stream_open(&mut stream_open, true).await;
    // The stream fails: no stream is open until the next one starts after the delay.
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(0),
        ..FaultRequest::default()
    });
    wait_for_stream_open(&mut stream_open, false).await;
    wait_for_stream_open(&mut stream_open, true).await;
    shutdown.cancel();
    wait_for_stream_open(&mut stream_open, false).await;
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// Waits until the subscriber's stream-open flag reads `open`.
async fn wait_for_stream_open(stream_open: &mut watch::Receiver<bool>, open: bool) {
    tokio::time::timeout(ITEM_TIMEOUT, stream_open.wait_for(|now| *now == open))
        .await
        .expect("the flag changes in time")
        .expect("the subscriber is still there");
}

/// A consumer slower than the stream holds the whole window and releases one event at a
/// time. Topping up per release would cost a `FetchRequest` (and a one-event response) per
/// event; batching costs one per quarter window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_costs_one_fetch_request_per_quarter_window_not_one_per_event() {
    const EVENTS: u64 = 1_000;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, EVENTS)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let observed_requests = Arc::new(AtomicU64::new(0));
    let counter = observed_requests.clone();
    config.on_fetch_request = FetchRequestObserver::new(move |_credit| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    let acks = subscriber.acks();
    for _ in 0..EVENTS {
        let event = next_event(&mut subscriber).await;
        // The partner's work: far slower than a loopback round trip.
        tokio::time::sleep(Duration::from_millis(1)).await;
        acks.ack(&event.replay_id);
    }
    let recorded_requests = || {
        fake.pubsub()
            .sessions()
            .iter()
            .map(|session| session.fetch_requests.len() as u64)
            .sum::<u64>()
    };
    // The last window's releases are still being requested back; wait until the server has
    // every request the subscriber reported sending.
    wait_until(
        "the fake records every request the observer saw",
        ITEM_TIMEOUT,
        || recorded_requests() == observed_requests.load(Ordering::SeqCst),
    )
    .await;
    let sessions = fake.pubsub().sessions();
    assert_eq!(sessions.len(), 1, "one stream carried everything");
    let requests = recorded_requests();
    // The first request, one per 25 events, the top-ups for the last window once the topic
    // ran dry, and slack for a scheduler pause longer than the held-credit linger.
    let bound = EVENTS / 25 + 8;
    assert!(
        requests <= bound,
        "{requests} fetch requests for {EVENTS} events (at most {bound}): {:?}",
        sessions[0].fetch_requests
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preparer_runs_on_the_streams_task_over_every_event_in_order() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 500)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let consumer_thread = std::thread::current().id();
    let mut subscriber = byoc_connector::pubsub::Subscriber::spawn_preparing(
        config,
        static_credentials(&fake),
        byoc_connector::telemetry::Telemetry::new(),
        shutdown.clone(),
        move |event| {
            (
                seq_of(event),
                std::thread::current().id() != consumer_thread,
            )
        },
    )
    .unwrap();
    let acks = subscriber.acks();
    for expected in 0..500 {
        let event = next_event(&mut subscriber).await;
        let (seq, elsewhere) = event.prepared;
        assert_eq!(
            seq, expected,
            "prepared from its own event, in stream order"
        );
        assert_eq!(seq, seq_of(&event), "prepared from this very event");
        assert!(
            elsewhere,
            "prepared on the stream's task, not the consumer's"
        );
        acks.ack(&event.replay_id);
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}
