//! The task that keeps this replica's lease: a standby tries to take it every `poll`, a leader
//! renews it every `renew`, and whether this replica leads is published on a `watch`. With a
//! [`LeaseShare`] (several tenants) the keeper also announces its replica at each try and
//! renewal, waits one lease length before its first try, takes a free lease only within the
//! replica's fair share, and says the replica leaves before a clean release.
//!
//! A leader's authority is a [`LeaseGuard`]: valid until `ttl - margin` after the send time of
//! the last renewal the database accepted, on the local monotonic clock, which keeps counting
//! while the process is stopped. A process resumed after SIGSTOP therefore finds its guard
//! expired before it can act, and the database gives the lease to nobody before `ttl` after
//! that renewal. Losing the lease is final for the keeper: it publishes [`Leadership::Lost`]
//! and ends; the connector stops acting and exits so it comes back as a standby. Knows nothing
//! about what a leader does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::lease::LeaseDb;
use super::{HaError, LeaseShare, LeaseTimings};
use crate::secret::SecretString;
use crate::store::Fence;
use crate::telemetry::Telemetry;

/// Longest a clean release may take at shutdown before the lease is left to expire.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the keeper needs.
#[derive(Debug, Clone)]
pub struct KeeperSettings {
    /// The database holding `byoc_leases`: `store.url`.
    pub url: SecretString,
    /// Whose lease: `store.namespace`.
    pub namespace: String,
    /// This replica: `ha.replica_id`.
    pub holder: String,
    /// The periods, from `ha.takeover_secs`.
    pub timings: LeaseTimings,
    /// With several tenants: their leases are spread over the replicas.
    pub share: Option<LeaseShare>,
}

/// Whether this replica leads.
#[derive(Debug, Clone)]
pub enum Leadership {
    /// Another replica leads, or nobody does yet: this one waits.
    Standby,
    /// This replica holds the lease.
    Leader(LeaseGuard),
    /// This replica held the lease and lost it; it must not act any more.
    Lost(LostReason),
}

/// How a leader lost its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// No renewal succeeded before the guard ran out (database unreachable, or the process was
    /// paused).
    Expired,
    /// A renewal found the lease taken over or ended.
    TakenOver,
    /// A store write was refused for its fence.
    Fenced,
}

impl LostReason {
    /// Every reason, for series that exist from the first scrape.
    pub const ALL: [Self; 3] = [Self::Expired, Self::TakenOver, Self::Fenced];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::TakenOver => "taken_over",
            Self::Fenced => "fenced",
        }
    }
}

/// A leader's proof of authority, checked immediately before each act only a leader may do;
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct LeaseGuard {
    inner: Arc<GuardInner>,
}

#[derive(Debug)]
struct GuardInner {
    fence: Fence,
    // The send time of the last accepted renewal plus `ttl - margin`.
    valid_until: Mutex<Instant>,
    // Set once the lease is released or lost: never valid again.
    ended: AtomicBool,
}

impl LeaseGuard {
    /// A guard for `fence`, valid until `valid_until`.
    pub fn new(fence: Fence, valid_until: Instant) -> Self {
        Self {
            inner: Arc::new(GuardInner {
                fence,
                valid_until: Mutex::new(valid_until),
                ended: AtomicBool::new(false),
            }),
        }
    }

    /// The fence this leader's store writes carry.
    pub fn fence(&self) -> &Fence {
        &self.inner.fence
    }

    /// Whether this replica may still act as leader now.
    pub fn is_valid(&self) -> bool {
        !self.inner.ended.load(Ordering::SeqCst) && Instant::now() < self.valid_until()
    }

    /// Until when the guard is valid, unless ended first.
    pub fn valid_until(&self) -> Instant {
        *self
            .inner
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the guard invalid for good.
    pub fn end(&self) {
        self.inner.ended.store(true, Ordering::SeqCst);
    }

    fn extend(&self, valid_until: Instant) {
        let mut current = self
            .inner
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (*current).max(valid_until);
    }
}

impl crate::interaction::SendGate for LeaseGuard {
    fn may_send(&self) -> bool {
        self.is_valid()
    }
}

/// The running keeper: its leadership feed and the handles to stop it.
#[derive(Debug)]
pub struct LeaseKeeper {
    leadership: watch::Receiver<Leadership>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Starts keeping the lease `settings` names.
    pub fn spawn(settings: KeeperSettings, telemetry: Telemetry) -> Self {
        let (publish, leadership) = watch::channel(Leadership::Standby);
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            Keeper {
                settings,
                telemetry,
                publish,
                db: None,
                stop: stop.clone(),
            }
            .run(),
        );
        Self {
            leadership,
            stop,
            task,
        }
    }

