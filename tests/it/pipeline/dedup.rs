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
