//! One routing request's life up to its decision: wait for the partner (its answer, the
//! sidecar or the decision timeout), or run the `salesforce`/`reject` strategy, and resolve
//! the `workItemId`; then hand over to `post.rs`.
//!
//! Deciding and resolving run side by side, so a partner decision is posted without waiting
//! for a query. Whoever decides first wins the claim (`active.rs`); a cancellation ends the
//! request without a post, a shutdown leaves it pending for the next run. Knows nothing about
//! Pub/Sub or the sidecar's HTTP side.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::events::RoutingRequestedEvent;

use super::active::{Claimant, Registration, SidecarDecision, SidecarReply};
use super::deadline::{seconds_text, Timeline};
use super::engine::EngineInner;
use super::partner::{ask_partner, PartnerAnswer};
use super::pending::{
    AgentWorkFollowUp, Decision, DecisionSource, PendingRecord, PendingState, RouteReceipt,
};
use super::post::{not_posted, reply_to, Verdict};
use super::strategy::{
    assign_to_rep, reject, route_in_salesforce, target_of, wire_routing_type, RoutingStrategy,
    SalesforceRequest, StrategyPlan,
};

/// An armed request, handed to its task.
pub(super) struct Job {
    pub(super) record: PendingRecord,
    pub(super) event: Box<RoutingRequestedEvent>,
    pub(super) body: Bytes,
    pub(super) timeline: Timeline,
    pub(super) registration: Registration,
}

/// How deciding ended.
enum Decided {
    Decision {
        decision: Decision,
        source: DecisionSource,
        follow_up: Option<AgentWorkFollowUp>,
        /// Set when the sidecar decided: it waits to hear whether the post succeeded.
        reply: Option<oneshot::Sender<SidecarReply>>,
        /// The rep the partner assigned through the sidecar: an AgentWork comes first.
        assign: Option<String>,
    },
    Cancelled,
    ShuttingDown,
}

impl Decided {
    fn from_plan(plan: StrategyPlan) -> Self {
        Self::Decision {
            decision: plan.decision,
            source: DecisionSource::Strategy,
            follow_up: plan.follow_up,
            reply: None,
            assign: None,
        }
    }

    fn from_sidecar(sidecar: SidecarDecision) -> Self {
        Self::Decision {
            decision: sidecar.decision,
            source: DecisionSource::Sidecar,
            follow_up: None,
            reply: Some(sidecar.reply),
            assign: sidecar.assign,
        }
    }
}

/// What the `workItemId` lookup gave.
enum WorkItem {
    Found(String),
    Failed(String),
    /// A RoutingResult entry cancelled the request meanwhile.
    Cancelled,
    ShuttingDown,
}

impl EngineInner {
    /// The request's task: runs it to a terminal state (or to shutdown), then disarms it.
    pub(super) async fn run(self: Arc<Self>, job: Job) {
        let event_id = job.record.event_id.clone();
        self.drive(job).await;
        self.disarm(&event_id);
    }

