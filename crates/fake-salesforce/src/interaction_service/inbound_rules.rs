//! Body rules of the fake's inbound endpoints: `interactions`, `capabilities`, `messagingSession`.
//!
//! `POST /interactions` learns the conversation and MessagingSession of each (channel, end user)
//! pair, which later lets `routingResult` check 15107. Codes from Salesforce's error table:
//! 10007–10011, 10018, 10020, 10027–10029, 10037, 10047, 10048, 10050, 10051, 10059, 10060,
//! 10062, 10071. It knows nothing about the connector's client.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::interaction_service::checks::{
    conversation_id, enum_field, object, required_str, ErrorShape, Refusal, INVALID_PARAMETERS,
};
use crate::interaction_service::{InteractionFake, UploadedFile};

/// `InteractionRequestJson.from`: `maxLength: 255`.
const MAX_FROM_CHARS: usize = 255;
/// `CustomChannelIntegration.integrationNamespace` and `conversationChannelDefinitionDevName`:
/// `maxLength: 240`.
const MAX_INTEGRATION_NAME_CHARS: usize = 240;
/// Largest attachment Salesforce accepts.
const MAX_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;
/// Message types an end user may send (10062).
const END_USER_MESSAGE_TYPES: [&str; 3] = [
    "StaticContentMessage",
    "ChoicesResponseMessage",
    "FormResponseMessage",
];
/// Message types a channel may register (10047).
const MESSAGE_TYPES: [&str; 5] = [
    "StaticContentMessage",
    "ChoicesMessage",
    "ChoicesResponseMessage",
    "FormMessage",
    "FormResponseMessage",
];
/// Format types a channel may register (10048).
const FORMAT_TYPES: [&str; 17] = [
    "Text",
    "Attachments",
    "RichLink",
    "Media",
    "Links",
    "WebView",
    "Application",
    "ExperienceType",
    "Buttons",
    "QuickReplies",
    "ListPicker",
    "Carousel",
    "TimePicker",
    "MessageDefinition",
    "Selections",
    "Inputs",
    "Result",
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
    if uuid::Uuid::parse_str(to).is_err() {
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
    // `InteractionRequestJson.from` is `maxLength: 255` (`to`, 240, is a UUID above).
    if from.chars().count() > MAX_FROM_CHARS {
        return Err(Refusal::bad_request(
            10028,
            "The provided \"from\" field isn't valid.",
        ));
    }
    let list_message = "The provided interaction list isn't valid.";
    let interactions = body
        .get("interactions")
        .and_then(Value::as_array)
        .filter(|items| items.len() == 1)
        .ok_or_else(|| Refusal::bad_request(10029, list_message))?;
    let mut attachment_items = 0;
    for item in interactions {
        let item = object(item)?;
        if !item.get("timestamp").is_some_and(Value::is_i64) {
            return Err(Refusal::bad_request(10029, list_message));
        }
        match item.get("interactionType").and_then(Value::as_str) {
            Some("EntryInteraction") => check_entry(item)?,
            Some("AttachmentInteraction") => {
                attachment_items += 1;
                check_attachment(item, files)?;
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
    let (conversation, work_item) = fake.conversation_of(to, from);
    Ok((
        StatusCode::ACCEPTED,
        json!({"conversationIdentifier": conversation, "workItemIds": [work_item], "success": true}),
    ))
}

/// An EntryInteraction: ids present and equal (10059, 10060), end-user message types (10062).
fn check_entry(item: &Map<String, Value>) -> Result<(), Refusal> {
    let payload = item
        .get("payload")
        .ok_or_else(|| Refusal::bad_request(10029, "The provided interaction list isn't valid."))?;
    let payload = object(payload)?;
    let empty_id = "Interaction ID or Message ID is empty.";
    let entry_id = required_str(payload, "id", 10059, empty_id)?;
    let entry_type = required_str(payload, "entryType", 10089, INVALID_PARAMETERS)?;
    if entry_type != "Message" {
        return Ok(());
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
    Ok(())
}

/// An AttachmentInteraction: id (10007), contentLength (10010) matching the file (10051), file
/// present (10009) and small enough (10008).
fn check_attachment(item: &Map<String, Value>, files: &[UploadedFile]) -> Result<(), Refusal> {
    required_str(item, "id", 10007, "The file ID field is empty.")?;
    let content_length = item
        .get("contentLength")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Refusal::bad_request(10010, "The interaction contentLength field is empty.")
        })?;
    let index = item
        .get("attachmentIndex")
        .and_then(Value::as_u64)
        .unwrap_or_default();
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
    Ok(())
}

/// `PATCH /capabilities`; errors in the `{success, errorDetail}` shape its response schema has.
pub(super) fn patch_capabilities(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    check_capabilities(body).map_err(|refusal| refusal.shaped(ErrorShape::Detail))?;
    fake.store_capabilities(body.clone());
    Ok((StatusCode::OK, json!({"success": true})))
}

fn check_capabilities(body: &Value) -> Result<(), Refusal> {
    let capabilities = object(body)?
        .get("capabilities")
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    let capabilities = object(capabilities)?;
    if capabilities.get("appType").and_then(Value::as_str) != Some("custom") {
        return Err(Refusal::bad_request(
            10037,
            "The AppType provided is not supported.",
        ));
    }
    let channels = capabilities
        .get("channelCapabilities")
        .and_then(Value::as_array)
        .filter(|channels| !channels.is_empty())
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    for channel in channels {
        check_channel_capability(object(channel)?)?;
    }
    Ok(())
}

fn check_channel_capability(channel: &Map<String, Value>) -> Result<(), Refusal> {
    let integration_message = "Specified custom integration is invalid.";
    let integration = channel
        .get("customIntegration")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::bad_request(10050, integration_message))?;
    if integration
        .get("customIntegrationType")
        .and_then(Value::as_str)
        != Some("CustomChannelIntegration")
    {
        return Err(Refusal::bad_request(10050, integration_message));
    }
    for field in [
        "integrationNamespace",
        "conversationChannelDefinitionDevName",
    ] {
        let name = required_str(integration, field, 10050, integration_message)?;
        if name.chars().count() > MAX_INTEGRATION_NAME_CHARS {
            return Err(Refusal::bad_request(10050, integration_message));
        }
    }
    let message_types = channel
        .get("messageTypeCapabilities")
        .and_then(Value::as_array)
        .filter(|types| !types.is_empty())
        .ok_or_else(|| Refusal::bad_request(10047, "Specified Message Type is invalid."))?;
    for message_type in message_types {
        let message_type = object(message_type)?;
        enum_field(message_type, "messageType", &MESSAGE_TYPES, true)
            .map_err(|_| Refusal::bad_request(10047, "Specified Message Type is invalid."))?;
        let formats = message_type
            .get("formatTypeCapabilities")
            .and_then(Value::as_array)
            .filter(|formats| !formats.is_empty())
            .ok_or_else(|| Refusal::bad_request(10048, "Specified Format Type is invalid."))?;
        for format in formats {
            enum_field(object(format)?, "formatType", &FORMAT_TYPES, true)
                .map_err(|_| Refusal::bad_request(10048, "Specified Format Type is invalid."))?;
        }
    }
    Ok(())
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
    let operation = enum_field(body, "operation", &["End", "Inactivate"], true)?;
    enum_field(body, "operationBy", &["EndUser", "System"], false)?;
    if operation == Some("Inactivate") {
        required_str(body, "sessionId", 10071, "Specify a valid session ID.")?;
    }
    Ok((StatusCode::OK, json!({"success": true})))
}
