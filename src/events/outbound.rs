//! `OutboundEvent`: a typed, lossless BYOC event, decoded from a platform-event
//! record's event-type and payload fields (spec §2.3, §2.5).
//!
//! Decoding is strict where the spec says required and tolerant elsewhere; every error
//! names the replay id and the JSON path. The payload text is parsed once, straight
//! into the typed model, and then kept whole (`SourcePayload`) so the webhook can
//! forward Salesforce's bytes. Knows JSON and the platform-event record; must not
//! know gRPC, the pipeline or the webhook transport.

use std::marker::PhantomData;

use serde::de::DeserializeSeed;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entry::ConversationEntry;
use super::error::DecodeError;
use super::hex::replay_id_hex;
use super::json_path::{locate, JsonPath, Located, Problem};
use super::participant::Participant;
use super::record::{decode_avro, FieldNames, PlatformEventRecord};
use super::routing::{
    external_contact_from, RoutingContext, RoutingParameters, RoutingParametersFields,
    RoutingRequestedEvent, RoutingType,
};
use super::source::{Envelope, EnvelopeSeed, SourcePayload};

/// The event-type value of a conversation entry event.
pub const INTERACTION_EVENT_TYPE: &str = "Interaction";
/// The event-type value of a routing request.
pub const ROUTING_REQUESTED_EVENT_TYPE: &str = "RoutingRequested";

/// One outbound BYOC event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundEvent {
    /// A conversation entry for the partner's channel (`EventType = Interaction`).
    Interaction(InteractionEvent),
    /// A request to route the conversation (`EventType = RoutingRequested`).
    RoutingRequested(Box<RoutingRequestedEvent>),
}

/// An `Interaction` event: one conversation entry and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionEvent {
    /// The conversation (required); events of one conversation stay in order.
    pub conversation_identifier: String,
    /// The channel (required); a connector serves only its own.
    pub channel_address_identifier: String,
    /// The end user the entry is for (required).
    pub recipient: Participant,
    /// The typed conversation entry (the envelope's `payload`, required). Boxed so
    /// the event stays small as it moves through the pipeline.
    pub entry: Box<ConversationEntry>,
    /// The payload field as received; the webhook forwards its `payload` as `entry`.
    pub source: SourcePayload,
}

impl InteractionEvent {
    /// The envelope's `payload` (the ConversationEntry) exactly as Salesforce sent it.
    pub fn raw_entry(&self) -> &str {
        self.source.body_json()
    }

    /// The envelope's `recipient` exactly as Salesforce sent it.
    pub fn raw_recipient(&self) -> &str {
        self.source.recipient_json()
    }
}

/// Where an event came from, for error messages and the idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// The Pub/Sub replay id (opaque bytes).
    pub replay_id: &'a [u8],
    /// `ProducerEvent.id`, the idempotency key when the schema has no `EventUuid`.
    pub producer_event_id: &'a str,
}

/// An `OutboundEvent` with what delivery needs besides the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEvent {
    /// The typed event.
    pub event: OutboundEvent,
    /// `CreatedDate`, epoch milliseconds; routing deadlines count from it.
    pub created_date_ms: i64,
    /// The stable key for de-duplication and the `Idempotency-Key` header (G3):
    /// `EventUuid`, else `ProducerEvent.id`, else the replay id in hex.
    pub idempotency_key: String,
    /// The Pub/Sub replay id (opaque bytes).
    pub replay_id: Vec<u8>,
}

/// Decodes Avro bytes straight to a `DecodedEvent`: `decode_avro` then `from_record`.
pub fn decode_event(
    avro_bytes: &[u8],
    schema: &serde_avro_fast::Schema,
    fields: &FieldNames,
    context: &EventContext<'_>,
) -> Result<DecodedEvent, DecodeError> {
    let record = decode_avro(avro_bytes, schema, fields)?;
    OutboundEvent::from_record(record, context)
}

