//! Where a subscription resumes after its stream drops inside one process: after the last
//! event handed to the pipeline, not at the stored checkpoint and never at LATEST again, while
//! the stored checkpoint stays the low watermark; and after Salesforce refuses the stored
//! id, which stays stored until the restarted stream checkpoints.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::{start_fake, wait_until_stream_positioned};
use byoc_connector::pubsub::ReplayStart;
use byoc_connector::store::{Store, StoreSettings};
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_stream_dropped_before_any_ack_resumes_after_the_last_received_event() {
    // No keepalive before the events: a keepalive position would hide the gap.
    let fake = start_fake(
        false,
        PubSubFakeConfig {
            keepalive_interval: Duration::from_secs(3_600),
            ..PubSubFakeConfig::default()
        },
    )
    .await;
    // The partner refuses everything until released, so nothing is acknowledged.
    let (partner, partner_up) = Partner::down_until_released().await;
    let dir = ScratchDir::new("resume-latest");
    let pipeline = assemble_pipeline(
        &fake,
        &dir.path().join("store.redb"),
        &partner.url,
        None,
        Some(ReplayStart::Latest),
        |_| {},
    )
    .spawn();
    // Positioned, not merely open: a LATEST stream fixes its start when its first request
    // arrives, and the events published before that are never its.
    wait_until_stream_positioned(&fake, "LATEST").await;
    // The stream ends right after five events, and the next subscribes are refused, so the
    // events published next land in the gap between two streams.
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(5),
        resource_exhausted_calls: Some(1_000),
        ..FaultRequest::default()
    });
    // One conversation each, so every event is attempted while the partner refuses.
    let messages = |seqs: std::ops::Range<u64>| {
        seqs.map(|seq| message_event(&conversation_name(seq), seq))
            .collect::<Vec<_>>()
    };
    fake.publish(&messages(0..5)).unwrap();
    wait_until(
        "the five events reach the partner",
        Duration::from_secs(10),
        || partner.distinct_seqs().len() == 5,
    )
    .await;
    let fifth = fake.pubsub().topic.latest_id();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.publish(&messages(5..10)).unwrap();
    assert_eq!(
        stored_checkpoint(&pipeline.store, &fake),
        None,
        "nothing is acknowledged yet"
    );
    fake.apply_faults(&FaultRequest {
        resource_exhausted_calls: Some(0),
        ..FaultRequest::default()
    });
    wait_until("a second stream is open", Duration::from_secs(10), || {
        fake.pubsub()
            .sessions()
            .get(1)
            .is_some_and(|session| !session.replay_preset.is_empty())
    })
    .await;
    let resumed = fake.pubsub().sessions()[1].clone();
    assert_eq!(resumed.replay_preset, "CUSTOM");
    assert_eq!(
        resumed.replay_id,
        Some(fifth),
        "resumed after the last event received"
    );
    partner_up.store(true, Ordering::SeqCst);
    wait_until(
        "every event, the gap's included, reaches the partner",
        Duration::from_secs(20),
        || partner.distinct_seqs().len() == 10,
    )
    .await;
    let last = fake.pubsub().topic.latest_id();
    wait_until(
        "the checkpoint reaches the last event",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(last),
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}

/// A stored replay id Salesforce refuses (it left retention) restarts the subscription at the
/// oldest retained event; the refused id stays stored until the restarted stream has a
/// checkpoint of its own, so a process that dies in between comes back to the same refusal
/// and the same restart, not to an empty store and a start at LATEST that skips every retained
/// event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_replay_id_stays_stored_until_the_restarted_stream_checkpoints() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let replay_ids = fake
        .publish(
            &(0..10)
                .map(|seq| message_event(&conversation_name(seq), seq))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    fake.apply_faults(&FaultRequest {
        expire_through: Some(replay_ids[2]),
        ..FaultRequest::default()
    });
    let dir = ScratchDir::new("resume-refused");
    let store_path = dir.path().join("store.redb");
    {
        let store = Store::open(&store_path, StoreSettings::default()).unwrap();
        let endpoints = fake.endpoints();
        store
            .set_checkpoint(
                &endpoints.org_id,
                &endpoints.topic,
                &replay_ids[1].to_be_bytes(),
            )
            .unwrap();
    }
    // The partner refuses everything until released, so the restarted stream checkpoints
    // nothing.
    let (partner, partner_up) = Partner::down_until_released().await;
    let pipeline = assemble_pipeline(&fake, &store_path, &partner.url, None, None, |_| {}).spawn();
    wait_until_stream_positioned(&fake, "EARLIEST").await;
    wait_until(
        "the retained events reach the partner",
        Duration::from_secs(10),
        || partner.distinct_seqs().len() == 7,
    )
    .await;
    assert_eq!(
        stored_checkpoint(&pipeline.store, &fake),
        Some(replay_ids[1]),
        "the refused id is still stored"
    );

    partner_up.store(true, Ordering::SeqCst);
    wait_until(
        "the checkpoint follows the restarted stream",
        Duration::from_secs(20),
        || stored_checkpoint(&pipeline.store, &fake) == Some(replay_ids[9]),
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}
