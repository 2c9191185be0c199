//! Body rules of the fake's `POST /acknowledgement` (delivered / read receipts).
//!
//! As the official definition states them: `conversationIdentifier` (required, at most 240
//! characters, a known conversation's UUID else 10018), `sender` a `Participant` (required
//! `appType`, `subject`, `role`, enums), 1 to 25 `acknowledgements`, each with its four
//! required fields and `acknowledgementType` Read or Delivered; a created entry id already used
//! is refused with 10073. It knows nothing about the connector's client.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::interaction_service::checks::{
    conversation_id, enum_field, object, required_str, Refusal, INVALID_PARAMETERS,
};
use crate::interaction_service::InteractionFake;

/// Most acknowledgements one request may carry.
pub(super) const MAX_ACKNOWLEDGEMENTS: usize = 25;
/// Longest `conversationIdentifier`.
const MAX_CONVERSATION_ID_CHARS: usize = 240;
/// `AppType` values.
pub(super) const APP_TYPES: [&str; 6] = [
    "custom",
    "agent",
    "chatbot",
    "conversation",
    "live_message",
    "iamessage",
];
/// `ParticipantRole` values.
pub(super) const ROLES: [&str; 5] = ["EndUser", "Chatbot", "Agent", "Supervisor", "System"];
/// Salesforce's message for 10073.
pub(super) const DUPLICATE_ENTRY: &str =
    "Invalid message ID. Provide a unique ID for each message entry.";

/// `POST /acknowledgement`.
pub(super) fn post_acknowledgement(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    let conversation = body
        .get("conversationIdentifier")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if conversation.chars().count() > MAX_CONVERSATION_ID_CHARS {
        return Err(Refusal::bad_request(10089, INVALID_PARAMETERS));
    }
    conversation_id(body)?;
    participant(body.get("sender"))?;
    let items = body
        .get("acknowledgements")
        .and_then(Value::as_array)
        .filter(|items| (1..=MAX_ACKNOWLEDGEMENTS).contains(&items.len()))
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    let mut created = Vec::with_capacity(items.len());
    for item in items {
        created.push(acknowledgement(object(item)?)?);
    }
    let unique: HashSet<&str> = created.iter().copied().collect();
    if unique.len() != created.len() || !fake.claim_entry_ids(&created) {
        return Err(Refusal::bad_request(10073, DUPLICATE_ENTRY));
    }
    Ok((StatusCode::OK, json!({"success": true})))
}

/// A `Participant`: `appType`, `subject` and `role`, all required.
pub(super) fn participant(value: Option<&Value>) -> Result<(), Refusal> {
    let sender = object(value.unwrap_or(&Value::Null))?;
    enum_field(sender, "appType", &APP_TYPES, true)?;
    enum_field(sender, "role", &ROLES, true)?;
    required_str(sender, "subject", 10089, INVALID_PARAMETERS)?;
    Ok(())
}

/// One `Acknowledgement`; returns its created entry id.
fn acknowledgement(item: &Map<String, Value>) -> Result<&str, Refusal> {
    enum_field(item, "acknowledgementType", &["Read", "Delivered"], true)?;
    required_str(item, "acknowledgementTimestamp", 10089, INVALID_PARAMETERS)?;
    required_str(
        item,
        "acknowledgedConversationEntryIdentifier",
        10089,
        INVALID_PARAMETERS,
    )?;
    required_str(
        item,
        "acknowledgmentCreatedConversationEntryIdentifier",
        10089,
        INVALID_PARAMETERS,
    )
}
