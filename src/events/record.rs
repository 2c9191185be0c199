//! From one Avro datum to a `PlatformEventRecord`: the standard platform-event fields
//! plus the configurable event-type and payload fields (spec §1.1, §2.2).
//!
//! The record is read in one streaming pass with a serde seed: each field name is
//! matched against the configured names as it arrives, wanted values are copied and
//! every other field (real schemas have more) is skipped. Knows Avro via
//! serde_avro_fast; must not know gRPC, the Pub/Sub types or the BYOC payload.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_avro_fast::de::read::SliceRead;
use serde_avro_fast::de::{DeserializerConfig, DeserializerState};

use super::error::DecodeError;

/// Longest Avro array or map we accept; platform events have none, and this stops a
/// corrupt length from looping for seconds over zero-sized elements.
const MAX_AVRO_SEQUENCE_LEN: usize = 1 << 20;

/// The standard field holding the publish time (Avro long, epoch milliseconds).
const CREATED_DATE_FIELD: &str = "CreatedDate";
/// The standard field holding the publishing user's id.
const CREATED_BY_ID_FIELD: &str = "CreatedById";
/// The standard field holding the event's unique id.
const EVENT_UUID_FIELD: &str = "EventUuid";

/// The configured names of the event-type and payload fields.
///
/// A record field matches a configured name exactly, or with a namespace prefix:
/// `ns__EventType__c` matches a configured `EventType__c`. A qualified configured
/// name such as `Byoc_Event__e.EventType__c` (the CCD metadata form) matches on the
/// part after the dot. An exact match wins over a namespaced one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// The event-type field, `EventType__c` by default.
    pub event_type: String,
    /// The payload field, `Payload__c` by default.
    pub payload: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            event_type: "EventType__c".to_owned(),
            payload: "Payload__c".to_owned(),
        }
    }
}

/// The fields of one platform event that the connector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEventRecord {
    /// `CreatedDate`, epoch milliseconds; the routing deadline counts from it.
    pub created_date_ms: i64,
    /// `CreatedById`, the publishing user.
    pub created_by_id: String,
    /// `EventUuid`, when the schema has it; the preferred idempotency key (G3).
    pub event_uuid: Option<String>,
    /// The event-type field's value, `Interaction` or `RoutingRequested`.
    pub event_type: Option<String>,
    /// The payload field's value, a JSON string.
    pub payload: Option<String>,
}

/// Decodes one Avro binary datum (no container header) written with `schema`.
pub fn decode_avro(
    bytes: &[u8],
    schema: &serde_avro_fast::Schema,
    fields: &FieldNames,
) -> Result<PlatformEventRecord, DecodeError> {
    let mut config = DeserializerConfig::new(schema);
    config.max_seq_size = MAX_AVRO_SEQUENCE_LEN;
    let mut state = DeserializerState::with_config(SliceRead::new(bytes), config);
    let collected = RecordSeed { fields }
        .deserialize(state.deserializer())
        .map_err(|error| invalid_avro(error.to_string()))?;
    let mut rest = state.into_reader();
    let trailing = rest.fill_buf().map_or(0, <[u8]>::len);
    if trailing > 0 {
        return Err(invalid_avro(format!(
            "{trailing} bytes left after the record; the schema does not match the data"
        )));
    }
    collected.into_record()
}

fn invalid_avro(reason: String) -> DecodeError {
    DecodeError::InvalidAvro { reason }
}

/// What a record field is to us.
#[derive(Clone, Copy)]
enum FieldRole {
    CreatedDate,
    CreatedById,
    EventUuid,
    EventType { exact: bool },
    Payload { exact: bool },
    Ignored,
}

impl FieldNames {
    fn role_of(&self, record_field: &str) -> FieldRole {
        match record_field {
            CREATED_DATE_FIELD => return FieldRole::CreatedDate,
            CREATED_BY_ID_FIELD => return FieldRole::CreatedById,
            EVENT_UUID_FIELD => return FieldRole::EventUuid,
            _ => {}
        }
        let event_type = unqualified(&self.event_type);
        let payload = unqualified(&self.payload);
        if record_field == event_type {
            return FieldRole::EventType { exact: true };
        }
        if record_field == payload {
            return FieldRole::Payload { exact: true };
        }
        if is_namespaced_form(record_field, event_type) {
            return FieldRole::EventType { exact: false };
        }
        if is_namespaced_form(record_field, payload) {
            return FieldRole::Payload { exact: false };
        }
        FieldRole::Ignored
    }
}

/// The field part of a configured name: `Byoc_Event__e.Payload__c` → `Payload__c`.
fn unqualified(configured: &str) -> &str {
    match configured.bytes().rposition(|byte| byte == b'.') {
        Some(dot) => &configured[dot + 1..],
        None => configured,
    }
}

