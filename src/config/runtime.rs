//! `[pipeline]`, `[store]` and `[server]`: the local knobs of the running connector.
//!
//! This file owns those keys and turns them into the pipeline's [`PipelineSettings`] and the
//! store's [`StoreSettings`]. It knows nothing about lanes, redb or axum beyond the numbers
//! and the address they take.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::pubsub::duration_ms;
use super::Config;
use crate::pipeline::{
    PipelineSettings, DEFAULT_GRACE, DEFAULT_MAX_CONCURRENT_CONVERSATIONS,
    DEFAULT_MAX_WATERMARK_LAG_EVENTS, DEFAULT_PREFETCH_EVENTS,
};
use crate::secret::SecretString;
use crate::store::{
    StoreSettings, DEFAULT_ACK_BATCH_MAX_ACKS, DEFAULT_ACK_BATCH_MAX_DELAY,
    DEFAULT_CONVERSATION_MAX_AGE, DEFAULT_DEAD_LETTER_MAX_AGE, DEFAULT_DEAD_LETTER_MAX_COUNT,
    DEFAULT_DEDUP_MAX_AGE, DEFAULT_DEDUP_MAX_KEYS, EVENT_RETENTION,
};

/// Default store file, relative to the working directory.
pub const DEFAULT_STORE_PATH: &str = "byoc-connector.redb";
/// Default namespace of the connector's rows in a shared (PostgreSQL) store.
pub const DEFAULT_STORE_NAMESPACE: &str = "default";
/// Longest accepted `store.namespace`.
const MAX_STORE_NAMESPACE_LEN: usize = 64;
/// Default address of the ops server (`/livez`, `/readyz`, `/metrics`): loopback only.
pub const DEFAULT_SERVER_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);
/// Default address of the sidecar API: loopback only, so it is not exposed by accident.
pub const DEFAULT_SIDECAR_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9465);

/// The `[pipeline]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Conversation lanes delivering concurrently.
    pub max_concurrent_conversations: usize,
    /// Events the checkpoint may trail the newest received one by before intake pauses.
    pub max_watermark_lag: usize,
    /// Events held before Pub/Sub credit waits for completions.
    pub prefetch_events: usize,
    /// Seconds in-flight work gets to finish on shutdown.
    pub grace_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_conversations: DEFAULT_MAX_CONCURRENT_CONVERSATIONS,
            max_watermark_lag: DEFAULT_MAX_WATERMARK_LAG_EVENTS,
            prefetch_events: DEFAULT_PREFETCH_EVENTS,
            grace_secs: DEFAULT_GRACE.as_secs(),
        }
    }
}

impl Config {
    /// The pipeline's settings, from `[pipeline]`, `[pubsub]` (topic and field names) and
    /// `[channel]`, for the org the access token belongs to: the org id is part of the
    /// checkpoint key but is known only once the first token arrives, so it is an argument.
    pub fn pipeline_settings(&self, org_id: impl Into<String>) -> PipelineSettings {
        PipelineSettings {
            field_names: (&self.pubsub).into(),
            max_concurrent_conversations: self.pipeline.max_concurrent_conversations,
            max_watermark_lag: self.pipeline.max_watermark_lag,
            // Intake pauses at the watermark lag, so no more than that is ever held: a larger
            // prefetch (the default, with a lag lowered below it) acts as the lag.
            prefetch_events: self
                .pipeline
                .prefetch_events
                .min(self.pipeline.max_watermark_lag),
            grace: self.pipeline.grace(),
            channel_filter: self
                .channel
                .address_identifiers
                .as_ref()
                .map(|addresses| addresses.iter().cloned().collect()),
            ..PipelineSettings::new(org_id, self.pubsub.topic.clone())
        }
    }
}

impl PipelineConfig {
    /// `grace_secs` as a duration.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_secs)
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        problems.at_least(
            "pipeline.max_concurrent_conversations",
            u64::try_from(self.max_concurrent_conversations).unwrap_or(u64::MAX),
            1,
            &format!(
                "at least one lane must deliver; the default is \
                 {DEFAULT_MAX_CONCURRENT_CONVERSATIONS}"
            ),
        );
        problems.at_least(
            "pipeline.max_watermark_lag",
            u64::try_from(self.max_watermark_lag).unwrap_or(u64::MAX),
            1,
            &format!("the default is {DEFAULT_MAX_WATERMARK_LAG_EVENTS}"),
        );
    }
}

