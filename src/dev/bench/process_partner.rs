//! The webhook partner of `bench process`: an axum server inside the bench process that
//! accepts every delivery, single or batched, and notes when each event arrived.
//!
//! It reads no JSON: it finds each event's sequence number in the entry id the bench wrote
//! (`text_message_payload` puts it there) and, for a batch, each `idempotencyKey` it must
//! answer. Arrival times share the bench's clock with the publish times, so publish → partner
//! latency needs no clock sync. It knows the bench's payloads, not the connector.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
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
    pub arrivals: Mutex<Arrivals>,
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
                arrivals.note(*sequence, now);
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
                Some(arrivals.first(*sequence)?.saturating_duration_since(*at))
            })
            .collect();
        latencies.sort_unstable();
        latencies
    }
}

/// The first arrival of each sequence number, indexed by it: the bench numbers its events
/// from zero, so a vector is a map without hashing or rehashing on the partner's hot path.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    first: Vec<Option<Instant>>,
    count: usize,
}

impl Arrivals {
    /// Sequence numbers beyond this are not the bench's and are not kept.
    const MAX_SEQUENCE: u64 = 1 << 32;

    /// Notes `sequence` arriving `at`, unless it arrived before.
    fn note(&mut self, sequence: u64, at: Instant) {
        let Ok(index) = usize::try_from(sequence) else {
            return;
        };
        if sequence >= Self::MAX_SEQUENCE {
            return;
        }
        if index >= self.first.len() {
            self.first.resize(index + 1, None);
        }
        if self.first[index].is_none() {
            self.first[index] = Some(at);
            self.count += 1;
        }
    }

    /// When `sequence` first arrived.
    pub(crate) fn first(&self, sequence: u64) -> Option<Instant> {
        let index = usize::try_from(sequence).ok()?;
        *self.first.get(index)?
    }

    /// How many distinct sequence numbers arrived.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Every sequence number that arrived, with its first arrival.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, Instant)> + '_ {
        self.first
            .iter()
            .enumerate()
            .filter_map(|(index, at)| Some((index as u64, (*at)?)))
    }
}

/// Starts the partner on a loopback port; returns its URL.
pub(crate) async fn start(log: Arc<PartnerLog>) -> super::BenchResult<String> {
    let app = Router::new().route("/hook", post(receive)).with_state(log);
    let address = super::serve_loopback(app).await?;
    Ok(format!("http://{address}/hook"))
}

/// Starts the partner on a runtime of its own with `workers` tokio worker threads, for the rest
/// of the process; returns its URL. Like a partner on another machine, it then takes only the
/// CPU its requests cost, not a worker per CPU beside the connector's.
pub(crate) async fn start_apart(
    log: Arc<PartnerLog>,
    workers: usize,
) -> super::BenchResult<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("bench-partner")
        .enable_all()
        .build()?;
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-partner-host".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let _ = url_tx.send(start(log).await.map_err(|error| error.to_string()));
                // The server runs on the workers until the process exits.
                std::future::pending::<()>().await;
            });
        })?;
    Ok(url_rx
        .await
        .map_err(|_| "the partner's runtime stopped before it served")??)
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
        let start = find(rest, Needle::BatchItem)? + BATCH_ITEM.len();
        rest = &rest[start..];
        let end = find(rest, Needle::BatchItem).unwrap_or(rest.len());
        let item = &rest[..end];
        rest = &rest[end..];
        Some(item)
    })
}

/// The sequence number in the first bench entry id of `bytes`.
fn sequence_in(bytes: &[u8]) -> Option<u64> {
    let start = find(bytes, Needle::EntryId)? + ENTRY_ID_PREFIX.len();
    let digits = bytes.get(start..start + 12)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Finds what `needle` is for in `haystack`.
// memmem rather than a compare at every position, with its searchers built once rather than
// on every call: the partner shares the cores with the connector and the fake, so whatever
// it spends comes out of their figures.
fn find(haystack: &[u8], needle: Needle) -> Option<usize> {
    static ENTRY_ID: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(ENTRY_ID_PREFIX));
    static ITEM: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(BATCH_ITEM));
    match needle {
        Needle::EntryId => ENTRY_ID.find(haystack),
        Needle::BatchItem => ITEM.find(haystack),
    }
}

/// What [`find`] looks for.
#[derive(Clone, Copy)]
enum Needle {
    /// [`ENTRY_ID_PREFIX`].
    EntryId,
    /// [`BATCH_ITEM`].
    BatchItem,
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

    #[test]
    fn a_partner_apart_outlives_the_runtime_that_started_it() {
        let log = Arc::new(PartnerLog::default());
        let starter = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = starter
            .block_on(start_apart(log.clone(), 1))
            .expect("partner");
        drop(starter);
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let status = caller.block_on(async {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client")
                .post(&url)
                .body(r#"{"entry":{"id":"56e10dce-0000-4000-8000-000000000005"}}"#)
                .send()
                .await
                .expect("the partner answers")
                .status()
        });
        assert_eq!(status, StatusCode::OK);
        assert_eq!(log.events.load(Ordering::Relaxed), 1);
        assert!(log.arrivals.lock().expect("arrivals").first(5).is_some());
    }

    #[test]
    fn arrivals_keep_each_sequences_first_arrival() {
        let mut arrivals = Arrivals::default();
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_millis(5));
        arrivals.note(3, early);
        arrivals.note(3, late);
        arrivals.note(0, late);
        arrivals.note(Arrivals::MAX_SEQUENCE, late);
        assert_eq!(arrivals.len(), 2);
        assert_eq!(arrivals.first(3), Some(early));
        assert_eq!(arrivals.first(1), None);
        assert_eq!(arrivals.first(Arrivals::MAX_SEQUENCE), None);
        assert_eq!(
            arrivals.iter().collect::<Vec<_>>(),
            vec![(0, late), (3, early)]
        );
    }
}
