//! Posting a decided request's routingResult, and recording every step of that durably.
//!
//! The `Decided` record is committed before the routingResult is posted, and `Posted` or
//! `Missed` after it: a crash before the commit leaves the request undecided (nothing was
//! posted), a crash after it makes the restart post the stored decision again, so a crash can
//! at worst repeat the same answer, never send a different one. Posts retry
//! (429, 5xx, 10019, 10055, 10056, 10094) until the deadline and are cut off there: nothing is
//! ever posted at or after it. An `/agentWork` owed after routingResult (rep transfers short of
//! time) is made last. Knows nothing about Pub/Sub or the sidecar's HTTP side.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::events::RoutingRequestedEvent;
use crate::interaction::{ErrorClass, InteractionError, RoutingOutcome, RoutingResultRequest};
use crate::telemetry;

use super::active::SidecarReply;
use super::deadline::Timeline;
use super::engine::EngineInner;
use super::pending::{AgentWorkFollowUp, Decision, DecisionSource, PendingRecord, PendingState};
use super::strategy::{agent_work, bounded, wire_routing_type, SalesforceRequest};
use super::RoutingError;

/// Time an `/agentWork` owed after routingResult may take.
const FOLLOW_UP_BUDGET: Duration = Duration::from_secs(30);

/// A decision with what posting it needs.
pub(super) struct Verdict {
    /// What to post.
    pub(super) decision: Decision,
    /// Who decided.
    pub(super) source: DecisionSource,
    /// An `/agentWork` owed after posting.
    pub(super) follow_up: Option<AgentWorkFollowUp>,
    /// Set when the sidecar decided: it waits to hear whether the post succeeded.
    pub(super) reply: Option<oneshot::Sender<SidecarReply>>,
    /// Cancelled when a RoutingResult entry reports the routing failed or cancelled.
    pub(super) cancelled: CancellationToken,
}

/// How posting ended.
enum Posting {
    Posted,
    Refused(String),
    Missed(String),
    /// A RoutingResult entry cancelled the request before Salesforce accepted a post.
    Cancelled,
}

impl EngineInner {
    /// Posts a decided request's routingResult (recording the decision meanwhile), then
    /// records how it ended and tells a waiting sidecar call.
    pub(super) async fn post_decision(
        &self,
        mut record: PendingRecord,
        event: Box<RoutingRequestedEvent>,
        timeline: Timeline,
        verdict: Verdict,
        work_item_id: String,
    ) {
        let Verdict {
            decision,
            source,
            follow_up,
            reply,
            cancelled,
        } = verdict;
        record.work_item_id = Some(work_item_id.clone());
        // Durable before posted: a restart re-posts this stored decision instead of deciding
        // again, so a crash can repeat this answer but never send a different one.
        if let Err(problem) = self
            .record_decision(&mut record, &decision, source, follow_up.as_ref())
            .await
        {
            let reason =
                format!("the decision could not be recorded, so it was not posted: {problem}");
            reply_to(reply, not_posted(&reason));
            self.telemetry.routing_deadline_missed(
                &record.event_id,
                &record.conversation_identifier,
                &reason,
            );
            return;
        }
        let posting = tokio::select! {
            biased;
            () = cancelled.cancelled() => Posting::Cancelled,
            posting = self.post(&record, &event, &work_item_id, &decision, timeline.deadline_at) => posting,
        };
        if matches!(posting, Posting::Posted) {
            // Salesforce has the answer: a cancellation arriving now no longer applies.
            self.active.mark_posted(&record.event_id);
        }
        match posting {
            Posting::Cancelled => self.cancel(record, reply).await,
            Posting::Posted => {
                let posted_ms = self.settings.clock.now_ms();
                let age_ms = posted_ms.saturating_sub(record.created_date_ms).max(0);
                let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
                record.transition(PendingState::Posted {
                    decision: decision.clone(),
                    source,
                    posted_ms,
                    follow_up: follow_up.clone(),
                });
                self.persist(&record).await;
                // Counted once recorded, so whoever sees the count finds the `Posted` record.
                let outcome = if decision.is_success() {
                    telemetry::RoutingOutcome::Success
                } else {
                    telemetry::RoutingOutcome::Failure
                };
                self.telemetry.routing_result_posted(
                    outcome,
                    source.as_str(),
                    &record.event_id,
                    age,
                );
                reply_to(
                    reply,
                    SidecarReply::Posted {
                        success: decision.is_success(),
                    },
                );
                if follow_up.is_some() {
                    self.follow_up(record, event).await;
                }
            }
            Posting::Refused(reason) => {
                reply_to(reply, not_posted(&reason));
                record.transition(PendingState::Missed {
                    reason: reason.clone(),
                });
                self.persist(&record).await;
                self.telemetry.routing_result_refused(
                    &record.event_id,
                    &record.conversation_identifier,
                    &reason,
                );
            }
            Posting::Missed(reason) => {
                reply_to(reply, not_posted(&reason));
                self.mark_missed(record, &reason).await;
            }
        }
    }

