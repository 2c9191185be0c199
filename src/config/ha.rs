//! `[ha]`: high availability, several replicas of one channel of which one leads.
//!
//! This file owns the keys and turns them into the lease keeper's settings: which replica this
//! is and how fast a standby takes over. It knows nothing about how the lease is kept; that is
//! `crate::ha`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::runtime::{StoreConfig, StoreKind};
use crate::ha::{default_replica_id, KeeperSettings, LeaseTimings, DEFAULT_TAKEOVER};

/// Shortest accepted `ha.takeover_secs`: below it the lease would be renewed every few hundred
/// milliseconds and one slow database answer would cost the lease.
const MIN_TAKEOVER_SECS: u64 = 3;
/// Longest accepted `ha.takeover_secs`: a takeover must leave most of a routing request's
/// 60 s window to answer it.
const MAX_TAKEOVER_SECS: u64 = 30;
/// Longest accepted `ha.replica_id`.
const MAX_REPLICA_ID_LEN: usize = 128;

/// The `[ha]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HaConfig {
    /// Replicas share the PostgreSQL store and elect one leader per channel; only the leader
    /// subscribes, routes and posts routing results.
    pub enabled: bool,
    /// This replica's name in logs and in the lease row; by default the host name and the
    /// process id.
    pub replica_id: Option<String>,
    /// The longest a standby waits before it leads in place of a leader that died.
    pub takeover_secs: u64,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            replica_id: None,
            takeover_secs: DEFAULT_TAKEOVER.as_secs(),
        }
    }
}

impl HaConfig {
    /// The lease's periods, derived from `takeover_secs`.
    pub fn timings(&self) -> LeaseTimings {
        LeaseTimings::from_takeover(Duration::from_secs(self.takeover_secs))
    }

    /// `replica_id`, or the default built from the host name and process id.
    pub fn replica_id(&self) -> String {
        self.replica_id.clone().unwrap_or_else(default_replica_id)
    }

    /// The lease keeper's settings for the channel `store` names; `None` unless HA is enabled
    /// on a PostgreSQL store.
    pub fn keeper_settings(&self, store: &StoreConfig) -> Option<KeeperSettings> {
        if !self.enabled || store.kind != StoreKind::Postgres {
            return None;
        }
        Some(KeeperSettings {
            url: store.url.clone()?,
            namespace: store.namespace.clone(),
            holder: self.replica_id(),
            timings: self.timings(),
            share: None,
        })
    }

    /// Records every problem with these keys; `store` is checked for what HA needs of it.
    pub(super) fn validate(&self, store: Option<&StoreConfig>, problems: &mut Problems) {
        if self.enabled && store.is_some_and(|store| store.kind != StoreKind::Postgres) {
            problems.push(
                "ha.enabled",
                "requires store.kind = \"postgres\": replicas share their state and their lease through PostgreSQL",
                "set `kind = \"postgres\"` and `url` in [store], or remove `enabled = true` from [ha] to run one replica on redb",
            );
        }
        problems.within(
            "ha.takeover_secs",
            self.takeover_secs,
            MIN_TAKEOVER_SECS,
            MAX_TAKEOVER_SECS,
            &format!(
                "the default {} s keeps a failover well inside a routing request's 60 s window",
                DEFAULT_TAKEOVER.as_secs()
            ),
        );
        if let Some(replica_id) = &self.replica_id {
            let allowed = |c: char| c.is_ascii_graphic();
            if replica_id.is_empty()
                || replica_id.len() > MAX_REPLICA_ID_LEN
                || !replica_id.chars().all(allowed)
            {
                problems.push(
                    "ha.replica_id",
                    format!("must be 1 to {MAX_REPLICA_ID_LEN} printable ASCII characters without spaces"),
                    "leave it out to use the host name and process id, or set it from the pod name (BYOC__HA__REPLICA_ID)",
                );
            }
        }
    }
}
