//! Body rules of the fake's `POST /conversation` (starting a conversation proactively).
//!
//! As the official definition states them: `channelAddressIdentifier` required (10052),
//! exactly one participant (10053), the end user of a custom channel with a subject (10054),
//! `routingAttributes` an object of strings. The first call for a (channel, end user) pair
//! creates the conversation and its MessagingSession; later calls return them. It knows
//! nothing about the connector's client.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::interaction_service::checks::{object, required_str, Refusal, INVALID_PARAMETERS};
use crate::interaction_service::InteractionFake;

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
