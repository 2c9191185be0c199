//! `bench pubsub`: subscribe + decode throughput against the fake on loopback.
//!
//! The fake's log is filled first, then one subscriber reads it from EARLIEST, decoding
//! every event with its writer schema and acknowledging it at once, as a fast consumer
//! would, or after `ack_delay`, as a slow partner would. With `latency`, every server
//! response is delayed, and the figure is compared with the flow-control ceiling of
//! `window / latency`. The `FetchRequest`s the subscriber sent are counted too: flow
//! control should cost one per quarter window, fast consumer or slow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::pubsub::{FetchRequestObserver, Subscriber, SubscriberItem};
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct PubSubBenchReport {
    /// Events consumed.
    pub events: u64,
    /// Wall time from the first event to the last.
    pub elapsed: Duration,
    /// Added latency per server response.
    pub latency: Duration,
    /// Credit window used.
    pub window: u32,
    /// How long the consumer took over each event before acknowledging it.
    pub ack_delay: Duration,
    /// `FetchRequest`s the subscriber sent, the first one included.
    pub fetch_requests: u64,
}

impl PubSubBenchReport {
    /// Events per second.
    pub(crate) fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// `FetchRequest`s sent per event consumed.
    pub(crate) fn fetch_requests_per_event(&self) -> f64 {
        self.fetch_requests as f64 / self.events.max(1) as f64
    }
}

impl std::fmt::Display for PubSubBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pubsub subscribe+decode: {} events in {:.3} s = {:.0} events/s",
            self.events,
            self.elapsed.as_secs_f64(),
            self.events_per_second()
        )?;
        if !self.latency.is_zero() {
            let ceiling = f64::from(self.window) / self.latency.as_secs_f64();
            write!(
                f,
                " (latency {} ms per response; flow-control ceiling {:.0} events/s; {:.1}% of it)",
                self.latency.as_millis(),
                ceiling,
                100.0 * self.events_per_second() / ceiling
            )?;
        }
        if !self.ack_delay.is_zero() {
            write!(f, " (ack delay {} ms)", self.ack_delay.as_millis())?;
        }
        write!(
            f,
            "; {} fetch requests = {:.4} per event",
            self.fetch_requests,
            self.fetch_requests_per_event()
        )
    }
}

/// The record the bench decodes each event into.
#[derive(Debug, serde::Deserialize)]
#[allow(non_snake_case, dead_code)]
struct BenchRecord {
    CreatedDate: i64,
    CreatedById: String,
    EventUuid: Option<String>,
    EventType__c: Option<String>,
    Payload__c: Option<String>,
}

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The fake did not start.
    #[error(transparent)]
    Harness(#[from] fake_salesforce::HarnessError),
    /// Publishing failed.
    #[error(transparent)]
    Encode(#[from] fake_salesforce::avro::EncodeError),
    /// The subscriber did not start.
    #[error(transparent)]
    Subscriber(#[from] crate::pubsub::SubscriberError),
    /// An event failed to decode.
    #[error(transparent)]
    Decode(#[from] crate::pubsub::AvroDecodeError),
    /// The stream ended early.
    #[error("the subscription ended after {0} events")]
    Ended(u64),
}

/// Runs the scenario with `events` events, `latency` per response and `ack_delay` per event
/// in the consumer.
pub async fn run(
    events: u64,
    latency: Duration,
    ack_delay: Duration,
) -> Result<PubSubBenchReport, BenchError> {
    let fake = FakeSalesforce::start(FakeConfig::default()).await?;
    let payload = super::sample_text_message_payload(1);
    let batch: Vec<NewEvent> = (0..1000)
        .map(|_| NewEvent {
            event_type: Some("Interaction".to_owned()),
            payload: Some(payload.clone()),
            ..NewEvent::default()
        })
        .collect();
    let mut published = 0;
    while published < events {
        let count =
            usize::try_from(events - published).map_or(batch.len(), |left| left.min(batch.len()));
        fake.publish(&batch[..count])?;
        published += count as u64;
    }
    fake.apply_faults(&FaultRequest {
        latency_ms: Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
        ..FaultRequest::default()
    });
    let (mut config, credentials) = super::earliest_subscription(&fake);
    let window = config.credit_window;
    let fetch_requests = Arc::new(AtomicU64::new(0));
    let counted = fetch_requests.clone();
    config.on_fetch_request = FetchRequestObserver::new(move |_credit| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    let shutdown = CancellationToken::new();
    let mut subscriber = Subscriber::spawn(
        config,
        credentials,
        crate::telemetry::Telemetry::new(),
        shutdown.clone(),
    )?;
    let acks = subscriber.acks();
    let mut received = 0;
    // Timed from the first event: connecting, GetTopic and GetSchema (each also delayed by the
    // injected latency) are start-up, not the steady-state rate this scenario measures.
    let mut started = None;
    while received < events {
        match subscriber.next().await {
            Some(SubscriberItem::Event(event)) => {
                started.get_or_insert_with(Instant::now);
                let record: BenchRecord = event.decode()?;
                std::hint::black_box(record);
                if !ack_delay.is_zero() {
                    tokio::time::sleep(ack_delay).await;
                }
                acks.ack(&event.replay_id);
                received += 1;
            }
            Some(_) => {}
            None => return Err(BenchError::Ended(received)),
        }
    }
    let elapsed = started.map(|started| started.elapsed()).unwrap_or_default();
    // Read before stopping: only the requests that served these events count, not the
    // last window's top-ups sent after the final acknowledgement.
    let fetch_requests = fetch_requests.load(Ordering::Relaxed);
    shutdown.cancel();
    // The subscriber stops on cancellation; its result does not change the figures.
    let _ = subscriber.join().await;
    fake.shutdown().await;
    Ok(PubSubBenchReport {
        events: received,
        elapsed,
        latency,
        window,
        ack_delay,
        fetch_requests,
    })
}
