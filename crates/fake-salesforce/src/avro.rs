//! The fake Salesforce's platform-event schema and its Avro writer.
//!
//! The schema is shaped like a real custom platform event (`com.sforce.eventbus`
//! namespace, `CreatedDate`/`CreatedById`/`EventUuid`, nullable custom text fields).
//! Events are written with apache-avro, an implementation independent of the
//! connector's serde_avro_fast decoder, so the two check each other. It knows nothing
//! about gRPC or BYOC payload contents.

use apache_avro::types::{Record, Value};
use apache_avro::Schema;

/// Names that shape the fake topic's schema.
#[derive(Debug, Clone)]
pub struct EventSchemaSpec {
    /// Platform event API name including `__e`, e.g. `Byoc_Event__e`.
    pub event_name: String,
    /// The custom field carrying `Interaction` / `RoutingRequested`.
    pub event_type_field: String,
    /// The custom field carrying the JSON payload string.
    pub payload_field: String,
}

impl Default for EventSchemaSpec {
    fn default() -> Self {
        Self {
            event_name: "Byoc_Event__e".to_owned(),
            event_type_field: "EventType__c".to_owned(),
            payload_field: "Payload__c".to_owned(),
        }
    }
}

impl EventSchemaSpec {
    /// The Avro schema JSON, as GetSchema serves it.
    pub fn schema_json(&self) -> String {
        serde_json::json!({
            "type": "record",
            "name": self.event_name,
            "namespace": "com.sforce.eventbus",
            "fields": [
                {"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"},
                {"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"},
                {"name": "EventUuid", "type": ["null", "string"], "default": null},
                {"name": self.event_type_field, "type": ["null", "string"], "default": null},
                {"name": self.payload_field, "type": ["null", "string"], "default": null},
            ],
        })
        .to_string()
    }
}

/// One platform event's field values, before encoding.
#[derive(Debug, Clone)]
pub struct PlatformEventFields<'a> {
    /// Epoch milliseconds.
    pub created_date_ms: i64,
    /// The publishing user's id (`005…`).
    pub created_by_id: &'a str,
    /// Unique event id; Salesforce recommends it for de-duplication.
    pub event_uuid: Option<&'a str>,
    /// Value of the event-type field.
    pub event_type: Option<&'a str>,
    /// Value of the payload field (a JSON string in BYOC).
    pub payload: Option<&'a str>,
}

/// Why an event could not be encoded with the topic schema.
#[derive(Debug, thiserror::Error)]
#[error("avro encoding failed: {0}")]
pub struct EncodeError(String);

/// Encodes platform events with one parsed schema.
#[derive(Debug, Clone)]
pub struct EventWriter {
    spec: EventSchemaSpec,
    schema: Schema,
}

impl EventWriter {
    /// Parses the schema for `spec`.
    pub fn new(spec: EventSchemaSpec) -> Result<Self, EncodeError> {
        let schema =
            Schema::parse_str(&spec.schema_json()).map_err(|err| EncodeError(err.to_string()))?;
        Ok(Self { spec, schema })
    }

    /// The names this writer was built from.
    pub fn spec(&self) -> &EventSchemaSpec {
        &self.spec
    }

    /// Avro binary of one record, with no container header (what `ProducerEvent.payload` holds).
    pub fn encode(&self, fields: &PlatformEventFields<'_>) -> Result<Vec<u8>, EncodeError> {
        let mut record = Record::new(&self.schema)
            .ok_or_else(|| EncodeError("schema is not a record".into()))?;
        record.put("CreatedDate", Value::Long(fields.created_date_ms));
        record.put(
            "CreatedById",
            Value::String(fields.created_by_id.to_owned()),
        );
        record.put("EventUuid", nullable_string(fields.event_uuid));
        record.put(
            &self.spec.event_type_field,
            nullable_string(fields.event_type),
        );
        record.put(&self.spec.payload_field, nullable_string(fields.payload));
        apache_avro::to_avro_datum(&self.schema, record).map_err(|err| EncodeError(err.to_string()))
    }
}

fn nullable_string(value: Option<&str>) -> Value {
    match value {
        Some(text) => Value::Union(1, Box::new(Value::String(text.to_owned()))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}
