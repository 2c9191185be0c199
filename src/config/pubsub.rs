//! `[pubsub]`: where the Pub/Sub API is, which topic carries the channel's events, and how the
//! subscriber paces and recovers.
//!
//! This file owns those keys and their checks (the defaults are the pubsub module's
//! constants), and turns the section into the pubsub module's [`SubscriberSettings`] and the
//! decoder's [`FieldNames`]. It knows nothing about BYOC payloads beyond the two field names.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::error::Problems;
use super::keys::example_hint;
use crate::auth::url_policy::{require_tls_or_loopback, UrlPolicyError};
use crate::events::FieldNames;
use crate::pubsub::flow::MAX_OUTSTANDING_EVENTS;
use crate::pubsub::subscriber::{KEEPALIVE_TIMEOUT, MAX_RECONNECT_BACKOFF, MIN_RECONNECT_BACKOFF};
use crate::pubsub::{
    CorruptedReplayPolicy, EndpointSettings, FetchRequestObserver, ReplayStart, SubscriberSettings,
    DEFAULT_PUBSUB_ENDPOINT,
};

/// Every custom platform event topic starts with this.
pub const TOPIC_PREFIX: &str = "/event/";
/// The default name of the event-type field of the channel's platform event.
pub const DEFAULT_EVENT_TYPE_FIELD: &str = "EventType__c";
/// The default name of the JSON payload field of the channel's platform event.
pub const DEFAULT_PAYLOAD_FIELD: &str = "Payload__c";

/// Where a subscription starts when the store holds no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// Only events published from now on.
    #[default]
    Latest,
    /// Every event Salesforce still retains (up to 72 hours).
    Earliest,
}

/// The `[pubsub]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PubSubConfig {
    /// `https://host:port` of the Pub/Sub API; `http://` only to loopback with `insecure`.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Allows plaintext to a loopback endpoint: the fake Salesforce only (G7).
    #[serde(default)]
    pub insecure: bool,
    /// An extra PEM trust anchor, e.g. the fake's self-signed certificate; the connector
    /// trusts it for every Salesforce connection, REST calls included.
    #[serde(default)]
    pub ca_certificate_file: Option<PathBuf>,
    /// The content of `ca_certificate_file`, read when the config is loaded.
    #[serde(skip)]
    pub ca_certificate_pem: Option<String>,
    /// `/event/<Name>__e`: the channel's outbound platform event.
    pub topic: String,
    /// The platform event field holding the BYOC event type.
    #[serde(default = "default_event_type_field")]
    pub event_type_field: String,
    /// The platform event field holding the JSON payload.
    #[serde(default = "default_payload_field")]
    pub payload_field: String,
    /// Where to start when the store has no checkpoint yet.
    #[serde(default)]
    pub start: StartPosition,
    /// Pub/Sub flow-control credit: events requested from Salesforce but not yet acknowledged
    /// (1..=100).
    #[serde(default = "default_credit_window")]
    pub credit_window: u32,
    /// A stream silent this long is torn down and opened again.
    #[serde(default = "default_keepalive_timeout_secs")]
    pub keepalive_timeout_secs: u64,
    /// What to do when Salesforce refuses the stored replay id.
    #[serde(default, serialize_with = "serialize_corrupted_replay_policy")]
    pub corrupted_replay_policy: CorruptedReplayPolicy,
    /// First reconnect delay.
    #[serde(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,
    /// Longest reconnect delay.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

/// The subscriber's settings. It starts at `pubsub.start`; the connector moves the start
/// after the stored checkpoint when there is one; the connector sets the observers.
impl From<&PubSubConfig> for SubscriberSettings {
    fn from(config: &PubSubConfig) -> Self {
        Self {
            endpoint: config.into(),
            topic: config.topic.clone(),
            start: config.start.into(),
            credit_window: config.credit_window,
            keepalive_timeout: config.keepalive_timeout(),
            corrupted_replay_policy: config.corrupted_replay_policy,
            min_backoff: config.min_backoff(),
            max_backoff: config.max_backoff(),
            on_fetch_request: FetchRequestObserver::default(),
        }
    }
}

/// Where and how the subscriber connects.
impl From<&PubSubConfig> for EndpointSettings {
    fn from(config: &PubSubConfig) -> Self {
        Self {
            url: config.endpoint.clone(),
            insecure: config.insecure,
            ca_certificate_pem: config.ca_certificate_pem.clone(),
            ..Self::default()
        }
    }
}

/// The platform event fields the decoder reads.
impl From<&PubSubConfig> for FieldNames {
    fn from(config: &PubSubConfig) -> Self {
        Self {
            event_type: config.event_type_field.clone(),
            payload: config.payload_field.clone(),
        }
    }
}

/// The configured start position as the subscriber's [`ReplayStart`].
impl From<StartPosition> for ReplayStart {
    fn from(start: StartPosition) -> Self {
        match start {
            StartPosition::Latest => Self::Latest,
            StartPosition::Earliest => Self::Earliest,
        }
    }
}

