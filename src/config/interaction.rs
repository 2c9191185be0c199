//! `[interaction]`: where the Interaction Service is and which channel definition the
//! connector acts for.
//!
//! This file owns those keys and turns them into the interaction client's [`ClientSettings`].
//! It knows nothing about the requests the client sends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::keys::example_hint;
use crate::auth::url_policy::{require_tls_or_loopback, UrlPolicyError};
use crate::interaction::{ClientSettings, DEFAULT_REQUEST_TIMEOUT};

/// The `[interaction]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionConfig {
    /// `https://<MyDomain>.my.salesforce-scrt.com`: the Interaction Service of the org.
    pub base_url: String,
    /// The ConversationChannelDefinition's developer name, sent as `AuthorizationContext`.
    pub authorization_context: String,
    /// Allows plaintext to a loopback `base_url`: the fake Salesforce only (G7).
    #[serde(default)]
    pub insecure: bool,
    /// Upper bound on one HTTP exchange with the Interaction Service.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
}

/// The Interaction Service client's settings (`base_url` and `authorization_context` are
/// arguments of its constructor).
impl From<&InteractionConfig> for ClientSettings {
    fn from(config: &InteractionConfig) -> Self {
        Self {
            request_timeout: config.request_timeout(),
            insecure: config.insecure,
            ..Self::default()
        }
    }
}

impl InteractionConfig {
    /// `request_timeout_secs` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        if let Err(error) =
            require_tls_or_loopback("interaction.base_url", &self.base_url, self.insecure)
        {
            let problem = match error {
                UrlPolicyError::Invalid { problem, .. } => format!("is not a valid url: {problem}"),
                UrlPolicyError::PlaintextNotAllowed { .. } => {
                    "uses plaintext http; only a loopback host with insecure = true may".to_owned()
                }
                UrlPolicyError::UnsupportedScheme { scheme, .. } => {
                    format!("must use https, got scheme `{scheme}`")
                }
            };
            problems.push(
                "interaction.base_url",
                problem,
                example_hint("interaction.base_url"),
            );
        }
        let context = &self.authorization_context;
        let is_developer_name = !context.is_empty()
            && context
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_');
        if !is_developer_name {
            problems.push(
                "interaction.authorization_context",
                "must be a developer name (letters, digits and underscores)",
                "use the DeveloperName of the channel's ConversationChannelDefinition, e.g. \
                 `authorization_context = \"Partner1_ChannelDefinition1\"`",
            );
        }
        problems.at_least(
            "interaction.request_timeout_secs",
            self.request_timeout_secs,
            1,
            &format!("the default is {}", DEFAULT_REQUEST_TIMEOUT.as_secs()),
        );
    }
}

fn default_request_timeout_secs() -> u64 {
    DEFAULT_REQUEST_TIMEOUT.as_secs()
}