    async fn drive(&self, job: Job) {
        let Job {
            mut record,
            event,
            body,
            timeline,
            mut registration,
        } = job;
        let (decided, work_item) = match (record.state.clone(), self.settings.strategy) {
            (
                PendingState::Decided {
                    decision,
                    source,
                    follow_up,
                },
                _,
            ) => {
                let work_item = self
                    .work_item(&record, &event, &timeline, &registration.cancelled)
                    .await;
                let decided = Decided::Decision {
                    decision,
                    source,
                    follow_up,
                    reply: None,
                    assign: None,
                };
                (decided, work_item)
            }
            (PendingState::Pending, RoutingStrategy::Salesforce) => {
                let work_item = self
                    .work_item(&record, &event, &timeline, &registration.cancelled)
                    .await;
                let decided = match &work_item {
                    WorkItem::Found(work_item_id) => {
                        let (decided, route, agent_work_id) = self
                            .decide_in_salesforce(&record, &event, work_item_id, timeline)
                            .await;
                        record.route = route;
                        record.agent_work_id = agent_work_id;
                        decided
                    }
                    WorkItem::ShuttingDown => Decided::ShuttingDown,
                    WorkItem::Cancelled => Decided::Cancelled,
                    WorkItem::Failed(reason) => {
                        let reason = format!("no workItemId for the routing result: {reason}");
                        self.mark_missed(record, &reason).await;
                        return;
                    }
                };
                (decided, work_item)
            }
            (PendingState::Pending, strategy) => {
                let cancelled = registration.cancelled.clone();
                let deciding = self.decide(strategy, &record, body, timeline, &mut registration);
                let resolving = self.work_item(&record, &event, &timeline, &cancelled);
                tokio::join!(deciding, resolving)
            }
            _ => return,
        };
        let Decided::Decision {
            mut decision,
            source,
            mut follow_up,
            reply,
            assign,
        } = decided
        else {
            if matches!(decided, Decided::Cancelled) {
                self.cancel(record, None).await;
            }
            return;
        };
        if source == DecisionSource::DecisionTimeout && record.state == PendingState::Pending {
            self.telemetry.routing_decision_timed_out(&record.event_id);
        }
        let work_item_id = match work_item {
            WorkItem::Found(work_item_id) => work_item_id,
            // An assignment's AgentWork is not made yet: the request resumes undecided.
            WorkItem::ShuttingDown if assign.is_some() => {
                reply_to(reply, not_posted("the connector is shutting down"));
                return;
            }
            WorkItem::ShuttingDown => {
                if let Err(problem) = self
                    .record_decision(&mut record, &decision, source, follow_up.as_ref())
                    .await
                {
                    warn!(event_id = %record.event_id, error = %problem, "routing decision not recorded at shutdown, the request resumes undecided");
                }
                reply_to(reply, not_posted("the connector is shutting down"));
                return;
            }
            WorkItem::Failed(reason) => {
                let reason = format!("no workItemId for the routing result: {reason}");
                reply_to(reply, not_posted(&reason));
                self.mark_missed(record, &reason).await;
                return;
            }
            WorkItem::Cancelled => {
                self.cancel(record, reply).await;
                return;
            }
        };
        if let Some(user_id) = assign {
            let plan = self
                .assign_rep(&record, &event, &work_item_id, timeline, &user_id)
                .await;
            decision = plan.decision;
            follow_up = plan.follow_up;
            record.agent_work_id = plan.agent_work_id;
        }
        let verdict = Verdict {
            decision,
            source,
            follow_up,
            reply,
            cancelled: registration.cancelled.clone(),
        };
        self.post_decision(record, event, timeline, verdict, work_item_id)
            .await;
    }

    /// Waits for the decision of a `partner` or `reject` request.
    async fn decide(
        &self,
        strategy: RoutingStrategy,
        record: &PendingRecord,
        body: Bytes,
        timeline: Timeline,
        registration: &mut Registration,
    ) -> Decided {
        let event_id = record.event_id.as_str();
        let partner = match (strategy, &self.partner) {
            (RoutingStrategy::Partner, Some(partner)) => partner,
            (RoutingStrategy::Partner, None) => {
                let plan = StrategyPlan {
                    decision: Decision::failed("no partner routing endpoint is configured"),
                    follow_up: None,
                    route: None,
                    agent_work_id: None,
                };
                return self.claim_or_yield(
                    event_id,
                    Claimant::Strategy,
                    Decided::from_plan(plan),
                    registration,
                );
            }
            _ => {
                return self.claim_or_yield(
                    event_id,
                    Claimant::Strategy,
                    Decided::from_plan(reject()),
                    registration,
                )
            }
        };
        let timed_out = Decided::Decision {
            decision: Decision::failed(format!(
                "the partner made no routing decision within {} s",
                seconds_text(self.settings.decision_timeout)
            )),
            source: DecisionSource::DecisionTimeout,
            follow_up: None,
            reply: None,
            assign: None,
        };
        if Instant::now() >= timeline.decision_at {
            return self.claim_or_yield(
                event_id,
                Claimant::DecisionTimeout,
                timed_out,
                registration,
            );
        }
        let asking = ask_partner(
            partner,
            event_id,
            &record.idempotency_key,
            body,
            timeline.decision_at,
        );
        tokio::pin!(asking);
        let mut waiting_for_partner = true;
        loop {
            tokio::select! {
                biased;
                () = registration.cancelled.cancelled() => return Decided::Cancelled,
                () = self.shutdown.cancelled() => return Decided::ShuttingDown,
                received = &mut registration.decisions => {
                    return match received {
                        Ok(sidecar) => Decided::from_sidecar(sidecar),
                        // Only a cancellation closes the channel without a decision.
                        Err(_) => Decided::Cancelled,
                    };
                }
                () = tokio::time::sleep_until(timeline.decision_at) => {
                    return self.claim_or_yield(event_id, Claimant::DecisionTimeout, timed_out, registration);
                }
                answer = &mut asking, if waiting_for_partner => {
                    waiting_for_partner = false;
                    let decision = match answer {
                        PartnerAnswer::Decided(decision) => decision,
                        PartnerAnswer::Refused(reason) => Decision::failed(format!("the partner refused the routing request: {reason}")),
                        PartnerAnswer::Accepted => continue,
                        PartnerAnswer::Unreachable(reason) => {
                            warn!(event_id, reason = %reason, "partner unreachable, waiting for the decision timeout");
                            continue;
                        }
                    };
                    let decided = Decided::Decision { decision, source: DecisionSource::Partner, follow_up: None, reply: None, assign: None };
                    return self.claim_or_yield(event_id, Claimant::Partner, decided, registration);
                }
            }
        }
    }

