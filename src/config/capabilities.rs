//! `[capabilities]`: what the connector registers with `PATCH /capabilities` at start.
//!
//! Either the keys of this section describe the channel (message and format types, a text
//! length, attachment types and size), or `file` names a JSON file holding the whole
//! `capabilities` object as the official API defines it. The file is read and parsed when the
//! configuration loads, so a bad file is a config error naming `capabilities.file`. It knows
//! nothing about when the registration is sent.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::Problems;
use crate::interaction::{
    Capabilities, CapabilitiesRequest, ChannelCapability, CustomIntegration, FormatTypeCapability,
    MessageTypeCapability, FORMAT_TYPES, MESSAGE_TYPES,
};

/// The `[capabilities]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesConfig {
    /// Register at start; readiness waits for Salesforce to accept it.
    #[serde(default)]
    pub register: bool,
    /// A JSON file holding the `capabilities` object (or the whole request body); when set,
    /// the other keys are not used.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The managed package namespace; without one, the org id (15 characters).
    #[serde(default)]
    pub integration_namespace: Option<String>,
    /// Registered `"MessageType:FormatType"` pairs.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Longest text message, in characters (a `StringFieldRestriction`, UTF8).
    #[serde(default)]
    pub text_max_length: Option<u64>,
    /// Attachment MIME types the channel can carry (`MimeTypeRestriction`s); empty: any.
    #[serde(default)]
    pub attachment_mime_types: Vec<String>,
    /// Largest attachment, in kilobytes (a `FileSizeRestriction`).
    #[serde(default)]
    pub attachment_max_size_kb: Option<u64>,
    /// The file's `capabilities` object, read when the configuration loads.
    #[serde(skip)]
    pub from_file: Option<Capabilities>,
}

impl Default for CapabilitiesConfig {
    fn default() -> Self {
        Self {
            register: false,
            file: None,
            integration_namespace: None,
            formats: default_formats(),
            text_max_length: None,
            attachment_mime_types: Vec::new(),
            attachment_max_size_kb: None,
            from_file: None,
        }
    }
}

fn default_formats() -> Vec<String> {
    vec!["StaticContentMessage:Text".to_owned()]
}

