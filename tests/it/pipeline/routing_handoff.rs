//! A RoutingRequested is checkpointed only once routing says its request is durably recorded:
//! while the hand-off is pending, later messages are delivered but the checkpoint stays
//! before the routing event, so a crash then replays it. And a RoutingRequested keeps its Pub/Sub
//! credit until then, whatever the pipeline prefetches for messages. A hand-off that panics
//! dead-letters its event rather than holding the checkpoint back for good.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use byoc_connector::events::{DecodedEvent, InteractionEvent};
use byoc_connector::pipeline::{PipelineSettings, RoutingSink, RoutingSinkError};
use bytes::Bytes;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use tokio::sync::Semaphore;

/// A routing sink that takes a request only when the test lets it.
struct GatedSink {
    gate: Arc<Semaphore>,
    handed: AtomicUsize,
}

impl RoutingSink for GatedSink {
    fn on_routing_requested(
        &self,
        _event: DecodedEvent,
        _webhook_body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<(), RoutingSinkError>> + Send + '_>> {
        Box::pin(async move {
            self.handed.fetch_add(1, Ordering::SeqCst);
            let permit = self.gate.acquire().await;
            drop(permit);
            Ok(())
        })
    }

    fn observe(&self, _event: &InteractionEvent) {}
}

/// A pipeline whose routing requests go to a closed [`GatedSink`], and that sink.
fn start_gated(
    fake: &FakeSalesforce,
    dir: &ScratchDir,
    partner: &Partner,
    tweak: impl FnOnce(&mut PipelineSettings),
) -> (Arc<GatedSink>, RunningPipeline) {
    let sink = Arc::new(GatedSink {
        gate: Arc::new(Semaphore::new(0)),
        handed: AtomicUsize::new(0),
    });
    let pipeline = start_with_sink(fake, dir, partner, tweak, sink.clone());
    (sink, pipeline)
}

/// A pipeline whose routing requests go to `sink`.
fn start_with_sink(
    fake: &FakeSalesforce,
    dir: &ScratchDir,
    partner: &Partner,
    tweak: impl FnOnce(&mut PipelineSettings),
    sink: Arc<dyn RoutingSink>,
) -> RunningPipeline {
    assemble_routed_pipeline(
        fake,
        &dir.path().join("store.redb"),
        &partner.url,
        None,
        None,
        tweak,
        Some(sink),
    )
    .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_waits_for_routing_to_record_the_request_while_messages_flow_past() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("routing-handoff");
    fake.publish(&numbered_messages(1, 1)).unwrap();
    let before_routing = fake.pubsub().topic.latest_id();
    let payload = routing_request_payload(
        "queue",
        "0a0a0a0a-0000-4000-8000-000000000001",
        "e0e0e0e0-0000-4000-8000-000000000001",
    );
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let later: Vec<_> = (1..5).map(|seq| message_event("later", seq)).collect();
    fake.publish(&later).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let (sink, pipeline) = start_gated(&fake, &dir, &partner, |_| {});

    wait_until(
        "every message is delivered and the request handed over",
        Duration::from_secs(10),
        || partner.received().len() == 5 && sink.handed.load(Ordering::SeqCst) == 1,
    )
    .await;
    // Longer than the checkpoint writer's batch delay: whatever it may commit, it has.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stored_checkpoint(&pipeline.store, &fake),
        Some(before_routing),
        "the checkpoint must stop before the routing request routing has not recorded"
    );

    sink.gate.add_permits(1);
    wait_until(
        "the checkpoint passes the routing request once it is recorded",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_requests_keep_their_credit_until_routing_records_them_whatever_the_prefetch() {
    const REQUESTS: u64 = 250;
    const CREDIT_WINDOW: u64 = 100;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("routing-credit");
    let events: Vec<_> = (1..=REQUESTS)
        .map(|n| {
            let payload = routing_request_payload(
                "queue",
                &format!("0a0a0a0a-0000-4000-8000-{n:012}"),
                &format!("e0e0e0e0-0000-4000-8000-{n:012}"),
            );
            routing_requested_event(&payload, epoch_ms())
        })
        .collect();
    fake.publish(&events).unwrap();
    // Far more than the burst: messages would all be taken in at once.
    let (sink, pipeline) = start_gated(&fake, &dir, &partner, |settings| {
        settings.prefetch_events = 1_000;
    });

    wait_until(
        "a credit window of requests is handed over",
        Duration::from_secs(10),
        || sink.handed.load(Ordering::SeqCst) as u64 == CREDIT_WINDOW,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pipeline.telemetry.snapshot().events_received,
        CREDIT_WINDOW,
        "requests routing has not recorded hold their credit"
    );

    sink.gate.add_permits(usize::try_from(REQUESTS).unwrap());
    wait_until(
        "every request is handed over once recorded ones free their credit",
        Duration::from_secs(10),
        || sink.handed.load(Ordering::SeqCst) as u64 == REQUESTS,
    )
    .await;
    pipeline.stop().await;
    fake.shutdown().await;
}

/// A routing sink with a bug: it panics on every request.
struct PanickingSink;

impl RoutingSink for PanickingSink {
    fn on_routing_requested(
        &self,
        _event: DecodedEvent,
        _webhook_body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<(), RoutingSinkError>> + Send + '_>> {
        Box::pin(async { panic!("a bug in the routing sink") })
    }

    fn observe(&self, _event: &InteractionEvent) {}
}

// An event whose handling panics must not stay incomplete: the checkpoint would stop there for
// good and intake would pause once the lag bound was reached, while readiness still said ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_handling_panics_is_dead_lettered_and_the_checkpoint_moves_past_it() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("routing-panic");
    let payload = routing_request_payload(
        "queue",
        "0a0a0a0a-0000-4000-8000-000000000009",
        "e0e0e0e0-0000-4000-8000-000000000009",
    );
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let request_replay_id = fake.pubsub().topic.latest_id();
    fake.publish(&numbered_messages(3, 3)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let pipeline = start_with_sink(&fake, &dir, &partner, |_| {}, Arc::new(PanickingSink));

    wait_until(
        "the checkpoint passes the event whose handling panicked",
        Duration::from_secs(10),
        || stored_checkpoint(&pipeline.store, &fake) == Some(latest),
    )
    .await;
    let letters = pipeline.store.list_dead_letters(None, 10).unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.replay_id, request_replay_id.to_be_bytes());
    assert!(!letter.raw.is_empty(), "the raw bytes are kept");
    assert!(
        letter.reason.contains("panicked") && letter.reason.contains("a bug in the routing sink"),
        "the reason says what happened: {}",
        letter.reason
    );
    assert_eq!(
        partner.received().len(),
        3,
        "the messages after it are delivered"
    );
    pipeline.stop().await;
    fake.shutdown().await;
}