impl OutboundEvent {
    /// Decodes a platform-event record into an event plus its delivery metadata.
    ///
    /// Takes the record by value: its payload text moves into the event, which
    /// forwards Salesforce's bytes without copying or re-serializing them.
    pub fn from_record(
        record: PlatformEventRecord,
        context: &EventContext<'_>,
    ) -> Result<DecodedEvent, DecodeError> {
        let replay_id = context.replay_id;
        let Some(event_type) = record.event_type else {
            return Err(DecodeError::MissingRecordField {
                replay_id: replay_id_hex(replay_id),
                field: "event-type".to_owned(),
            });
        };
        let Some(payload) = record.payload else {
            return Err(DecodeError::MissingRecordField {
                replay_id: replay_id_hex(replay_id),
                field: "payload".to_owned(),
            });
        };
        let event = decode_payload(&event_type, payload, replay_id)?;
        let idempotency_key = match record.event_uuid {
            Some(event_uuid) if !event_uuid.is_empty() => event_uuid,
            _ if !context.producer_event_id.is_empty() => context.producer_event_id.to_owned(),
            _ => replay_id_hex(replay_id),
        };
        Ok(DecodedEvent {
            event,
            created_date_ms: record.created_date_ms,
            idempotency_key,
            replay_id: context.replay_id.to_vec(),
        })
    }

    /// Decodes the payload JSON of an event whose event-type field is `event_type`.
    pub fn from_json(
        event_type: &str,
        payload_json: &str,
        replay_id: &[u8],
    ) -> Result<Self, DecodeError> {
        decode_payload(event_type, payload_json.to_owned(), replay_id)
    }

    /// The conversation the event belongs to.
    pub fn conversation_identifier(&self) -> &str {
        match self {
            Self::Interaction(event) => &event.conversation_identifier,
            Self::RoutingRequested(event) => &event.conversation_identifier,
        }
    }

    /// The channel the event is for.
    pub fn channel_address_identifier(&self) -> &str {
        match self {
            Self::Interaction(event) => &event.channel_address_identifier,
            Self::RoutingRequested(event) => &event.channel_address_identifier,
        }
    }

    /// The end user the event is about.
    pub fn recipient(&self) -> &Participant {
        match self {
            Self::Interaction(event) => &event.recipient,
            Self::RoutingRequested(event) => &event.recipient,
        }
    }

    /// The webhook `type` (also the `X-Byoc-Event-Type` header): `interaction.<entry
    /// type in snake_case>`, `interaction.unknown`, or `routing.requested`.
    pub fn event_type_name(&self) -> &'static str {
        match self {
            Self::Interaction(event) => event.entry.payload.event_type_name(),
            Self::RoutingRequested(_) => "routing.requested",
        }
    }
}

fn decode_payload(
    event_type: &str,
    payload_json: String,
    replay_id: &[u8],
) -> Result<OutboundEvent, DecodeError> {
    match event_type {
        INTERACTION_EVENT_TYPE => decode_interaction(payload_json, replay_id),
        ROUTING_REQUESTED_EVENT_TYPE => decode_routing_requested(payload_json, replay_id),
        other => Err(DecodeError::UnknownEventType {
            replay_id: replay_id_hex(replay_id),
            event_type: other.to_owned(),
        }),
    }
}

fn decode_interaction(
    payload_json: String,
    replay_id: &[u8],
) -> Result<OutboundEvent, DecodeError> {
    ensure_object(&payload_json, replay_id)?;
    let envelope = parse_envelope::<Box<ConversationEntry>>(&payload_json, true, replay_id)?;
    let (fields, source) = envelope
        .into_parts(payload_json)
        .ok_or_else(|| unlocatable(replay_id))?;
    Ok(OutboundEvent::Interaction(InteractionEvent {
        conversation_identifier: fields.conversation_identifier.unwrap_or_default(),
        channel_address_identifier: fields.channel_address_identifier,
        recipient: fields.recipient,
        entry: fields.payload,
        source,
    }))
}

/// The `RoutingRequestedEvent` payload; every field is optional in the spec.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoutingPayloadFields<'a> {
    conversation_identifier: Option<String>,
    routing_type: Option<RoutingType>,
    work_record_id: Option<String>,
    #[serde(borrow)]
    routing_parameters: Option<&'a RawValue>,
}

/// The routing payload once `channelData` and the parameters are decoded.
struct RoutingPayload {
    conversation_identifier: String,
    routing_type: Option<RoutingType>,
    work_record_id: Option<String>,
    routing_parameters: RoutingParameters,
    routing_context: Option<RoutingContext>,
    channel_data_problem: Option<String>,
    routing_parameters_problem: Option<String>,
}

