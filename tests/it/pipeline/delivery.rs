//! Delivery to a real HTTP partner from the fake Salesforce, through the pipeline:
//! outages, permanent refusals, isolation between conversations, signatures, bad bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::proto::ProducerEvent;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

/// Most events Salesforce sends ahead of the subscriber's requests: Pub/Sub's credit bound.
const CREDIT_WINDOW: u64 = 100;
/// `pipeline.prefetch_events` in the outage tests: events held before credit waits for
/// completions.
const PREFETCH: usize = 150;

/// First deliveries of each conversation, in arrival order, must be in seq order.
fn assert_first_deliveries_in_order(received: &[Received]) {
    let mut seen = BTreeSet::new();
    let mut last_by_conversation: BTreeMap<String, u64> = BTreeMap::new();
    for delivery in received {
        let Some(seq) = delivery.seq else { continue };
        if !seen.insert(seq) {
            continue;
        }
        if let Some(previous) = last_by_conversation.insert(delivery.conversation.clone(), seq) {
            assert!(
                previous < seq,
                "conversation {} got {seq} after {previous}",
                delivery.conversation
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_partner_outage_loses_nothing_keeps_order_and_holds_the_prefetch_plus_the_window() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let outage = Duration::from_secs(20);
    let started = tokio::time::Instant::now();
    let partner = Partner::answering_when(
        move |_| started.elapsed() < outage,
        (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO),
    )
    .await;
    let dir = ScratchDir::new("outage");
    fake.publish(&numbered_messages(1_000, 7)).unwrap();
    let pipeline = start_pipeline_with_prefetch(&fake, &dir, &partner, PREFETCH).await;
    // While the partner is down, the first PREFETCH events hand their credit back on
    // arrival; the next window's worth keep theirs, and consumption stops there.
    let bound = PREFETCH as u64 + CREDIT_WINDOW;
    wait_until(
        "the pipeline holds the prefetch and a full credit window",
        Duration::from_secs(10),
        || pipeline.telemetry.snapshot().events_received >= bound,
    )
    .await;
    let received_while_down = pipeline.telemetry.snapshot().events_received;
    assert_eq!(
        received_while_down, bound,
        "events taken while the partner was down"
    );
    assert_eq!(u64::from(pipeline.acks.in_hand()), CREDIT_WINDOW);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pipeline.telemetry.snapshot().events_received,
        received_while_down,
        "no more events are taken while nothing completes"
    );
    wait_until("every event is delivered", Duration::from_secs(600), || {
        partner.distinct_seqs().len() == 1_000
    })
    .await;
    assert_first_deliveries_in_order(&partner.received());
    let metrics = pipeline.telemetry.encode().unwrap();
    let retries = metric_value(&metrics, "byoc_delivery_retries_total{status=\"503\"}");
    // At least the head of each of the 7 conversations was refused and retried.
    assert!(
        retries >= 7.0,
        "every 503 is counted as a retry, got {retries}: {metrics}"
    );
    for session in fake.pubsub().sessions() {
        for request in &session.fetch_requests {
            assert!(
                i64::from(request.pending_before + request.num_requested) <= CREDIT_WINDOW as i64,
                "credit over the bound: {request:?}"
            );
        }
    }
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn without_prefetch_an_outage_holds_only_the_credit_window() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner =
        Partner::answering_when(|_| true, (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO)).await;
    let dir = ScratchDir::new("outage-no-prefetch");
    fake.publish(&numbered_messages(1_000, 7)).unwrap();
    let pipeline = start_pipeline_with_prefetch(&fake, &dir, &partner, 0).await;
    wait_until(
        "the pipeline holds a full credit window",
        Duration::from_secs(10),
        || pipeline.telemetry.snapshot().events_received >= CREDIT_WINDOW,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pipeline.telemetry.snapshot().events_received,
        CREDIT_WINDOW,
        "credit goes back only when an event completes"
    );
    assert_eq!(u64::from(pipeline.acks.in_hand()), CREDIT_WINDOW);
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_refused_event_is_dead_lettered_and_the_conversation_moves_on() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::answering_when(
        |received| received.seq == Some(4),
        (StatusCode::BAD_REQUEST, Duration::ZERO),
    )
    .await;
    let dir = ScratchDir::new("refused");
    fake.publish(&numbered_messages(10, 1)).unwrap();
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    wait_until("all ten are attempted", Duration::from_secs(20), || {
        partner.distinct_seqs().len() == 10
    })
    .await;
    wait_until(
        "the refusal is dead-lettered",
        Duration::from_secs(20),
        || pipeline.telemetry.snapshot().events_dead_lettered == 1,
    )
    .await;
    let received = partner.received();
    let attempts_of_4 = received
        .iter()
        .filter(|delivery| delivery.seq == Some(4))
        .count();
    assert_eq!(attempts_of_4, 1, "a 400 is not retried");
    let after: Vec<u64> = received
        .iter()
        .filter_map(|delivery| delivery.seq)
        .filter(|seq| *seq > 4)
        .collect();
    assert_eq!(
        after,
        vec![5, 6, 7, 8, 9],
        "later events of the conversation still arrive, in order"
    );
    let letters = pipeline.store.list_dead_letters(None, 10).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(
        letter.reason.contains("400"),
        "reason names the status: {}",
        letter.reason
    );
    assert_eq!(
        letter.attributes.get("status").map(String::as_str),
        Some("400")
    );
    assert!(!letter.raw.is_empty(), "the raw bytes are kept");
    assert!(letter
        .decoded_json
        .as_deref()
        .unwrap_or_default()
        .contains("seq-4"));
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_conversation_does_not_delay_the_others() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let slow = conversation_name(0);
    let slow_for_partner = slow.clone();
    let partner = Partner::answering_when(
        move |received| received.conversation == slow_for_partner,
        (StatusCode::OK, Duration::from_secs(3)),
    )
    .await;
    let dir = ScratchDir::new("isolation");
    // Conversation 0 first, then 200 events of four other conversations.
    let mut events = vec![message_event(&slow, 0), message_event(&slow, 1)];
    events.extend((2..202).map(|seq| message_event(&conversation_name(1 + seq % 4), seq)));
    fake.publish(&events).unwrap();
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    wait_until(
        "the other conversations are delivered",
        Duration::from_secs(20),
        || {
            partner
                .received()
                .iter()
                .filter(|delivery| delivery.conversation != slow)
                .count()
                >= 200
        },
    )
    .await;
    let slow_seen = partner
        .received()
        .iter()
        .filter(|delivery| delivery.conversation == slow)
        .count();
    assert_eq!(
        slow_seen, 1,
        "the slow conversation's second event waits behind its first"
    );
    wait_until(
        "the slow conversation finishes",
        Duration::from_secs(30),
        || partner.distinct_seqs().len() == 202,
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_carry_a_signature_that_verifies_with_the_documented_algorithm() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("signature");
    let secret = "whsec-test-1234";
    fake.publish(&numbered_messages(3, 1)).unwrap();
    let pipeline = start_pipeline(
        &fake,
        &dir.path().join("store.redb"),
        &partner.url,
        Some(secret),
        |_| {},
    )
    .await;
    wait_until("three deliveries", Duration::from_secs(20), || {
        partner.received().len() >= 3
    })
    .await;
    for delivery in partner.received() {
        let header = delivery.signature.clone().expect("signed");
        // As docs/partner-webhook.md documents: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
        let (timestamp, signature) = header
            .split_once(",v1=")
            .map(|(t, v1)| (t.trim_start_matches("t=").to_owned(), v1.to_owned()))
            .expect("t=...,v1=...");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let mut signed = timestamp.clone().into_bytes();
        signed.push(b'.');
        signed.extend_from_slice(&delivery.raw_body);
        let expected = hex::encode(aws_lc_rs::hmac::sign(&key, &signed).as_ref());
        assert_eq!(signature, expected);
        assert_eq!(delivery.event_type, "interaction.message");
        assert_eq!(
            delivery.body["id"], delivery.idempotency_key,
            "the body id is the idempotency key"
        );
    }
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bytes_are_dead_lettered_raw_and_the_stream_moves_on() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("bad-bytes");
    fake.publish(&numbered_messages(2, 1)).unwrap();
    let garbage = vec![0xff, 0xfe, 0x00, 0x42, 0x13];
    fake.pubsub().topic.append(vec![ProducerEvent {
        id: "garbage-1".to_owned(),
        schema_id: fake.pubsub().topic.current_schema_id(),
        payload: garbage.clone().into(),
        headers: Vec::new(),
    }]);
    fake.publish(&[message_event(&conversation_name(0), 2)])
        .unwrap();
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    wait_until(
        "the events after the bad one arrive",
        Duration::from_secs(20),
        || partner.distinct_seqs().len() == 3,
    )
    .await;
    wait_until(
        "the bad event is dead-lettered",
        Duration::from_secs(20),
        || pipeline.telemetry.snapshot().events_dead_lettered == 1,
    )
    .await;
    let letters = pipeline.store.list_dead_letters(None, 10).unwrap();
    assert_eq!(letters[0].raw, garbage, "the raw bytes are kept exactly");
    assert!(letters[0].decoded_json.is_none());
    assert!(!letters[0].reason.is_empty());
    pipeline.stop().await;
    let checkpoint = pipeline_checkpoint(&dir.path().join("store.redb"), &fake);
    assert_eq!(
        checkpoint,
        Some(fake.pubsub().topic.latest_id()),
        "the checkpoint passed the bad event"
    );
    fake.shutdown().await;
}

fn pipeline_checkpoint(
    path: &std::path::Path,
    fake: &fake_salesforce::FakeSalesforce,
) -> Option<u64> {
    // The pipeline has stopped, so the file is free at once (see `pipeline::checkpoints`).
    let store =
        byoc_connector::store::Store::open(path, byoc_connector::store::StoreSettings::default())
            .expect("the stopped pipeline released its store");
    stored_checkpoint(&store, fake)
}

/// The value of the sample named `series` (name and labels) in Prometheus text, or 0.
fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
