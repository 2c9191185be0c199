//! `DecodeError`: why one platform event could not become an `OutboundEvent`.
//!
//! Every variant names enough to find the event again (its replay id, in lowercase
//! hex) and the place in the payload that is wrong (a JSON path such as
//! `payload.entryPayload.abstractMessage.id`). The pipeline dead-letters events with
//! these errors (DESIGN G5); this file does not know the pipeline or the store.

/// Why a platform event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The Avro bytes do not match the schema.
    #[error("invalid avro record: {reason}")]
    InvalidAvro {
        /// What the Avro decoder reported.
        reason: String,
    },
    /// The record lacks the event-type or payload field, or it is null.
    #[error("replay id {replay_id}: the record's {field} field is missing or null")]
    MissingRecordField {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// Which field: `event-type` or `payload`.
        field: String,
    },
    /// The event-type field holds something other than `Interaction` or `RoutingRequested`.
    #[error("replay id {replay_id}: unknown event type {event_type:?}")]
    UnknownEventType {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// The value found.
        event_type: String,
    },
    /// The payload field is not a JSON object.
    #[error("replay id {replay_id}: payload is not a valid json object: {reason}")]
    InvalidJson {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// What the JSON parser reported.
        reason: String,
    },
    /// A field the spec marks required is absent (or null).
    #[error("replay id {replay_id}: missing required field {path}")]
    MissingField {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// The field's JSON path inside the payload.
        path: String,
    },
    /// A field has the wrong type or shape.
    #[error("replay id {replay_id}: invalid field {path}: {reason}")]
    InvalidField {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// The field's JSON path inside the payload.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `routingParameters.channelData` is not the JSON string it should be.
    #[error("replay id {replay_id}: channelData is not valid json: {reason}")]
    InvalidChannelData {
        /// The event's replay id, lowercase hex.
        replay_id: String,
        /// What the JSON parser reported.
        reason: String,
    },
}

impl DecodeError {
    /// A short stable code for metrics labels and dead-letter records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidAvro { .. } => "invalid_avro",
            Self::MissingRecordField { .. } => "missing_record_field",
            Self::UnknownEventType { .. } => "unknown_event_type",
            Self::InvalidJson { .. } => "invalid_json",
            Self::MissingField { .. } => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidChannelData { .. } => "invalid_channel_data",
        }
    }

    /// The JSON path the error is about, when it is about one field.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::MissingField { path, .. } | Self::InvalidField { path, .. } => Some(path),
            _ => None,
        }
    }
}
