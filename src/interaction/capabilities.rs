//! `PATCH /capabilities`: registers which message and format types the channel supports.
//!
//! Salesforce sends outbound only the formats registered here. Restrictions stay JSON values
//! (seven shapes, passed through as written in config). It knows nothing about Pub/Sub.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError};

/// Body of `PATCH /capabilities`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesRequest {
    /// The registration.
    pub capabilities: Capabilities,
}

/// The capability set of one app type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Always `custom` for a BYOC channel.
    pub app_type: String,
    /// One entry per channel definition.
    pub channel_capabilities: Vec<ChannelCapability>,
}

/// Capabilities of one custom channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCapability {
    /// Always `custom`.
    pub channel_type: String,
    /// Which channel definition this is for.
    pub custom_integration: CustomIntegration,
    /// At least one message type.
    pub message_type_capabilities: Vec<MessageTypeCapability>,
    /// Progress indicators the channel can show, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_indicator_type_capabilities: Option<Vec<Value>>,
}

/// Names the channel definition the capabilities belong to.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageTypeCapability {
    /// E.g. `StaticContentMessage`, `ChoicesMessage`.
    pub message_type: String,
    /// E.g. `Text`, `Attachments`, `Buttons`.
    pub format_type_capabilities: Vec<FormatTypeCapability>,
}

/// One supported format, with optional field restrictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatTypeCapability {
    /// The format type.
    pub format_type: String,
    /// Restrictions such as `StringFieldRestriction`, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capability_field_restriction: Option<Vec<Value>>,
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