/// Whether `record_field` is `configured` with a namespace prefix (`ns__`), for a
/// configured name that has no namespace of its own.
fn is_namespaced_form(record_field: &str, configured: &str) -> bool {
    if configured.is_empty() || !record_field.ends_with(configured) {
        return false;
    }
    let configured_is_namespaced = configured.matches("__").count() >= 2;
    if configured_is_namespaced {
        return false;
    }
    let Some(namespace) = record_field
        .get(..record_field.len() - configured.len())
        .and_then(|prefix| prefix.strip_suffix("__"))
    else {
        return false;
    };
    !namespace.is_empty()
        && !namespace.contains("__")
        && namespace
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// `Some(true)` for an exact match, `Some(false)` for a namespaced one.
#[cfg(test)]
fn field_matches(record_field: &str, configured: &str) -> Option<bool> {
    let configured = unqualified(configured);
    if configured.is_empty() {
        return None;
    }
    if record_field == configured {
        return Some(true);
    }
    is_namespaced_form(record_field, configured).then_some(false)
}

/// Values gathered while streaming through the record.
#[derive(Default)]
struct CollectedFields {
    created_date_ms: Option<i64>,
    created_by_id: Option<String>,
    event_uuid: Option<String>,
    event_type_exact: Option<String>,
    event_type_namespaced: Option<String>,
    payload_exact: Option<String>,
    payload_namespaced: Option<String>,
}

impl CollectedFields {
    fn into_record(self) -> Result<PlatformEventRecord, DecodeError> {
        let created_date_ms = self
            .created_date_ms
            .ok_or_else(|| invalid_avro(format!("record has no {CREATED_DATE_FIELD}")))?;
        let created_by_id = self
            .created_by_id
            .ok_or_else(|| invalid_avro(format!("record has no {CREATED_BY_ID_FIELD}")))?;
        Ok(PlatformEventRecord {
            created_date_ms,
            created_by_id,
            event_uuid: self.event_uuid,
            event_type: self.event_type_exact.or(self.event_type_namespaced),
            payload: self.payload_exact.or(self.payload_namespaced),
        })
    }
}

struct RecordSeed<'f> {
    fields: &'f FieldNames,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = CollectedFields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = CollectedFields;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a platform event record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut collected = CollectedFields::default();
        while let Some(role) = map.next_key_seed(FieldRoleSeed {
            fields: self.fields,
        })? {
            match role {
                FieldRole::CreatedDate => {
                    collected.created_date_ms = map.next_value_seed(LongSeed)?;
                }
                FieldRole::CreatedById => {
                    collected.created_by_id = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::EventUuid => {
                    collected.event_uuid = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::EventType { exact: true } => {
                    collected.event_type_exact = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::EventType { exact: false } => {
                    collected.event_type_namespaced = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::Payload { exact: true } => {
                    collected.payload_exact = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::Payload { exact: false } => {
                    collected.payload_namespaced = map.next_value_seed(NullableStringSeed)?;
                }
                FieldRole::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(collected)
    }
}

/// Classifies a record field name without allocating.
struct FieldRoleSeed<'f> {
    fields: &'f FieldNames,
}

impl<'de> DeserializeSeed<'de> for FieldRoleSeed<'_> {
    type Value = FieldRole;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldRoleSeed<'_> {
    type Value = FieldRole;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldRole, E> {
        Ok(self.fields.role_of(name))
    }
}

/// An Avro long (or int), possibly inside a union; `null` reads as absent.
struct LongSeed;

impl<'de> DeserializeSeed<'de> for LongSeed {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LongSeed {
    type Value = Option<i64>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a long")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Some(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// An Avro string, possibly inside a `["null","string"]` union.
struct NullableStringSeed;

impl<'de> DeserializeSeed<'de> for NullableStringSeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NullableStringSeed {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string or null")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Some(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_record_field_matches_bare_configured_name() {
        assert_eq!(
            field_matches("ns__EventType__c", "EventType__c"),
            Some(false)
        );
        assert_eq!(field_matches("EventType__c", "EventType__c"), Some(true));
    }

    #[test]
    fn namespaced_configured_name_matches_only_exactly() {
        assert_eq!(
            field_matches("ns__EventType__c", "ns__EventType__c"),
            Some(true)
        );
        assert_eq!(field_matches("EventType__c", "ns__EventType__c"), None);
        assert_eq!(
            field_matches("other__EventType__c", "ns__EventType__c"),
            None
        );
        assert_eq!(
            field_matches("other__ns__EventType__c", "ns__EventType__c"),
            None
        );
    }

    #[test]
    fn qualified_configured_name_matches_on_its_field_part() {
        assert_eq!(
            field_matches("Payload__c", "Byoc_Event__e.Payload__c"),
            Some(true)
        );
    }

    #[test]
    fn lookalike_fields_do_not_match() {
        assert_eq!(field_matches("MyEventType__c", "EventType__c"), None);
        assert_eq!(field_matches("__EventType__c", "EventType__c"), None);
        assert_eq!(field_matches("EventType__c", ""), None);
    }
}
