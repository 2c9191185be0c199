//! Decoding never panics: not on arbitrary Avro bytes, not on arbitrary JSON, not on
//! real fixtures with fields deleted or replaced.

use crate::support::events::{all_fixtures, context, Fixture, SchemaShape, REPLAY_ID};
use byoc_connector::events::{decode_avro, FieldNames, OutboundEvent};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "Message",
            "Interaction",
            "StaticContentMessage",
            "Text",
            "formatType",
            "entryType",
            "Attachments",
            "RoutingResult",
            "custom",
            "EndUser",
            "{\"eventId\":\"e\"}",
        ])
        .prop_map(|text| Value::String(text.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "conversationIdentifier",
            "channelAddressIdentifier",
            "recipient",
            "payload",
            "identifier",
            "entryType",
            "entryPayload",
            "sender",
            "abstractMessage",
            "messageType",
            "staticContent",
            "formatType",
            "text",
            "attachments",
            "id",
            "routingParameters",
            "channelData",
            "appType",
            "subject",
            "role",
            "transcriptedTimestamp",
            "clientTimestamp",
            "clientDuration",
            "entries",
            "operation",
            "participant",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..10).prop_map(|pairs| Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

/// Every JSON pointer to a value inside `value`.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let pointer = format!("{prefix}/{index}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

fn delete_at(value: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key.replace("~1", "/").replace("~0", "~"));
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// Decodes and, when that succeeds, checks the envelope forwards the payload unchanged.
fn decode_and_check(event_type: &str, payload_json: &str) {
    let Ok(event) = OutboundEvent::from_json(event_type, payload_json, &REPLAY_ID) else {
        return;
    };
    let record = byoc_connector::events::PlatformEventRecord {
        created_date_ms: 0,
        created_by_id: String::new(),
        event_uuid: None,
        event_type: Some(event_type.to_owned()),
        payload: Some(payload_json.to_owned()),
    };
    let decoded = OutboundEvent::from_record(record, &context()).expect("decodes twice alike");
    assert_eq!(decoded.event, event);
    let body: Value = serde_json::from_slice(&decoded.webhook_body()).expect("body is JSON");
    let original: Value = serde_json::from_str(payload_json).expect("payload is JSON");
    let member = if event_type == "RoutingRequested" {
        "routing"
    } else {
        "entry"
    };
    assert_eq!(body[member], original["payload"]);
}

fn fixtures() -> Vec<Fixture> {
    all_fixtures()
}

/// The event type and payload of fixture `fixture_index` (modulo their number), and the JSON
/// pointer to the field `pick` chooses in it.
fn fixture_and_field(fixture_index: usize, pick: prop::sample::Index) -> (String, Value, String) {
    let fixtures = fixtures();
    let fixture = &fixtures[fixture_index % fixtures.len()];
    let payload = fixture.payload_value();
    let mut all = Vec::new();
    pointers(&payload, String::new(), &mut all);
    let pointer = pick.get(&all).clone();
    (fixture.event_type.clone(), payload, pointer)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_fed_to_the_avro_decoder_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let shape = SchemaShape { with_extra_fields: true, ..SchemaShape::default() };
        let _ = decode_avro(&bytes, &shape.fast_schema(), &FieldNames::default());
        let _ = decode_avro(&bytes, &SchemaShape::default().fast_schema(), &FieldNames::default());
    }

    #[test]
    fn corrupted_real_avro_records_never_panic(
        fixture_index in 0usize..64,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let fixtures = fixtures();
        let fixture = &fixtures[fixture_index % fixtures.len()];
        let shape = SchemaShape::default();
        let mut bytes = shape.encode(Some("uuid"), Some(&fixture.event_type), Some(&fixture.payload_json));
        for (index, byte) in flips {
            let position = index.index(bytes.len());
            bytes[position] = byte;
        }
        if let Ok(record) = decode_avro(&bytes, &shape.fast_schema(), &FieldNames::default()) {
            let _ = OutboundEvent::from_record(record, &context());
        }
    }

    #[test]
    fn arbitrary_json_fed_to_the_payload_decoder_never_panics(payload in arbitrary_json()) {
        let text = payload.to_string();
        decode_and_check("Interaction", &text);
        decode_and_check("RoutingRequested", &text);
    }

    #[test]
    fn arbitrary_text_fed_to_the_payload_decoder_never_panics(text in ".{0,64}") {
        let _ = OutboundEvent::from_json("Interaction", &text, &REPLAY_ID);
        let _ = OutboundEvent::from_json("RoutingRequested", &text, &REPLAY_ID);
    }

    #[test]
    fn fixtures_with_a_field_deleted_never_panic(fixture_index in 0usize..64, pick in any::<prop::sample::Index>()) {
        let (event_type, mut payload, pointer) = fixture_and_field(fixture_index, pick);
        delete_at(&mut payload, &pointer);
        decode_and_check(&event_type, &payload.to_string());
    }

    #[test]
    fn fixtures_with_a_field_replaced_never_panic(
        fixture_index in 0usize..64,
        pick in any::<prop::sample::Index>(),
        replacement in arbitrary_json(),
    ) {
        let (event_type, mut payload, pointer) = fixture_and_field(fixture_index, pick);
        if let Some(slot) = payload.pointer_mut(&pointer) {
            *slot = replacement;
        }
        decode_and_check(&event_type, &payload.to_string());
    }
}
