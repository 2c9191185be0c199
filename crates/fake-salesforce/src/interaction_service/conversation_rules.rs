//! Body rules of the fake's conversation-level endpoints: `POST /conversation` (starting a
//! conversation proactively), `PATCH /consent` and `POST /participant` (removing a rep).
//!
//! As the official definition states them. `/conversation`: `channelAddressIdentifier`
//! required (10052), exactly one participant (10053), the end user of a custom channel with a
//! subject (10054), `routingAttributes` an object of strings; the first call for a (channel,
//! end user) pair creates the conversation and its MessagingSession, later calls return them.
//! `/consent`: both ids required and at most 240 characters, `consentStatus` a `ConsentEnum`
//! (10021), refused with 10022 unless the channel's Consent Owner is the partner.
//! `/participant`: a conversation UUID (10018), `operation` Remove (10097), exactly one
//! participant, an `agent`/`Agent` (10037, 10038) whose subject is a 15-character User id as
//! the README's example states (10036). It knows nothing about the connector's client.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::interaction_service::ack_rules::{APP_TYPES, ROLES};
use crate::interaction_service::checks::{
    conversation_id, enum_field, is_record_id, object, required_str, ErrorShape, Refusal,
    INVALID_PARAMETERS,
};
use crate::interaction_service::InteractionFake;

/// `ConsentRequest.channelAddressIdentifier` and `endUserClientId`: `maxLength: 240`.
const MAX_CONSENT_ID_CHARS: usize = 240;
/// `ConsentEnum`.
const CONSENT_STATUSES: [&str; 4] = [
    "OptedOut",
    "ImplicitlyOptedIn",
    "ExplicitlyOptedIn",
    "DoublyOptedIn",
];

/// `POST /conversation`.
pub(super) fn post_conversation(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    let channel = required_str(
        body,
        "channelAddressIdentifier",
        10052,
        "The \"channelAddressIdentifier\" field set in post conversation request isn't valid.",
    )?;
    if uuid::Uuid::parse_str(channel).is_err() {
        return Err(Refusal::bad_request(
            10052,
            "The \"channelAddressIdentifier\" field set in post conversation request isn't valid.",
        ));
    }
    let participants_message =
        "The \"participants\" field set in post conversation request is either invalid or empty.";
    let participant = body
        .get("participants")
        .and_then(Value::as_array)
        .filter(|items| items.len() == 1)
        .and_then(|items| items[0].as_object())
        .ok_or_else(|| Refusal::bad_request(10053, participants_message))?;
    if participant.get("role").and_then(Value::as_str) != Some("EndUser")
        || participant.get("appType").and_then(Value::as_str) != Some("custom")
    {
        return Err(Refusal::bad_request(10053, participants_message));
    }
    let subject = required_str(
        participant,
        "subject",
        10054,
        "Invalid subject of participant in conversation request.",
    )?;
    match body.get("routingAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attributes)) if attributes.values().all(Value::is_string) => {}
        Some(_) => return Err(Refusal::bad_request(10089, INVALID_PARAMETERS)),
    }
    let (conversation, work_item) = fake.conversation_of(channel, subject);
    Ok((
        StatusCode::ACCEPTED,
        json!({"conversationIdentifier": conversation, "messagingSessionId": work_item, "success": true}),
    ))
}

/// `PATCH /consent`; refusals come as a `ConsentResponse` (`success: false, errorDetail`), the
/// only answer the official definition gives this endpoint.
pub(super) fn patch_consent(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    consent_rules(fake, body).map_err(|refusal| refusal.shaped(ErrorShape::Detail))
}

fn consent_rules(fake: &InteractionFake, body: &Value) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    let channel = required_str(
        body,
        "channelAddressIdentifier",
        10069,
        "Specify a valid channel address identifier or check your authorization configuration.",
    )?;
    let end_user = required_str(
        body,
        "endUserClientId",
        10020,
        "The endUserClientId provided is not valid.",
    )?;
    if channel.chars().count() > MAX_CONSENT_ID_CHARS
        || end_user.chars().count() > MAX_CONSENT_ID_CHARS
    {
        return Err(Refusal::bad_request(10089, INVALID_PARAMETERS));
    }
    let status = body.get("consentStatus").and_then(Value::as_str);
    if !status.is_some_and(|status| CONSENT_STATUSES.contains(&status)) {
        return Err(Refusal::bad_request(
            10021,
            "Enter a valid Consent Status Enum value.",
        ));
    }
    if !fake.partner_owns_consent() {
        return Err(Refusal::bad_request(
            10022,
            "Cannot update Consent Status where the Consent Owner of the channel is not set to Partner.",
        ));
    }
    Ok((StatusCode::OK, json!({"success": true})))
}

/// `POST /participant`.
pub(super) fn post_participant(
    _fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    conversation_id(body)?;
    if body.get("operation").and_then(Value::as_str) != Some("Remove") {
        return Err(Refusal::bad_request(
            10097,
            "Invalid operation. Please provide a valid operation for Participant API.",
        ));
    }
    let participant = body
        .get("participants")
        .and_then(Value::as_array)
        .filter(|items| items.len() == 1)
        .and_then(|items| items[0].as_object())
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    enum_field(participant, "appType", &APP_TYPES, true)?;
    enum_field(participant, "role", &ROLES, true)?;
    if participant.get("appType").and_then(Value::as_str) != Some("agent") {
        return Err(Refusal::bad_request(
            10037,
            "The AppType provided is not supported.",
        ));
    }
    if participant.get("role").and_then(Value::as_str) != Some("Agent") {
        return Err(Refusal::bad_request(
            10038,
            "The Participant Role provided is not supported.",
        ));
    }
    let subject = participant
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if subject.len() != crate::record_id::SHORT_ID_LEN || !is_record_id(subject, "005") {
        return Err(Refusal::bad_request(
            10036,
            "The participant does not exist.",
        ));
    }
    Ok((StatusCode::OK, json!({"success": true})))
}
