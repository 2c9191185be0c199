//! The fake topic: an append-only event log with replay ids, retention and schemas.
//!
//! Replay ids are consecutive integers from [`FIRST_REPLAY_ID`], sent as 8-byte
//! big-endian values like Salesforce's. Retention is a time window plus an explicit
//! "expired through" mark tests can set; positions outside it are refused as corrupted.
//! It knows nothing about streams or sessions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::avro::{EncodeError, EventSchemaSpec, EventWriter, PlatformEventFields};
use crate::proto::{ConsumerEvent, ProducerEvent};

/// The first replay id the fake hands out; far from zero so no client can confuse an
/// id with an index.
pub const FIRST_REPLAY_ID: u64 = 1_000_001;

/// One stored event.
#[derive(Debug, Clone)]
struct StoredEvent {
    event: ProducerEvent,
    published_at: Instant,
}

/// Why a position cannot be subscribed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PositionError {
    /// Not 8 bytes, unknown, or outside retention.
    Corrupted,
}

/// The fake topic.
#[derive(Debug)]
pub struct TopicLog {
    topic_name: String,
    inner: Mutex<TopicInner>,
    /// Latest replay id; changes on every append, so idle sessions wake up.
    latest: watch::Sender<u64>,
}

#[derive(Debug)]
struct TopicInner {
    events: Vec<StoredEvent>,
    retention: Duration,
    /// Ids at or below this are treated as outside retention.
    expired_through: u64,
    /// Every schema the topic ever had, by id.
    schemas: HashMap<String, String>,
    current_schema_id: String,
    writer: EventWriter,
}

/// A decoded-form event to publish through the fake's own writer.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    /// Event-type field value.
    pub event_type: Option<String>,
    /// Payload field value (a JSON string in BYOC).
    pub payload: Option<String>,
    /// Epoch ms; now when absent.
    pub created_date: Option<i64>,
    /// `EventUuid`; a fresh UUID when absent.
    pub event_uuid: Option<String>,
    /// Publishing user; a fixed automated-process user when absent.
    pub created_by_id: Option<String>,
}

/// Publishing user id used when none is given.
const DEFAULT_CREATED_BY_ID: &str = "005000000000001AAA";

impl TopicLog {
    /// An empty topic with `spec`'s schema and `retention`.
    pub fn new(spec: EventSchemaSpec, retention: Duration) -> Result<Self, EncodeError> {
        let topic_name = format!("/event/{}", spec.event_name);
        let writer = EventWriter::new(spec)?;
        let schema_json = writer.spec().schema_json();
        let schema_id = schema_id_for(&schema_json);
        let inner = TopicInner {
            events: Vec::new(),
            retention,
            expired_through: 0,
            schemas: HashMap::from([(schema_id.clone(), schema_json)]),
            current_schema_id: schema_id,
            writer,
        };
        Ok(Self {
            topic_name,
            inner: Mutex::new(inner),
            latest: watch::Sender::new(FIRST_REPLAY_ID - 1),
        })
    }

    /// `/event/<Name>__e`.
    pub fn topic_name(&self) -> &str {
        &self.topic_name
    }

    /// The id of the schema new events are written with.
    pub fn current_schema_id(&self) -> String {
        self.lock().current_schema_id.clone()
    }

    /// The schema JSON for `schema_id`, if the topic ever had it.
    pub fn schema_json(&self, schema_id: &str) -> Option<String> {
        self.lock().schemas.get(schema_id).cloned()
    }

    /// Changes the topic's schema (as editing the platform event does); returns its id.
    pub fn change_schema(&self, spec: EventSchemaSpec) -> Result<String, EncodeError> {
        let writer = EventWriter::new(spec)?;
        let schema_json = writer.spec().schema_json();
        let schema_id = schema_id_for(&schema_json);
        let mut inner = self.lock();
        inner.schemas.insert(schema_id.clone(), schema_json);
        inner.current_schema_id.clone_from(&schema_id);
        inner.writer = writer;
        Ok(schema_id)
    }

    /// The names of the current schema.
    pub fn current_spec(&self) -> EventSchemaSpec {
        self.lock().writer.spec().clone()
    }

    /// Encodes `events` with the current schema and appends them; returns their replay ids.
    pub fn publish(&self, events: &[NewEvent]) -> Result<Vec<u64>, EncodeError> {
        let now_ms = wall_clock_ms();
        let mut encoded = Vec::with_capacity(events.len());
        {
            let inner = self.lock();
            for new_event in events {
                let event_uuid = new_event
                    .event_uuid
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let fields = PlatformEventFields {
                    created_date_ms: new_event.created_date.unwrap_or(now_ms),
                    created_by_id: new_event
                        .created_by_id
                        .as_deref()
                        .unwrap_or(DEFAULT_CREATED_BY_ID),
                    event_uuid: Some(&event_uuid),
                    event_type: new_event.event_type.as_deref(),
                    payload: new_event.payload.as_deref(),
                };
                encoded.push(ProducerEvent {
                    id: uuid::Uuid::new_v4().to_string(),
                    schema_id: inner.current_schema_id.clone(),
                    payload: Bytes::from(inner.writer.encode(&fields)?),
                    headers: Vec::new(),
                });
            }
        }
        Ok(self.append(encoded))
    }

