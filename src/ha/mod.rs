//! High availability: one leader per channel among replicas that share a PostgreSQL store,
//! chosen by a lease row with a fencing token.
//!
//! This module owns the lease: taking, renewing and releasing it on the database's clock
//! ([`lease`]), the task that keeps it and publishes whether this replica leads ([`keeper`]),
//! the timings derived from `ha.takeover_secs` ([`LeaseTimings`]) and the fair share that
//! spreads several tenants' leases over replicas ([`LeaseShare`]). The lease's row shape
//! and the [`Fence`](crate::store::Fence) a leader's writes carry are the store's; checking a
//! fence on each write is the store's job too. It knows nothing about Pub/Sub, routing or
//! HTTP: the connector decides what only a leader may do.

pub mod keeper;
pub mod lease;

use std::time::Duration;

pub use keeper::{KeeperSettings, Leadership, LeaseGuard, LeaseKeeper, LostReason};
pub use lease::{LeaseDb, LeaseRow};

/// Default `ha.takeover_secs`: the longest a standby waits before it leads in place of a
/// leader that died.
pub(crate) const DEFAULT_TAKEOVER: Duration = Duration::from_secs(10);

/// The lease's periods, all derived from the takeover time so one knob sets them consistently.
///
/// A dead leader's lease runs out at most `ttl` after its last renewal; a standby tries to take
/// it every `poll`, so it leads at most `ttl + poll` = the takeover time after the leader died.
/// A live leader renews every `renew` (four times per `ttl`, so three renewals in a row can
/// fail before it loses the lease) and considers itself leader only until `ttl - margin` after
/// it sent its last successful renewal, measured on its own monotonic clock: that is before the
/// database lets anyone take the lease over, by at least `margin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a take or a renewal keeps the lease, on the database's clock.
    pub ttl: Duration,
    /// How often the leader renews.
    pub renew: Duration,
    /// How often a standby tries to take the lease.
    pub poll: Duration,
    /// How long before the lease's end (counted from the renewal's send time) the leader stops
    /// acting: room for clock-rate drift and for a post already past its check.
    pub margin: Duration,
}

impl LeaseTimings {
    /// The timings for a takeover time: `poll` a fifth of it, `ttl` the rest, `renew` a
    /// quarter of `ttl`, `margin` an eighth of `ttl` (10 s: 8 s, 2 s, 2 s, 1 s).
    pub fn from_takeover(takeover: Duration) -> Self {
        let poll = takeover / 5;
        let ttl = takeover.saturating_sub(poll);
        Self {
            ttl,
            renew: ttl / 4,
            poll,
            margin: ttl / 8,
        }
    }

    /// How long after a renewal was sent the leader may still act on it.
    pub fn valid_for(&self) -> Duration {
        self.ttl.saturating_sub(self.margin)
    }
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self::from_takeover(DEFAULT_TAKEOVER)
    }
}

/// The default `ha.replica_id`: the host's name and this process's id, so two replicas never
/// share one by default and the lease row shows where the leader runs.
pub(crate) fn default_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "byoc-connector".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The leases of several tenants, spread over the replicas that serve them all: a replica
/// takes a free lease only while it holds fewer than `ceil(tenants / live replicas)` of them,
/// and any replica takes a lease that stayed free longer than `grace`, so none stays unowned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseShare {
    /// Names the replicas serving the same tenants (their namespaces, sorted and joined), so
    /// deployments sharing one database count only their own replicas.
    pub pool: String,
    /// Every tenant's namespace, whose leases the share counts.
    pub namespaces: Vec<String>,
    /// How long a lease may stay free before a replica beyond its share takes it.
    pub grace: Duration,
}

impl LeaseShare {
    /// The share of the tenants `namespaces`; the grace period is one takeover time.
    pub fn new(namespaces: Vec<String>, timings: &LeaseTimings) -> Self {
        let mut sorted = namespaces.clone();
        sorted.sort();
        Self {
            pool: sorted.join(","),
            namespaces,
            grace: timings.ttl + timings.poll,
        }
    }
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// The database could not be reached or refused the connection. The text never holds the
    /// URL, which may carry a password.
    #[error("cannot connect to the lease database: {0}")]
    Connect(#[source] tokio_postgres::Error),
    /// `store.url` asks for TLS with CA certificates that cannot be used.
    #[error(transparent)]
    Tls(Box<crate::store::StoreError>),
    /// A lease statement failed.
    #[error("lease {operation} failed: {source}")]
    Query {
        /// What the keeper was doing, for example `renew`.
        operation: &'static str,
        /// What PostgreSQL reported.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A lease statement did not answer in time.
    #[error("lease {operation} did not answer within {waited_ms} ms")]
    TimedOut {
        /// What the keeper was doing.
        operation: &'static str,
        /// How long it waited.
        waited_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_takeover_gives_an_eight_second_lease_renewed_every_two() {
        let timings = LeaseTimings::default();
        assert_eq!(timings.ttl, Duration::from_secs(8));
        assert_eq!(timings.renew, Duration::from_secs(2));
        assert_eq!(timings.poll, Duration::from_secs(2));
        assert_eq!(timings.margin, Duration::from_secs(1));
        assert_eq!(timings.valid_for(), Duration::from_secs(7));
    }

    #[test]
    fn a_dead_leader_is_replaced_within_the_takeover_time() {
        for seconds in [3, 10, 30] {
            let takeover = Duration::from_secs(seconds);
            let timings = LeaseTimings::from_takeover(takeover);
            assert!(timings.ttl + timings.poll <= takeover, "{seconds} s");
            assert!(timings.renew * 3 < timings.valid_for(), "{seconds} s");
            assert!(timings.margin > Duration::ZERO, "{seconds} s");
        }
    }

    #[test]
    fn the_default_replica_id_ends_with_the_process_id() {
        assert!(default_replica_id().ends_with(&format!("-{}", std::process::id())));
    }
}
