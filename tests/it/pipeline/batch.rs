//! Batched delivery (`delivery.batch_max_events` > 1) from the fake Salesforce through the
//! pipeline to a real HTTP partner: one POST carries events of several conversations, each
//! event meets its own fate, and order per conversation holds under random answers.
//!
//! The random test prints its seed; set `BYOC_BATCH_SEED` to it to replay the same answers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::batch::{result, BatchAnswer, BatchPartner};
use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Names the environment variable that fixes the random test's seed.
const SEED_VAR: &str = "BYOC_BATCH_SEED";

/// Asserts no request carried two events of one conversation.
fn assert_one_event_per_conversation_per_request(partner: &BatchPartner) {
    for request in partner.requests() {
        let mut conversations = HashSet::new();
        for event in &request.events {
            assert!(
                conversations.insert(event.conversation.clone()),
                "two events of {} in one batch",
                event.conversation
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_carries_several_conversations_and_each_event_meets_its_own_fate() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let refused_once = Mutex::new(false);
    // Slow answers let deliveries queue, so batches form.
    let partner =
        BatchPartner::per_event(Duration::from_millis(30), move |event| match event.seq {
            Some(4) if !std::mem::replace(&mut *refused_once.lock().unwrap(), true) => {
                result(event, 503, serde_json::json!({}))
            }
            Some(7) => result(event, 422, serde_json::json!({"errorCode": "2002"})),
            _ => result(event, 200, serde_json::json!({})),
        })
        .await;
    let dir = ScratchDir::new("batch-fates");
    fake.publish(&numbered_messages(30, 10)).unwrap();
    let pipeline = assemble_pipeline_over(
        &fake,
        &dir.path().join("store.redb"),
        partner.channel(16, None),
        None,
        |_| {},
        None,
    )
    .spawn();

    wait_until(
        "29 delivered and 1 dead-lettered",
        Duration::from_secs(30),
        || {
            let counts = pipeline.telemetry.snapshot();
            counts.events_delivered == 29 && counts.events_dead_lettered == 1
        },
    )
    .await;

    let requests = partner.requests();
    let widest = requests
        .iter()
        .map(|request| {
            request
                .events
                .iter()
                .map(|event| event.conversation.clone())
                .collect::<BTreeSet<_>>()
                .len()
        })
        .max()
        .unwrap_or(0);
    assert!(widest >= 2, "some POST carries several conversations");
    assert_one_event_per_conversation_per_request(&partner);
    let attempts = |seq: u64| {
        requests
            .iter()
            .flat_map(|request| &request.events)
            .filter(|event| event.seq == Some(seq))
            .count()
    };
    assert_eq!(attempts(4), 2, "the retriable event is sent again");
    assert_eq!(attempts(7), 1, "the refused event is not");
    let mut last_by_conversation: BTreeMap<String, u64> = BTreeMap::new();
    for event in requests.iter().flat_map(|request| &request.events) {
        let seq = event.seq.unwrap();
        if let Some(previous) = last_by_conversation.insert(event.conversation.clone(), seq) {
            assert!(
                previous <= seq,
                "{} got {seq} after {previous}",
                event.conversation
            );
        }
    }
    let letters = pipeline.store.list_dead_letters(None, 10).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(letter.reason.contains("422"), "{}", letter.reason);
    assert_eq!(
        letter.attributes.get("status").map(String::as_str),
        Some("422")
    );
    assert!(letter.attributes["response_body_prefix"].contains("2002"));
    assert!(!letter.raw.is_empty(), "the raw bytes are kept");
    assert!(
        letter
            .decoded_json
            .as_deref()
            .is_some_and(|json| json.contains("seq-7")),
        "the letter holds the event's own envelope, not the batch"
    );
    let latest = fake.pubsub().topic.latest_id();
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
async fn order_per_conversation_holds_under_random_batched_answers() {
    let seed = std::env::var(SEED_VAR).map_or_else(
        |_| rand::rng().random(),
        |text| text.trim().parse().expect("the seed is a u64"),
    );
    eprintln!("batch order test seed {seed}; replay with {SEED_VAR}={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let events = 300_u64;
    let conversations = rng.random_range(2..=20_u64);
    let batch_max_events = rng.random_range(2..=16_usize);
    let lanes = rng.random_range(1..=24_usize);
    let assignment: Vec<u64> = (0..events)
        .map(|_| rng.random_range(0..conversations))
        .collect();
    eprintln!("{conversations} conversations, batch_max_events {batch_max_events}, {lanes} lanes");
    // In send order: (conversation, seq, accepted).
    let log: Arc<Mutex<Vec<(String, u64, bool)>>> = Arc::default();
    let answers = Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed));
    let partner_log = log.clone();
    let partner = BatchPartner::start(Arc::new(move |request, _| {
        let mut rng = answers.lock().unwrap();
        let delay = Duration::from_millis(rng.random_range(0..4));
        let whole_failure = rng.random_bool(0.05);
        let mut results = Vec::new();
        let mut log = partner_log.lock().unwrap();
        for event in &request.events {
            let accepted = !whole_failure && rng.random_bool(0.8);
            let status = if accepted { 200 } else { 503 };
            log.push((event.conversation.clone(), event.seq.unwrap(), accepted));
            results.push(result(event, status, serde_json::json!({})));
        }
        if whole_failure {
            return (BatchAnswer::Whole(StatusCode::SERVICE_UNAVAILABLE), delay);
        }
        (BatchAnswer::PerEvent(results), delay)
    }))
    .await;
    let dir = ScratchDir::new("batch-order");
    let published: Vec<_> = (0..events)
        .map(|seq| message_event(&conversation_name(assignment[seq as usize]), seq))
        .collect();
    fake.publish(&published).unwrap();
    let pipeline = assemble_pipeline_over(
        &fake,
        &dir.path().join("store.redb"),
        partner.channel(batch_max_events, None),
        None,
        |settings| {
            settings.max_concurrent_conversations = lanes;
            settings.retry.initial_delay = Duration::from_millis(1);
            settings.retry.max_delay = Duration::from_millis(20);
        },
        None,
    )
    .spawn();

    wait_until("every event is accepted", Duration::from_secs(60), || {
        pipeline.telemetry.snapshot().events_delivered == events
    })
    .await;

    assert_one_event_per_conversation_per_request(&partner);
    // Per conversation, in send order: each event is sent until accepted, then the next one.
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (seq, conversation) in assignment.iter().enumerate() {
        expected
            .entry(conversation_name(*conversation))
            .or_default()
            .push(seq as u64);
    }
    let mut sent: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    for (conversation, seq, accepted) in log.lock().unwrap().iter() {
        sent.entry(conversation.clone())
            .or_default()
            .push((*seq, *accepted));
    }
    for (conversation, seqs) in &expected {
        let attempts = &sent[conversation];
        let mut next = 0;
        for (seq, accepted) in attempts {
            assert_eq!(
                *seq, seqs[next],
                "seed {seed}: {conversation} was sent {seq} while {} was not yet accepted",
                seqs[next]
            );
            if *accepted {
                next += 1;
            }
        }
        assert_eq!(next, seqs.len(), "seed {seed}: {conversation} is complete");
    }
    pipeline.stop().await;
    fake.shutdown().await;
}

/// A large batch's response is read whole: results of about 1 KiB each for 100-odd events
/// pass 64 KiB, and a response cut there would not parse, sending every event again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batchs_results_are_read_whole_and_nothing_is_sent_twice() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let note = "n".repeat(900);
    // Slow answers let deliveries queue, so batches fill up.
    let partner = BatchPartner::per_event(Duration::from_millis(200), move |event| {
        result(event, 200, serde_json::json!({"note": note}))
    })
    .await;
    let dir = ScratchDir::new("batch-large-answer");
    fake.publish(&numbered_messages(600, 200)).unwrap();
    let pipeline = assemble_pipeline_over(
        &fake,
        &dir.path().join("store.redb"),
        partner.channel(200, None),
        None,
        |settings| settings.max_concurrent_conversations = 800,
        None,
    )
    .spawn();

    let latest = fake.pubsub().topic.latest_id();
    wait_until(
        "every event is checkpointed",
        Duration::from_secs(60),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    let requests = partner.requests();
    let largest = requests.iter().map(|request| request.events.len()).max();
    assert!(
        largest.is_some_and(|events| events > 70),
        "a batch answered with over 64 KiB of results: {largest:?}"
    );
    let sent = requests
        .iter()
        .map(|request| request.events.len())
        .sum::<usize>();
    assert_eq!(sent, 600, "each event sent once");
    pipeline.stop().await;
    fake.shutdown().await;
}
