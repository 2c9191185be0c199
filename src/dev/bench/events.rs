//! Micro-benchmark of the event hot path: Avro bytes → `OutboundEvent` → webhook
//! body JSON bytes, on the calling thread. Its target is ≥ 300,000 Text-message events/s
//! on one core (docs/benchmarks.md), well above the end-to-end target, so decoding never
//! limits the pipeline.
//!
//! It takes already-encoded Avro bytes and the schema JSON, so it needs no Avro
//! writer of its own; the CLI builds them with the harness's writer from
//! `SAMPLE_TEXT_MESSAGE_PAYLOAD`. Knows the `events` API only.

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::events::{decode_event, DecodeError, EventContext, FieldNames};

/// A realistic outbound Text message, as the payload field carries it.
pub(crate) const SAMPLE_TEXT_MESSAGE_PAYLOAD: &str = concat!(
    r#"{"conversationIdentifier":"9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09","#,
    r#""channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a","#,
    r#""recipient":{"appType":"custom","subject":"end-user-7f3a2c","role":"EndUser"},"#,
    r#""payload":{"senderDisplayName":"John Dow","identifier":"56e10dce-5fd4-4e2c-9a47-0c2f4a1b2c3d","#,
    r#""entryType":"Message","entryPayload":{"entryType":"Message","#,
    r#""id":"56e10dce-5fd4-4e2c-9a47-0c2f4a1b2c3d","abstractMessage":{"#,
    r#""messageType":"StaticContentMessage","id":"7a1d0c3e-11f2-4b7a-9c1e-2f3a4b5c6d7e","#,
    r#""staticContent":{"formatType":"Text","text":"Hi, thanks for waiting! I can see your order #4521 ships today."}},"#,
    r#""messageReason":null},"sender":{"appType":"agent","subject":"005xx0000012345","role":"Agent"},"#,
    r#""transcriptedTimestamp":1690344475508,"clientTimestamp":1690344475409,"clientDuration":0}}"#
);

/// A sample Text message as the fake publishes it: its Avro bytes and writer schema JSON.
pub(crate) fn sample_text_message() -> super::BenchResult<(Vec<u8>, String)> {
    use fake_salesforce::avro::{EventSchemaSpec, EventWriter, PlatformEventFields};
    let writer = EventWriter::new(EventSchemaSpec::default())?;
    let avro_bytes = writer.encode(&PlatformEventFields {
        created_date_ms: 1_690_344_475_579,
        created_by_id: "005000000000001AAA",
        event_uuid: Some("5f0c7e5e-8d4b-4f6e-9b8e-2f1d4c3b2a10"),
        event_type: Some("Interaction"),
        payload: Some(SAMPLE_TEXT_MESSAGE_PAYLOAD),
    })?;
    Ok((avro_bytes, writer.spec().schema_json()))
}

/// Mean nanoseconds per event of this benchmark's work over `iterations` sample messages on
/// the calling thread: the same work every time, so a gauge of how fast the shared host runs
/// at the moment.
pub(crate) fn host_gauge_ns(iterations: u64) -> super::BenchResult<f64> {
    let (avro_bytes, schema_json) = sample_text_message()?;
    Ok(run(&avro_bytes, &schema_json, iterations)?.ns_per_event)
}

/// Iterations run before timing, to warm caches and the allocator.
const WARMUP_ITERATIONS: u64 = 1_000;

/// Events per timed batch; the best batch shows the speed of an uncontended core on
/// a shared machine, the mean shows what this run actually got.
const BATCH_EVENTS: u64 = 10_000;

/// The replay id used for every benchmark event (8-byte, like the fake Pub/Sub's).
const BENCH_REPLAY_ID: [u8; 8] = [0, 0, 0, 0, 0, 0x22, 0xc4, 0x5b];

/// What one benchmark run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Events decoded and turned into webhook bodies.
    pub iterations: u64,
    /// Wall-clock time of the timed loop.
    pub elapsed: Duration,
    /// Throughput on this thread.
    pub events_per_sec: f64,
    /// Mean time per event.
    pub ns_per_event: f64,
    /// Throughput of the fastest batch of `BATCH_EVENTS` events.
    pub best_batch_events_per_sec: f64,
    /// Size of one webhook body, for context.
    pub body_bytes: usize,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} events in {:.3} s: {:.0} events/s, {:.0} ns/event, best batch {:.0} events/s (avro → OutboundEvent → {} byte webhook body, one thread)",
            self.iterations,
            self.elapsed.as_secs_f64(),
            self.events_per_sec,
            self.ns_per_event,
            self.best_batch_events_per_sec,
            self.body_bytes
        )
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The schema JSON is not a valid Avro schema.
    #[error("invalid avro schema: {0}")]
    InvalidSchema(String),
    /// The sample event does not decode.
    #[error("sample event does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// Zero iterations were asked for.
    #[error("iterations must be at least 1")]
    NoIterations,
}

/// Decodes `avro_bytes` (written with `schema_json` and the default field names) and
/// writes its webhook body, `iterations` times, and reports the rate.
pub fn run(
    avro_bytes: &[u8],
    schema_json: &str,
    iterations: u64,
) -> Result<BenchReport, BenchError> {
    if iterations == 0 {
        return Err(BenchError::NoIterations);
    }
    let schema: serde_avro_fast::Schema =
        schema_json
            .parse()
            .map_err(|error: serde_avro_fast::schema::SchemaError| {
                BenchError::InvalidSchema(error.to_string())
            })?;
    let fields = FieldNames::default();
    let context = EventContext {
        replay_id: &BENCH_REPLAY_ID,
        producer_event_id: "bench-producer-event",
    };
    let mut body = Vec::new();
    let one_event = |body: &mut Vec<u8>| -> Result<(), DecodeError> {
        let decoded = decode_event(black_box(avro_bytes), &schema, &fields, &context)?;
        body.clear();
        decoded.write_webhook_body(body);
        black_box(&body);
        Ok(())
    };
    for _ in 0..WARMUP_ITERATIONS.min(iterations) {
        one_event(&mut body)?;
    }
    let body_bytes = body.len();
    let mut best_batch_events_per_sec: f64 = 0.0;
    let mut remaining = iterations;
    let started = Instant::now();
    while remaining > 0 {
        let batch = remaining.min(BATCH_EVENTS);
        let batch_started = Instant::now();
        for _ in 0..batch {
            one_event(&mut body)?;
        }
        let batch_seconds = batch_started.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
        best_batch_events_per_sec = best_batch_events_per_sec.max(batch as f64 / batch_seconds);
        remaining -= batch;
    }
    let elapsed = started.elapsed();
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(BenchReport {
        iterations,
        elapsed,
        events_per_sec: iterations as f64 / seconds,
        ns_per_event: seconds * 1e9 / iterations as f64,
        best_batch_events_per_sec,
        body_bytes,
    })
}