/// Seconds in a day, for `store.dead_letter_max_age_days` and `store.conversation_max_age_days`.
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// Which engine holds the connector's durable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One local redb file (`store.path`): the embedded default, nothing to install.
    #[default]
    Redb,
    /// A PostgreSQL database (`store.url`), shared by replicas for high availability.
    Postgres,
}

/// The `[store]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The engine: `redb` (default) or `postgres`.
    pub kind: StoreKind,
    /// The redb file holding checkpoints, dedup keys, dead letters and pending routing.
    pub path: PathBuf,
    /// The PostgreSQL connection URL (`postgres://user:password@host:port/database`), for
    /// `kind = "postgres"` only. A secret: it may carry a password.
    pub url: Option<SecretString>,
    /// Namespace of this connector's rows in a shared database: replicas serving the same
    /// channel share it, different channels (tenants) must not.
    pub namespace: String,
    /// A checkpoint batch is committed once it holds this many acknowledgements.
    pub ack_batch_max_acks: usize,
    /// A checkpoint batch is committed at most this long after its first acknowledgement.
    pub ack_batch_max_delay_ms: u64,
    /// Completed idempotency keys kept for deduplication.
    pub dedup_max_keys: usize,
    /// Completed idempotency keys older than this are forgotten.
    pub dedup_max_age_secs: u64,
    /// Dead letters older than this many days are removed (0 keeps them).
    pub dead_letter_max_age_days: u64,
    /// At most this many dead letters are kept, the oldest removed first (0: no limit).
    pub dead_letter_max_count: u64,
    /// Conversation state with no activity for this many days is removed (0 keeps it).
    pub conversation_max_age_days: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Redb,
            path: PathBuf::from(DEFAULT_STORE_PATH),
            url: None,
            namespace: DEFAULT_STORE_NAMESPACE.to_owned(),
            ack_batch_max_acks: DEFAULT_ACK_BATCH_MAX_ACKS,
            ack_batch_max_delay_ms: duration_ms(DEFAULT_ACK_BATCH_MAX_DELAY),
            dedup_max_keys: DEFAULT_DEDUP_MAX_KEYS,
            dedup_max_age_secs: DEFAULT_DEDUP_MAX_AGE.as_secs(),
            dead_letter_max_age_days: DEFAULT_DEAD_LETTER_MAX_AGE.as_secs() / SECONDS_PER_DAY,
            dead_letter_max_count: DEFAULT_DEAD_LETTER_MAX_COUNT,
            conversation_max_age_days: DEFAULT_CONVERSATION_MAX_AGE.as_secs() / SECONDS_PER_DAY,
        }
    }
}

impl StoreConfig {
    /// `kind`, `url` and `namespace` agree with each other. The URL is never quoted: it may
    /// hold a password.
    fn validate_engine(&self, problems: &mut Problems) {
        match (self.kind, &self.url) {
            (StoreKind::Postgres, None) => problems.push(
                "store.url",
                "is required when store.kind is \"postgres\"",
                "set it like `url = \"postgres://byoc@db.internal:5432/byoc\"`, or the password-bearing URL from a secret in BYOC__STORE__URL",
            ),
            (StoreKind::Postgres, Some(url)) => {
                let url = url.expose();
                let root_certificate = crate::store::parse_target(url)
                    .tls
                    .and_then(|wish| wish.root_certificate);
                if let Some(path) = root_certificate.filter(|path| !path.is_file()) {
                    problems.push(
                        "store.url",
                        format!("names sslrootcert={}, which is not a file", path.display()),
                        "give the PEM file of the CA certificates that signed the database's certificate, or leave sslrootcert out to trust the public web roots",
                    );
                }
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    problems.push(
                        "store.url",
                        "must start with postgres:// or postgresql://",
                        "write it like `url = \"postgres://byoc@db.internal:5432/byoc\"`",
                    );
                }
            }
            (StoreKind::Redb, Some(_)) => problems.push(
                "store.url",
                "is only read when store.kind is \"postgres\"",
                "set `kind = \"postgres\"` in [store], or remove url to keep the local redb file",
            ),
            (StoreKind::Redb, None) => {}
        }
        let namespace = &self.namespace;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if namespace.is_empty()
            || namespace.len() > MAX_STORE_NAMESPACE_LEN
            || !namespace.chars().all(allowed)
        {
            problems.push(
                "store.namespace",
                format!(
                    "must be 1 to {MAX_STORE_NAMESPACE_LEN} characters of letters, digits, '-', '_' or '.'"
                ),
                "name the channel, like `namespace = \"acme-sms\"`; replicas of one channel share it",
            );
        }
    }
}

