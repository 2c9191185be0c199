//! The leader gate (`ha.enabled`): a replica stands by until it holds its channel's lease, and
//! stops acting the moment it loses it.
//!
//! On taking the lease the replica fences its store (every durable write then proves the
//! lease inside its transaction) and gates its routing calls on the lease's local deadline;
//! only then does the connector load the checkpoint, resume pending routing and subscribe.
//! Losing the lease (renewals failed until that deadline, a renewal found it taken, or the
//! store refused a write for its fence) is fail-stop: the connector returns
//! [`ConnectorError::LeadershipLost`] and the process exits non-zero, so the orchestrator
//! restarts it as a standby. Knows nothing about what the connector runs once it leads.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::sidecar::Role;
use super::ConnectorError;
use crate::ha::{KeeperSettings, Leadership, LeaseGuard, LeaseKeeper, LostReason};
use crate::interaction::InteractionClient;
use crate::server::Readiness;
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;

/// A replica that leads: its lease keeper, its authority and the token that fires when it
/// loses the lease.
#[derive(Debug)]
pub(super) struct Leading {
    keeper: LeaseKeeper,
    guard: LeaseGuard,
    lost: CancellationToken,
    reason: watch::Receiver<Option<LostReason>>,
    telemetry: Telemetry,
}

/// Stands by until this replica holds the lease `settings` names, then fences `store` and
/// gates `interaction`'s routing calls. `None`: shutdown came first (nothing held).
pub(super) async fn lead(
    settings: KeeperSettings,
    store: &Store,
    interaction: &InteractionClient,
    readiness: &Readiness,
    role: &Role,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
) -> Result<Option<Leading>, ConnectorError> {
    info!(
        replica_id = %settings.holder,
        namespace = %settings.namespace,
        takeover_ms = crate::log_value::millis(settings.timings.ttl + settings.timings.poll),
        "standing by until this replica holds the channel's lease"
    );
    let keeper = LeaseKeeper::spawn(settings, telemetry.clone());
    role.set_standby(true);
    // A standby serves its role (partner → Salesforce writes), so it is ready: rollouts and
    // disruption budgets count it.
    readiness.set_ready(true);
    let taken = tokio::select! {
        () = shutdown.cancelled() => None,
        taken = keeper.wait_for_leadership() => Some(taken),
    };
    let Some(taken) = taken else {
        keeper.release().await;
        return Ok(None);
    };
    let Some(guard) = taken else {
        return Err(ConnectorError::LeadershipLost {
            reason: LostReason::TakenOver.as_str(),
        });
    };
    // Not ready again until subscribed, like a single replica starting.
    readiness.set_ready(false);
    role.set_standby(false);
    store.set_fence(Some(guard.fence().clone()));
    interaction.set_send_gate(Arc::new(guard.clone()));
    let lost = CancellationToken::new();
    let (report, reason) = watch::channel(None);
    tokio::spawn(watch_for_loss(
        keeper.leadership(),
        guard.clone(),
        lost.clone(),
        report,
    ));
    Ok(Some(Leading {
        keeper,
        guard,
        lost,
        reason,
        telemetry: telemetry.clone(),
    }))
}

/// Ends `guard` and fires `lost` when the keeper reports the lease lost or stops reporting.
async fn watch_for_loss(
    mut leadership: watch::Receiver<Leadership>,
    guard: LeaseGuard,
    lost: CancellationToken,
    report: watch::Sender<Option<LostReason>>,
) {
    let reason = match leadership
        .wait_for(|state| matches!(state, Leadership::Lost(_)))
        .await
    {
        Ok(state) => match &*state {
            Leadership::Lost(reason) => *reason,
            _ => LostReason::Expired,
        },
        // The keeper is gone (released at shutdown, or it crashed): nothing renews any more.
        Err(_) => LostReason::Expired,
    };
    guard.end();
    report.send_replace(Some(reason));
    lost.cancel();
}

impl Leading {
    /// Fires the moment this replica loses the lease.
    pub(super) fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// The error the connector stops with once [`Leading::lost`] fired.
    pub(super) fn lost_error(&self) -> ConnectorError {
        let reason = (*self.reason.borrow()).unwrap_or(LostReason::Expired);
        ConnectorError::LeadershipLost {
            reason: reason.as_str(),
        }
    }

    /// A store write was refused for its fence: another replica leads. Stops acting at once.
    pub(super) fn fenced(&self) -> ConnectorError {
        self.guard.end();
        self.telemetry
            .ha_lease_lost(self.guard.fence(), LostReason::Fenced);
        self.keeper.abandon();
        self.lost.cancel();
        ConnectorError::LeadershipLost {
            reason: LostReason::Fenced.as_str(),
        }
    }

    /// Stops keeping the lease and releases it after a clean drain, so a standby leads at
    /// its next try instead of waiting for the lease to run out.
    pub(super) async fn release(self) {
        self.guard.end();
        self.keeper.release().await;
    }
}

/// Whether `error` or any error it wraps is a store write refused for its fence.
pub(super) fn is_fenced(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        // `StoreError::is_fenced` also sees a fence behind the checkpoint writer's stop, which
        // holds its cause in an `Arc` that no downcast reaches.
        if error
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_fenced)
        {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pipeline::PipelineError;
    use crate::store::WriterStop;

    fn fence() -> StoreError {
        StoreError::Fenced {
            namespace: "acme".to_owned(),
            holder: "replica-0".to_owned(),
            token: 2,
        }
    }

    #[test]
    fn a_fenced_write_is_seen_directly_and_behind_the_checkpoint_writers_stop() {
        let direct = ConnectorError::Pipeline(PipelineError::Store(fence()));
        assert!(is_fenced(&direct));
        let through_the_writer = ConnectorError::Pipeline(PipelineError::Store(
            StoreError::WriterStopped(WriterStop::CommitFailed(Arc::new(fence()))),
        ));
        assert!(is_fenced(&through_the_writer), "{through_the_writer:?}");
        let other = ConnectorError::Pipeline(PipelineError::Store(StoreError::WriterStopped(
            WriterStop::Closed,
        )));
        assert!(!is_fenced(&other));
    }
}
