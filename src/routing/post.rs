//! Posting a decided request's routingResult: the body from the decision, retries (429, 5xx,
//! 10019, 10055, 10056, 10094) until the deadline, and nothing ever posted at or after it.
//!
//! The machine has the decision written before it asks for this post, so a crash can at
//! worst repeat the same answer, never send a different one. Knows nothing about the store,
//! the sidecar or Pub/Sub.

use tokio::time::Instant;

use crate::interaction::{
    ErrorClass, InteractionClient, InteractionError, RoutingOutcome, RoutingResultRequest,
    RoutingType,
};

use super::machine::PostOutcome;
use super::pending::Decision;
use super::strategy::{bounded, stand_down};

/// What the routingResult is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResultTarget<'a> {
    /// The routing request's event id, for logs.
    pub event_id: &'a str,
    /// The conversation.
    pub conversation_identifier: &'a str,
    /// The MessagingSession id.
    pub work_item_id: &'a str,
    /// The routing type, when known.
    pub routing_type: Option<RoutingType>,
}

/// Posts routingResult for `decision`, retrying until `deadline_at` and never after it, and
/// never once this replica no longer leads its channel (then it never returns).
pub(super) async fn post_routing_result(
    client: &InteractionClient,
    target: ResultTarget<'_>,
    decision: &Decision,
    deadline_at: Instant,
) -> PostOutcome {
    if Instant::now() >= deadline_at {
        return PostOutcome::Missed(
            "the deadline passed before the routing result was ready".to_owned(),
        );
    }
    let outcome = match decision {
        Decision::Routed { externally_routed } => RoutingOutcome::Routed {
            externally_routed: *externally_routed,
        },
        Decision::Failed {
            error_message,
            externally_routed,
        } => RoutingOutcome::Failed {
            error_message: error_message.clone(),
            externally_routed: *externally_routed,
        },
    };
    let request = RoutingResultRequest {
        conversation_identifier: target.conversation_identifier.to_owned(),
        work_item_id: target.work_item_id.to_owned(),
        outcome,
        routing_type: target.routing_type,
    };
    match bounded(deadline_at, || client.routing_result(&request)).await {
        Ok(_) => PostOutcome::Posted,
        Err(InteractionError::NotLeader) => stand_down(target.event_id).await,
        Err(InteractionError::DeadlineExceeded) => {
            PostOutcome::Missed("the deadline passed while posting the routing result".to_owned())
        }
        Err(problem) if problem.class() == ErrorClass::Permanent => {
            PostOutcome::Refused(problem.to_string())
        }
        Err(problem) => PostOutcome::Missed(format!("retries ran out at the deadline: {problem}")),
    }
}