const ROUTING_PARAMETERS_PATH: [&str; 2] = ["payload", "routingParameters"];
const CHANNEL_DATA_PATH: [&str; 3] = ["payload", "routingParameters", "channelData"];
const CHANNEL_DATA_EVENT_ID_PATH: [&str; 4] =
    ["payload", "routingParameters", "channelData", "eventId"];
const CONVERSATION_IDENTIFIER_PATH: [&str; 2] = ["payload", "conversationIdentifier"];

/// Decodes a routing request.
///
/// Every payload field is optional in the schema, and Salesforce waits for an answer to every
/// request, so missing or unreadable `routingParameters` or `channelData` still decode (the
/// engine then keys the request by the platform event's id and answers what it can). Only a
/// request that names no conversation at all, neither in `conversationIdentifier` nor in
/// `channelData.conversationId`, cannot be answered; it fails naming that path.
fn decode_routing_requested(
    payload_json: String,
    replay_id: &[u8],
) -> Result<OutboundEvent, DecodeError> {
    ensure_object(&payload_json, replay_id)?;
    let envelope = parse_envelope::<RoutingPayloadFields<'_>>(&payload_json, false, replay_id)?
        .try_map_payload(|payload| decode_routing_payload(payload, replay_id))?;
    let (fields, source) = envelope
        .into_parts(payload_json)
        .ok_or_else(|| unlocatable(replay_id))?;
    let routing = fields.payload;
    Ok(OutboundEvent::RoutingRequested(Box::new(
        RoutingRequestedEvent {
            channel_address_identifier: fields.channel_address_identifier,
            recipient: fields.recipient,
            conversation_identifier: routing.conversation_identifier,
            routing_type: routing.routing_type,
            work_record_id: routing.work_record_id,
            routing_parameters: routing.routing_parameters,
            routing_context: routing.routing_context,
            channel_data_problem: routing.channel_data_problem,
            routing_parameters_problem: routing.routing_parameters_problem,
            source,
        },
    )))
}

fn decode_routing_payload(
    payload: RoutingPayloadFields<'_>,
    replay_id: &[u8],
) -> Result<RoutingPayload, DecodeError> {
    let routing_parameters_raw = payload.routing_parameters.filter(|raw| raw.get() != "null");
    let (parameter_fields, routing_parameters_problem) = match routing_parameters_raw {
        Some(raw) => match parse_at(raw.get(), &ROUTING_PARAMETERS_PATH, replay_id) {
            Ok(fields) => (fields, None),
            Err(problem) => (readable_parameters(raw.get()), Some(problem.to_string())),
        },
        None => (RoutingParametersFields::default(), None),
    };
    let channel_data = parameter_fields.channel_data.clone().unwrap_or_default();
    let (routing_context, channel_data_problem) = if channel_data.trim().is_empty() {
        (None, None)
    } else {
        match parse_channel_data(&channel_data, replay_id) {
            Ok(context) if context.key().is_none() => (
                Some(context),
                Some(missing_field(&CHANNEL_DATA_EVENT_ID_PATH, replay_id).to_string()),
            ),
            Ok(context) => (Some(context), None),
            Err(problem) => (None, Some(problem.to_string())),
        }
    };
    let external_contact_id = match routing_parameters_raw {
        Some(raw) if !parameter_fields.has_known_target() => external_contact_from(raw),
        _ => None,
    };
    let conversation_identifier = payload
        .conversation_identifier
        .filter(|identifier| !identifier.is_empty())
        .or_else(|| {
            routing_context
                .as_ref()
                .and_then(RoutingContext::conversation)
                .map(str::to_owned)
        })
        .ok_or_else(|| missing_field(&CONVERSATION_IDENTIFIER_PATH, replay_id))?;
    Ok(RoutingPayload {
        conversation_identifier,
        routing_type: payload.routing_type,
        work_record_id: payload.work_record_id,
        routing_parameters: parameter_fields.into_parameters(channel_data, external_contact_id),
        routing_context,
        channel_data_problem,
        routing_parameters_problem,
    })
}