    /// `decided` when `claimant` wins the claim; otherwise whatever won (a sidecar decision
    /// already sent under the claim's lock, or a cancellation).
    fn claim_or_yield(
        &self,
        event_id: &str,
        claimant: Claimant,
        decided: Decided,
        registration: &mut Registration,
    ) -> Decided {
        if self.active.claim(event_id, claimant) {
            return decided;
        }
        match registration.decisions.try_recv() {
            Ok(sidecar) => Decided::from_sidecar(sidecar),
            Err(_) => Decided::Cancelled,
        }
    }

    /// Carries out the `salesforce` strategy once the request is claimed; also gives what
    /// `POST /route` answered and the AgentWork created, for the record.
    async fn decide_in_salesforce(
        &self,
        record: &PendingRecord,
        event: &RoutingRequestedEvent,
        work_item_id: &str,
        timeline: Timeline,
    ) -> (Decided, Option<RouteReceipt>, Option<String>) {
        if !self.active.claim(&record.event_id, Claimant::Strategy) {
            return (Decided::Cancelled, None, None);
        }
        let target = target_of(event, &self.settings.rep_user_field);
        let request = SalesforceRequest {
            event_id: &record.event_id,
            routing_correlation_id: event.event_id(),
            conversation_identifier: &record.conversation_identifier,
            routing_type: wire_routing_type(event),
            work_item_id,
            timeline,
            window: self.settings.window,
            fallback_queue_id: self.settings.fallback_queue_id.as_deref(),
        };
        let mut plan = route_in_salesforce(&self.interaction, &target, &request).await;
        let route = plan.route.take();
        let agent_work_id = plan.agent_work_id.take();
        (Decided::from_plan(plan), route, agent_work_id)
    }

    /// Creates the AgentWork for the rep the partner assigned, then says what to post: the
    /// `routingCorrelationId` is the one `/route` returned when there was one, else the
    /// event's id (a direct rep transfer).
    async fn assign_rep(
        &self,
        record: &PendingRecord,
        event: &RoutingRequestedEvent,
        work_item_id: &str,
        timeline: Timeline,
        user_id: &str,
    ) -> StrategyPlan {
        let from_route = record
            .route
            .as_ref()
            .and_then(|route| route.routing_correlation_id.as_deref());
        let request = SalesforceRequest {
            event_id: &record.event_id,
            routing_correlation_id: from_route.or(event.event_id()),
            conversation_identifier: &record.conversation_identifier,
            routing_type: wire_routing_type(event),
            work_item_id,
            timeline,
            window: self.settings.window,
            fallback_queue_id: self.settings.fallback_queue_id.as_deref(),
        };
        assign_to_rep(&self.interaction, &request, user_id).await
    }

    /// The request's `workItemId`, stopping early on shutdown.
    async fn work_item(
        &self,
        record: &PendingRecord,
        event: &RoutingRequestedEvent,
        timeline: &Timeline,
        cancelled: &CancellationToken,
    ) -> WorkItem {
        if let Some(work_item_id) = &record.work_item_id {
            return WorkItem::Found(work_item_id.clone());
        }
        let resolving = self.resolver.resolve(
            &record.conversation_identifier,
            event.work_record_id.as_deref(),
            timeline.deadline_at,
        );
        tokio::select! {
            () = self.shutdown.cancelled() => WorkItem::ShuttingDown,
            () = cancelled.cancelled() => WorkItem::Cancelled,
            resolved = resolving => match resolved {
                Ok((work_item_id, source)) => {
                    debug!(event_id = %record.event_id, source = source.as_str(), "work item resolved");
                    WorkItem::Found(work_item_id)
                }
                Err(problem) => WorkItem::Failed(problem.to_string()),
            },
        }
    }
}
