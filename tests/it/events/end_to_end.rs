//! Every fixture, published through the fake Pub/Sub server and received by
//! the subscriber, decodes to the same event as when its JSON is decoded directly.

use crate::support::{next_event, spawn_subscriber, start_fake, subscriber_settings};
use byoc_connector::events::{decode_event, EventContext, FieldNames};
use byoc_connector::pubsub::ReplayStart;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::topic::NewEvent;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_decodes_the_same_after_a_trip_through_pubsub() {
    let fixtures = crate::support::events::all_fixtures();
    assert!(fixtures.len() >= 40, "the fixture set is complete");
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    let events: Vec<NewEvent> = fixtures
        .iter()
        .map(|fixture| NewEvent {
            event_type: Some(fixture.event_type.clone()),
            // The payload text as written, so the original JSON bytes survive unchanged.
            payload: Some(fixture.payload_json.clone()),
            ..NewEvent::default()
        })
        .collect();
    fake.publish(&events).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    for fixture in &fixtures {
        let received = next_event(&mut subscriber).await;
        let schema = received.schema.as_ref().expect("writer schema");
        let context = EventContext {
            replay_id: received.replay_id.as_bytes(),
            producer_event_id: &received.event_id,
        };
        let decoded = decode_event(&received.payload, schema, &FieldNames::default(), &context)
            .unwrap_or_else(|err| panic!("{} decodes after pubsub: {err}", fixture.name));
        assert_eq!(
            decoded.event,
            fixture.decode(),
            "{} decodes the same",
            fixture.name
        );
        assert_eq!(decoded.replay_id, received.replay_id.as_bytes());
        subscriber.acks().ack(&received.replay_id);
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}
