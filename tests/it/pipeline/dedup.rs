//! G3 across a restart: a redelivered event whose idempotency key was completed before the
//! restart is skipped, not delivered again, whichever way the dispatcher looks keys up.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use byoc_connector::store::{Store, StoreSettings};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_completed_before_a_restart_are_skipped_when_their_events_come_again() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("dedup-restart");
    let store_path = dir.path().join("store.redb");
    fake.publish(&numbered_messages(20, 4)).unwrap();
    let pipeline = start_pipeline(&fake, &store_path, &partner.url, None, |_| {}).await;
    wait_until("the first run delivers", Duration::from_secs(20), || {
        partner.distinct_seqs().len() == 20
    })
    .await;
    pipeline.stop().await;
    // As after a crash between the commit of the keys and that of the checkpoint: the keys
    // are stored, the position is not, so every event comes again.
    {
        let store = Store::open(&store_path, StoreSettings::default()).unwrap();
        let endpoints = fake.endpoints();
        store
            .delete_checkpoint(&endpoints.org_id, &endpoints.topic)
            .unwrap();
        assert_eq!(store.completed_key_count().unwrap(), 20);
    }
    fake.publish(&[message_event(&conversation_name(0), 20)])
        .unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let again = Partner::accepting().await;
    let pipeline = start_pipeline(&fake, &store_path, &again.url, None, |_| {}).await;
    wait_until(
        "the second run passes every event",
        Duration::from_secs(20),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    pipeline.stop().await;
    assert_eq!(
        again.distinct_seqs().into_iter().collect::<Vec<_>>(),
        vec![20],
        "only the new event is delivered; the completed ones are skipped"
    );
    fake.shutdown().await;
}

/// A dead-lettered event counts as done, as a delivered one does: after a restart from a
/// checkpoint before it (another conversation's event was still being retried), it is not sent
/// again behind the later events of its own conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_event_is_not_sent_again_after_a_restart_behind_its_conversations_later_events(
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use axum::http::StatusCode;

    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&[
        message_event("conversation-b", 0),
        message_event("conversation-a", 1),
        message_event("conversation-a", 2),
    ])
    .unwrap();
    // Event 0 fails for now (holding the checkpoint before everything), 1 is refused for
    // good, 2 is taken.
    let first_run = Arc::new(AtomicBool::new(true));
    let failing = first_run.clone();
    let partner = Partner::start(Arc::new(move |received: &Received| match received.seq {
        Some(0) if failing.load(Ordering::SeqCst) => {
            (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO)
        }
        Some(1) => (StatusCode::CONFLICT, Duration::ZERO),
        _ => (StatusCode::OK, Duration::ZERO),
    }))
    .await;
    let dir = ScratchDir::new("dedup-dead-letter");
    let store_path = dir.path().join("store.redb");
    let quick_stop = |settings: &mut byoc_connector::pipeline::PipelineSettings| {
        settings.grace = Duration::from_millis(500);
    };
    let pipeline =
        assemble_pipeline(&fake, &store_path, &partner.url, None, None, quick_stop).spawn();
    wait_until("event 2 is taken", Duration::from_secs(20), || {
        partner
            .received()
            .iter()
            .any(|received| received.seq == Some(2))
    })
    .await;
    pipeline.stop().await;

    first_run.store(false, Ordering::SeqCst);
    let restarted = assemble_pipeline(&fake, &store_path, &partner.url, None, None, |_| {}).spawn();
    let last = fake.pubsub().topic.latest_id();
    wait_until(
        "everything is checkpointed",
        Duration::from_secs(20),
        || stored_checkpoint(&restarted.store, &fake) == Some(last),
    )
    .await;
    let sent = |seq: u64| {
        partner
            .received()
            .iter()
            .filter(|received| received.seq == Some(seq))
            .count()
    };
    assert_eq!(sent(1), 1, "the dead-lettered event was sent again");
    assert_eq!(sent(2), 1);
    restarted.stop().await;
    fake.shutdown().await;
}
