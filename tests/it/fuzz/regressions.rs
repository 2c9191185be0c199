//! One named test per input in `fuzz/regressions/<target>/`: what the connector does with the
//! input the fuzzer found, beyond the replay's "no contract broken".

use byoc_connector::events::{
    DecodedEvent, OutboundEvent, INTERACTION_EVENT_TYPE, ROUTING_REQUESTED_EVENT_TYPE,
};
use byoc_connector::fuzzing::Target;
use serde_json::value::RawValue;
use serde_json::Value;

use super::fuzz_dir;

/// Runs `target` on its saved input `name` in `fuzz/regressions/<target>/`.
fn replay(target: Target, name: &str) {
    let saved = fuzz_dir()
        .join("regressions")
        .join(target.name())
        .join(name);
    target.run(&std::fs::read(&saved).unwrap());
}

/// The webhook body the connector would post for `event`.
fn webhook_body(event: OutboundEvent) -> Vec<u8> {
    DecodedEvent {
        event,
        created_date_ms: 0,
        idempotency_key: "regression".to_owned(),
        replay_id: vec![0x30, 0x39],
    }
    .webhook_body()
    .to_vec()
}

/// `avro_record` found it: an entry of an unknown type whose `sessionEndTime` is
/// `1e90344475000`. JSON's grammar allows the number, so the decoder (which checks the
/// grammar of what it forwards untouched) takes the event, and the webhook forwards the entry
/// exactly as written; `serde_json::Value`, like many strict parsers, refuses a number beyond
/// a double's range. The old contract asked every body to parse as a `Value`, which the
/// connector cannot promise for a payload that does not: the body may be no harder to parse
/// than its payload.
#[test]
fn a_number_beyond_a_doubles_range_in_an_unknown_entry_is_forwarded_as_written() {
    replay(
        Target::AvroRecord,
        "out-of-range-number-in-an-unknown-entry",
    );

    let payload = r#"{"conversationIdentifier":"9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
        "channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient":{"appType":"custom","subject":"end-user-7f3a2c","role":"EndUser"},
        "payload":{"identifier":"56e10dce-0048-4e2c-9a47-0c2f4a1b2c3d",
            "entryType":"SessionStatusChanged","senderDisplayName":null,
            "entryPayload":{"entryType":"SessionStatusChange)","sessionEndTime":1e90344475000},
            "sender":{"appType":"conversation","subject":"conversation-service","role":"System"},
            "transcriptedTimestamp":1690344475508,"clientTimestamp":1690344475409,
            "clientDuration":0}}"#;
    assert!(serde_json::from_str::<Value>(payload).is_err());
    let event = OutboundEvent::from_json(INTERACTION_EVENT_TYPE, payload, &[0x30, 0x39])
        .expect("the payload is JSON by its grammar");
    let body = String::from_utf8(webhook_body(event)).unwrap();
    assert!(body.contains(r#""sessionEndTime":1e90344475000"#), "{body}");
    assert!(body.contains(r#""type":"interaction.unknown""#), "{body}");
    serde_json::from_str::<&RawValue>(&body).expect("the body is JSON by its grammar");
}

/// `outbound_event` found it: a routing request whose envelope repeats `recipient` and has
/// an escaped key (`channelAddressIde\tifier`). The escaped key sent the search for the
/// spans the webhook forwards to a second pass, which gave up on the repeated member, and the
/// body went out as `"recipient":,"routing":}`: not JSON at all. Both passes now take the
/// last of a repeated member, the one the decoder keeps.
#[test]
fn a_repeated_member_beside_an_escaped_key_forwards_the_last_one() {
    replay(
        Target::OutboundEvent,
        "repeated-recipient-beside-an-escaped-key",
    );

    let payload = r#"{"channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient":{"appType":"custom","subject":"first","role":"EndUser"},
        "channelAddressIde\tifier":"x",
        "recipient":{"appType":"custom","subject":"end-user-7f3a2c","role":"EndUser"},
        "payload":{"conversationIdentifier":"9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
            "routingType":"Transfer","workRecordId":null}}"#;
    let event = OutboundEvent::from_json(ROUTING_REQUESTED_EVENT_TYPE, payload, &[0x30, 0x39])
        .expect("a routing request decodes");
    let body: Value = serde_json::from_slice(&webhook_body(event)).expect("the body is JSON");
    assert_eq!(body["recipient"]["subject"], "end-user-7f3a2c");
    assert_eq!(body["routing"]["routingType"], "Transfer");
}
