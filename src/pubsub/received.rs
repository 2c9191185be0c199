//! What the subscriber hands to its consumer.
//!
//! An event keeps its raw Avro bytes and the writer schema named by its own `schema_id`,
//! so the consumer can decode it (or dead-letter the bytes unchanged when decoding fails).
//! A consumer that gave the subscriber a preparer also gets what the preparer made of the
//! event on the stream's task (`prepared`), so that work is not on the consumer's.

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_avro_fast::Schema;

use super::replay::ReplayId;
use super::schema_cache::SchemaUnavailable;

/// One item from the subscription; `T` is what the preparer made of each event.
#[derive(Debug, Clone)]
pub enum SubscriberItem<T = ()> {
    /// An event; release its credit (and checkpoint it) through the ack handle when done.
    Event(ReceivedEvent<T>),
    /// An empty batch: nothing new, and the subscription's latest replay id.
    Keepalive {
        /// The newest position of the subscription.
        latest_replay_id: ReplayId,
    },
    /// The stored position was refused as corrupted or expired and the configured policy
    /// restarted the subscription elsewhere: events between may have been skipped.
    ReplayReset {
        /// The position that was refused.
        lost: Option<ReplayId>,
        /// Where the subscription restarted.
        restarted_from: RestartPoint,
    },
}

/// Where a subscription restarted after a corrupted replay id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPoint {
    /// The oldest retained event.
    Earliest,
    /// The tip of the stream.
    Latest,
}

/// An event as received, and what the subscriber's preparer made of it (`()` without one).
#[derive(Debug, Clone)]
pub struct ReceivedEvent<T = ()> {
    /// The event's position.
    pub replay_id: ReplayId,
    /// `ProducerEvent.id`: a UUID, the idempotency key when the schema has no `EventUuid`.
    pub event_id: String,
    /// The writer schema's id.
    pub schema_id: String,
    /// Avro binary, exactly as received.
    pub payload: Bytes,
    /// The writer schema, or why it could not be had.
    pub schema: Result<Arc<Schema>, SchemaUnavailable>,
    /// What the preparer made of the event, on the stream's task.
    pub prepared: T,
}

/// Why an event's Avro payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AvroDecodeError {
    /// No writer schema for this event.
    #[error(transparent)]
    SchemaUnavailable(#[from] SchemaUnavailable),
    /// The bytes do not match the schema or the target type.
    #[error("avro payload does not decode with schema `{schema_id}`: {reason}")]
    Invalid {
        /// The writer schema's id.
        schema_id: String,
        /// What the decoder said.
        reason: String,
    },
}

impl ReceivedEvent {
    /// The same event carrying `prepared`.
    pub(crate) fn with_prepared<T>(self, prepared: T) -> ReceivedEvent<T> {
        ReceivedEvent {
            replay_id: self.replay_id,
            event_id: self.event_id,
            schema_id: self.schema_id,
            payload: self.payload,
            schema: self.schema,
            prepared,
        }
    }
}

impl<P> ReceivedEvent<P> {
    /// Decodes the payload with the event's own writer schema.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, AvroDecodeError> {
        let schema = self.schema.as_ref().map_err(std::clone::Clone::clone)?;
        serde_avro_fast::from_datum_slice(&self.payload, schema).map_err(|err| {
            AvroDecodeError::Invalid {
                schema_id: self.schema_id.clone(),
                reason: err.to_string(),
            }
        })
    }
}
