//! The engine's [`RoutingPorts`]: the real partner channel, SOQL resolver, Interaction
//! Service client, store and telemetry; and a request's task, which builds its machine from
//! the record and the settings and hands both to the driver.
//!
//! Knows nothing about the machine's rules nor about Pub/Sub or the sidecar's HTTP side.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use crate::interaction::RoutingInfo;
use crate::telemetry;

use super::active::Claimant;
use super::cancel::RouteToDelete;
use super::deadline::{agent_work_margin, result_reserve, seconds_text};
use super::driver::{drive, Job};
use super::engine::EngineInner;
use super::machine::{
    CallFailure, Cleanup, Count, Machine, PartnerReply, Plan, PostOutcome, Setup, Verdict,
    CANCELLED_REASON,
};
use super::partner::{ask_partner, PartnerAnswer};
use super::pending::{Decision, PendingRecord, PendingState, RouteReceipt};
use super::ports::{Request, RoutingPorts};
use super::post::{post_routing_result, ResultTarget};
use super::strategy::{
    agent_work, call_failure, plan_target, post_route, target_of, wire_routing_type,
    RoutingStrategy, SalesforceRequest,
};
use super::RoutingError;

impl EngineInner {
    /// The request's task: runs its machine to the end (or to shutdown), then disarms it.
    ///
    /// The task lives as long as the request waits, so it is kept small: the machine is built
    /// before it starts and arrives boxed with the job (see [`drive`]).
    pub(super) fn run(
        self: Arc<Self>,
        job: Job,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let event_id = job.request.record.event_id.clone();
        let (machine, job, base) = self.prepare(job);
        async move {
            drive(&*self, machine, job, base, &self.shutdown).await;
            self.disarm(&event_id);
        }
    }

    /// The task of a request posted by a previous run that still owes its `/agentWork`:
    /// not armed, so nothing disarms.
    pub(super) fn run_follow_up(
        self: Arc<Self>,
        job: Job,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (machine, job, base) = self.prepare(job);
        async move { drive(&*self, machine, job, base, &self.shutdown).await }
    }

    /// The machine for `job`, the job itself, both boxed for [`drive`], and the instant the
    /// machine's times count from; the job loses its `routing.requested` body unless the plan
    /// asks the partner, since it would otherwise wait, unused, as long as the request does.
    fn prepare(&self, mut job: Job) -> (Box<Machine>, Box<Job>, Instant) {
        let base = Instant::now();
        let setup = self.setup_for(&job.request, base);
        if !matches!(setup.plan, Plan::Partner) {
            job.request.body = bytes::Bytes::new();
        }
        (Box::new(Machine::new(setup)), Box::new(job), base)
    }

    /// What the machine starts from, its times counted from `base`: the plan from the
    /// settings and the request, the rest from the record.
    fn setup_for(&self, request: &Request, base: Instant) -> Setup {
        let settings = &self.settings;
        let event = &request.event;
        let plan = match (settings.strategy, &self.partner) {
            (RoutingStrategy::Partner, Some(_)) => Plan::Partner,
            (RoutingStrategy::Partner, None) => Plan::NoPartner,
            (RoutingStrategy::Reject, _) => Plan::Reject,
            (RoutingStrategy::Salesforce, _) => Plan::Salesforce(plan_target(
                target_of(event, &settings.rep_user_field),
                wire_routing_type(event),
                settings.fallback_queue_id.as_deref(),
                event.routing_parameters.is_transfer,
            )),
        };
        let record = &request.record;
        let (resumed, owed_follow_up) = match &record.state {
            PendingState::Decided {
                decision,
                source,
                follow_up,
            } => (
                Some(Verdict {
                    decision: decision.clone(),
                    source: *source,
                    follow_up: follow_up.clone(),
                }),
                None,
            ),
            PendingState::Posted {
                decision,
                source,
                follow_up: follow_up @ Some(_),
                ..
            } => (
                None,
                Some(Verdict {
                    decision: decision.clone(),
                    source: *source,
                    follow_up: follow_up.clone(),
                }),
            ),
            _ => (None, None),
        };
        Setup {
            plan,
            resumed,
            work_item_id: record.work_item_id.clone(),
            route: record.route.clone(),
            agent_work_id: record.agent_work_id.clone(),
            correlation_id: event.event_id().map(str::to_owned),
            decision_at: request.timeline.decision_at.saturating_duration_since(base),
            deadline_at: request.timeline.deadline_at.saturating_duration_since(base),
            result_reserve: result_reserve(settings.window),
            agent_work_margin: agent_work_margin(settings.window),
            timeout_message: format!(
                "the partner made no routing decision within {} s",
                seconds_text(settings.decision_timeout)
            ),
            owed_follow_up,
        }
    }
}

fn salesforce_request<'a>(
    request: &'a Request,
    work_item_id: &'a str,
    correlation_id: Option<&'a str>,
) -> SalesforceRequest<'a> {
    SalesforceRequest {
        event_id: &request.record.event_id,
        routing_correlation_id: correlation_id,
        conversation_identifier: &request.record.conversation_identifier,
        routing_type: wire_routing_type(&request.event),
        work_item_id,
    }
}

