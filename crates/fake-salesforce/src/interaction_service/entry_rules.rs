//! The content rules of a conversation entry, shared by `POST /interactions` and
//! `POST /conversationHistory`, as the official definition states them: `entryType` one of
//! `EntryType`; a typing indicator's `timestamp` (int64); a message's `messageType` one of
//! `MessageType` and its `references`, each a `RecordReference` of exactly `id` and
//! `recordId`; a `StaticContentMessage`'s `staticContent` with a `formatType` of `FormatType`
//! (10048), the `Text` form's `text`, the `Attachments` form's attachments with `id`, `name`,
//! `mimeType` and `url`. Which code Salesforce gives a broken entry is documented only for the
//! format type; the rest get 10045, its code for an invalid entry format. It knows nothing
//! about the endpoints that carry the entries.

use serde_json::{Map, Value};

use crate::interaction_service::checks::Refusal;

/// `EntryType` of the official definition.
const ENTRY_TYPES: [&str; 15] = [
    "Message",
    "MessageDeliveryFailed",
    "TypingStartedIndicator",
    "TypingStoppedIndicator",
    "DeliveryAcknowledgement",
    "ReadAcknowledgement",
    "RoutingWorkResult",
    "ParticipantChanged",
    "RoutingResult",
    "Note",
    "FlagRaise",
    "FlagLower",
    "EndUserConsentUpdated",
    "SessionStatusChanged",
    "ConsultConversationInfo",
];

/// `MessageType` of the official definition.
pub(super) const MESSAGE_TYPES: [&str; 5] = [
    "ChoicesMessage",
    "ChoicesResponseMessage",
    "FormMessage",
    "FormResponseMessage",
    "StaticContentMessage",
];

/// `FormatType` of the official definition.
pub(super) const FORMAT_TYPES: [&str; 18] = [
    "Attachments",
    "RichLink",
    "Media",
    "Buttons",
    "Carousel",
    "QuickReplies",
    "ListPicker",
    "Selections",
    "Links",
    "TimePicker",
    "Application",
    "Result",
    "Inputs",
    "WebView",
    "Text",
    "ExperienceType",
    "Flow",
    "MessageDefinition",
];

/// Salesforce's message for 10045.
pub(super) const ENTRY_FORMAT: &str = "Provide a valid message entry format.";

fn invalid_entry() -> Refusal {
    Refusal::bad_request(10045, ENTRY_FORMAT)
}

/// `entryType` of `payload`, one of `EntryType`; a typing indicator also needs its
/// `timestamp`.
pub(super) fn entry_type(payload: &Map<String, Value>) -> Result<&str, Refusal> {
    let entry_type = payload
        .get("entryType")
        .and_then(Value::as_str)
        .filter(|kind| ENTRY_TYPES.contains(kind))
        .ok_or_else(invalid_entry)?;
    if matches!(
        entry_type,
        "TypingStartedIndicator" | "TypingStoppedIndicator"
    ) && !payload.get("timestamp").is_some_and(Value::is_i64)
    {
        return Err(invalid_entry());
    }
    Ok(entry_type)
}

/// A message's `messageType`, `references` and, for static content, its content.
pub(super) fn message(message: &Map<String, Value>) -> Result<(), Refusal> {
    let message_type = message
        .get("messageType")
        .and_then(Value::as_str)
        .filter(|kind| MESSAGE_TYPES.contains(kind))
        .ok_or_else(invalid_entry)?;
    match message.get("references") {
        None | Some(Value::Null) => {}
        Some(Value::Array(references)) if references.iter().all(is_record_reference) => {}
        Some(_) => return Err(invalid_entry()),
    }
    if message_type == "StaticContentMessage" {
        static_content(message.get("staticContent"))?;
    }
    Ok(())
}

/// A `RecordReference`: `id` and `recordId` strings and nothing else.
fn is_record_reference(reference: &Value) -> bool {
    reference.as_object().is_some_and(|reference| {
        reference.len() == 2
            && ["id", "recordId"]
                .iter()
                .all(|field| reference.get(*field).is_some_and(Value::is_string))
    })
}

/// A `StaticContentMessage`'s required `staticContent`.
fn static_content(content: Option<&Value>) -> Result<(), Refusal> {
    let content = content
        .and_then(Value::as_object)
        .ok_or_else(invalid_entry)?;
    let format = content
        .get("formatType")
        .and_then(Value::as_str)
        .filter(|format| FORMAT_TYPES.contains(format))
        .ok_or_else(|| Refusal::bad_request(10048, "Specified Format Type is invalid."))?;
    let complete = match format {
        "Text" => content.get("text").is_some_and(Value::is_string),
        "Attachments" => attachments_complete(content),
        _ => true,
    };
    if complete {
        Ok(())
    } else {
        Err(invalid_entry())
    }
}

/// An `Attachments` static content names at least one `Attachment`, each with the official
/// definition's required `id`, `name`, `mimeType` and `url`.
fn attachments_complete(content: &Map<String, Value>) -> bool {
    let Some(attachments) = content
        .get("attachments")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
    else {
        return false;
    };
    let complete = |attachment: &Value| {
        ["id", "name", "mimeType", "url"].iter().all(|field| {
            attachment
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|value| !value.trim().is_empty())
        })
    };
    attachments.iter().all(complete)
}
