//! `[routing]`: who decides where a `RoutingRequested` goes, and the clock it must beat.
//!
//! This file owns those keys and their rules: the decision timeout must fall inside the
//! 60-second window (G4), the window may only shrink (tests do that). It turns the section into
//! the routing engine's [`RoutingSettings`] and the partner webhook's [`WebhookSettings`]; it
//! knows nothing about how a routingResult is posted.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::delivery::{check_http_url, check_secret, redacted_url, serialize_redacted_url};
use super::error::Problems;
use super::keys::example_hint;
use super::Config;
use crate::channel::{WebhookSettings, WEBHOOK_CONNECT_TIMEOUT, WEBHOOK_REQUEST_TIMEOUT};
use crate::events::ROUTING_WINDOW;
use crate::routing::{
    RoutingSettings, RoutingStrategy, DEFAULT_DECISION_TIMEOUT, DEFAULT_REP_USER_FIELD,
    DEFAULT_SOQL_API_VERSION,
};
use crate::secret::SecretString;

/// The `[routing]` section.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Who decides.
    #[serde(serialize_with = "serialize_strategy")]
    pub strategy: RoutingStrategy,
    /// Where routing requests are POSTed; required for `strategy = "partner"`.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: Option<String>,
    /// Signs routing webhooks like deliveries, when set.
    pub secret: Option<SecretString>,
    /// Seconds after `CreatedDate` at which the connector answers `success=false` itself.
    pub decision_timeout_secs: u64,
    /// The routing window in seconds; 60 in production, shorter only in tests.
    pub window_secs: u64,
    /// The `routingParameters` field carrying the rep's user id.
    pub rep_user_field: String,
    /// A flow transfer's fallback queue (a Group id, `00G…`) when the request names none.
    pub fallback_queue_id: Option<String>,
    /// REST API version of the MessagingSession SOQL query, e.g. `62.0`.
    pub soql_api_version: String,
}

impl fmt::Debug for RoutingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingConfig")
            .field("strategy", &self.strategy)
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("secret", &self.secret)
            .field("decision_timeout_secs", &self.decision_timeout_secs)
            .field("window_secs", &self.window_secs)
            .field("rep_user_field", &self.rep_user_field)
            .field("fallback_queue_id", &self.fallback_queue_id)
            .field("soql_api_version", &self.soql_api_version)
            .finish()
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            strategy: RoutingStrategy::default(),
            url: None,
            secret: None,
            decision_timeout_secs: DEFAULT_DECISION_TIMEOUT.as_secs(),
            window_secs: ROUTING_WINDOW.as_secs(),
            rep_user_field: DEFAULT_REP_USER_FIELD.to_owned(),
            fallback_queue_id: None,
            soql_api_version: DEFAULT_SOQL_API_VERSION.to_owned(),
        }
    }
}

/// The routing engine's settings, from `[routing]` and, for the SOQL look-up's plaintext
/// rule, `interaction.insecure`.
impl From<&Config> for RoutingSettings {
    fn from(config: &Config) -> Self {
        let routing = &config.routing;
        Self {
            strategy: routing.strategy,
            url: routing.url.clone(),
            secret: routing.secret.clone(),
            decision_timeout: routing.decision_timeout(),
            window: routing.window(),
            rep_user_field: routing.rep_user_field.clone(),
            fallback_queue_id: routing.fallback_queue_id.clone(),
            soql_api_version: routing.soql_api_version.clone(),
            // The SOQL call goes to the instance URL; plaintext only where the Interaction
            // Service is also allowed plaintext (the loopback fake).
            insecure: config.interaction.insecure,
            ..Self::default()
        }
    }
}

/// Settings for POSTing routing requests to the partner; `None` unless the strategy is
/// `partner`. One request may take no longer than the decision timeout.
impl From<&RoutingConfig> for Option<WebhookSettings> {
    fn from(config: &RoutingConfig) -> Self {
        if config.strategy != RoutingStrategy::Partner {
            return None;
        }
        Some(WebhookSettings {
            url: config.url.clone()?,
            secret: config.secret.clone(),
            connect_timeout: WEBHOOK_CONNECT_TIMEOUT,
            request_timeout: WEBHOOK_REQUEST_TIMEOUT.min(config.decision_timeout()),
        })
    }
}

impl RoutingConfig {
    /// Time after `CreatedDate` at which the connector stops waiting for the partner.
    pub fn decision_timeout(&self) -> Duration {
        Duration::from_secs(self.decision_timeout_secs)
    }

    /// Time after `CreatedDate` by which the routingResult must have landed.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        match (&self.strategy, &self.url) {
            (RoutingStrategy::Partner, None) => problems.push(
                "routing.url",
                "is missing, and strategy = \"partner\" needs it",
                "set the partner's routing webhook, e.g. `url = \"https://partner.example/byoc/routing\"` \
                 in [routing], or choose strategy = \"salesforce\" or \"reject\"",
            ),
            (_, Some(url)) => check_http_url("routing.url", url, problems),
            (_, None) => {}
        }
        check_secret("routing.secret", self.secret.as_ref(), problems);
        let salesforce_window_secs = ROUTING_WINDOW.as_secs();
        let default_decision_timeout_secs = DEFAULT_DECISION_TIMEOUT.as_secs();
        problems.within(
            "routing.window_secs",
            self.window_secs,
            1,
            salesforce_window_secs,
            &format!(
                "Salesforce allows {salesforce_window_secs} seconds; set a shorter window only \
                 in tests"
            ),
        );
        problems.at_least(
            "routing.decision_timeout_secs",
            self.decision_timeout_secs,
            1,
            &format!("the default is {default_decision_timeout_secs}"),
        );
        if self.decision_timeout_secs >= self.window_secs {
            problems.push(
                "routing.decision_timeout_secs",
                format!(
                    "must be less than routing.window_secs ({}), got {}",
                    self.window_secs, self.decision_timeout_secs
                ),
                format!(
                    "leave time to post success=false before the window closes; the default is \
                     {default_decision_timeout_secs} of {salesforce_window_secs}"
                ),
            );
        }
        if self.rep_user_field.trim().is_empty() {
            problems.push(
                "routing.rep_user_field",
                "must not be empty",
                example_hint("routing.rep_user_field"),
            );
        }
        if let Some(queue_id) = &self.fallback_queue_id {
            if !is_queue_id(queue_id) {
                problems.push(
                    "routing.fallback_queue_id",
                    format!(
                        "must be a queue's Group id: 15 or 18 letters and digits starting with \
                         00G, got `{}`",
                        queue_id.escape_debug()
                    ),
                    example_hint("routing.fallback_queue_id"),
                );
            }
        }
        if !is_api_version(&self.soql_api_version) {
            problems.push(
                "routing.soql_api_version",
                format!(
                    "must look like 62.0, got `{}`",
                    self.soql_api_version.escape_debug()
                ),
                example_hint("routing.soql_api_version"),
            );
        }
    }
}

/// A queue's record id: Group key prefix `00G`, 15 or 18 ASCII letters and digits.
fn is_queue_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18)
        && id.starts_with("00G")
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// `"62.0"`: digits, a dot, digits.
fn is_api_version(version: &str) -> bool {
    let Some((major, minor)) = version.split_once('.') else {
        return false;
    };
    let all_digits =
        |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    all_digits(major) && all_digits(minor)
}

/// Writes the strategy as the key spells it.
// serde's `serialize_with` hands the field over by reference.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn serialize_strategy<S: Serializer>(
    strategy: &RoutingStrategy,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(strategy.as_str())
}