    /// Posts routingResult, retrying until the deadline and never after it.
    async fn post(
        &self,
        record: &PendingRecord,
        event: &RoutingRequestedEvent,
        work_item_id: &str,
        decision: &Decision,
        deadline_at: Instant,
    ) -> Posting {
        if Instant::now() >= deadline_at {
            return Posting::Missed(
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
            conversation_identifier: record.conversation_identifier.clone(),
            work_item_id: work_item_id.to_owned(),
            outcome,
            routing_type: wire_routing_type(event),
        };
        match bounded(deadline_at, || self.interaction.routing_result(&request)).await {
            Ok(_) => Posting::Posted,
            Err(InteractionError::DeadlineExceeded) => {
                Posting::Missed("the deadline passed while posting the routing result".to_owned())
            }
            Err(problem) if problem.class() == ErrorClass::Permanent => {
                Posting::Refused(problem.to_string())
            }
            Err(problem) => Posting::Missed(format!("retries ran out at the deadline: {problem}")),
        }
    }

    /// Makes the `/agentWork` owed after routingResult, then records it done.
    pub(super) async fn follow_up(
        &self,
        mut record: PendingRecord,
        event: Box<RoutingRequestedEvent>,
    ) {
        let PendingState::Posted {
            decision,
            source,
            posted_ms,
            follow_up: Some(owed),
        } = record.state.clone()
        else {
            return;
        };
        let Some(work_item_id) = record.work_item_id.clone() else {
            error!(event_id = %record.event_id, "agent work owed without a work item, skipped");
            return;
        };
        let now = Instant::now();
        let request = SalesforceRequest {
            event_id: &record.event_id,
            routing_correlation_id: event.event_id(),
            conversation_identifier: &record.conversation_identifier,
            routing_type: wire_routing_type(&event),
            work_item_id: &work_item_id,
            timeline: Timeline {
                decision_at: now,
                deadline_at: now + FOLLOW_UP_BUDGET,
            },
            window: self.settings.window,
            fallback_queue_id: self.settings.fallback_queue_id.as_deref(),
        };
        if agent_work(
            &self.interaction,
            &request,
            &owed.user_id,
            now + FOLLOW_UP_BUDGET,
        )
        .await
        .is_err()
        {
            // Logged by agent_work; the routing result stands either way.
            return;
        }
        record.transition(PendingState::Posted {
            decision,
            source,
            posted_ms,
            follow_up: None,
        });
        self.persist(&record).await;
    }

    /// Durably records the decision (state `Decided`) of a request still `Pending`; a record
    /// already decided (resumed) is left as it is, with the decision it holds.
    pub(super) async fn record_decision(
        &self,
        record: &mut PendingRecord,
        decision: &Decision,
        source: DecisionSource,
        follow_up: Option<&AgentWorkFollowUp>,
    ) -> Result<(), RoutingError> {
        if record.state != PendingState::Pending {
            return Ok(());
        }
        record.transition(PendingState::Decided {
            decision: decision.clone(),
            source,
            follow_up: follow_up.cloned(),
        });
        self.pending.put(record).await
    }

    /// Writes `record`; a failure is logged (the request goes on from memory).
    pub(super) async fn persist(&self, record: &PendingRecord) {
        if let Err(problem) = self.pending.put(record).await {
            error!(event_id = %record.event_id, state = record.state.name(), error = %problem, "routing request state could not be recorded");
        }
    }
}

/// The sidecar's answer when a decision was not posted.
pub(super) fn not_posted(reason: &str) -> SidecarReply {
    SidecarReply::NotPosted {
        reason: reason.to_owned(),
    }
}

/// Tells a waiting sidecar call what became of its decision.
pub(super) fn reply_to(reply: Option<oneshot::Sender<SidecarReply>>, outcome: SidecarReply) {
    if let Some(reply) = reply {
        // The caller may have hung up; the outcome is recorded either way.
        let _ = reply.send(outcome);
    }
}