impl PubSubConfig {
    /// `keepalive_timeout_secs` as a duration.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.keepalive_timeout_secs)
    }

    /// `min_backoff_ms` as a duration.
    pub fn min_backoff(&self) -> Duration {
        Duration::from_millis(self.min_backoff_ms)
    }

    /// `max_backoff_ms` as a duration.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }

    /// Reads `ca_certificate_file` into `ca_certificate_pem`.
    pub(super) fn read_files(&mut self, problems: &mut Problems) {
        let Some(path) = &self.ca_certificate_file else {
            return;
        };
        let hint = "point it at a PEM file holding a CERTIFICATE block, or remove the key";
        match std::fs::read_to_string(path) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {
                self.ca_certificate_pem = Some(pem);
            }
            Ok(_) => problems.push(
                "pubsub.ca_certificate_file",
                format!("{} holds no PEM certificate", path.display()),
                hint,
            ),
            Err(error) => problems.push(
                "pubsub.ca_certificate_file",
                format!("cannot be read from {}: {error}", path.display()),
                hint,
            ),
        }
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        if let Err(error) =
            require_tls_or_loopback("pubsub.endpoint", &self.endpoint, self.insecure)
        {
            let (problem, hint) = endpoint_problem(&error, self.insecure);
            problems.push("pubsub.endpoint", problem, hint);
        }
        let topic_name = self.topic.strip_prefix(TOPIC_PREFIX).unwrap_or_default();
        if topic_name.is_empty() || topic_name.contains('/') {
            problems.push(
                "pubsub.topic",
                format!("must be {TOPIC_PREFIX}<EventName>, got `{}`", self.topic),
                example_hint("pubsub.topic"),
            );
        }
        for (key, field) in [
            ("pubsub.event_type_field", &self.event_type_field),
            ("pubsub.payload_field", &self.payload_field),
        ] {
            if field.trim().is_empty() {
                problems.push(key, "must not be empty", example_hint(key));
            }
        }
        problems.within(
            "pubsub.credit_window",
            u64::from(self.credit_window),
            1,
            u64::from(MAX_OUTSTANDING_EVENTS),
            &format!(
                "the Pub/Sub API grants at most {MAX_OUTSTANDING_EVENTS} events per request; \
                 {MAX_OUTSTANDING_EVENTS} is the usual choice"
            ),
        );
        problems.at_least(
            "pubsub.keepalive_timeout_secs",
            self.keepalive_timeout_secs,
            1,
            &format!(
                "Salesforce sends a keepalive within 270 s; keep the default {}",
                KEEPALIVE_TIMEOUT.as_secs()
            ),
        );
        problems.at_least(
            "pubsub.min_backoff_ms",
            self.min_backoff_ms,
            1,
            &format!(
                "reconnecting without a delay hammers the server; the default is {}",
                duration_ms(MIN_RECONNECT_BACKOFF)
            ),
        );
        if self.max_backoff_ms < self.min_backoff_ms {
            problems.push(
                "pubsub.max_backoff_ms",
                format!(
                    "must be at least pubsub.min_backoff_ms ({}), got {}",
                    self.min_backoff_ms, self.max_backoff_ms
                ),
                format!(
                    "raise max_backoff_ms or lower min_backoff_ms; the defaults are {} and {}",
                    duration_ms(MAX_RECONNECT_BACKOFF),
                    duration_ms(MIN_RECONNECT_BACKOFF)
                ),
            );
        }
    }
}

/// The problem and hint for a refused endpoint URL.
fn endpoint_problem(error: &UrlPolicyError, insecure: bool) -> (String, &'static str) {
    match error {
        UrlPolicyError::Invalid { problem, .. } => (
            format!("is not a valid url: {problem}"),
            "write it like `endpoint = \"https://api.pubsub.salesforce.com:7443\"` in [pubsub]",
        ),
        UrlPolicyError::PlaintextNotAllowed { .. } if insecure => (
            "uses plaintext http to a host that is not loopback".to_owned(),
            "use https://; plaintext is allowed only to localhost, 127.0.0.1 or ::1",
        ),
        UrlPolicyError::PlaintextNotAllowed { .. } => (
            "uses plaintext http without pubsub.insecure = true".to_owned(),
            "use https://, or set insecure = true in [pubsub] for a loopback test endpoint",
        ),
        UrlPolicyError::UnsupportedScheme { scheme, .. } => (
            format!("must use https, got scheme `{scheme}`"),
            "write it like `endpoint = \"https://api.pubsub.salesforce.com:7443\"` in [pubsub]",
        ),
    }
}

fn default_endpoint() -> String {
    DEFAULT_PUBSUB_ENDPOINT.to_owned()
}

fn default_event_type_field() -> String {
    DEFAULT_EVENT_TYPE_FIELD.to_owned()
}

fn default_payload_field() -> String {
    DEFAULT_PAYLOAD_FIELD.to_owned()
}

fn default_credit_window() -> u32 {
    MAX_OUTSTANDING_EVENTS
}

fn default_keepalive_timeout_secs() -> u64 {
    KEEPALIVE_TIMEOUT.as_secs()
}

fn default_min_backoff_ms() -> u64 {
    duration_ms(MIN_RECONNECT_BACKOFF)
}

fn default_max_backoff_ms() -> u64 {
    duration_ms(MAX_RECONNECT_BACKOFF)
}

/// Writes the policy as the key spells it (the policy lives in the pubsub module, which has
/// no reason to know about serialization).
// serde's `serialize_with` hands the field over by reference.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn serialize_corrupted_replay_policy<S: Serializer>(
    policy: &CorruptedReplayPolicy,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match policy {
        CorruptedReplayPolicy::Earliest => "earliest",
        CorruptedReplayPolicy::Latest => "latest",
        CorruptedReplayPolicy::Fail => "fail",
    })
}

/// Whole milliseconds of a default duration (they are all far below `u64::MAX` ms).
pub(super) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
