//! What the pipeline checkpoints and when it lets go of its store. A keepalive's
//! `latest_replay_id` is checkpointed only while nothing is in flight, and the store file is
//! free the moment `Pipeline::run` returns (an embedding harness reopens it at once).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use byoc_connector::pubsub::ReplayStart;
use byoc_connector::store::{Store, StoreSettings};
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

/// Keepalives every 50 ms, so a test sees many of them in well under a second.
fn frequent_keepalives() -> PubSubFakeConfig {
    PubSubFakeConfig {
        keepalive_interval: Duration::from_millis(50),
        ..PubSubFakeConfig::default()
    }
}

/// Keepalives (responses without events) the fake has sent on every stream so far.
fn keepalives_sent(fake: &fake_salesforce::FakeSalesforce) -> usize {
    fake.pubsub()
        .sessions()
        .iter()
        .flat_map(|session| session.responses.iter())
        .filter(|response| response.events == 0)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_does_not_move_the_checkpoint_while_an_event_is_in_flight() {
    let fake = start_fake(false, frequent_keepalives()).await;
    let (partner, partner_up) = Partner::down_until_released().await;
    let dir = ScratchDir::new("keepalive-in-flight");
    fake.publish(&numbered_messages(3, 1)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    wait_until(
        "the first event is attempted",
        Duration::from_secs(10),
        || !partner.received().is_empty(),
    )
    .await;
    // Every keepalive from here on names `latest`, an event behind one still in flight.
    let keepalives_before = keepalives_sent(&fake);
    wait_until(
        "the fake sends keepalives while the event is in flight",
        Duration::from_secs(10),
        || keepalives_sent(&fake) >= keepalives_before + 5,
    )
    .await;
    // Longer than the writer's batch delay, so a checkpoint taken from a keepalive would be
    // stored. The end of the test shows this store does get checkpoints once events complete.
    tokio::time::sleep(StoreSettings::default().ack_batch_max_delay * 4).await;
    assert_eq!(
        pipeline.telemetry.snapshot().checkpoints,
        0,
        "the pipeline asked for a checkpoint while an event was in flight"
    );
    assert_eq!(
        stored_checkpoint(&pipeline.store, &fake),
        None,
        "a keepalive moved the checkpoint past an event still in flight"
    );
    assert!(partner.distinct_seqs().len() <= 1, "order holds meanwhile");

    partner_up.store(true, Ordering::SeqCst);
    wait_until("every event is delivered", Duration::from_secs(20), || {
        partner.distinct_seqs().len() == 3
    })
    .await;
    wait_until(
        "the checkpoint reaches the last event",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_pipeline_checkpoints_the_position_a_keepalive_reports() {
    let fake = start_fake(false, frequent_keepalives()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("keepalive-idle");
    // Published before a LATEST subscription: the pipeline never receives these, and only the
    // keepalive tells it where the stream stands.
    fake.publish(&numbered_messages(5, 1)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let pipeline = assemble_pipeline(
        &fake,
        &dir.path().join("store.redb"),
        &partner.url,
        None,
        Some(ReplayStart::Latest),
        |_| {},
    )
    .spawn();
    wait_until(
        "the keepalive position is checkpointed",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    assert!(partner.received().is_empty(), "nothing was delivered");
    pipeline.stop().await;
    fake.shutdown().await;
}

/// A stream reset while events are still being delivered, completing out of order: the new
/// stream resumes after the last event received, so nothing is handed over twice and the
/// checkpoint only moves forward to the last event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_while_events_complete_out_of_order_neither_redelivers_them_nor_moves_the_checkpoint_back(
) {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    // seq 0's first attempt ends last; a second attempt of either would be quick for seq 0 and
    // slow for seq 1, so a second copy would complete behind the newer event.
    let attempts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let partner = Partner::start(Arc::new(move |received: &Received| {
        let mut attempts = attempts.lock().unwrap();
        let attempt: &mut u32 = attempts.entry(received.seq).or_default();
        *attempt += 1;
        let delay_ms = match (received.seq, *attempt) {
            (Some(0), 1) => 2_000,
            (Some(1), 1) => 1_000,
            (Some(1), _) => 3_000,
            _ => 0,
        };
        (StatusCode::OK, Duration::from_millis(delay_ms))
    }))
    .await;
    let dir = ScratchDir::new("reset-in-flight");
    fake.publish(&numbered_messages(2, 2)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    wait_until("both events are attempted", Duration::from_secs(10), || {
        partner.received().len() == 2
    })
    .await;
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(0),
        ..FaultRequest::default()
    });
    wait_until(
        "the stream is reset and subscribed again",
        Duration::from_secs(20),
        || fake.pubsub().sessions().len() == 2,
    )
    .await;
    wait_until(
        "the checkpoint reaches the last event",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    // The new stream resumed after the last event received, so nothing was handed over again.
    assert_eq!(partner.received().len(), 2, "each event was attempted once");
    pipeline.stop().await;
    let reopened = Store::open(dir.path().join("store.redb"), StoreSettings::default()).unwrap();
    assert_eq!(stored_checkpoint(&reopened, &fake), Some(latest));
    fake.shutdown().await;
}

// Current-thread runtime on purpose: nothing else runs between `run` returning and the open
// below, so a store handle that only a not-yet-scheduled task would drop is caught every time.
#[tokio::test]
async fn the_store_file_is_free_as_soon_as_the_pipeline_has_stopped() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("store-released");
    let store_path = dir.path().join("store.redb");
    fake.publish(&numbered_messages(50, 5)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let AssembledPipeline {
        pipeline,
        shutdown,
        store,
        ..
    } = assemble_pipeline(&fake, &store_path, &partner.url, None, None, |_| {});
    drop(store);
    let stopper = partner.cancel_after(50, shutdown.clone());
    pipeline.run(shutdown).await.unwrap();
    let reopened = Store::open(&store_path, StoreSettings::default());
    let reopened = match reopened {
        Ok(store) => store,
        Err(error) => panic!("the stopped pipeline still holds its store: {error}"),
    };
    assert_eq!(stored_checkpoint(&reopened, &fake), Some(latest));
    stopper.await.unwrap();
    fake.shutdown().await;
}
