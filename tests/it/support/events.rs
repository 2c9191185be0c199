//! Shared helpers for the `events_*` integration tests: fixture loading and an Avro
//! writer for the platform-event schema, built on apache-avro so the encoder is
//! independent of the connector's serde_avro_fast decoder.

use std::path::{Path, PathBuf};

use apache_avro::types::{Record, Value};
use byoc_connector::events::{DecodedEvent, EventContext, OutboundEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The replay id every test event uses: 8 bytes, big-endian 0x2_2c_4e_5b.
pub const REPLAY_ID: [u8; 8] = [0, 0, 0, 0, 0x02, 0x2c, 0x4e, 0x5b];
/// `REPLAY_ID` in lowercase hex.
pub const REPLAY_ID_HEX: &str = "00000000022c4e5b";
/// The ProducerEvent id every test event uses.
pub const PRODUCER_EVENT_ID: &str = "producer-event-0001";
/// CreatedDate of every test event.
pub const CREATED_DATE_MS: i64 = 1_690_344_475_579;

/// One fixture: what the fake Salesforce's control plane would publish.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File stem, e.g. `message-text`.
    pub name: String,
    /// `Interaction` or `RoutingRequested`.
    pub event_type: String,
    /// The payload JSON exactly as it appears in the file.
    pub payload_json: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FixtureFile {
    event_type: String,
    payload: Box<RawValue>,
}

/// The fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

/// Every fixture, sorted by name.
pub fn all_fixtures() -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load_path(path)).collect()
}

/// The fixture named `name` (file stem).
pub fn fixture(name: &str) -> Fixture {
    load_path(&fixtures_dir().join(format!("{name}.json")))
}

fn load_path(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let file: FixtureFile = serde_json::from_str(&text).expect("fixture has eventType and payload");
    Fixture {
        name: path
            .file_stem()
            .expect("fixture has a name")
            .to_string_lossy()
            .into_owned(),
        event_type: file.event_type,
        payload_json: file.payload.get().to_owned(),
    }
}

impl Fixture {
    /// Decodes the fixture's payload JSON directly.
    pub fn decode(&self) -> OutboundEvent {
        OutboundEvent::from_json(&self.event_type, &self.payload_json, &REPLAY_ID)
            .unwrap_or_else(|error| panic!("fixture {} must decode: {error}", self.name))
    }

    /// Decodes the fixture through a platform-event record, like the pipeline does.
    pub fn decode_as_record(&self) -> DecodedEvent {
        let record = byoc_connector::events::PlatformEventRecord {
            created_date_ms: CREATED_DATE_MS,
            created_by_id: "005xx000001SvNAAA0".to_owned(),
            event_uuid: None,
            event_type: Some(self.event_type.clone()),
            payload: Some(self.payload_json.clone()),
        };
        OutboundEvent::from_record(record, &context())
            .unwrap_or_else(|error| panic!("fixture {} must decode: {error}", self.name))
    }

    /// The payload as a `serde_json::Value`, for editing.
    pub fn payload_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload_json).expect("fixture payload is JSON")
    }
}

/// The context every test event uses.
pub fn context() -> EventContext<'static> {
    EventContext {
        replay_id: &REPLAY_ID,
        producer_event_id: PRODUCER_EVENT_ID,
    }
}

