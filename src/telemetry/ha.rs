//! What happens to this replica's lease when high availability is on: taken, lost, and
//! whether it leads now. The lease keeper and the connector report here; this file logs each
//! occurrence and moves its metric.

use tracing::{error, info};

use super::metrics::ReasonLabels;
use super::Telemetry;
use crate::ha::LostReason;
use crate::store::Fence;

impl Telemetry {
    /// Whether this replica leads now (`byoc_ha_leader`).
    pub(crate) fn set_ha_leader(&self, leader: bool) {
        self.metrics.ha_leader.set(i64::from(leader));
    }

    /// This replica took the lease `fence` names and leads from now on.
    pub(crate) fn ha_lease_taken(&self, fence: &Fence) {
        info!(
            namespace = %fence.namespace,
            replica_id = %fence.holder,
            token = fence.token,
            "lease taken; this replica leads"
        );
        self.metrics.ha_takeovers.inc();
    }

    /// This replica lost the lease `fence` names while leading; it stops acting.
    pub(crate) fn ha_lease_lost(&self, fence: &Fence, reason: LostReason) {
        error!(
            namespace = %fence.namespace,
            replica_id = %fence.holder,
            token = fence.token,
            reason = reason.as_str(),
            "lease lost; this replica stops acting as leader"
        );
        self.metrics
            .ha_leases_lost
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }
}