/// `routingParameters` that did not decode as a whole: every field that decodes by itself is
/// kept, so one unreadable field (say `skillsList: {}`) does not cost the request its target.
/// Nothing is kept when `routingParameters` is not an object.
fn readable_parameters(routing_parameters: &str) -> RoutingParametersFields {
    let Ok(fields) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(routing_parameters)
    else {
        return RoutingParametersFields::default();
    };
    let readable: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .filter(|(key, value)| {
            let alone =
                serde_json::Value::Object([(key.clone(), value.clone())].into_iter().collect());
            serde_json::from_value::<RoutingParametersFields>(alone).is_ok()
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(readable)).unwrap_or_default()
}

/// Decodes the envelope in one pass over `text`.
fn parse_envelope<'a, P: Deserialize<'a>>(
    text: &'a str,
    conversation_identifier_required: bool,
    replay_id: &[u8],
) -> Result<Envelope<P>, DecodeError> {
    let seed = EnvelopeSeed {
        text,
        conversation_identifier_required,
        payload: PhantomData,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    seed.deserialize(&mut deserializer)
        .and_then(|envelope| deserializer.end().map(|()| envelope))
        .map_err(|error| to_decode_error(&[], locate(text, &error), replay_id))
}

/// The envelope decoded, yet its `recipient` and `payload` could not be found in the text to
/// forward them as written.
fn unlocatable(replay_id: &[u8]) -> DecodeError {
    DecodeError::InvalidJson {
        replay_id: replay_id_hex(replay_id),
        reason: "recipient and payload could not be located in the text to forward them".to_owned(),
    }
}

/// Rejects payloads that are not a JSON object before serde could read an array
/// positionally into a struct.
fn ensure_object(payload_json: &str, replay_id: &[u8]) -> Result<(), DecodeError> {
    if payload_json.trim_start().starts_with('{') {
        return Ok(());
    }
    Err(DecodeError::InvalidJson {
        replay_id: replay_id_hex(replay_id),
        reason: "expected a json object".to_owned(),
    })
}

/// Parses the JSON string `channelData`; errors name `channelData`.
fn parse_channel_data(channel_data: &str, replay_id: &[u8]) -> Result<RoutingContext, DecodeError> {
    serde_json::from_str(channel_data).map_err(|error| {
        let located = locate(channel_data, &error);
        let is_not_an_object = located.path == JsonPath::default();
        match located.problem {
            Problem::Syntax(reason) => DecodeError::InvalidChannelData {
                replay_id: replay_id_hex(replay_id),
                reason,
            },
            Problem::Invalid(reason) if is_not_an_object => DecodeError::InvalidChannelData {
                replay_id: replay_id_hex(replay_id),
                reason,
            },
            _ => to_decode_error(&CHANNEL_DATA_PATH, located, replay_id),
        }
    })
}

/// Parses `text`, the value found at `prefix` in the payload.
fn parse_at<'a, T: Deserialize<'a>>(
    text: &'a str,
    prefix: &[&str],
    replay_id: &[u8],
) -> Result<T, DecodeError> {
    serde_json::from_str(text)
        .map_err(|error| to_decode_error(prefix, locate(text, &error), replay_id))
}

fn to_decode_error(prefix: &[&str], located: Located, replay_id: &[u8]) -> DecodeError {
    let is_root = prefix.is_empty() && located.path == JsonPath::default();
    let path = path_from(prefix).join(located.path).to_string();
    let replay_id = replay_id_hex(replay_id);
    match located.problem {
        Problem::Missing => DecodeError::MissingField { replay_id, path },
        Problem::Invalid(reason) if reason.starts_with("invalid type: null") => {
            DecodeError::MissingField { replay_id, path }
        }
        Problem::Invalid(reason) if is_root => DecodeError::InvalidJson { replay_id, reason },
        Problem::Invalid(reason) => DecodeError::InvalidField {
            replay_id,
            path,
            reason,
        },
        Problem::Syntax(reason) => DecodeError::InvalidJson { replay_id, reason },
    }
}

fn missing_field(path: &[&str], replay_id: &[u8]) -> DecodeError {
    DecodeError::MissingField {
        replay_id: replay_id_hex(replay_id),
        path: path_from(path).to_string(),
    }
}

fn path_from(keys: &[&str]) -> JsonPath {
    keys.iter().fold(JsonPath::default(), |path, key| {
        path.join(JsonPath::key(key))
    })
}
