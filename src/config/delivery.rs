//! `[delivery]` and `[channel]`: where events go (the partner's webhook or stdout) and which
//! channel addresses this connector serves.
//!
//! This file owns those keys and turns `[delivery]` into the webhook channel's
//! [`WebhookSettings`] and the [`AnyChannel`] it selects. The webhook
//! secret is a [`SecretString`] and URLs print without their query (it may carry a token), so
//! `Debug` never shows either. It knows nothing about the envelope that is sent.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::error::Problems;
use super::keys::example_hint;
use super::pubsub::duration_ms;
use crate::channel::{
    AnyChannel, BatchedWebhook, StdoutChannel, WebhookChannel, WebhookError, WebhookSettings,
    BATCH_MAX_EVENTS_LIMIT, WEBHOOK_CONNECT_TIMEOUT, WEBHOOK_REQUEST_TIMEOUT,
};
use crate::conversation::{RefusalSettings, DEFAULT_REFUSAL_ERROR_CODE};
use crate::interaction::{is_messaging_error_code, MESSAGING_ERROR_CODES};
use crate::secret::SecretString;

/// Which channel receives the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    /// HTTP POST to the partner (DESIGN §6).
    #[default]
    Webhook,
    /// One JSON envelope per line on standard output.
    Stdout,
}

/// The `[delivery]` section.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Which channel receives the events.
    pub kind: DeliveryKind,
    /// The partner's webhook; required when `kind = "webhook"`.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: Option<String>,
    /// Signs every delivery (`X-Byoc-Signature`) when set.
    pub secret: Option<SecretString>,
    /// Limit for opening a connection to the partner.
    pub connect_timeout_ms: u64,
    /// Limit for one request, response body included.
    pub request_timeout_ms: u64,
    /// When the partner refuses a message for good, also send MessageDeliveryFailed to
    /// Salesforce so the rep learns it did not arrive.
    pub report_refusals: bool,
    /// The messaging error code sent when the refusal's body names no valid `errorCode`.
    pub refusal_error_code: String,
    /// Most events per webhook request; 1 sends one event per request, more sends batches.
    pub batch_max_events: usize,
}

impl fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("secret", &self.secret)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("report_refusals", &self.report_refusals)
            .field("refusal_error_code", &self.refusal_error_code)
            .field("batch_max_events", &self.batch_max_events)
            .finish()
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            kind: DeliveryKind::default(),
            url: None,
            secret: None,
            connect_timeout_ms: duration_ms(WEBHOOK_CONNECT_TIMEOUT),
            request_timeout_ms: duration_ms(WEBHOOK_REQUEST_TIMEOUT),
            report_refusals: true,
            refusal_error_code: DEFAULT_REFUSAL_ERROR_CODE.to_owned(),
            batch_max_events: 1,
        }
    }
}

/// What the connector does with a message the partner refused for good.
impl From<&DeliveryConfig> for RefusalSettings {
    fn from(config: &DeliveryConfig) -> Self {
        Self {
            report: config.report_refusals,
            default_code: config.refusal_error_code.clone(),
        }
    }
}

/// The webhook channel's settings; `None` for `kind = "stdout"`.
impl From<&DeliveryConfig> for Option<WebhookSettings> {
    fn from(config: &DeliveryConfig) -> Self {
        if config.kind != DeliveryKind::Webhook {
            return None;
        }
        let url = config.url.clone()?;
        Some(WebhookSettings {
            url,
            secret: config.secret.clone(),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
        })
    }
}

/// The channel the section selects: the partner's webhook, or standard output.
impl TryFrom<&DeliveryConfig> for AnyChannel {
    type Error = WebhookError;

    fn try_from(config: &DeliveryConfig) -> Result<Self, Self::Error> {
        Ok(match Option::<WebhookSettings>::from(config) {
            Some(settings) if config.batch_max_events > 1 => Self::BatchedWebhook(
                BatchedWebhook::new(WebhookChannel::new(settings)?, config.batch_max_events),
            ),
            Some(settings) => Self::Webhook(WebhookChannel::new(settings)?),
            None => Self::Stdout(StdoutChannel::new()),
        })
    }
}