    /// The leadership feed.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Waits until this replica leads (its guard) or has lost the lease (`None`).
    pub async fn wait_for_leadership(&self) -> Option<LeaseGuard> {
        let mut leadership = self.leadership();
        let found = leadership
            .wait_for(|state| !matches!(state, Leadership::Standby))
            .await
            .ok()?;
        match &*found {
            Leadership::Leader(guard) => Some(guard.clone()),
            _ => None,
        }
    }

    /// Stops keeping the lease and releases it, so a standby takes over at its next try.
    pub async fn release(self) {
        self.stop.cancel();
        // The task ends by itself; a panic in it is logged by the runtime.
        let _ = self.task.await;
    }

    /// Stops at once without releasing, as a crash would: the lease runs out by itself.
    pub fn abandon(&self) {
        self.task.abort();
    }
}

struct Keeper {
    settings: KeeperSettings,
    telemetry: Telemetry,
    publish: watch::Sender<Leadership>,
    db: Option<LeaseDb>,
    stop: CancellationToken,
}

impl Keeper {
    async fn run(mut self) {
        self.telemetry.set_ha_leader(false);
        let Some(guard) = self.take().await else {
            return;
        };
        self.telemetry.ha_lease_taken(guard.fence());
        self.telemetry.set_ha_leader(true);
        self.publish.send_replace(Leadership::Leader(guard.clone()));
        match self.keep(&guard).await {
            Ok(()) => {
                guard.end();
                self.telemetry.set_ha_leader(false);
                self.release(&guard).await;
                self.publish.send_replace(Leadership::Standby);
            }
            Err(reason) => {
                guard.end();
                self.telemetry.set_ha_leader(false);
                self.telemetry.ha_lease_lost(guard.fence(), reason);
                self.publish.send_replace(Leadership::Lost(reason));
            }
        }
    }

