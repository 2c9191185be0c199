//! Body rules of the fake's inbound endpoints: `interactions` and `messagingSession`.
//!
//! `POST /interactions` learns the conversation and MessagingSession of each (channel, end user)
//! pair, which later lets `routingResult` check 15107. Codes from Salesforce's error table:
//! 10007–10011, 10018, 10020, 10027–10029, 10037, 10047, 10048, 10050, 10051, 10059, 10060,
//! 10062, 10102, 10103, 10106; an entry's content as [`entry_rules`] states it (10045,
//! 10048); `routingAttributes` an object of strings, a MessageDeliveryFailed entry's recipient
//! and errorCode, and an attachment the registered capabilities do not allow (10089); an
//! attachment's `attachmentIndex` (10029). It knows nothing about the connector's client.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::interaction_service::ack_rules::DUPLICATE_ENTRY;
use crate::interaction_service::capabilities_rules::check_registered_attachment;
use crate::interaction_service::checks::{
    conversation_id, enum_field, object, required_str, Refusal, INVALID_PARAMETERS,
};
use crate::interaction_service::entry_rules;
use crate::interaction_service::{InteractionFake, UploadedFile};

/// Longest `to` (channelAddressIdentifier).
const MAX_TO_CHARS: usize = 240;
/// Longest `from` (the end user's client id).
const MAX_FROM_CHARS: usize = 255;
/// Largest attachment Salesforce accepts.
const MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;
/// The messaging error codes a MessageDeliveryFailed entry may carry (Messaging admin guide).
pub(super) const MESSAGING_ERROR_CODES: [&str; 20] = [
    "0001", "0002", "0003", "0004", "0005", "0006", "1001", "1002", "1003", "1004", "2001", "2002",
    "2004", "3001", "3002", "3003", "3004", "3005", "3006", "3007",
];
/// Message types an end user may send (10062).
const END_USER_MESSAGE_TYPES: [&str; 3] = [
    "StaticContentMessage",
    "ChoicesResponseMessage",
    "FormResponseMessage",
];
/// `POST /interactions`: `json` is the parsed `json` part (None when missing or not JSON).
pub(super) fn post_interactions(
    fake: &InteractionFake,
    json_part: Option<&Value>,
    files: &[UploadedFile],
) -> Result<(StatusCode, Value), Refusal> {
    let body = json_part.ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    let body = object(body)?;
    let to = required_str(body, "to", 10027, "The provided \"to\" field isn't valid.")?;
    if uuid::Uuid::parse_str(to).is_err() || to.chars().count() > MAX_TO_CHARS {
        return Err(Refusal::bad_request(
            10027,
            "The provided \"to\" field isn't valid.",
        ));
    }
    let from = required_str(
        body,
        "from",
        10028,
        "The provided \"from\" field isn't valid.",
    )?;
    if from.chars().count() > MAX_FROM_CHARS {
        return Err(Refusal::bad_request(
            10028,
            "The provided \"from\" field isn't valid.",
        ));
    }
    match body.get("routingAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attributes)) if attributes.values().all(Value::is_string) => {}
        Some(_) => return Err(Refusal::bad_request(10089, INVALID_PARAMETERS)),
    }
    let list_message = "The provided interaction list isn't valid.";
    let interactions = body
        .get("interactions")
        .and_then(Value::as_array)
        .filter(|items| items.len() == 1)
        .ok_or_else(|| Refusal::bad_request(10029, list_message))?;
    let mut attachment_items = 0;
    let mut entry_ids = Vec::new();
    for item in interactions {
        let item = object(item)?;
        if !item.get("timestamp").is_some_and(Value::is_i64) {
            return Err(Refusal::bad_request(10029, list_message));
        }
        match item.get("interactionType").and_then(Value::as_str) {
            Some("EntryInteraction") => entry_ids.push(check_entry(item, from)?),
            Some("AttachmentInteraction") => {
                attachment_items += 1;
                entry_ids.push(check_attachment(fake, item, files)?);
            }
            _ => return Err(Refusal::bad_request(10029, list_message)),
        }
    }
    if attachment_items != files.len() {
        return Err(Refusal::bad_request(
            10011,
            "The number of interactions of type AttachmentInteraction does not match the number of attachment files.",
        ));
    }
    if files.len() > 1 {
        return Err(Refusal::bad_request(
            10011,
            "The number of interactions of type AttachmentInteraction does not match the number of attachment files.",
        ));
    }
    // Every entry id is client-generated and must be new (10073), so a retried call that
    // reached Salesforce the first time cannot store a second entry.
    if !fake.claim_entry_ids(&entry_ids) {
        return Err(Refusal::bad_request(10073, DUPLICATE_ENTRY));
    }
    let (conversation, work_item) = fake.conversation_of(to, from);
    Ok((
        StatusCode::ACCEPTED,
        json!({"conversationIdentifier": conversation, "workItemIds": [work_item], "success": true}),
    ))
}

