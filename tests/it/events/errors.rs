//! Decoding is strict where the spec says required and tolerant elsewhere, and every
//! error names the replay id and the JSON path.

use crate::support::events::{context, decode_value, fixture, PRODUCER_EVENT_ID, REPLAY_ID_HEX};
use byoc_connector::events::{
    AppType, DecodeError, EntryPayload, MessageContent, OutboundEvent, PlatformEventRecord,
    RoutingTarget, SessionStatus, StaticContent,
};
use serde_json::{json, Value};

fn missing_path(result: Result<OutboundEvent, DecodeError>) -> String {
    match result {
        Err(DecodeError::MissingField { replay_id, path }) => {
            assert_eq!(replay_id, REPLAY_ID_HEX);
            path
        }
        other => panic!("expected a missing field error, got {other:?}"),
    }
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> (String, Value) {
    let fixture = fixture(name);
    let mut payload = fixture.payload_value();
    edit(&mut payload);
    (fixture.event_type, payload)
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent is an object")
        .remove(key)
        .expect("field exists");
}

/// Sets the value at `pointer`, adding the field when its parent object lacks it.
fn set(value: &mut Value, pointer: &str, new_value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    match value.pointer_mut(parent).expect("parent exists") {
        Value::Object(map) => {
            map.insert(key.to_owned(), new_value);
        }
        other => {
            *other
                .get_mut(key.parse::<usize>().expect("index"))
                .expect("element") = new_value;
        }
    }
}

#[test]
fn missing_entry_identifier_is_rejected_with_its_json_path() {
    let (event_type, payload) = edited("message-text", |payload| {
        remove(payload, "/payload/identifier");
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.identifier"
    );
}

#[test]
fn missing_text_is_named_by_path_when_salesforce_writes_tags_first() {
    // Edit the fixture text itself, keeping Salesforce's key order (tags first).
    let fixture = fixture("message-text");
    let without_text = fixture
        .payload_json
        .replace(",\n            \"text\": \"Hi, how are you?\"", "");
    assert_ne!(without_text, fixture.payload_json);
    let result = OutboundEvent::from_json(
        "Interaction",
        &without_text,
        &crate::support::events::REPLAY_ID,
    );
    assert_eq!(
        missing_path(result),
        "payload.entryPayload.abstractMessage.staticContent.text"
    );
}

#[test]
fn missing_abstract_message_id_is_rejected_with_its_json_path() {
    let (event_type, payload) = edited("message-text", |payload| {
        remove(payload, "/payload/entryPayload/abstractMessage/id");
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.abstractMessage.id"
    );
}

#[test]
fn missing_text_of_a_text_message_is_rejected_with_its_json_path() {
    let (event_type, payload) = edited("message-text", |payload| {
        remove(
            payload,
            "/payload/entryPayload/abstractMessage/staticContent/text",
        );
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.abstractMessage.staticContent.text"
    );
}

#[test]
fn missing_attachment_url_names_the_attachment_index() {
    let (event_type, payload) = edited("message-updated", |payload| {
        remove(
            payload,
            "/payload/entryPayload/updatedMessage/staticContent/attachments/2/url",
        );
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.updatedMessage.staticContent.attachments[2].url"
    );
}

#[test]
fn missing_field_before_a_late_format_tag_is_still_named_by_path() {
    // `formatType` comes after `text` here, so the decoder replays buffered fields.
    let (event_type, payload) = edited("message-text-with-citations", |payload| {
        set(
            payload,
            "/payload/entryPayload/abstractMessage/staticContent/text",
            json!(17),
        );
    });
    match decode_value(&event_type, &payload) {
        Err(DecodeError::InvalidField {
            path, replay_id, ..
        }) => {
            assert_eq!(
                path,
                "payload.entryPayload.abstractMessage.staticContent.text"
            );
            assert_eq!(replay_id, REPLAY_ID_HEX);
        }
        other => panic!("expected an invalid field error, got {other:?}"),
    }
}

#[test]
fn missing_content_for_the_message_type_is_rejected() {
    let (event_type, payload) = edited("message-buttons", |payload| {
        remove(payload, "/payload/entryPayload/abstractMessage/choices");
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.abstractMessage.choices"
    );
}

/// The YAML lists `operation` among a change's properties but requires only `participant`.
#[test]
fn a_participant_change_without_its_operation_still_decodes() {
    let (event_type, payload) = edited("participant-changed-add", |payload| {
        remove(payload, "/payload/entryPayload/entries/0/operation");
    });
    let Ok(OutboundEvent::Interaction(event)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    let EntryPayload::ParticipantChanged(changed) = event.entry.payload else {
        panic!("must be participant changed");
    };
    assert_eq!(changed.entries[0].operation, None);
    assert_eq!(changed.entries[0].participant.subject, "005xx0000012345");
}

#[test]
fn missing_participant_names_the_entry() {
    let (event_type, payload) = edited("participant-changed-add", |payload| {
        remove(payload, "/payload/entryPayload/entries/0/participant");
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.entries[0].participant"
    );
}

#[test]
fn missing_envelope_fields_are_rejected_with_their_names() {
    for field in [
        "conversationIdentifier",
        "channelAddressIdentifier",
        "recipient",
        "payload",
    ] {
        let (event_type, payload) = edited("message-text", |payload| {
            remove(payload, &format!("/{field}"));
        });
        assert_eq!(missing_path(decode_value(&event_type, &payload)), field);
    }
}

#[test]
fn null_in_a_required_field_is_reported_as_missing() {
    let (event_type, payload) = edited("typing-started-indicator", |payload| {
        set(payload, "/payload/entryPayload/timestamp", Value::Null);
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.entryPayload.timestamp"
    );
}

#[test]
fn missing_recipient_subject_is_named_under_recipient() {
    let (event_type, payload) = edited("routing-requested-queue", |payload| {
        remove(payload, "/recipient/subject");
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "recipient.subject"
    );
}

/// Decodes an edited routing request that must still decode.
fn routing_request(
    edit: impl FnOnce(&mut Value),
) -> Box<byoc_connector::events::RoutingRequestedEvent> {
    let (event_type, payload) = edited("routing-requested-queue", edit);
    match decode_value(&event_type, &payload) {
        Ok(OutboundEvent::RoutingRequested(request)) => request,
        other => panic!("must decode as a routing request: {other:?}"),
    }
}

#[test]
fn unreadable_channel_data_still_decodes_and_says_why_it_has_no_event_id() {
    let request = routing_request(|payload| {
        set(
            payload,
            "/payload/routingParameters/channelData",
            json!("{not json"),
        );
    });
    assert_eq!(request.event_id(), None);
    let problem = request.channel_data_problem.clone().unwrap();
    assert!(problem.contains("channelData"), "{problem}");
    assert!(problem.contains(REPLAY_ID_HEX), "{problem}");
    assert!(!request.conversation_identifier.is_empty());
}

#[test]
fn channel_data_without_event_id_still_decodes_naming_the_nested_path() {
    let request = routing_request(|payload| {
        set(
            payload,
            "/payload/routingParameters/channelData",
            json!(r#"{"conversationId":"c-1","routingType":"Transfer"}"#),
        );
    });
    assert_eq!(request.event_id(), None);
    let problem = request.channel_data_problem.clone().unwrap();
    assert!(
        problem.contains("payload.routingParameters.channelData.eventId"),
        "{problem}"
    );
}

#[test]
fn channel_data_without_a_routing_type_keeps_its_event_id() {
    let request = routing_request(|payload| {
        set(
            payload,
            "/payload/routingParameters/channelData",
            json!(r#"{"eventId":"ev-1","conversationId":"c-1"}"#),
        );
    });
    assert_eq!(request.event_id(), Some("ev-1"));
    assert_eq!(request.channel_data_problem, None);
}

/// The YAML says `channelData` "maps to RoutingContext", whose fields are named
/// `routingCorrelationId` and `conversationIdentifier`: that form is read as well.
#[test]
fn channel_data_in_the_routing_context_form_gives_the_event_id_and_conversation() {
    let request = routing_request(|payload| {
        set(payload, "/payload/conversationIdentifier", Value::Null);
        set(
            payload,
            "/payload/routingParameters/channelData",
            json!(
                r#"{"routingCorrelationId":"ev-2","conversationIdentifier":"c-2","routingType":"Transfer"}"#
            ),
        );
    });
    assert_eq!(request.event_id(), Some("ev-2"));
    assert_eq!(request.conversation_identifier, "c-2");
    assert_eq!(request.channel_data_problem, None);
}

#[test]
fn an_unreadable_routing_parameter_is_left_out_and_the_rest_still_routes() {
    let request = routing_request(|payload| {
        set(payload, "/payload/routingParameters/skillsList", json!({}));
        set(
            payload,
            "/payload/routingParameters/isTransfer",
            json!("true"),
        );
    });
    assert!(matches!(request.target(), RoutingTarget::Queue { .. }));
    assert!(request.event_id().is_some());
    assert!(request.routing_parameters.skills_list.is_empty());
    assert_eq!(request.routing_parameters.is_transfer, None);
    let problem = request.routing_parameters_problem.clone().unwrap();
    assert!(problem.contains("payload.routingParameters"), "{problem}");
}

#[test]
fn routing_parameters_that_are_not_an_object_still_decode_with_none_of_them() {
    let request = routing_request(|payload| {
        set(payload, "/payload/routingParameters", json!("queue please"));
    });
    assert_eq!(request.target(), RoutingTarget::Unknown);
    assert_eq!(request.event_id(), None);
    assert!(request.routing_parameters_problem.is_some());
}

#[test]
fn routing_request_without_channel_data_or_parameters_still_decodes() {
    for pointer in [
        "/payload/routingParameters/channelData",
        "/payload/routingParameters",
    ] {
        let request = routing_request(|payload| set(payload, pointer, Value::Null));
        assert_eq!(request.event_id(), None, "{pointer}");
        assert_eq!(request.channel_data_problem, None, "{pointer}");
        assert!(!request.conversation_identifier.is_empty(), "{pointer}");
    }
}

#[test]
fn routing_request_naming_no_conversation_is_rejected_naming_the_path() {
    let (event_type, payload) = edited("routing-requested-queue", |payload| {
        set(payload, "/payload/conversationIdentifier", Value::Null);
        set(
            payload,
            "/payload/routingParameters/channelData",
            Value::Null,
        );
    });
    assert_eq!(
        missing_path(decode_value(&event_type, &payload)),
        "payload.conversationIdentifier"
    );
}

#[test]
fn routing_request_without_conversation_identifier_falls_back_to_channel_data() {
    let (event_type, payload) = edited("routing-requested-rep", |payload| {
        set(payload, "/payload/conversationIdentifier", Value::Null);
    });
    let Ok(OutboundEvent::RoutingRequested(request)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    assert_eq!(
        request.conversation_identifier,
        "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09"
    );
}

#[test]
fn unknown_enum_values_in_optional_fields_decode() {
    let (event_type, payload) = edited("session-status-changed", |payload| {
        set(
            payload,
            "/payload/entryPayload/sessionStatusPrev",
            json!("Hibernating"),
        );
        set(
            payload,
            "/payload/entryPayload/sessionEndedByRole",
            json!("Robot"),
        );
    });
    let Ok(OutboundEvent::Interaction(event)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    let EntryPayload::SessionStatusChanged(status) = event.entry.payload else {
        panic!("must be session status changed");
    };
    assert_eq!(
        status.session_status_prev,
        Some(SessionStatus::Other("Hibernating".into()))
    );
}

#[test]
fn unknown_enum_values_in_required_fields_are_kept_not_rejected() {
    let (event_type, payload) = edited("message-text", |payload| {
        set(payload, "/recipient/appType", json!("hologram"));
        set(
            payload,
            "/payload/entryPayload/messageReason",
            json!("Marketing"),
        );
    });
    let Ok(OutboundEvent::Interaction(event)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    assert_eq!(event.recipient.app_type, AppType::Other("hologram".into()));
}

#[test]
fn nulls_in_optional_fields_decode() {
    let (event_type, payload) = edited("routing-result", |payload| {
        for field in [
            "failureReason",
            "isExternallyRouted",
            "recordId",
            "pendingServiceRoutingId",
            "initiator",
            "workOwnerId",
            "cancelReason",
            "estimatedWaitTime",
            "routingConfigurationDetails",
            "skipRouterCPRemovalIfNoRoutingFailures",
        ] {
            set(
                payload,
                &format!("/payload/entryPayload/{field}"),
                Value::Null,
            );
        }
        set(payload, "/payload/senderDisplayName", Value::Null);
        set(payload, "/payload/recipients", Value::Null);
    });
    assert!(decode_value(&event_type, &payload).is_ok());
    let (event_type, payload) = edited("message-attachments", |payload| {
        let content = "/payload/entryPayload/abstractMessage/staticContent";
        set(payload, &format!("{content}/text"), Value::Null);
        set(
            payload,
            &format!("{content}/attachments/0/referenceId"),
            Value::Null,
        );
        set(
            payload,
            "/payload/entryPayload/abstractMessage/references",
            Value::Null,
        );
    });
    assert!(decode_value(&event_type, &payload).is_ok());
}

#[test]
fn recipients_lists_decode_and_tolerate_null_lists() {
    let (event_type, payload) = edited("message-text", |payload| {
        set(
            payload,
            "/payload/recipients",
            json!({"primary": [{"identifier": "end-user-7f3a2c", "displayName": "David"}], "hidden": null}),
        );
    });
    let Ok(OutboundEvent::Interaction(event)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    let recipients = event.entry.recipients.expect("recipients are present");
    assert_eq!(recipients.primary[0].identifier, "end-user-7f3a2c");
    assert!(recipients.hidden.is_empty());
}

#[test]
fn entry_payload_with_its_type_last_decodes_like_the_original() {
    let fixture = fixture("message-attachments");
    let original = fixture.decode();
    let (event_type, payload) = edited("message-attachments", |payload| {
        let entry_payload = payload
            .pointer_mut("/payload/entryPayload")
            .and_then(Value::as_object_mut)
            .expect("entry payload is an object");
        let tag = entry_payload.remove("entryType").expect("tag exists");
        entry_payload.insert("entryType".to_owned(), tag);
    });
    let text = payload.to_string();
    assert!(text.find("\"abstractMessage\"") < text.find("\"entryType\":\"Message\",\"id\""));
    let reordered = decode_value(&event_type, &payload).expect("reordered payload decodes");
    let (OutboundEvent::Interaction(original), OutboundEvent::Interaction(reordered)) =
        (original, reordered)
    else {
        panic!("both are interactions");
    };
    assert_eq!(original.entry.payload, reordered.entry.payload);
}

#[test]
fn unknown_format_with_its_tag_last_is_still_kept_verbatim() {
    let (event_type, payload) = edited("message-text", |payload| {
        set(
            payload,
            "/payload/entryPayload/abstractMessage/staticContent",
            json!({"hologram": {"frames": 3}, "formatType": "Hologram"}),
        );
    });
    let Ok(OutboundEvent::Interaction(event)) = decode_value(&event_type, &payload) else {
        panic!("must decode");
    };
    let EntryPayload::Message(message) = event.entry.payload else {
        panic!("must be a message");
    };
    let MessageContent::StaticContent(StaticContent::Other { format_type, raw }) =
        message.abstract_message.content
    else {
        panic!("must be kept as other");
    };
    assert_eq!(format_type, "Hologram");
    let raw: Value = serde_json::from_str(raw.as_str()).expect("raw is JSON");
    assert_eq!(
        raw,
        json!({"hologram": {"frames": 3}, "formatType": "Hologram"})
    );
}

#[test]
fn unknown_event_type_is_rejected_naming_it() {
    let fixture = fixture("message-text");
    let error = OutboundEvent::from_json("Telepathy", &fixture.payload_json, &[1, 2])
        .expect_err("must be rejected");
    assert_eq!(
        error,
        DecodeError::UnknownEventType {
            replay_id: "0102".into(),
            event_type: "Telepathy".into()
        }
    );
}

#[test]
fn payload_that_is_not_json_or_not_an_object_is_invalid_json() {
    for payload in ["{\"conversationIdentifier\":", "[1,2]", "\"text\"", ""] {
        let error = OutboundEvent::from_json("Interaction", payload, &[7]).expect_err("rejected");
        assert!(
            matches!(error, DecodeError::InvalidJson { .. }),
            "{payload}: {error:?}"
        );
        assert_eq!(error.kind(), "invalid_json");
    }
}

fn record(event_uuid: Option<&str>, payload: Option<&str>) -> PlatformEventRecord {
    PlatformEventRecord {
        created_date_ms: 1,
        created_by_id: "005".into(),
        event_uuid: event_uuid.map(str::to_owned),
        event_type: Some("Interaction".into()),
        payload: payload.map(str::to_owned),
    }
}

#[test]
fn record_without_payload_is_rejected_naming_the_payload_field() {
    let error = OutboundEvent::from_record(record(None, None), &context()).expect_err("rejected");
    assert!(
        matches!(&error, DecodeError::MissingRecordField { field, replay_id } if field == "payload" && replay_id == REPLAY_ID_HEX),
        "{error:?}"
    );
}

#[test]
fn idempotency_key_prefers_event_uuid_then_producer_event_id() {
    let payload = fixture("message-text").payload_json;
    let with_uuid = OutboundEvent::from_record(record(Some("uuid-1"), Some(&payload)), &context())
        .expect("decodes");
    assert_eq!(with_uuid.idempotency_key, "uuid-1");
    let without_uuid =
        OutboundEvent::from_record(record(None, Some(&payload)), &context()).expect("decodes");
    assert_eq!(without_uuid.idempotency_key, PRODUCER_EVENT_ID);
    let empty_uuid =
        OutboundEvent::from_record(record(Some(""), Some(&payload)), &context()).expect("decodes");
    assert_eq!(empty_uuid.idempotency_key, PRODUCER_EVENT_ID);
}

#[test]
fn idempotency_key_falls_back_to_the_replay_id_when_no_id_is_known() {
    let payload = fixture("message-text").payload_json;
    let context = byoc_connector::events::EventContext {
        replay_id: &[0xab, 0xcd],
        producer_event_id: "",
    };
    let decoded =
        OutboundEvent::from_record(record(None, Some(&payload)), &context).expect("decodes");
    assert_eq!(decoded.idempotency_key, "abcd");
}

#[test]
fn deeply_nested_payloads_are_rejected_without_overflowing_the_stack() {
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let payload = format!(
        r#"{{"conversationIdentifier":"c","channelAddressIdentifier":"a","recipient":{{"appType":"custom","subject":"s","role":"EndUser"}},"payload":{nested}}}"#
    );
    for event_type in ["Interaction", "RoutingRequested"] {
        let error = OutboundEvent::from_json(event_type, &payload, &[1]).expect_err("rejected");
        assert!(
            matches!(
                error,
                DecodeError::InvalidJson { .. } | DecodeError::InvalidField { .. }
            ),
            "{error:?}"
        );
    }
}