impl StoreConfig {
    /// Where the store lives: the redb file, or the database and this channel's namespace.
    pub fn location(&self) -> crate::store::Location {
        match (self.kind, &self.url) {
            (StoreKind::Postgres, Some(url)) => crate::store::Location::Postgres {
                url: url.clone(),
                namespace: self.namespace.clone(),
            },
            // Validation refuses postgres without a URL.
            _ => crate::store::Location::File(self.path.clone()),
        }
    }
}

/// `days` as a duration; 0 is `None`, no limit.
fn days(days: u64) -> Option<Duration> {
    (days > 0).then(|| Duration::from_secs(days.saturating_mul(SECONDS_PER_DAY)))
}

/// The store's settings (`path` is an argument of `Store::open`; the writer queue keeps its
/// default).
impl From<&StoreConfig> for StoreSettings {
    fn from(config: &StoreConfig) -> Self {
        Self {
            ack_batch_max_acks: config.ack_batch_max_acks,
            ack_batch_max_delay: Duration::from_millis(config.ack_batch_max_delay_ms),
            dedup_max_keys: config.dedup_max_keys,
            dedup_max_age: Duration::from_secs(config.dedup_max_age_secs),
            dead_letter_max_age: days(config.dead_letter_max_age_days),
            conversation_max_age: days(config.conversation_max_age_days),
            dead_letter_max_count: (config.dead_letter_max_count > 0)
                .then_some(config.dead_letter_max_count),
            ..Self::default()
        }
    }
}

impl StoreConfig {
    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        self.validate_engine(problems);
        if self.kind == StoreKind::Redb && self.path.as_os_str().is_empty() {
            problems.push(
                "store.path",
                "must not be empty",
                "write it like `path = \"/var/lib/byoc-connector/state.redb\"` in [store]",
            );
        }
        problems.at_least(
            "store.ack_batch_max_acks",
            u64::try_from(self.ack_batch_max_acks).unwrap_or(u64::MAX),
            1,
            &format!("the default is {DEFAULT_ACK_BATCH_MAX_ACKS}"),
        );
        problems.at_least(
            "store.dedup_max_keys",
            u64::try_from(self.dedup_max_keys).unwrap_or(u64::MAX),
            1,
            &format!("the default is {DEFAULT_DEDUP_MAX_KEYS}"),
        );
        problems.at_least(
            "store.dedup_max_age_secs",
            self.dedup_max_age_secs,
            1,
            &format!(
                "Salesforce retains events {} hours; the default {} covers every redelivery",
                EVENT_RETENTION.as_secs() / 3600,
                DEFAULT_DEDUP_MAX_AGE.as_secs()
            ),
        );
    }
}

/// The `[server]` section: the ops listener and the sidecar API listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the ops server (`/livez`, `/readyz`, `/metrics`).
    pub listen: SocketAddr,
    /// Address of the sidecar API (routing decisions, partner → Salesforce calls).
    pub sidecar_listen: SocketAddr,
    /// Bearer token the sidecar API requires; mandatory when `sidecar_listen` is not loopback.
    pub sidecar_token: Option<SecretString>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_SERVER_LISTEN,
            sidecar_listen: DEFAULT_SIDECAR_LISTEN,
            sidecar_token: None,
        }
    }
}

impl ServerConfig {
    /// A sidecar bound beyond loopback needs a token; a token is never empty.
    pub(super) fn validate(&self, problems: &mut Problems) {
        match &self.sidecar_token {
            Some(token) if token.expose().trim().is_empty() => problems.push(
                "server.sidecar_token",
                "is empty",
                "set a long random token, or remove the key on a loopback-only sidecar",
            ),
            None if !self.sidecar_listen.ip().is_loopback() => problems.push(
                "server.sidecar_token",
                format!(
                    "is required because server.sidecar_listen {} is not a loopback address",
                    self.sidecar_listen
                ),
                "set a long random token (e.g. BYOC__SERVER__SIDECAR_TOKEN from a secret), or bind the sidecar to 127.0.0.1",
            ),
            _ => {}
        }
    }
}
