//! `[pipeline]`, `[store]` and `[server]`: the local knobs of the running connector.
//!
//! This file owns those keys and builds the store's [`StoreSettings`]. It knows nothing about
//! lanes, redb or axum beyond the numbers and the address they take.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::Problems;
use super::pubsub::duration_ms;
use crate::store::{
    StoreSettings, DEFAULT_ACK_BATCH_MAX_ACKS, DEFAULT_ACK_BATCH_MAX_DELAY, DEFAULT_DEDUP_MAX_AGE,
    DEFAULT_DEDUP_MAX_KEYS,
};

/// Default number of conversation lanes delivering at the same time.
pub const DEFAULT_PIPELINE_MAX_IN_FLIGHT: usize = 64;
/// Default number of events the checkpoint may trail the newest received event by.
pub const DEFAULT_MAX_WATERMARK_LAG_EVENTS: u64 = 10_000;
/// Default time given to in-flight work to finish on shutdown (G8).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(20);
/// Default store file, relative to the working directory.
pub const DEFAULT_STORE_PATH: &str = "byoc-connector.redb";
/// Default address of the sidecar server: loopback only, so the API is not exposed by accident.
pub const DEFAULT_SERVER_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// The `[pipeline]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Conversation lanes delivering concurrently.
    pub max_in_flight: usize,
    /// Events the checkpoint may trail the newest received one by before intake pauses.
    pub max_watermark_lag: u64,
    /// Seconds in-flight work gets to finish on shutdown.
    pub grace_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_PIPELINE_MAX_IN_FLIGHT,
            max_watermark_lag: DEFAULT_MAX_WATERMARK_LAG_EVENTS,
            grace_secs: DEFAULT_GRACE.as_secs(),
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
            "pipeline.max_in_flight",
            u64::try_from(self.max_in_flight).unwrap_or(u64::MAX),
            1,
            "at least one lane must deliver; the default is 64",
        );
        problems.at_least(
            "pipeline.max_watermark_lag",
            self.max_watermark_lag,
            1,
            "the default is 10000",
        );
    }
}

/// The `[store]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The redb file holding checkpoints, dedup keys, dead letters and pending routing.
    pub path: PathBuf,
    /// A checkpoint batch is committed once it holds this many acknowledgements.
    pub ack_batch_max_acks: usize,
    /// A checkpoint batch is committed at most this long after its first acknowledgement.
    pub ack_batch_max_delay_ms: u64,
    /// Completed idempotency keys kept for deduplication.
    pub dedup_max_keys: usize,
    /// Completed idempotency keys older than this are forgotten.
    pub dedup_max_age_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(DEFAULT_STORE_PATH),
            ack_batch_max_acks: DEFAULT_ACK_BATCH_MAX_ACKS,
            ack_batch_max_delay_ms: duration_ms(DEFAULT_ACK_BATCH_MAX_DELAY),
            dedup_max_keys: DEFAULT_DEDUP_MAX_KEYS,
            dedup_max_age_secs: DEFAULT_DEDUP_MAX_AGE.as_secs(),
        }
    }
}

impl StoreConfig {
    /// The store's options (the writer queue keeps its default).
    pub fn store_options(&self) -> StoreSettings {
        StoreSettings {
            ack_batch_max_acks: self.ack_batch_max_acks,
            ack_batch_max_delay: Duration::from_millis(self.ack_batch_max_delay_ms),
            dedup_max_keys: self.dedup_max_keys,
            dedup_max_age: Duration::from_secs(self.dedup_max_age_secs),
            ..StoreSettings::default()
        }
    }

    /// Records every problem with these keys.
    pub(super) fn validate(&self, problems: &mut Problems) {
        if self.path.as_os_str().is_empty() {
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
            "the default is 1000",
        );
        problems.at_least(
            "store.dedup_max_keys",
            u64::try_from(self.dedup_max_keys).unwrap_or(u64::MAX),
            1,
            "the default is 200000",
        );
        problems.at_least(
            "store.dedup_max_age_secs",
            self.dedup_max_age_secs,
            1,
            "Salesforce retains events 72 hours; the default 259200 covers every redelivery",
        );
    }
}

/// The `[server]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the sidecar API (`/livez`, `/readyz`, `/metrics`, routing decisions).
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_SERVER_LISTEN,
        }
    }
}