    /// Appends already-encoded events as they are (the server does not validate payloads).
    pub fn append(&self, events: Vec<ProducerEvent>) -> Vec<u64> {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            ids.push(FIRST_REPLAY_ID + inner.events.len() as u64);
            inner.events.push(StoredEvent {
                event,
                published_at: now,
            });
        }
        let latest = FIRST_REPLAY_ID + inner.events.len() as u64 - 1;
        drop(inner);
        self.latest.send_replace(latest);
        ids
    }

    /// The newest replay id (one before [`FIRST_REPLAY_ID`] when empty).
    pub fn latest_id(&self) -> u64 {
        *self.latest.borrow()
    }

    /// A receiver that changes on every append.
    pub fn watch_latest(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Marks every id up to `replay_id` as outside retention.
    pub fn expire_through(&self, replay_id: u64) {
        let mut inner = self.lock();
        inner.expired_through = inner.expired_through.max(replay_id);
    }

    /// The first id of a subscription starting at `position` (`None` = LATEST,
    /// `Some(None)` = EARLIEST, `Some(Some(bytes))` = CUSTOM, exclusive).
    pub fn first_id_after(&self, position: StartPosition<'_>) -> Result<u64, PositionError> {
        let inner = self.lock();
        let latest = FIRST_REPLAY_ID + inner.events.len() as u64 - 1;
        let oldest_retained = inner.oldest_retained_id();
        match position {
            StartPosition::Latest => Ok(latest + 1),
            StartPosition::Earliest => Ok(oldest_retained),
            StartPosition::After(bytes) => {
                let array: [u8; 8] = bytes.try_into().map_err(|_| PositionError::Corrupted)?;
                let after = u64::from_be_bytes(array);
                if after + 1 < oldest_retained || after > latest {
                    return Err(PositionError::Corrupted);
                }
                Ok(after + 1)
            }
        }
    }

    /// Up to `max` events from `first_id` on, as consumer events.
    pub fn read_from(&self, first_id: u64, max: usize) -> Vec<ConsumerEvent> {
        let inner = self.lock();
        let start = usize::try_from(first_id.saturating_sub(FIRST_REPLAY_ID)).unwrap_or(usize::MAX);
        inner
            .events
            .iter()
            .enumerate()
            .skip(start)
            .take(max)
            .map(|(index, stored)| ConsumerEvent {
                event: Some(stored.event.clone()),
                replay_id: Bytes::copy_from_slice(&(FIRST_REPLAY_ID + index as u64).to_be_bytes()),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, TopicInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a subscription starts, from its first `FetchRequest`.
#[derive(Debug, Clone, Copy)]
pub enum StartPosition<'a> {
    /// The tip.
    Latest,
    /// The oldest retained event.
    Earliest,
    /// After these replay-id bytes.
    After(&'a [u8]),
}

impl TopicInner {
    fn oldest_retained_id(&self) -> u64 {
        let now = Instant::now();
        let first_in_window = self
            .events
            .partition_point(|stored| stored.published_at + self.retention <= now);
        (FIRST_REPLAY_ID + first_in_window as u64).max(self.expired_through + 1)
    }
}

/// A stable id for a schema, like Salesforce's fingerprint ids (FNV-1a, hex).
fn schema_id_for(schema_json: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema_json.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Now as epoch milliseconds (wall clock, as Salesforce stamps `CreatedDate`).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> TopicLog {
        TopicLog::new(EventSchemaSpec::default(), Duration::from_secs(3600)).unwrap()
    }

    fn publish(log: &TopicLog, count: usize) -> Vec<u64> {
        let events = vec![NewEvent::default(); count];
        log.publish(&events).unwrap()
    }

    #[test]
    fn custom_position_is_exclusive_and_checked_against_retention() {
        let log = log();
        let ids = publish(&log, 5);
        let after_second = ids[1].to_be_bytes();
        assert_eq!(
            log.first_id_after(StartPosition::After(&after_second)),
            Ok(ids[2])
        );
        assert_eq!(log.first_id_after(StartPosition::Earliest), Ok(ids[0]));
        assert_eq!(log.first_id_after(StartPosition::Latest), Ok(ids[4] + 1));
        log.expire_through(ids[2]);
        assert_eq!(
            log.first_id_after(StartPosition::After(&after_second)),
            Err(PositionError::Corrupted)
        );
        assert_eq!(log.first_id_after(StartPosition::Earliest), Ok(ids[3]));
        assert_eq!(
            log.first_id_after(StartPosition::After(b"1234")),
            Err(PositionError::Corrupted),
            "ids must be 8 bytes"
        );
        let future = (ids[4] + 1).to_be_bytes();
        assert_eq!(
            log.first_id_after(StartPosition::After(&future)),
            Err(PositionError::Corrupted)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_older_than_retention_are_expired() {
        let log = TopicLog::new(EventSchemaSpec::default(), Duration::from_secs(60)).unwrap();
        let old = publish(&log, 2);
        tokio::time::advance(Duration::from_secs(61)).await;
        let fresh = publish(&log, 1);
        assert_eq!(log.first_id_after(StartPosition::Earliest), Ok(fresh[0]));
        let before_old = (old[0] - 1).to_be_bytes();
        assert_eq!(
            log.first_id_after(StartPosition::After(&before_old)),
            Err(PositionError::Corrupted)
        );
    }

    #[test]
    fn schema_change_gets_a_new_id_and_keeps_the_old_one() {
        let log = log();
        let first = log.current_schema_id();
        let second = log
            .change_schema(EventSchemaSpec {
                payload_field: "Body__c".into(),
                ..EventSchemaSpec::default()
            })
            .unwrap();
        assert_ne!(first, second);
        assert!(log.schema_json(&first).is_some());
        assert!(log.schema_json(&second).unwrap().contains("Body__c"));
    }
}
