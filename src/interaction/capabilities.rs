//! `PATCH /capabilities`: registers which message and format types the channel supports.
//!
//! Salesforce sends outbound only the formats registered here. Restrictions stay JSON values
//! (seven shapes, passed through as written in config). [`RegisteredCapabilities`] is what a
//! registration allows, in the form a caller checks a message against (format, text length,
//! attachment type and size). It knows nothing about Pub/Sub.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError};

/// Body of `PATCH /capabilities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesRequest {
    /// The registration.
    pub capabilities: Capabilities,
}

/// The capability set of one app type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Always `custom` for a BYOC channel.
    pub app_type: String,
    /// One entry per channel definition.
    pub channel_capabilities: Vec<ChannelCapability>,
}

/// Capabilities of one custom channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCapability {
    /// Always `custom` (optional in the API, so a file may leave it out).
    #[serde(default = "custom_channel_type")]
    pub channel_type: String,
    /// Which channel definition this is for.
    pub custom_integration: CustomIntegration,
    /// At least one message type.
    pub message_type_capabilities: Vec<MessageTypeCapability>,
    /// Progress indicators the channel can show, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_indicator_type_capabilities: Option<Vec<Value>>,
}

/// Names the channel definition the capabilities belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomIntegration {
    /// Always `CustomChannelIntegration`.
    pub custom_integration_type: String,
    /// The managed package namespace, or the org id without one.
    pub integration_namespace: String,
    /// The ConversationChannelDefinition developer name.
    pub conversation_channel_definition_dev_name: String,
}

/// One message type and the formats supported for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageTypeCapability {
    /// E.g. `StaticContentMessage`, `ChoicesMessage`.
    pub message_type: String,
    /// E.g. `Text`, `Attachments`, `Buttons`.
    pub format_type_capabilities: Vec<FormatTypeCapability>,
}

/// One supported format, with optional field restrictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatTypeCapability {
    /// The format type.
    pub format_type: String,
    /// Restrictions such as `StringFieldRestriction`, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_field_restriction: Option<Vec<Value>>,
}

fn custom_channel_type() -> String {
    "custom".to_owned()
}

impl ChannelCapability {
    /// A custom channel supporting `formats` (message type → format types), without restrictions.
    pub fn custom(namespace: &str, channel_definition: &str, formats: &[(&str, &[&str])]) -> Self {
        Self {
            channel_type: "custom".to_owned(),
            custom_integration: CustomIntegration {
                custom_integration_type: "CustomChannelIntegration".to_owned(),
                integration_namespace: namespace.to_owned(),
                conversation_channel_definition_dev_name: channel_definition.to_owned(),
            },
            message_type_capabilities: formats
                .iter()
                .map(|(message_type, format_types)| MessageTypeCapability {
                    message_type: (*message_type).to_owned(),
                    format_type_capabilities: format_types
                        .iter()
                        .map(|format_type| FormatTypeCapability {
                            format_type: (*format_type).to_owned(),
                            capability_field_restriction: None,
                        })
                        .collect(),
                })
                .collect(),
            progress_indicator_type_capabilities: None,
        }
    }
}

/// Message types a channel may register (`MessageType` in the official API definition).
pub(crate) const MESSAGE_TYPES: [&str; 5] = [
    "StaticContentMessage",
    "ChoicesMessage",
    "ChoicesResponseMessage",
    "FormMessage",
    "FormResponseMessage",
];

/// Format types a channel may register (`FormatType` in the official API definition).
pub(crate) const FORMAT_TYPES: [&str; 18] = [
    "Text",
    "Flow",
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

/// What a registration allows, for checking a message before it is sent.
///
/// Built from the body Salesforce accepted; restrictions of all channels are merged, the
/// strictest bound winning. `None` bounds mean the registration names none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredCapabilities {
    /// `(messageType, formatType)` pairs registered.
    pub formats: std::collections::BTreeSet<(String, String)>,
    /// Longest `$.staticContent.text`, from a `StringFieldRestriction`.
    pub text_max_length: Option<u64>,
    /// Attachment MIME types, from `MimeTypeRestriction`s; empty: any type.
    pub attachment_mime_types: std::collections::BTreeSet<String>,
    /// Largest attachment in bytes, from a `FileSizeRestriction` (`maxSizeInKb` × 1024).
    pub attachment_max_bytes: Option<u64>,
}

