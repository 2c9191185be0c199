//! Cleaning up after a request that a RoutingResult failure or cancel entry cancelled before
//! Salesforce accepted its routingResult (the machine has it recorded `Cancelled`): undo what it left in Salesforce
//! (`DELETE /route` when `/route` created a PendingServiceRouting, `PATCH /agentWork`
//! `Cancel` when an AgentWork was created) and tell the partner with a `routing.cancelled`
//! envelope on its routing webhook. Also withdraws, with `DELETE /route`, the route a `/route`
//! that ended unanswered may have created for a request answered `success=false`.
//!
//! Cleanup calls retry like the other routing calls, within [`CLEANUP_BUDGET`]; a failure is
//! logged and changes nothing else. `DELETE /route` is sent without `cancelReason`, which orgs
//! that do not support it refuse (10076). Knows nothing about Pub/Sub or the sidecar.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::channel::Delivery;
use crate::interaction::{
    AgentWorkStatus, DeleteRouteRequest, PatchAgentWorkRequest, WorkContextType,
};

use super::engine::EngineInner;
use super::machine::{Cleanup, CANCELLED_REASON};
use super::pending::PendingRecord;
use super::strategy::bounded;

/// The webhook `type` and `X-Byoc-Event-Type` of the cancellation notice.
pub(crate) const ROUTING_CANCELLED_TYPE: &str = "routing.cancelled";

/// Why a route is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RouteToDelete {
    /// `/route` created it and the request was cancelled.
    Cancelled,
    /// `/route` ended without an answer and the request was answered unrouted; it may not
    /// exist.
    Unconfirmed,
}

/// Time each cleanup call (and the partner notice) may take, retries included.
const CLEANUP_BUDGET: Duration = Duration::from_secs(20);

impl EngineInner {
    /// Undoes what a cancelled request left in Salesforce and tells the partner; the
    /// record is already written `Cancelled`.
    pub(super) async fn clean_up_cancelled(&self, record: &PendingRecord, cleanup: Cleanup) {
        let route = cleanup.delete_route.then_some(RouteToDelete::Cancelled);
        tokio::join!(
            async {
                if let Some(route) = route {
                    self.delete_route(record, route).await;
                }
            },
            self.cancel_agent_work(record, cleanup.cancel_agent_work.as_deref()),
            self.notify_partner(record),
        );
    }

    /// `DELETE /route` for the request's conversation, retried within [`CLEANUP_BUDGET`].
    pub(super) async fn delete_route(&self, record: &PendingRecord, route: RouteToDelete) {
        let body = DeleteRouteRequest {
            conversation_identifier: record.conversation_identifier.clone(),
            cancel_reason: None,
        };
        let until = Instant::now() + CLEANUP_BUDGET;
        match bounded(until, || self.interaction.delete_route(&body)).await {
            Ok(_) => match route {
                RouteToDelete::Cancelled => {
                    info!(event_id = %record.event_id, "pending service routing of a cancelled request deleted");
                }
                RouteToDelete::Unconfirmed => {
                    info!(event_id = %record.event_id, "route of a request answered unrouted withdrawn");
                }
            },
            // Salesforce refusing to delete a route `/route` never created is the likely
            // outcome when the cut-off call did not reach it.
            Err(problem) if route == RouteToDelete::Unconfirmed => {
                info!(event_id = %record.event_id, error = %problem, "route of a request answered unrouted not withdrawn, probably never created");
            }
            Err(problem) => {
                warn!(event_id = %record.event_id, error = %problem, "pending service routing of a cancelled request could not be deleted");
            }
        }
    }

    async fn cancel_agent_work(&self, record: &PendingRecord, work_id: Option<&str>) {
        let Some(work_id) = work_id else {
            return;
        };
        let body = PatchAgentWorkRequest {
            work_id: work_id.to_owned(),
            context_type: WorkContextType::Agent,
            status: AgentWorkStatus::Cancel,
            work_item_id: None,
            bot_id: None,
        };
        let until = Instant::now() + CLEANUP_BUDGET;
        match bounded(until, || self.interaction.patch_agent_work(&body)).await {
            Ok(_) => {
                info!(event_id = %record.event_id, "agent work of a cancelled request cancelled");
            }
            Err(problem) => {
                warn!(event_id = %record.event_id, error = %problem, "agent work of a cancelled request could not be cancelled");
            }
        }
    }

    /// Delivers the `routing.cancelled` envelope, retrying transient failures briefly.
    async fn notify_partner(&self, record: &PendingRecord) {
        let Some(partner) = &self.partner else {
            return;
        };
        let body = json!({
            "id": format!("{}:cancelled", record.event_id),
            "type": ROUTING_CANCELLED_TYPE,
            "eventId": record.event_id,
            "conversationIdentifier": record.conversation_identifier,
            "reason": CANCELLED_REASON,
        });
        let delivery = Delivery {
            idempotency_key: format!("{}:cancelled", record.idempotency_key),
            event_type: ROUTING_CANCELLED_TYPE.into(),
            body: Bytes::from(body.to_string()),
        };
        let until = Instant::now() + CLEANUP_BUDGET;
        let mut delay = Duration::from_millis(100);
        loop {
            let outcome = tokio::time::timeout_at(until, partner.post(&delivery)).await;
            let retryable = match outcome {
                Ok(Ok(_)) => return,
                Ok(Err(problem)) if problem.is_retryable() => problem.to_string(),
                Ok(Err(problem)) => {
                    warn!(event_id = %record.event_id, error = %problem, "partner refused the routing cancellation notice");
                    return;
                }
                Err(_elapsed) => "the partner did not answer in time".to_owned(),
            };
            if Instant::now() + delay >= until {
                warn!(event_id = %record.event_id, reason = %retryable, "routing cancellation notice not delivered");
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}
