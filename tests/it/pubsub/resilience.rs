//! Keepalives, the silence watchdog, reconnects after failures, token refresh and schema
//! changes, against the fake Pub/Sub server. Tests that wait for server timers run with
//! paused tokio time, so minutes pass instantly.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use byoc_connector::pubsub::{ReconnectReason, ReplayStart, Subscriber, SubscriberItem};
use fake_salesforce::avro::EventSchemaSpec;
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::topic::NewEvent;
use tokio_util::sync::CancellationToken;

/// A fake that sends an idle stream a keepalive every `interval`.
async fn fake_with_keepalives(interval: Duration) -> fake_salesforce::FakeSalesforce {
    start_fake(
        false,
        PubSubFakeConfig {
            keepalive_interval: interval,
            ..PubSubFakeConfig::default()
        },
    )
    .await
}

/// The position the next item reports, failing the test unless it is a keepalive.
async fn next_keepalive_position(subscriber: &mut Subscriber) -> Option<u64> {
    match next_item_within(subscriber, PAUSED_ITEM_TIMEOUT).await {
        SubscriberItem::Keepalive { latest_replay_id } => latest_replay_id.as_u64(),
        other => panic!("expected a keepalive, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_keepalive_reports_the_latest_replay_id_and_it_advances() {
    let fake = fake_with_keepalives(Duration::from_secs(60)).await;
    let replay_ids = fake.publish(&numbered_events(0, 5)).unwrap();
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(subscriber_settings(&fake), &fake, &shutdown);
    assert_eq!(
        next_keepalive_position(&mut subscriber).await,
        Some(replay_ids[4])
    );
    let newer = fake.publish(&numbered_events(5, 1)).unwrap();
    let event = next_event(&mut subscriber).await;
    subscriber.acks().ack(&event.replay_id);
    assert_eq!(
        next_keepalive_position(&mut subscriber).await,
        Some(newer[0]),
        "the reported position advanced"
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// A keepalive without a `latest_replay_id` gives no position: it is not handed over (the
/// pipeline would store it as a checkpoint no Subscribe could resume from), and the next
/// keepalive's position is.
#[tokio::test(start_paused = true)]
async fn a_keepalive_without_a_position_is_passed_over() {
    let interval = Duration::from_secs(60);
    let fake = fake_with_keepalives(interval).await;
    let replay_ids = fake.publish(&numbered_events(0, 3)).unwrap();
    fake.apply_faults(&FaultRequest {
        blank_keepalive_positions: Some(1),
        ..FaultRequest::default()
    });
    let shutdown = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let mut subscriber = spawn_subscriber(subscriber_settings(&fake), &fake, &shutdown);
    assert_eq!(
        next_keepalive_position(&mut subscriber).await,
        Some(replay_ids[2])
    );
    assert!(
        started.elapsed() > interval + interval / 2,
        "the first keepalive, sent blank, was passed over ({:?})",
        started.elapsed()
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// A subscriber on `fake` whose watchdog gives up after 300 s of silence, its reconnects
/// recorded.
fn watched_subscriber(
    fake: &fake_salesforce::FakeSalesforce,
) -> (Subscriber, RecordingTelemetry, CancellationToken) {
    let shutdown = CancellationToken::new();
    let mut config = subscriber_settings(fake);
    config.keepalive_timeout = Duration::from_secs(300);
    let recorder = RecordingTelemetry::default();
    let subscriber = Subscriber::spawn(
        config,
        static_credentials(fake),
        recorder.clone(),
        shutdown.clone(),
    )
    .unwrap();
    (subscriber, recorder, shutdown)
}

/// Starts a subscriber with a 300 s watchdog, stalls the server after its first keepalive
/// until the watchdog fires, then lets the server speak again.
async fn stall_until_the_watchdog_fires() -> (
    fake_salesforce::FakeSalesforce,
    Subscriber,
    RecordingTelemetry,
    CancellationToken,
) {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let (mut subscriber, recorder, shutdown) = watched_subscriber(&fake);
    // The first keepalive proves the stream is up; then the server goes silent.
    assert!(matches!(
        next_item_within(&mut subscriber, PAUSED_ITEM_TIMEOUT).await,
        SubscriberItem::Keepalive { .. }
    ));
    fake.apply_faults(&FaultRequest {
        stall: Some(true),
        ..FaultRequest::default()
    });
    wait_for_the_watchdog(&recorder).await;
    fake.apply_faults(&FaultRequest {
        stall: Some(false),
        ..FaultRequest::default()
    });
    (fake, subscriber, recorder, shutdown)
}

/// Waits, in 30 s steps of paused time, until the watchdog has fired.
async fn wait_for_the_watchdog(recorder: &RecordingTelemetry) {
    let watchdog_fired = || recorder.telemetry.snapshot().subscriber_reconnects.watchdog;
    for _ in 0..100 {
        if watchdog_fired() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    assert!(watchdog_fired() >= 1, "the watchdog fired");
}

/// The calls before a stream (GetTopic, GetSchema) are bounded like the stream: a server that
/// takes longer than the watchdog's limit to answer them is left and called again.
#[tokio::test(start_paused = true)]
async fn a_topic_lookup_that_never_answers_is_left_at_the_watchdogs_limit() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.apply_faults(&FaultRequest {
        latency_ms: Some(3_600_000),
        ..FaultRequest::default()
    });
    let (mut subscriber, recorder, shutdown) = watched_subscriber(&fake);

    wait_for_the_watchdog(&recorder).await;
    fake.apply_faults(&FaultRequest {
        latency_ms: Some(0),
        ..FaultRequest::default()
    });
    // A lookup sent before the server recovered waits out its own limit first.
    tokio::time::sleep(Duration::from_secs(330)).await;
    wait_until_stream_positioned(&fake, "LATEST").await;
    fake.publish(&numbered_events(4, 1)).unwrap();
    assert_eq!(seq_of(&next_event(&mut subscriber).await), 4);
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// A server that sends a stream's headers with its first response, as Java and Go servers
/// do, and then says nothing at all is caught by the watchdog too: the silence counts from
/// the subscribe, not from a first response that never comes.
#[tokio::test(start_paused = true)]
async fn a_stream_silent_before_its_first_response_is_caught_by_the_watchdog() {
    let fake = start_fake(
        false,
        PubSubFakeConfig {
            headers_with_first_response: true,
            ..PubSubFakeConfig::default()
        },
    )
    .await;
    fake.apply_faults(&FaultRequest {
        stall: Some(true),
        ..FaultRequest::default()
    });
    let (mut subscriber, recorder, shutdown) = watched_subscriber(&fake);

    wait_for_the_watchdog(&recorder).await;
    fake.apply_faults(&FaultRequest {
        stall: Some(false),
        ..FaultRequest::default()
    });
    fake.publish(&numbered_events(3, 1)).unwrap();
    assert_eq!(seq_of(&next_event(&mut subscriber).await), 3);
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stalled_stream_is_detected_by_the_watchdog_and_subscribed_again() {
    let (fake, mut subscriber, recorder, shutdown) = stall_until_the_watchdog_fires().await;
    fake.publish(&numbered_events(7, 1)).unwrap();
    assert_eq!(seq_of(&next_event(&mut subscriber).await), 7);
    assert!(
        fake.pubsub().sessions().len() >= 2,
        "a new stream was opened"
    );
    assert!(recorder
        .reconnects
        .lock()
        .unwrap()
        .contains(&ReconnectReason::Watchdog));
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// The stream the watchdog gave up on is ended from our side too: left open, its request
/// half would keep taking credit meant for the new stream and hand it to a dead one.
#[tokio::test(start_paused = true)]
async fn a_stream_the_watchdog_gave_up_on_is_ended_and_takes_no_more_credit() {
    let (fake, mut subscriber, _recorder, shutdown) = stall_until_the_watchdog_fires().await;
    fake.publish(&numbered_events(7, 150)).unwrap();
    // More than the credit window, acknowledged as they come: every top-up must reach the
    // stream that is alive.
    for expected in 7..157 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        subscriber.acks().ack(&event.replay_id);
    }
    let first = fake.pubsub().sessions()[0].clone();
    assert!(
        first.ended.is_some(),
        "the first stream is still open: {first:?}"
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_mid_stream_resubscribes_losing_nothing_and_redelivering_only_the_unacked_window(
) {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 1_000)).unwrap();
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(300),
        ..FaultRequest::default()
    });
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let recorder = RecordingTelemetry::default();
    let window = config.credit_window as usize;
    let shutdown = CancellationToken::new();
    let mut subscriber = Subscriber::spawn(
        config,
        static_credentials(&fake),
        recorder.clone(),
        shutdown.clone(),
    )
    .unwrap();
    let acks = subscriber.acks();
    // Acknowledge with a lag of 50 events, like a consumer with work in flight.
    let mut unacked = std::collections::VecDeque::new();
    let mut seen = BTreeSet::new();
    let mut deliveries = 0;
    let mut last_first_delivery = None;
    while seen.len() < 1_000 {
        let event = next_event(&mut subscriber).await;
        deliveries += 1;
        let seq = seq_of(&event);
        if seen.insert(seq) {
            assert!(
                last_first_delivery < Some(seq),
                "first deliveries stay in order"
            );
            last_first_delivery = Some(seq);
        }
        unacked.push_back(event.replay_id.clone());
        if unacked.len() > 50 {
            acks.ack(&unacked.pop_front().unwrap());
        }
        assert!(deliveries < 2_000, "runaway redelivery");
    }
    let redelivered = deliveries - 1_000;
    assert!(
        redelivered <= window,
        "redelivered {redelivered} events, more than the window"
    );
    assert!(
        fake.pubsub().sessions().len() >= 2,
        "the client subscribed again"
    );
    let resumed = &fake.pubsub().sessions()[1];
    assert_eq!(
        resumed.replay_preset, "CUSTOM",
        "resumed from the last acknowledged id"
    );
    assert_eq!(
        recorder.reconnects.lock().unwrap().first(),
        Some(&ReconnectReason::StreamFailed)
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// How long (paused time) a subscriber on `fake` from EARLIEST, reconnecting after 10 ms, takes
/// to hand over its first event once `faults` have refused its first Subscribe calls.
async fn time_to_first_event_after(faults: FaultRequest) -> Duration {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 1)).unwrap();
    fake.apply_faults(&faults);
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    loop {
        if let SubscriberItem::Event(event) =
            next_item_within(&mut subscriber, PAUSED_ITEM_TIMEOUT).await
        {
            assert_eq!(seq_of(&event), 0);
            break;
        }
    }
    let waited = started.elapsed();
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
    waited
}

/// Salesforce's guidance after `service.unavailable` is to wait about 5 s before trying again
/// (spec §3.6): each refusal is waited out that long, though the backoff alone would retry at
/// once.
#[tokio::test(start_paused = true)]
async fn service_unavailable_is_waited_out_before_subscribing_again() {
    let waited = time_to_first_event_after(FaultRequest {
        service_unavailable_calls: Some(2),
        ..FaultRequest::default()
    })
    .await;
    assert!(
        waited >= 2 * byoc_connector::pubsub::SERVICE_UNAVAILABLE_WAIT,
        "subscribed again after {waited:?}"
    );
    assert!(waited < Duration::from_secs(12), "waited {waited:?}");
}

/// Other refusals keep the short backoff: the wait is for `service.unavailable` only.
#[tokio::test(start_paused = true)]
async fn resource_exhausted_keeps_the_short_backoff() {
    let waited = time_to_first_event_after(FaultRequest {
        resource_exhausted_calls: Some(2),
        ..FaultRequest::default()
    })
    .await;
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_exhausted_is_retried_with_backoff() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 3)).unwrap();
    fake.apply_faults(&FaultRequest {
        resource_exhausted_calls: Some(3),
        ..FaultRequest::default()
    });
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    for expected in 0..3 {
        assert_eq!(seq_of(&next_event(&mut subscriber).await), expected);
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_mid_stream_is_refreshed_and_the_stream_resumes() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    let credentials = RefreshingCredentials::new(&fake, Duration::from_secs(3600));
    fake.publish(&numbered_events(0, 100)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let recorder = RecordingTelemetry::default();
    let shutdown = CancellationToken::new();
    let mut subscriber = Subscriber::spawn(
        config,
        credentials.clone(),
        recorder.clone(),
        shutdown.clone(),
    )
    .unwrap();
    for expected in 0..100 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        subscriber.acks().ack(&event.replay_id);
    }
    fake.apply_faults(&FaultRequest {
        expire_tokens: Some(true),
        ..FaultRequest::default()
    });
    fake.publish(&numbered_events(100, 100)).unwrap();
    for expected in 100..200 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        subscriber.acks().ack(&event.replay_id);
    }
    assert!(
        credentials.refreshes.load(Ordering::SeqCst) >= 1,
        "a new token was fetched"
    );
    assert!(
        recorder
            .telemetry
            .snapshot()
            .subscriber_reconnects
            .auth_rejected
            >= 1
    );
    assert!(recorder
        .reconnects
        .lock()
        .unwrap()
        .contains(&ReconnectReason::AuthRejected));
    let in_a_row = recorder.token_refusals_in_a_row.lock().unwrap().clone();
    assert!(
        in_a_row.iter().all(|count| *count == 1),
        "each refused token was followed by one that worked: {in_a_row:?}"
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

// A refresh that yields a token refused as well (another org's token, a user without access)
// must not loop quietly: counting the refusals in a row lets the log say refreshing won't help.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_tokens_refused_again_are_counted_in_a_row() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    // Every token the credentials fetch is expired when it is issued.
    let credentials = RefreshingCredentials::new(&fake, Duration::ZERO);
    let recorder = RecordingTelemetry::default();
    let shutdown = CancellationToken::new();
    let subscriber = Subscriber::spawn(
        subscriber_settings(&fake),
        credentials.clone(),
        recorder.clone(),
        shutdown.clone(),
    )
    .unwrap();

    tokio::time::timeout(Duration::from_secs(10), async {
        while recorder.token_refusals_in_a_row.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("three refusals");
    let in_a_row = recorder.token_refusals_in_a_row.lock().unwrap().clone();
    assert_eq!(in_a_row[..3], [1, 2, 3]);
    assert!(credentials.refreshes.load(Ordering::SeqCst) >= 2);
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_after_a_schema_change_decode_with_their_own_new_schema() {
    #[derive(serde::Deserialize)]
    #[allow(non_snake_case)]
    struct RenamedRecord {
        Body__c: Option<String>,
    }
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 3)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    let mut old_schema_ids = BTreeSet::new();
    for expected in 0..3 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        old_schema_ids.insert(event.schema_id.clone());
        subscriber.acks().ack(&event.replay_id);
    }
    fake.pubsub()
        .topic
        .change_schema(EventSchemaSpec {
            payload_field: "Body__c".to_owned(),
            ..EventSchemaSpec::default()
        })
        .unwrap();
    fake.publish(&[NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some("{\"seq\":3}".to_owned()),
        ..NewEvent::default()
    }])
    .unwrap();
    let event = next_event(&mut subscriber).await;
    assert!(
        !old_schema_ids.contains(&event.schema_id),
        "the event names the new schema"
    );
    let record: RenamedRecord = event.decode().expect("decodes with the new writer schema");
    assert_eq!(record.Body__c.as_deref(), Some("{\"seq\":3}"));
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// A keepalive sent while the server owes nothing (the consumer holds the whole credit
/// window) may come with events still held back for lack of credit; its position would skip
/// them if checkpointed, so it is not passed on.
#[tokio::test(start_paused = true)]
async fn a_keepalive_while_the_server_owes_nothing_is_not_passed_on() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 150)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    for expected in 0..100 {
        assert_eq!(seq_of(&next_event(&mut subscriber).await), expected);
    }

    // Nothing is acknowledged: the server owes nothing and holds 50 events back. Its next
    // keepalive comes within a minute, before it closes the idle stream at 70 s.
    let quiet = tokio::time::timeout(Duration::from_secs(65), subscriber.next()).await;
    assert!(quiet.is_err(), "passed on: {quiet:?}");
    let sessions = fake.pubsub().sessions();
    assert!(
        sessions[0]
            .responses
            .iter()
            .any(|response| response.events == 0 && response.pending_after == 0),
        "the fake sent a keepalive at zero credit: {:?}",
        sessions[0].responses
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}