impl RoutingPorts for EngineInner {
    async fn ask_partner(&self, request: &Request) -> PartnerReply {
        let Some(partner) = &self.partner else {
            return PartnerReply::Unreachable;
        };
        let event_id = request.record.event_id.as_str();
        let permit = self.asks.acquire().await;
        if permit.over_limit() {
            self.telemetry.partner_ask_over_limit(event_id);
        }
        let answer = ask_partner(
            partner,
            event_id,
            &request.record.idempotency_key,
            request.body.clone(),
            request.timeline.decision_at,
        )
        .await;
        permit.done();
        self.telemetry.set_partner_ask_limit(self.asks.current());
        match answer {
            PartnerAnswer::Decided(decision) => PartnerReply::Decided(decision),
            PartnerAnswer::Accepted => PartnerReply::Accepted,
            PartnerAnswer::Refused(reason) => PartnerReply::Refused(reason),
            PartnerAnswer::Unreachable(reason) => {
                warn!(event_id, reason = %reason, "partner unreachable, waiting for the decision timeout");
                PartnerReply::Unreachable
            }
        }
    }

    async fn resolve_work_item(&self, request: &Request) -> Result<String, String> {
        let resolved = self
            .resolver
            .resolve(
                &request.record.conversation_identifier,
                request.event.work_record_id.as_deref(),
                request.timeline.deadline_at,
            )
            .await;
        match resolved {
            Ok((work_item_id, source)) => {
                debug!(event_id = %request.record.event_id, source = source.as_str(), "work item resolved");
                Ok(work_item_id)
            }
            Err(problem) => Err(problem.to_string()),
        }
    }

    fn claim(&self, request: &Request, claimant: Claimant) -> bool {
        self.active.claim(&request.record.event_id, claimant)
    }

    async fn post_route(
        &self,
        request: &Request,
        routing_info: RoutingInfo,
        kind: &'static str,
        until: Instant,
    ) -> Result<RouteReceipt, CallFailure> {
        let call = salesforce_request(request, "", None);
        post_route(&self.interaction, &call, routing_info, kind, until).await
    }

    async fn post_agent_work(
        &self,
        request: &Request,
        work_item_id: String,
        user_id: String,
        correlation_id: Option<String>,
        until: Instant,
    ) -> Result<Option<String>, CallFailure> {
        let call = salesforce_request(request, &work_item_id, correlation_id.as_deref());
        agent_work(&self.interaction, &call, &user_id, until)
            .await
            .map_err(|error| call_failure(&error))
    }

    async fn post_routing_result(
        &self,
        request: &Request,
        decision: Decision,
        work_item_id: String,
    ) -> PostOutcome {
        let target = ResultTarget {
            event_id: &request.record.event_id,
            conversation_identifier: &request.record.conversation_identifier,
            work_item_id: &work_item_id,
            routing_type: wire_routing_type(&request.event),
        };
        post_routing_result(
            &self.interaction,
            target,
            &decision,
            request.timeline.deadline_at,
        )
        .await
    }

    fn write(
        &self,
        record: &PendingRecord,
    ) -> impl Future<Output = Result<(), RoutingError>> + Send {
        self.pending.put(record)
    }

    fn mark_posted(&self, request: &Request) {
        self.active.mark_posted(&request.record.event_id);
    }

    fn now_ms(&self) -> i64 {
        self.settings.clock.now_ms()
    }

    fn count(&self, record: &PendingRecord, count: Count) {
        let event_id = record.event_id.as_str();
        let conversation = record.conversation_identifier.as_str();
        match count {
            Count::DecisionTimedOut => self.telemetry.routing_decision_timed_out(event_id),
            Count::Posted { source, success } => {
                let age_ms = self
                    .settings
                    .clock
                    .now_ms()
                    .saturating_sub(record.created_date_ms)
                    .max(0);
                let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
                let outcome = if success {
                    telemetry::RoutingOutcome::Success
                } else {
                    telemetry::RoutingOutcome::Failure
                };
                self.telemetry
                    .routing_result_posted(outcome, source.as_str(), event_id, age);
            }
            Count::Refused(reason) => {
                self.telemetry
                    .routing_result_refused(event_id, conversation, &reason);
            }
            Count::Missed(reason) => {
                self.telemetry
                    .routing_deadline_missed(event_id, conversation, &reason);
            }
            Count::Cancelled => self
                .telemetry
                .routing_request_cancelled(event_id, CANCELLED_REASON),
        }
    }

    fn clean_up(
        &self,
        record: &PendingRecord,
        cleanup: Cleanup,
    ) -> impl Future<Output = ()> + Send {
        self.clean_up_cancelled(record, cleanup)
    }

    fn withdraw_route(&self, record: &PendingRecord) -> impl Future<Output = ()> + Send {
        self.delete_route(record, RouteToDelete::Unconfirmed)
    }
}
