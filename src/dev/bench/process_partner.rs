//! The webhook partner of `bench process`: an axum server inside the bench process that
//! accepts every delivery, single or batched, and notes when each event arrived.
//!
//! It reads no JSON: it finds each event's sequence number in the entry id the bench wrote
//! (`text_message_payload` puts it there) and, for a batch, each `idempotencyKey` it must
//! answer. Arrival times share the bench's clock with the publish times, so publish → partner
//! latency needs no clock sync. It knows the bench's payloads, not the connector.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;

use crate::channel::BATCH_SIZE_HEADER;

/// What the entry id of a bench message starts with; its last 12 digits are the sequence.
const ENTRY_ID_PREFIX: &[u8] = b"56e10dce-0000-4000-8000-";
/// Where each event of a batch body starts.
const BATCH_ITEM: &[u8] = b"{\"idempotencyKey\":\"";

/// What the partner saw.
#[derive(Debug, Default)]
pub(crate) struct PartnerLog {
    /// Events received, retries included.
    pub events: AtomicU64,
    /// Requests received.
    pub requests: AtomicU64,
    /// First arrival of each sequence number.
    pub arrivals: Mutex<HashMap<u64, Instant>>,
    /// First and last arrival of any event.
    pub span: Mutex<Option<(Instant, Instant)>>,
}

impl PartnerLog {
    fn arrived(&self, sequences: &[u64]) {
        let now = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.events
            .fetch_add(sequences.len() as u64, Ordering::Relaxed);
        if let Ok(mut arrivals) = self.arrivals.lock() {
            for sequence in sequences {
                arrivals.entry(*sequence).or_insert(now);
            }
        }
        if let Ok(mut span) = self.span.lock() {
            let first = span.map_or(now, |(first, _)| first);
            *span = Some((first, now));
        }
    }

    /// Publish → first arrival of every sequence in `published`, sorted.
    pub(crate) fn latencies(&self, published: &HashMap<u64, Instant>) -> Vec<Duration> {
        let Ok(arrivals) = self.arrivals.lock() else {
            return Vec::new();
        };
        let mut latencies: Vec<Duration> = published
            .iter()
            .filter_map(|(sequence, at)| {
                Some(arrivals.get(sequence)?.saturating_duration_since(*at))
            })
            .collect();
        latencies.sort_unstable();
        latencies
    }
}

/// Starts the partner on a loopback port; returns its URL.
pub(crate) async fn start(log: Arc<PartnerLog>) -> super::BenchResult<String> {
    let app = Router::new().route("/hook", post(receive)).with_state(log);
    let address = super::serve_loopback(app).await?;
    Ok(format!("http://{address}/hook"))
}

async fn receive(State(log): State<Arc<PartnerLog>>, headers: HeaderMap, body: Bytes) -> Response {
    if !headers.contains_key(BATCH_SIZE_HEADER) {
        let sequence = sequence_in(&body);
        log.arrived(sequence.as_slice());
        return StatusCode::OK.into_response();
    }
    let mut sequences = Vec::new();
    let mut answer = String::from("{\"results\":[");
    for (index, item) in split_items(&body).enumerate() {
        let key_end = item.iter().position(|byte| *byte == b'"').unwrap_or(0);
        let key = std::str::from_utf8(&item[..key_end]).unwrap_or_default();
        if index > 0 {
            answer.push(',');
        }
        answer.push_str("{\"idempotencyKey\":\"");
        answer.push_str(key);
        answer.push_str("\",\"status\":200}");
        sequences.extend(sequence_in(item));
    }
    answer.push_str("]}");
    log.arrived(&sequences);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}

/// The parts of a batch body after each item's opening, key first.
fn split_items(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let start = find(rest, BATCH_ITEM)? + BATCH_ITEM.len();
        rest = &rest[start..];
        let end = find(rest, BATCH_ITEM).unwrap_or(rest.len());
        let item = &rest[..end];
        rest = &rest[end..];
        Some(item)
    })
}

/// The sequence number in the first bench entry id of `bytes`.
fn sequence_in(bytes: &[u8]) -> Option<u64> {
    let start = find(bytes, ENTRY_ID_PREFIX)? + ENTRY_ID_PREFIX.len();
    let digits = bytes.get(start..start + 12)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // memmem rather than a compare at every position: the partner shares the cores with the
    // connector and the fake, so whatever it spends comes out of their figures.
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_yields_each_key_and_sequence() {
        let body = br#"{"events":[{"idempotencyKey":"k1","type":"t","event":{"id":"56e10dce-0000-4000-8000-000000000007"}},{"idempotencyKey":"k2","type":"t","event":{"id":"56e10dce-0000-4000-8000-000000000042"}}]}"#;
        let items: Vec<&[u8]> = split_items(body).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].starts_with(b"k1\""));
        assert_eq!(sequence_in(items[0]), Some(7));
        assert_eq!(sequence_in(items[1]), Some(42));
    }
}