impl CapabilitiesConfig {
    /// Reads and parses `file`, when set.
    pub(super) fn read_files(&mut self, problems: &mut Problems) {
        let Some(path) = &self.file else {
            return;
        };
        let hint = "point it at a JSON file holding the `capabilities` object of PATCH \
                    /capabilities ({\"appType\": \"custom\", \"channelCapabilities\": [...]}), \
                    or remove the key";
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                problems.push(
                    "capabilities.file",
                    format!("cannot be read from {}: {error}", path.display()),
                    hint,
                );
                return;
            }
        };
        match parse_capabilities(&text) {
            Ok(capabilities) => self.from_file = Some(capabilities),
            Err(problem) => problems.push(
                "capabilities.file",
                format!("{} is not a capabilities object: {problem}", path.display()),
                hint,
            ),
        }
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        if self.file.is_some() {
            return;
        }
        if self.formats.is_empty() {
            problems.push(
                "capabilities.formats",
                "must name at least one format",
                "write it like `formats = [\"StaticContentMessage:Text\"]`",
            );
        }
        for format in &self.formats {
            let known = format.split_once(':').is_some_and(|(message, format)| {
                MESSAGE_TYPES.contains(&message) && FORMAT_TYPES.contains(&format)
            });
            if !known {
                problems.push(
                    "capabilities.formats",
                    format!("has {format:?}, which is not \"MessageType:FormatType\""),
                    format!(
                        "message types are {}; format types are {}",
                        MESSAGE_TYPES.join(", "),
                        FORMAT_TYPES.join(", ")
                    ),
                );
            }
        }
        if self.text_max_length == Some(0) {
            problems.push(
                "capabilities.text_max_length",
                "must be at least 1, got 0",
                "remove it for no limit",
            );
        }
        if self.attachment_max_size_kb == Some(0) {
            problems.push(
                "capabilities.attachment_max_size_kb",
                "must be at least 1, got 0",
                "Salesforce takes files up to 25 MB: `attachment_max_size_kb = 25600`",
            );
        }
        if self
            .attachment_mime_types
            .iter()
            .any(|mime| !mime.contains('/'))
        {
            problems.push(
                "capabilities.attachment_mime_types",
                "must hold MIME types",
                "write it like `attachment_mime_types = [\"image/png\", \"application/pdf\"]`",
            );
        }
    }

    /// The registration to send for the org `org_id_15` and channel definition
    /// `channel_definition`; `None` when `register` is off.
    pub fn request(
        &self,
        org_id_15: &str,
        channel_definition: &str,
    ) -> Option<CapabilitiesRequest> {
        if !self.register {
            return None;
        }
        if let Some(capabilities) = &self.from_file {
            return Some(CapabilitiesRequest {
                capabilities: capabilities.clone(),
            });
        }
        let mut by_message: Vec<MessageTypeCapability> = Vec::new();
        for (message_type, format_type) in self.formats.iter().filter_map(|f| f.split_once(':')) {
            let format = FormatTypeCapability {
                format_type: format_type.to_owned(),
                capability_field_restriction: self.restrictions(format_type),
            };
            match by_message
                .iter_mut()
                .find(|entry| entry.message_type == message_type)
            {
                Some(entry) => entry.format_type_capabilities.push(format),
                None => by_message.push(MessageTypeCapability {
                    message_type: message_type.to_owned(),
                    format_type_capabilities: vec![format],
                }),
            }
        }
        let namespace = self
            .integration_namespace
            .clone()
            .unwrap_or_else(|| org_id_15.to_owned());
        Some(CapabilitiesRequest {
            capabilities: Capabilities {
                app_type: "custom".to_owned(),
                channel_capabilities: vec![ChannelCapability {
                    channel_type: "custom".to_owned(),
                    custom_integration: CustomIntegration {
                        custom_integration_type: "CustomChannelIntegration".to_owned(),
                        integration_namespace: namespace,
                        conversation_channel_definition_dev_name: channel_definition.to_owned(),
                    },
                    message_type_capabilities: by_message,
                    progress_indicator_type_capabilities: None,
                }],
            },
        })
    }

    /// The field restrictions of `format_type` these keys describe.
    fn restrictions(&self, format_type: &str) -> Option<Vec<serde_json::Value>> {
        let mut restrictions = Vec::new();
        match format_type {
            "Text" => {
                if let Some(max) = self.text_max_length {
                    restrictions.push(json!({"fieldJsonPath": "$.staticContent.text",
                        "restriction": {"fieldRestrictionType": "StringFieldRestriction",
                                        "encoding": "UTF8", "maxLength": max}}));
                }
            }
            "Attachments" => {
                for mime_type in &self.attachment_mime_types {
                    restrictions.push(
                        json!({"fieldJsonPath": "$.staticContent.attachments.mimeType",
                        "restriction": {"fieldRestrictionType": "MimeTypeRestriction",
                                        "mimeType": mime_type}}),
                    );
                }
                if let Some(max) = self.attachment_max_size_kb {
                    restrictions.push(json!({"fieldJsonPath": "$.staticContent.attachments",
                        "restriction": {"fieldRestrictionType": "FileSizeRestriction",
                                        "maxSizeInKb": max}}));
                }
            }
            _ => {}
        }
        (!restrictions.is_empty()).then_some(restrictions)
    }
}

/// The `capabilities` object of a file holding it alone or inside a whole request body.
fn parse_capabilities(text: &str) -> Result<Capabilities, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        format!(
            "not json (line {}, column {})",
            error.line(),
            error.column()
        )
    })?;
    let object = match value.get("capabilities") {
        Some(inner) => inner.clone(),
        None => value,
    };
    serde_path_to_error::deserialize::<_, Capabilities>(object)
        .map_err(|error| format!("at {}: {}", error.path(), error.inner()))
}
