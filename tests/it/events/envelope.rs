//! The webhook envelope (DESIGN §6) forwards Salesforce's JSON unchanged and adds the
//! id, type, replay id, creation time and, for routing requests, the deadline.

use crate::support::events::{
    all_fixtures, context, fixture, CREATED_DATE_MS, PRODUCER_EVENT_ID, REPLAY_ID_HEX,
};
use byoc_connector::events::OutboundEvent;
use serde_json::Value;

#[test]
fn webhook_entry_is_the_original_entry_json_for_every_fixture() {
    for fixture in all_fixtures() {
        let decoded = fixture.decode_as_record();
        let body: Value =
            serde_json::from_slice(&decoded.webhook_body()).expect("webhook body is JSON");
        let original = fixture.payload_value();
        let member = if fixture.event_type == "RoutingRequested" {
            "routing"
        } else {
            "entry"
        };
        assert_eq!(
            body[member], original["payload"],
            "fixture {}",
            fixture.name
        );
        assert_eq!(
            body["recipient"], original["recipient"],
            "fixture {}",
            fixture.name
        );
        assert_eq!(
            body["channelAddressIdentifier"], original["channelAddressIdentifier"],
            "fixture {}",
            fixture.name
        );
    }
}

#[test]
fn webhook_entry_bytes_are_spliced_unchanged() {
    let fixture = fixture("message-text-markdown");
    let decoded = fixture.decode_as_record();
    let OutboundEvent::Interaction(event) = &decoded.event else {
        panic!("must be an interaction");
    };
    let body = String::from_utf8(decoded.webhook_body().to_vec()).expect("body is UTF-8");
    assert!(body.contains(event.raw_entry()));
    assert!(fixture.payload_json.contains(event.raw_entry()));
}

#[test]
fn interaction_envelope_carries_id_type_replay_id_and_created_date() {
    let decoded = fixture("message-text").decode_as_record();
    let body: Value = serde_json::from_slice(&decoded.webhook_body()).expect("body is JSON");
    assert_eq!(body["id"], PRODUCER_EVENT_ID);
    assert_eq!(body["type"], "interaction.message");
    assert_eq!(body["replayId"], REPLAY_ID_HEX);
    assert_eq!(body["createdDate"], "2023-07-26T04:07:55.579Z");
    assert_eq!(
        body["conversationIdentifier"],
        "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09"
    );
    assert!(body.get("deadline").is_none());
    assert!(body.get("routing").is_none());
    assert_eq!(decoded.created_date_ms, CREATED_DATE_MS);
}

#[test]
fn routing_envelope_carries_routing_and_a_deadline_sixty_seconds_after_creation() {
    let decoded = fixture("routing-requested-rep").decode_as_record();
    assert_eq!(decoded.event_type_name(), "routing.requested");
    assert_eq!(
        decoded.routing_deadline_ms(),
        Some(CREATED_DATE_MS + 60_000)
    );
    let body: Value = serde_json::from_slice(&decoded.webhook_body()).expect("body is JSON");
    assert_eq!(body["type"], "routing.requested");
    assert_eq!(body["deadline"], "2023-07-26T04:08:55.579Z");
    assert!(body.get("entry").is_none());
    assert_eq!(
        body["routing"]["routingParameters"]["userId"],
        "005xx0000067890"
    );
}

/// The replay id and `EventUuid` the examples in `docs/events.md` were produced with.
const DOCS_REPLAY_ID: [u8; 8] = [0, 0, 0, 0, 0, 0x22, 0xc4, 0x5b];
const DOCS_EVENT_UUID: &str = "6c7d5a0e-1f7b-4c8e-9d2a-3b4c5d6e7f80";

#[test]
fn every_example_in_the_events_doc_is_what_the_connector_sends_for_its_fixture() {
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/events.md exists");
    let mut examples = 0;
    for section in doc.split("\n#### `").skip(1) {
        let Some(fixture_name) = section
            .split("Fixture `tests/fixtures/events/")
            .nth(1)
            .and_then(|rest| rest.split(".json`").next())
        else {
            continue;
        };
        let example_json = section
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("\n```").next())
            .expect("each example section has a json block");
        let example: Value = serde_json::from_str(example_json).expect("example is JSON");
        let fixture = fixture(fixture_name);
        let record = byoc_connector::events::PlatformEventRecord {
            created_date_ms: CREATED_DATE_MS,
            created_by_id: "005xx000001SvNAAA0".to_owned(),
            event_uuid: Some(DOCS_EVENT_UUID.to_owned()),
            event_type: Some(fixture.event_type.clone()),
            payload: Some(fixture.payload_json.clone()),
        };
        let context = byoc_connector::events::EventContext {
            replay_id: &DOCS_REPLAY_ID,
            producer_event_id: PRODUCER_EVENT_ID,
        };
        let decoded = OutboundEvent::from_record(record, &context).expect("fixture decodes");
        let body: Value = serde_json::from_slice(&decoded.webhook_body()).expect("body is JSON");
        assert_eq!(body, example, "example for {fixture_name}");
        assert!(
            section.starts_with(decoded.event_type_name()),
            "heading of {fixture_name}"
        );
        examples += 1;
    }
    assert_eq!(examples, 20, "one example per event type");
}

#[test]
fn webhook_body_is_written_into_one_buffer_sized_up_front_for_every_fixture() {
    for fixture in all_fixtures() {
        assert_sized_up_front(&fixture.name, &fixture.decode_as_record());
    }
}

#[test]
fn webhook_body_is_sized_up_front_with_uuid_identifiers_and_a_deadline() {
    // Salesforce's conversation, channel and event ids are UUIDs, longer than the fixtures'.
    let sample = fake_salesforce::samples::routing_requested(
        "9bc16b48-cd9b-4d8b-b7f2-000000000001",
        "e7e7e7e7-0000-4000-8000-000000000010",
    );
    let record = byoc_connector::events::PlatformEventRecord {
        created_date_ms: CREATED_DATE_MS,
        created_by_id: "005xx000001SvNAAA0".to_owned(),
        event_uuid: Some("3f1d2c4b-5e6f-4a7b-8c9d-0e1f2a3b4c5d".to_owned()),
        event_type: Some("RoutingRequested".to_owned()),
        payload: sample.payload,
    };
    let decoded = OutboundEvent::from_record(record, &context()).expect("the sample decodes");
    assert_sized_up_front("the fake's routing request", &decoded);
}

/// A buffer that grew while the body was written has at least twice what was reserved (or
/// exactly what the last write needed); one sized up front has only the estimate's slack. A
/// routing request's body waits in memory as long as the request does.
fn assert_sized_up_front(name: &str, decoded: &byoc_connector::events::DecodedEvent) {
    let mut body = Vec::new();
    decoded.write_webhook_body(&mut body);
    assert!(
        body.capacity() - body.len() <= 256,
        "{name}: {} bytes written into a buffer of {}",
        body.len(),
        body.capacity()
    );
}