/// Decodes an edited payload.
pub fn decode_value(
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<OutboundEvent, byoc_connector::events::DecodeError> {
    OutboundEvent::from_json(event_type, &payload.to_string(), &REPLAY_ID)
}

/// Shape of a test platform-event schema.
#[derive(Debug, Clone)]
pub struct SchemaShape {
    /// The event-type field's name in the schema.
    pub event_type_field: String,
    /// The payload field's name in the schema.
    pub payload_field: String,
    /// Whether to add fields the connector must skip, of every Avro kind.
    pub with_extra_fields: bool,
}

impl Default for SchemaShape {
    fn default() -> Self {
        Self {
            event_type_field: "EventType__c".to_owned(),
            payload_field: "Payload__c".to_owned(),
            with_extra_fields: false,
        }
    }
}

impl SchemaShape {
    /// The Avro schema JSON, shaped like a Salesforce custom platform event.
    pub fn schema_json(&self) -> String {
        let mut fields = vec![serde_json::json!({"name": "CreatedDate", "type": "long"})];
        if self.with_extra_fields {
            fields.push(serde_json::json!({"name": "ReplayCounter__c", "type": ["null", "int"], "default": null}));
            fields.push(serde_json::json!({"name": "Score__c", "type": ["null", "double"], "default": null}));
            fields.push(serde_json::json!({"name": "Flags__c", "type": {"type": "array", "items": "boolean"}}));
        }
        fields.push(serde_json::json!({"name": "CreatedById", "type": "string"}));
        fields.push(
            serde_json::json!({"name": "EventUuid", "type": ["null", "string"], "default": null}),
        );
        if self.with_extra_fields {
            fields.push(
                serde_json::json!({"name": "Meta__c", "type": {"type": "map", "values": "string"}}),
            );
            fields.push(serde_json::json!({"name": "Nested__c", "type": {"type": "record", "name": "Nested", "fields": [
                {"name": "inner", "type": "string"}, {"name": "count", "type": "long"}]}}));
            fields.push(serde_json::json!({"name": "Kind__c", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}}));
            fields.push(serde_json::json!({"name": "Blob__c", "type": "bytes"}));
            fields.push(serde_json::json!({"name": "Hash__c", "type": {"type": "fixed", "name": "Hash", "size": 4}}));
        }
        fields.push(serde_json::json!({"name": self.event_type_field, "type": ["null", "string"], "default": null}));
        fields.push(serde_json::json!({"name": self.payload_field, "type": ["null", "string"], "default": null}));
        if self.with_extra_fields {
            fields.push(serde_json::json!({"name": "Trailer__c", "type": ["null", "string"], "default": null}));
        }
        serde_json::json!({
            "type": "record",
            "name": "Byoc_Event__e",
            "namespace": "com.sforce.eventbus",
            "fields": fields,
        })
        .to_string()
    }

    /// The schema parsed by the connector's decoder.
    pub fn fast_schema(&self) -> serde_avro_fast::Schema {
        self.schema_json().parse().expect("schema parses")
    }

    /// Encodes one record with apache-avro.
    pub fn encode(
        &self,
        event_uuid: Option<&str>,
        event_type: Option<&str>,
        payload: Option<&str>,
    ) -> Vec<u8> {
        let schema = apache_avro::Schema::parse_str(&self.schema_json()).expect("schema parses");
        let mut record = Record::new(&schema).expect("schema is a record");
        record.put("CreatedDate", Value::Long(CREATED_DATE_MS));
        record.put(
            "CreatedById",
            Value::String("005xx000001SvNAAA0".to_owned()),
        );
        record.put("EventUuid", nullable_string(event_uuid));
        record.put(&self.event_type_field, nullable_string(event_type));
        record.put(&self.payload_field, nullable_string(payload));
        if self.with_extra_fields {
            record.put("ReplayCounter__c", Value::Union(1, Box::new(Value::Int(7))));
            record.put("Score__c", Value::Union(1, Box::new(Value::Double(0.5))));
            record.put(
                "Flags__c",
                Value::Array(vec![Value::Boolean(true), Value::Boolean(false)]),
            );
            record.put(
                "Meta__c",
                Value::Map([("k".to_owned(), Value::String("v".to_owned()))].into()),
            );
            record.put(
                "Nested__c",
                Value::Record(vec![
                    ("inner".to_owned(), Value::String("x".to_owned())),
                    ("count".to_owned(), Value::Long(3)),
                ]),
            );
            record.put("Kind__c", Value::Enum(1, "B".to_owned()));
            record.put("Blob__c", Value::Bytes(vec![1, 2, 3]));
            record.put("Hash__c", Value::Fixed(4, vec![9, 9, 9, 9]));
            record.put(
                "Trailer__c",
                Value::Union(1, Box::new(Value::String("after".to_owned()))),
            );
        }
        apache_avro::to_avro_datum(&schema, record).expect("record encodes")
    }
}

fn nullable_string(value: Option<&str>) -> Value {
    match value {
        Some(text) => Value::Union(1, Box::new(Value::String(text.to_owned()))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}