impl DeliveryConfig {
    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        match (&self.kind, &self.url) {
            (DeliveryKind::Webhook, None) => problems.push(
                "delivery.url",
                "is missing",
                "set the partner's webhook, e.g. `url = \"https://partner.example/byoc/events\"` \
                 in [delivery], or use kind = \"stdout\"",
            ),
            (_, Some(url)) => check_http_url("delivery.url", url, problems),
            (DeliveryKind::Stdout, None) => {}
        }
        check_secret("delivery.secret", self.secret.as_ref(), problems);
        problems.at_least(
            "delivery.connect_timeout_ms",
            self.connect_timeout_ms,
            1,
            &format!("the default is {}", duration_ms(WEBHOOK_CONNECT_TIMEOUT)),
        );
        if !is_messaging_error_code(&self.refusal_error_code) {
            problems.push(
                "delivery.refusal_error_code",
                format!(
                    "must be a messaging error code, got {:?}",
                    self.refusal_error_code
                ),
                format!(
                    "use one of {}; the default is {DEFAULT_REFUSAL_ERROR_CODE}",
                    MESSAGING_ERROR_CODES.join(", ")
                ),
            );
        }
        problems.within(
            "delivery.batch_max_events",
            u64::try_from(self.batch_max_events).unwrap_or(u64::MAX),
            1,
            u64::try_from(BATCH_MAX_EVENTS_LIMIT).unwrap_or(u64::MAX),
            "1 (the default) sends one event per request; more sends batches \
             (docs/partner-webhook.md)",
        );
        if self.kind == DeliveryKind::Stdout && self.batch_max_events > 1 {
            problems.push(
                "delivery.batch_max_events",
                "applies only to kind = \"webhook\"",
                "remove the key, or set kind = \"webhook\"",
            );
        }
        problems.at_least(
            "delivery.request_timeout_ms",
            self.request_timeout_ms,
            1,
            &format!("the default is {}", duration_ms(WEBHOOK_REQUEST_TIMEOUT)),
        );
    }
}

/// The `[channel]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// When set, events for other channel addresses are completed without delivery.
    pub address_identifiers: Option<Vec<String>>,
    /// Who owns the end users' messaging consent, as the channel's "Consent Owner" setting in
    /// Salesforce says; the sidecar's consent route sends only when it is the partner.
    pub consent_owner: ConsentOwner,
}

/// The channel's Consent Owner setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentOwner {
    /// Salesforce keeps consent; `PATCH /consent` is refused (10022).
    #[default]
    Salesforce,
    /// The partner's channel keeps consent and reports it with `PATCH /consent`.
    Partner,
}

impl ChannelConfig {
    /// Whether events for `channel_address_identifier` are delivered.
    pub fn accepts(&self, channel_address_identifier: &str) -> bool {
        match &self.address_identifiers {
            None => true,
            Some(accepted) => accepted
                .iter()
                .any(|address| address == channel_address_identifier),
        }
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        let Some(addresses) = &self.address_identifiers else {
            return;
        };
        if addresses.is_empty() {
            problems.push(
                "channel.address_identifiers",
                "is an empty list, so every event would be skipped",
                "list the channel addresses to serve, or remove the key to serve all",
            );
        }
        if addresses.iter().any(|address| address.trim().is_empty()) {
            problems.push(
                "channel.address_identifiers",
                "holds an empty address",
                example_hint("channel.address_identifiers"),
            );
        }
    }
}

/// Records a problem unless `url` is an absolute http(s) URL with a host; never quotes it.
pub(super) fn check_http_url(key: &str, url: &str, problems: &mut Problems) {
    let problem = match reqwest::Url::parse(url) {
        Err(error) => format!("is not a valid url: {error}"),
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
            format!("must be an http(s) url, got scheme `{}`", parsed.scheme())
        }
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => "has no host".to_owned(),
        Ok(_) => return,
    };
    problems.push(key, problem, example_hint(key));
}

/// Records a problem when a configured secret is empty; never quotes it.
pub(super) fn check_secret(key: &str, secret: Option<&SecretString>, problems: &mut Problems) {
    if secret.is_some_and(|secret| secret.expose().trim().is_empty()) {
        problems.push(
            key,
            "is empty",
            "set a non-empty shared secret, or remove the key to send unsigned requests",
        );
    }
}

pub(super) use crate::channel::redacted_url;

/// Writes a URL without its query, which may carry a token, as `Debug` does.
// serde's `serialize_with` hands the field over by reference.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
pub(super) fn serialize_redacted_url<S: Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&redacted_url(url)),
        None => serializer.serialize_none(),
    }
}