/// An EntryInteraction: ids present and equal (10059, 10060), end-user message types (10062),
/// the entry's content ([`entry_rules`]), a MessageDeliveryFailed entry's recipient and code;
/// returns the entry id.
fn check_entry<'a>(item: &'a Map<String, Value>, from: &str) -> Result<&'a str, Refusal> {
    let payload = item
        .get("payload")
        .ok_or_else(|| Refusal::bad_request(10029, "The provided interaction list isn't valid."))?;
    let payload = object(payload)?;
    let empty_id = "Interaction ID or Message ID is empty.";
    let entry_id = required_str(payload, "id", 10059, empty_id)?;
    let entry_type = entry_rules::entry_type(payload)?;
    if entry_type == "MessageDeliveryFailed" {
        check_delivery_failed(payload, from)?;
        return Ok(entry_id);
    }
    if entry_type != "Message" {
        return Ok(entry_id);
    }
    let message = payload
        .get("abstractMessage")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::bad_request(10059, empty_id))?;
    let message_id = required_str(message, "id", 10059, empty_id)?;
    if message_id != entry_id {
        return Err(Refusal::bad_request(
            10060,
            "Interaction ID and Message ID are mismatched.",
        ));
    }
    let message_type = message.get("messageType").and_then(Value::as_str);
    if !message_type.is_some_and(|kind| END_USER_MESSAGE_TYPES.contains(&kind)) {
        return Err(Refusal::bad_request(
            10062,
            "Invalid message type. Only StaticContentMessage, ChoicesResponseMessage, and FormResponseMessage types are supported for messages sent from an end user.",
        ));
    }
    entry_rules::message(message)?;
    Ok(entry_id)
}

/// A MessageDeliveryFailed entry: `recipient` is the end user who sent the request
/// (`{appType: custom, role: EndUser, subject: from}`), `errorCode` one of the messaging error
/// codes, `failedConversationEntryIdentifier` and `errorMessage` strings when present. Which
/// code Salesforce answers for these is not documented: 10089.
fn check_delivery_failed(payload: &Map<String, Value>, from: &str) -> Result<(), Refusal> {
    let recipient = payload
        .get("recipient")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    enum_field(recipient, "appType", &["custom"], true)?;
    enum_field(recipient, "role", &["EndUser"], true)?;
    if recipient.get("subject").and_then(Value::as_str) != Some(from) {
        return Err(Refusal::bad_request(10089, INVALID_PARAMETERS));
    }
    enum_field(payload, "errorCode", &MESSAGING_ERROR_CODES, true)?;
    for optional_text in ["failedConversationEntryIdentifier", "errorMessage"] {
        if payload
            .get(optional_text)
            .is_some_and(|value| !value.is_string())
        {
            return Err(Refusal::bad_request(10089, INVALID_PARAMETERS));
        }
    }
    Ok(())
}

/// An AttachmentInteraction: id (10007), contentLength (10010) matching the file (10051), file
/// present (10009), small enough (10008) and of a type and size the registered capabilities
/// allow (10089, see [`check_registered_attachment`]); returns its id.
fn check_attachment<'a>(
    fake: &InteractionFake,
    item: &'a Map<String, Value>,
    files: &[UploadedFile],
) -> Result<&'a str, Refusal> {
    let id = required_str(item, "id", 10007, "The file ID field is empty.")?;
    let content_length = item
        .get("contentLength")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Refusal::bad_request(10010, "The interaction contentLength field is empty.")
        })?;
    let list_message = "The provided interaction list isn't valid.";
    let index = item
        .get("attachmentIndex")
        .and_then(Value::as_u64)
        .ok_or_else(|| Refusal::bad_request(10029, list_message))?;
    if item
        .get("text")
        .is_some_and(|text| !text.is_null() && !text.is_string())
    {
        return Err(Refusal::bad_request(10029, list_message));
    }
    let file = usize::try_from(index)
        .ok()
        .and_then(|index| files.get(index))
        .filter(|file| file.size > 0)
        .ok_or_else(|| Refusal::bad_request(10009, "The file is empty or doesn’t exist."))?;
    if file.size > MAX_ATTACHMENT_BYTES {
        return Err(Refusal::bad_request(
            10008,
            "The file size exceeds the maximum limit of 25 MB.",
        ));
    }
    if u64::try_from(file.size).ok() != Some(content_length) {
        return Err(Refusal::bad_request(
            10051,
            "The file size (in bytes) of uploaded attachment is incorrect.",
        ));
    }
    check_registered_attachment(fake.capabilities().as_ref(), file)?;
    Ok(id)
}

/// `POST /messagingSession`.
pub(super) fn post_messaging_session(body: &Value) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    required_str(body, "channelAddressIdentifier", 10089, INVALID_PARAMETERS)?;
    required_str(
        body,
        "endUserClientId",
        10020,
        "The endUserClientId provided is not valid.",
    )?;
    conversation_id(body)?;
    let operation = enum_field(body, "operation", &["End", "Inactivate"], true).map_err(|_| {
        Refusal::bad_request(
            10102,
            "Invalid operation type value for POST messaging session request.",
        )
    })?;
    enum_field(body, "operationBy", &["EndUser", "System"], false).map_err(|_| {
        Refusal::bad_request(
            10103,
            "Invalid operationBy value for POST messaging session.",
        )
    })?;
    if operation == Some("Inactivate") {
        required_str(
            body,
            "sessionId",
            10106,
            "Messaging Session ID is missing for Inactivate Messaging Session API.",
        )?;
    }
    Ok((StatusCode::OK, json!({"success": true})))
}
