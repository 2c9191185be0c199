//! Replay positions: stored ids (CUSTOM, exclusive), presets, and the corrupted-replay
//! policy, against the fake Pub/Sub server.

use crate::support::*;
use byoc_connector::pubsub::{
    CorruptedReplayPolicy, ReplayId, ReplayStart, RestartPoint, Subscriber, SubscriberError,
    SubscriberItem,
};
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_stored_replay_id_delivers_exactly_the_events_after_it() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    let replay_ids = fake.publish(&numbered_events(0, 50)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::After(ReplayId::from_u64(replay_ids[19]));
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    for expected in 20..50 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        assert_eq!(
            event.replay_id.as_u64(),
            Some(replay_ids[expected as usize])
        );
        subscriber.acks().ack(&event.replay_id);
    }
    // Nothing after the last stored event: the ones published now are the next to arrive.
    let later = fake.publish(&numbered_events(50, 3)).unwrap();
    for expected_replay_id in later {
        assert_eq!(
            next_event(&mut subscriber).await.replay_id.as_u64(),
            Some(expected_replay_id)
        );
    }
    let session = &fake.pubsub().sessions()[0];
    assert_eq!(session.replay_preset, "CUSTOM");
    assert_eq!(session.replay_id, Some(replay_ids[19]));
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_start_delivers_only_events_published_after_subscribing() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 5)).unwrap();
    let config = subscriber_settings(&fake);
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    wait_until_stream_positioned(&fake, "LATEST").await;
    fake.publish(&numbered_events(100, 1)).unwrap();
    assert_eq!(seq_of(&next_event(&mut subscriber).await), 100);
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// Subscribes after an id that has left retention; returns the subscriber and ids.
async fn subscribe_after_expired_position(
    policy: CorruptedReplayPolicy,
) -> (
    fake_salesforce::FakeSalesforce,
    Subscriber,
    Vec<u64>,
    CancellationToken,
) {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let replay_ids = fake.publish(&numbered_events(0, 20)).unwrap();
    fake.apply_faults(&FaultRequest {
        expire_through: Some(replay_ids[9]),
        ..FaultRequest::default()
    });
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::After(ReplayId::from_u64(replay_ids[4]));
    config.corrupted_replay_policy = policy;
    let shutdown = CancellationToken::new();
    let subscriber = spawn_subscriber(config, &fake, &shutdown);
    (fake, subscriber, replay_ids, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_replay_id_with_policy_earliest_restarts_at_the_oldest_retained_event_and_reports_it(
) {
    let (fake, mut subscriber, replay_ids, shutdown) =
        subscribe_after_expired_position(CorruptedReplayPolicy::Earliest).await;
    match next_item(&mut subscriber).await {
        SubscriberItem::ReplayReset {
            lost,
            restarted_from,
        } => {
            assert_eq!(lost, Some(ReplayId::from_u64(replay_ids[4])));
            assert_eq!(restarted_from, RestartPoint::Earliest);
        }
        other => panic!("expected a replay reset, got {other:?}"),
    }
    for expected in 10..20 {
        assert_eq!(seq_of(&next_event(&mut subscriber).await), expected);
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_replay_id_with_policy_latest_skips_to_new_events() {
    let (fake, mut subscriber, _, shutdown) =
        subscribe_after_expired_position(CorruptedReplayPolicy::Latest).await;
    assert!(matches!(
        next_item(&mut subscriber).await,
        SubscriberItem::ReplayReset {
            restarted_from: RestartPoint::Latest,
            ..
        }
    ));
    wait_until_stream_positioned(&fake, "LATEST").await;
    fake.publish(&numbered_events(500, 1)).unwrap();
    assert_eq!(seq_of(&next_event(&mut subscriber).await), 500);
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_replay_id_with_policy_fail_stops_the_subscriber_with_the_lost_position() {
    let (fake, subscriber, replay_ids, _shutdown) =
        subscribe_after_expired_position(CorruptedReplayPolicy::Fail).await;
    let stopped = tokio::time::timeout(ITEM_TIMEOUT, subscriber.join())
        .await
        .expect("stops in time");
    match stopped {
        Err(SubscriberError::ReplayIdCorrupted { lost }) => {
            assert_eq!(lost, replay_ids[4].to_string());
        }
        other => panic!("expected a corrupted-replay error, got {other:?}"),
    }
    fake.shutdown().await;
}

/// A stored position Salesforce cannot read (here an empty id: CUSTOM with no replay id, which
/// it refuses with `…replayid.validation.failed`) is retried at the same position forever
/// unless it is treated as the spec says, like a corrupted one: the policy applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_replay_id_applies_the_corrupted_replay_policy() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 3)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::After(ReplayId::from_bytes(Vec::new()));
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);

    match next_item(&mut subscriber).await {
        SubscriberItem::ReplayReset { restarted_from, .. } => {
            assert_eq!(restarted_from, RestartPoint::Earliest);
        }
        other => panic!("expected a replay reset, got {other:?}"),
    }
    for expected in 0..3 {
        assert_eq!(seq_of(&next_event(&mut subscriber).await), expected);
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}
