//! Body rules of the fake's `PATCH /capabilities`, from the official `CapabilitiesRequest`
//! schema: `appType` (10037), `channelCapabilities` with at least one item, `channelType` only
//! `custom`, the custom integration (10050), message types (10047) and format types (10048)
//! with at least one format each, field restrictions (a JSON path, a known
//! `fieldRestrictionType` and that type's required fields) and progress indicators (10098 when
//! the list is empty). What fails without a code of its own is 10089. An accepted body is kept
//! for tests to read, and an `/interactions` attachment is checked against the `Attachments`
//! restrictions it registered ([`check_registered_attachment`]). It knows nothing about the
//! connector's client.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::interaction_service::checks::{
    enum_field, object, required_str, ErrorShape, Refusal, INVALID_PARAMETERS,
};
use crate::interaction_service::entry_rules::{FORMAT_TYPES, MESSAGE_TYPES};
use crate::interaction_service::{InteractionFake, UploadedFile};

/// `CustomChannelIntegration.integrationNamespace` and `conversationChannelDefinitionDevName`:
/// `maxLength: 240`.
const MAX_INTEGRATION_NAME_CHARS: usize = 240;

/// `AppType`.
const APP_TYPES: [&str; 6] = [
    "custom",
    "agent",
    "chatbot",
    "conversation",
    "live_message",
    "iamessage",
];
/// `CapabilityEncoding`.
const ENCODINGS: [&str; 3] = ["UTF8", "GSM", "UCS2"];
/// `DimensionType`.
const DIMENSION_TYPES: [&str; 2] = ["PIXEL", "RATIO"];

/// `PATCH /capabilities`; errors in the `{success, errorDetail}` shape its response schema has.
pub(super) fn patch_capabilities(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    check_capabilities(body).map_err(|refusal| refusal.shaped(ErrorShape::Detail))?;
    fake.store_capabilities(body.clone());
    Ok((StatusCode::OK, json!({"success": true})))
}

/// Refuses an `/interactions` attachment that the registered capabilities do not allow: with
/// `MimeTypeRestriction`s on an `Attachments` format, its part's `Content-Type` (without
/// parameters, compared case-insensitively) must be one of their `mimeType`s; with a
/// `FileSizeRestriction` there, it must be at most the smallest `maxSizeInKb` × 1024 bytes.
/// Without a registration, or without such restrictions, any type and size up to 25 MB pass.
///
/// UNVERIFIED: neither the API definition nor `ERRORCODES.md` says that Salesforce checks an
/// inbound attachment against the registration (the registration describes what the channel
/// can receive), nor which code it would answer; no code is about it (10023 is about consent
/// keywords, 10095 about a MIME type that cannot be determined, 10008 about the fixed 25 MB).
/// The fake takes the safe reading, refusing such an attachment with the generic 10089, so a
/// client that sends one is caught; whether a kilobyte is 1024 or 1000 bytes is unverified too.
pub(super) fn check_registered_attachment(
    registration: Option<&Value>,
    file: &UploadedFile,
) -> Result<(), Refusal> {
    let Some(registration) = registration else {
        return Ok(());
    };
    let restrictions = registration
        .pointer("/capabilities/channelCapabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|channel| channel.get("messageTypeCapabilities")?.as_array())
        .flatten()
        .filter_map(|message| message.get("formatTypeCapabilities")?.as_array())
        .flatten()
        .filter(|format| format.get("formatType").and_then(Value::as_str) == Some("Attachments"))
        .filter_map(|format| format.get("capabilityFieldRestriction")?.as_array())
        .flatten()
        .filter_map(|item| item.get("restriction"));
    let mut mime_types = Vec::new();
    let mut max_bytes: Option<u64> = None;
    for restriction in restrictions {
        match restriction
            .get("fieldRestrictionType")
            .and_then(Value::as_str)
        {
            Some("MimeTypeRestriction") => {
                mime_types.extend(restriction.get("mimeType").and_then(Value::as_str));
            }
            Some("FileSizeRestriction") => {
                if let Some(kb) = restriction.get("maxSizeInKb").and_then(Value::as_u64) {
                    let bytes = kb.saturating_mul(1024);
                    max_bytes = Some(max_bytes.map_or(bytes, |max| max.min(bytes)));
                }
            }
            _ => {}
        }
    }
    let essence = file
        .content_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let type_allowed = mime_types.is_empty()
        || mime_types
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(essence));
    let size_allowed =
        max_bytes.is_none_or(|max| u64::try_from(file.size).is_ok_and(|size| size <= max));
    if type_allowed && size_allowed {
        Ok(())
    } else {
        Err(invalid())
    }
}