/// Why a message does not fit the registered capabilities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityViolation {
    /// The text is longer than registered.
    #[error("text is {length} characters, longer than the registered {max}")]
    TextTooLong {
        /// The text's length in characters.
        length: u64,
        /// The registered maximum.
        max: u64,
    },
    /// The attachment's MIME type is not registered.
    #[error("attachment type {mime_type} is not a registered type")]
    MimeTypeNotRegistered {
        /// The attachment's type.
        mime_type: String,
    },
    /// The attachment is larger than registered.
    #[error("attachment is {size} bytes, larger than the registered {max}")]
    AttachmentTooLarge {
        /// The attachment's size in bytes.
        size: u64,
        /// The registered maximum in bytes.
        max: u64,
    },
}

impl RegisteredCapabilities {
    /// What `capabilities` allows.
    pub(crate) fn from_registration(capabilities: &Capabilities) -> Self {
        let mut registered = Self::default();
        let formats = capabilities
            .channel_capabilities
            .iter()
            .flat_map(|channel| &channel.message_type_capabilities)
            .flat_map(|message| {
                message
                    .format_type_capabilities
                    .iter()
                    .map(move |format| (message, format))
            });
        for (message, format) in formats {
            registered
                .formats
                .insert((message.message_type.clone(), format.format_type.clone()));
            for restriction in format.capability_field_restriction.iter().flatten() {
                registered.add_restriction(restriction);
            }
        }
        registered
    }

    fn add_restriction(&mut self, item: &Value) {
        let restriction = &item["restriction"];
        let strictest = |current: Option<u64>, new: Option<u64>| match (current, new) {
            (Some(current), Some(new)) => Some(current.min(new)),
            (current, new) => current.or(new),
        };
        match restriction["fieldRestrictionType"].as_str() {
            Some("StringFieldRestriction")
                if item["fieldJsonPath"].as_str() == Some("$.staticContent.text") =>
            {
                self.text_max_length =
                    strictest(self.text_max_length, restriction["maxLength"].as_u64());
            }
            Some("MimeTypeRestriction") => {
                if let Some(mime_type) = restriction["mimeType"].as_str() {
                    self.attachment_mime_types.insert(mime_type.to_owned());
                }
            }
            Some("FileSizeRestriction") => {
                let max_bytes = restriction["maxSizeInKb"]
                    .as_u64()
                    .map(|kb| kb.saturating_mul(1024));
                self.attachment_max_bytes = strictest(self.attachment_max_bytes, max_bytes);
            }
            _ => {}
        }
    }

    /// Whether a text of `text` fits the registered length.
    pub(crate) fn check_text(&self, text: &str) -> Result<(), CapabilityViolation> {
        let length = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
        match self.text_max_length {
            Some(max) if length > max => Err(CapabilityViolation::TextTooLong { length, max }),
            _ => Ok(()),
        }
    }

    /// Whether an attachment of `mime_type` and `size` bytes fits the registration. Types
    /// compare by their essence (parameters dropped) and without regard to case, as MIME
    /// types do: `image/PNG; name=x` is the registered `image/png`.
    pub(crate) fn check_attachment(
        &self,
        mime_type: &str,
        size: u64,
    ) -> Result<(), CapabilityViolation> {
        let essence = mime_type.split(';').next().unwrap_or_default().trim();
        let registered = self
            .attachment_mime_types
            .iter()
            .any(|known| known.trim().eq_ignore_ascii_case(essence));
        if !self.attachment_mime_types.is_empty() && !registered {
            return Err(CapabilityViolation::MimeTypeNotRegistered {
                mime_type: mime_type.to_owned(),
            });
        }
        match self.attachment_max_bytes {
            Some(max) if size > max => Err(CapabilityViolation::AttachmentTooLarge { size, max }),
            _ => Ok(()),
        }
    }
}

/// Answer to `PATCH /capabilities` (200).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CapabilitiesResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const PATCH_CAPABILITIES: Endpoint = Endpoint {
    method: Method::PATCH,
    path: "capabilities",
    sends_context_type: true,
    leader_only: false,
};

impl InteractionClient {
    /// `PATCH /capabilities`: registers the channel's supported formats.
    pub async fn patch_capabilities(
        &self,
        request: &CapabilitiesRequest,
    ) -> Result<CapabilitiesResponse, InteractionError> {
        super::rules::patch_capabilities(request)?;
        self.call(&PATCH_CAPABILITIES, json_body(request)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_type_matches_whatever_its_case_and_parameters() {
        let registered = RegisteredCapabilities {
            attachment_mime_types: ["image/png".to_owned()].into(),
            ..RegisteredCapabilities::default()
        };
        for given in ["image/png", "image/PNG", "Image/Png; name=scan.png"] {
            assert_eq!(registered.check_attachment(given, 1), Ok(()), "{given}");
        }
        assert!(matches!(
            registered.check_attachment("image/jpeg", 1),
            Err(CapabilityViolation::MimeTypeNotRegistered { .. })
        ));
    }
}
