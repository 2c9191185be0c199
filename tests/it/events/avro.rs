//! Avro bytes written by an independent encoder (apache-avro) decode through
//! `decode_avro` + `from_record` to exactly what decoding the JSON directly gives,
//! whatever the field names' namespace and whatever extra fields the schema has.

use crate::support::events::{
    all_fixtures, context, fixture, SchemaShape, CREATED_DATE_MS, REPLAY_ID,
};
use byoc_connector::events::{decode_avro, decode_event, DecodeError, FieldNames, OutboundEvent};

fn assert_avro_round_trip(shape: &SchemaShape, field_names: &FieldNames) {
    let schema = shape.fast_schema();
    for fixture in all_fixtures() {
        let bytes = shape.encode(
            Some("event-uuid-1"),
            Some(&fixture.event_type),
            Some(&fixture.payload_json),
        );
        let record = decode_avro(&bytes, &schema, field_names)
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.name));
        assert_eq!(record.created_date_ms, CREATED_DATE_MS);
        assert_eq!(record.event_uuid.as_deref(), Some("event-uuid-1"));
        let decoded = OutboundEvent::from_record(record, &context())
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.name));
        assert_eq!(decoded.event, fixture.decode(), "fixture {}", fixture.name);
        assert_eq!(decoded.idempotency_key, "event-uuid-1");
        assert_eq!(decoded.replay_id, REPLAY_ID);
    }
}

#[test]
fn every_fixture_survives_avro_with_the_default_field_names() {
    assert_avro_round_trip(&SchemaShape::default(), &FieldNames::default());
}

#[test]
fn namespaced_schema_fields_match_the_bare_configured_names() {
    let shape = SchemaShape {
        event_type_field: "ns__EventType__c".to_owned(),
        payload_field: "ns__Payload__c".to_owned(),
        with_extra_fields: false,
    };
    assert_avro_round_trip(&shape, &FieldNames::default());
}

#[test]
fn namespaced_configured_names_match_exactly() {
    let shape = SchemaShape {
        event_type_field: "ns__EventType__c".to_owned(),
        payload_field: "ns__Payload__c".to_owned(),
        with_extra_fields: false,
    };
    let names = FieldNames {
        event_type: "ns__EventType__c".to_owned(),
        payload: "ns__Payload__c".to_owned(),
    };
    assert_avro_round_trip(&shape, &names);
}

#[test]
fn custom_field_names_and_unknown_schema_fields_of_every_kind_are_handled() {
    let shape = SchemaShape {
        event_type_field: "Kind_Of_Event__c".to_owned(),
        payload_field: "Body__c".to_owned(),
        with_extra_fields: true,
    };
    let names = FieldNames {
        event_type: "Byoc_Event__e.Kind_Of_Event__c".to_owned(),
        payload: "Body__c".to_owned(),
    };
    assert_avro_round_trip(&shape, &names);
}

#[test]
fn decode_event_goes_from_avro_bytes_to_a_webhook_ready_event() {
    let shape = SchemaShape::default();
    let fixture = fixture("message-text");
    let bytes = shape.encode(None, Some("Interaction"), Some(&fixture.payload_json));
    let decoded = decode_event(
        &bytes,
        &shape.fast_schema(),
        &FieldNames::default(),
        &context(),
    )
    .expect("decodes");
    assert_eq!(decoded.event_type_name(), "interaction.message");
    assert_eq!(
        decoded.idempotency_key,
        crate::support::events::PRODUCER_EVENT_ID
    );
}

#[test]
fn null_payload_field_is_reported_as_a_missing_record_field() {
    let shape = SchemaShape::default();
    let bytes = shape.encode(None, Some("Interaction"), None);
    let error = decode_event(
        &bytes,
        &shape.fast_schema(),
        &FieldNames::default(),
        &context(),
    )
    .expect_err("rejected");
    assert_eq!(error.kind(), "missing_record_field");
}

#[test]
fn misconfigured_field_names_leave_the_payload_missing() {
    let shape = SchemaShape::default();
    let bytes = shape.encode(None, Some("Interaction"), Some("{}"));
    let names = FieldNames {
        event_type: "EventType__c".to_owned(),
        payload: "Body__c".to_owned(),
    };
    let record = decode_avro(&bytes, &shape.fast_schema(), &names).expect("record decodes");
    assert_eq!(record.payload, None);
}

#[test]
fn truncated_avro_is_rejected_as_invalid_avro() {
    let shape = SchemaShape::default();
    let fixture = fixture("message-text");
    let bytes = shape.encode(None, Some("Interaction"), Some(&fixture.payload_json));
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let error = decode_avro(&bytes[..cut], &shape.fast_schema(), &FieldNames::default())
            .expect_err("truncated data is rejected");
        assert!(
            matches!(error, DecodeError::InvalidAvro { .. }),
            "cut {cut}: {error:?}"
        );
    }
}

#[test]
fn trailing_bytes_after_the_record_are_rejected_as_a_schema_mismatch() {
    let shape = SchemaShape::default();
    let mut bytes = shape.encode(None, Some("Interaction"), Some("{}"));
    bytes.push(0);
    let error =
        decode_avro(&bytes, &shape.fast_schema(), &FieldNames::default()).expect_err("rejected");
    assert!(
        error.to_string().contains("left after the record"),
        "{error}"
    );
}

#[test]
fn data_written_with_another_schema_is_rejected() {
    let with_extras = SchemaShape {
        with_extra_fields: true,
        ..SchemaShape::default()
    };
    let bytes = with_extras.encode(None, Some("Interaction"), Some("{}"));
    let result = decode_avro(
        &bytes,
        &SchemaShape::default().fast_schema(),
        &FieldNames::default(),
    );
    assert!(result.is_err(), "{result:?}");
}