fn invalid() -> Refusal {
    Refusal::bad_request(10089, INVALID_PARAMETERS)
}

/// A non-empty array field, or `refusal`.
fn non_empty_array<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    refusal: impl FnOnce() -> Refusal,
) -> Result<&'a Vec<Value>, Refusal> {
    body.get(field)
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(refusal)
}

fn check_capabilities(body: &Value) -> Result<(), Refusal> {
    let capabilities = object(body)?.get("capabilities").ok_or_else(invalid)?;
    let capabilities = object(capabilities)?;
    let app_type = capabilities.get("appType").and_then(Value::as_str);
    if !app_type.is_some_and(|app| APP_TYPES.contains(&app)) {
        return Err(invalid());
    }
    // A BYOC channel registers for its own app type only.
    if app_type != Some("custom") {
        return Err(Refusal::bad_request(
            10037,
            "The AppType provided is not supported.",
        ));
    }
    for channel in non_empty_array(capabilities, "channelCapabilities", invalid)? {
        check_channel_capability(object(channel)?)?;
    }
    Ok(())
}

fn check_channel_capability(channel: &Map<String, Value>) -> Result<(), Refusal> {
    enum_field(channel, "channelType", &["custom"], false)?;
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
    let message_type_refusal = || Refusal::bad_request(10047, "Specified Message Type is invalid.");
    for message_type in non_empty_array(channel, "messageTypeCapabilities", message_type_refusal)? {
        let message_type = object(message_type)?;
        enum_field(message_type, "messageType", &MESSAGE_TYPES, true)
            .map_err(|_| message_type_refusal())?;
        check_formats(message_type)?;
    }
    if let Some(indicators) = channel.get("progressIndicatorTypeCapabilities") {
        let indicators = indicators
            .as_array()
            .filter(|items| !items.is_empty())
            .ok_or_else(|| {
                Refusal::bad_request(
                    10098,
                    "The progressIndicatorCapability parameter can't be empty. Please provide a valid value or remove the parameter from the payload and try again.",
                )
            })?;
        for indicator in indicators {
            let indicator = object(indicator)?;
            enum_field(
                indicator,
                "progressIndicatorType",
                &["ProgressUpdateIndicator"],
                true,
            )?;
            check_formats(indicator)?;
        }
    }
    Ok(())
}

/// `formatTypeCapabilities`: at least one, each a known format type (10048) whose restrictions
/// are well formed.
fn check_formats(owner: &Map<String, Value>) -> Result<(), Refusal> {
    let format_refusal = || Refusal::bad_request(10048, "Specified Format Type is invalid.");
    for format in non_empty_array(owner, "formatTypeCapabilities", format_refusal)? {
        let format = object(format)?;
        enum_field(format, "formatType", &FORMAT_TYPES, true).map_err(|_| format_refusal())?;
        if let Some(restrictions) = format.get("capabilityFieldRestriction") {
            for restriction in restrictions.as_array().ok_or_else(invalid)? {
                check_field_restriction(object(restriction)?)?;
            }
        }
    }
    Ok(())
}

/// One `CapabilityFieldRestriction`: `fieldJsonPath` (root and child operators only) and a
/// `restriction` with the required fields of its `fieldRestrictionType`.
fn check_field_restriction(item: &Map<String, Value>) -> Result<(), Refusal> {
    let path = required_str(item, "fieldJsonPath", 10089, INVALID_PARAMETERS)?;
    if !path.starts_with('$') {
        return Err(invalid());
    }
    let restriction = object(item.get("restriction").ok_or_else(invalid)?)?;
    let kind = restriction
        .get("fieldRestrictionType")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let is_int = |field: &str| restriction.get(field).is_some_and(Value::is_i64);
    let is_number = |field: &str| restriction.get(field).is_some_and(Value::is_number);
    let has_str = |field: &str| {
        restriction
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|value| !value.trim().is_empty())
    };
    let well_formed = match kind {
        "StringFieldRestriction" => {
            enum_field(restriction, "encoding", &ENCODINGS, true)?;
            is_int("maxLength")
        }
        "MimeTypeRestriction" => has_str("mimeType"),
        "FileSizeRestriction" => is_int("maxSizeInKb"),
        "DimensionRestriction" => {
            enum_field(restriction, "dimensionType", &DIMENSION_TYPES, true)?;
            is_number("x") && is_number("y")
        }
        "ArrayRestriction" => is_int("maxItems"),
        "RequiredFieldRestriction" => restriction
            .get("fieldRequired")
            .is_some_and(Value::is_boolean),
        "TypeRestriction" => has_str("type"),
        _ => false,
    };
    if well_formed {
        Ok(())
    } else {
        Err(invalid())
    }
}