    /// Tries to take the lease every `poll` until it is taken (its guard) or the keeper stops.
    async fn take(&mut self) -> Option<LeaseGuard> {
        let timings = self.settings.timings;
        if self.settings.share.is_some() {
            // Announced for a lease length before the first try, so replicas starting together
            // count each other and none takes every lease. Announced every poll meanwhile, not
            // once: a peer that started at the same moment would otherwise have announced a
            // whole lease length before this first try, exactly when it stops counting as live.
            let first_try = Instant::now() + timings.ttl;
            loop {
                self.announce(timings.poll).await;
                let next = (Instant::now() + timings.poll).min(first_try);
                tokio::select! {
                    () = self.stop.cancelled() => return None,
                    () = sleep_until(next) => {}
                }
                if Instant::now() >= first_try {
                    break;
                }
            }
        }
        loop {
            self.announce(timings.poll).await;
            let sent_at = Instant::now();
            // Up to a whole lease: the take may wait for a paused leader's transaction to be
            // ended by the server, and a slow take only shortens the guard it starts.
            match self.acquire(timings.ttl).await {
                Ok(Some(token)) => {
                    let fence = Fence {
                        namespace: self.settings.namespace.clone(),
                        holder: self.settings.holder.clone(),
                        token,
                    };
                    return Some(LeaseGuard::new(fence, sent_at + timings.valid_for()));
                }
                Ok(None) => {}
                Err(problem) => warn!(error = %problem, "cannot try to take the lease; retrying"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = sleep(timings.poll) => {}
            }
        }
    }

    /// Renews the lease until the keeper stops (`Ok`) or the lease is lost.
    async fn keep(&mut self, guard: &LeaseGuard) -> Result<(), LostReason> {
        let timings = self.settings.timings;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                () = sleep_until(guard.valid_until()) => return Err(LostReason::Expired),
                () = sleep(timings.renew) => {}
            }
            let sent_at = Instant::now();
            let left = guard.valid_until().saturating_duration_since(sent_at);
            match self.renew(guard.fence(), left).await {
                Ok(true) => {
                    guard.extend(sent_at + timings.valid_for());
                    self.announce(timings.renew).await;
                }
                Ok(false) => return Err(LostReason::TakenOver),
                Err(problem) => {
                    warn!(error = %problem, left_ms = crate::log_value::millis(left), "lease renewal failed; retrying until the lease runs out");
                }
            }
        }
    }

    async fn release(&mut self, guard: &LeaseGuard) {
        let fence = guard.fence().clone();
        if let Some(share) = self.settings.share.clone() {
            // Gone first, so the other replicas' share covers this lease at their next try.
            let holder = self.settings.holder.clone();
            if let Ok(db) = self.connected(RELEASE_TIMEOUT).await {
                if let Ok(Err(problem)) =
                    timeout(RELEASE_TIMEOUT, db.leave(&share.pool, &holder)).await
                {
                    warn!(error = %problem, "cannot say this replica leaves; its share lapses by itself");
                }
            }
        }
        let released = match self.connected(RELEASE_TIMEOUT).await {
            Ok(db) => timeout(RELEASE_TIMEOUT, db.release(&fence)).await,
            Err(problem) => {
                warn!(error = %problem, "cannot release the lease; it runs out by itself");
                return;
            }
        };
        match released {
            Ok(Ok(_)) => info!(namespace = %fence.namespace, token = fence.token, "lease released"),
            Ok(Err(problem)) => {
                warn!(error = %problem, "cannot release the lease; it runs out by itself");
            }
            Err(_) => warn!("lease release timed out; it runs out by itself"),
        }
    }

    /// One acquire, bounded by `limit`; a failure drops the connection so the next try opens
    /// a fresh one.
    async fn acquire(&mut self, limit: Duration) -> Result<Option<i64>, HaError> {
        let (namespace, holder, ttl, share) = (
            self.settings.namespace.clone(),
            self.settings.holder.clone(),
            self.settings.timings.ttl,
            self.settings.share.clone(),
        );
        let outcome = match self.connected(limit).await {
            Ok(db) => {
                let acquired = async {
                    match &share {
                        Some(share) => {
                            db.acquire_within_share(&namespace, &holder, ttl, share)
                                .await
                        }
                        None => db.acquire(&namespace, &holder, ttl).await,
                    }
                };
                timeout(limit, acquired)
                    .await
                    .unwrap_or_else(|_| Err(timed_out("acquire", limit)))
            }
            Err(problem) => Err(problem),
        };
        if outcome.is_err() {
            self.db = None;
        }
        outcome
    }

    /// Says this replica is alive, bounded by `limit`, when it shares leases; a failure is
    /// logged and drops the connection (the share then counts it gone after a lease).
    async fn announce(&mut self, limit: Duration) {
        let Some(share) = self.settings.share.clone() else {
            return;
        };
        let holder = self.settings.holder.clone();
        let outcome = match self.connected(limit).await {
            Ok(db) => timeout(limit, db.announce(&share.pool, &holder))
                .await
                .unwrap_or_else(|_| Err(timed_out("announce", limit))),
            Err(problem) => Err(problem),
        };
        if let Err(problem) = outcome {
            warn!(error = %problem, "cannot announce this replica; retrying");
            self.db = None;
        }
    }

    /// One renewal, bounded by `limit`; a failure drops the connection.
    async fn renew(&mut self, fence: &Fence, limit: Duration) -> Result<bool, HaError> {
        let ttl = self.settings.timings.ttl;
        let outcome = match self.connected(limit).await {
            Ok(db) => timeout(limit, db.renew(fence, ttl))
                .await
                .unwrap_or_else(|_| Err(timed_out("renew", limit))),
            Err(problem) => Err(problem),
        };
        if outcome.is_err() {
            self.db = None;
        }
        outcome
    }

    /// The open connection, opened (within `limit`) when there is none or it broke.
    async fn connected(&mut self, limit: Duration) -> Result<&LeaseDb, HaError> {
        let db = match self.db.take() {
            Some(db) if !db.is_closed() => db,
            _ => timeout(limit, LeaseDb::connect(&self.settings.url))
                .await
                .unwrap_or_else(|_| Err(timed_out("connect", limit)))?,
        };
        Ok(self.db.insert(db))
    }
}

fn timed_out(operation: &'static str, waited: Duration) -> HaError {
    HaError::TimedOut {
        operation,
        waited_ms: crate::log_value::millis(waited),
    }
}
