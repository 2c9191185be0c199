//! One routing request's life as a pure state machine: `(state, input) → (state, actions)`.
//!
//! [`Machine::step`] takes what happened (the partner's answer, a sidecar decision, a port's
//! result, a timer, a cancellation, shutdown) with the time since the request was armed, and
//! says what to do next (ask the partner, post `/route`, `/agentWork` or routingResult, write
//! the record, answer the sidecar, clean up). The rules that make routing safe live here and
//! are proptested: the decision is written before any routingResult is posted, a request posts
//! one answer at most, nothing is posted at or after the deadline, transfers make their calls
//! in the documented order, and a request nobody decided in time is answered `success=false`.
//! Knows nothing about async, I/O, clocks, HTTP, the store or Pub/Sub: `driver.rs` carries the
//! actions out through `RoutingPorts`.

use std::time::Duration;

use crate::interaction::RoutingInfo;

use super::active::{Claimant, SidecarReply};
use super::pending::{AgentWorkFollowUp, Decision, DecisionSource, RouteReceipt};

/// The reason recorded for requests a RoutingResult entry cancelled.
pub(super) const CANCELLED_REASON: &str = "salesforce reported the routing failed or was cancelled";

/// What a sidecar call hears when the connector stops before posting its decision.
pub(super) const SHUTTING_DOWN: &str = "the connector is shutting down";

/// Who decides this request.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    /// The partner decides, in its answer or through the sidecar.
    Partner,
    /// The `partner` strategy without an endpoint: answered `success=false`.
    NoPartner,
    /// The `reject` strategy.
    Reject,
    /// The `salesforce` strategy, with the target it acts on.
    Salesforce(Target),
}

/// What the `salesforce` strategy does for a request.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Target {
    /// `POST /route` (queue, or flow with its fallback queue), then routingResult.
    Route {
        /// The `routingInfo` to send.
        routing_info: RoutingInfo,
        /// `queue` or `flow`, for messages.
        kind: &'static str,
    },
    /// `POST /agentWork` for the rep, then routingResult.
    Rep {
        /// The rep's User id.
        user_id: String,
    },
    /// No call: routingResult with this decision.
    Answer(Decision),
}

/// A decision with who took it and the `/agentWork` owed after posting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    /// What to post.
    pub decision: Decision,
    /// Who decided.
    pub source: DecisionSource,
    /// An `/agentWork` owed after routingResult.
    pub follow_up: Option<AgentWorkFollowUp>,
}

/// What the machine starts from.
#[derive(Debug, Clone)]
pub(super) struct Setup {
    /// Who decides.
    pub plan: Plan,
    /// The decision a previous run recorded (state `Decided`), posted as it is.
    pub resumed: Option<Verdict>,
    /// The MessagingSession id, when the record has it.
    pub work_item_id: Option<String>,
    /// What `/route` answered in a previous run.
    pub route: Option<RouteReceipt>,
    /// The AgentWork a previous run created.
    pub agent_work_id: Option<String>,
    /// `channelData.eventId`: an AgentWork's `routingCorrelationId` for a direct transfer.
    pub correlation_id: Option<String>,
    /// When the partner's time to decide ends, since the request was armed.
    pub decision_at: Duration,
    /// When Salesforce stops waiting, since the request was armed.
    pub deadline_at: Duration,
    /// Time kept for routingResult after a preliminary call.
    pub result_reserve: Duration,
    /// Below this much time left, a rep transfer posts routingResult before `/agentWork`.
    pub agent_work_margin: Duration,
    /// The `success=false` message when the partner decides nothing in time.
    pub timeout_message: String,
    /// A previous run posted this decision but still owes its `/agentWork`.
    pub owed_follow_up: Option<Verdict>,
}

/// A failed `/route` or `/agentWork` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallFailure {
    /// Salesforce's message and code, else the error's text.
    pub text: String,
    /// Whether retrying could not help (a 4xx other than the retried codes).
    pub permanent: bool,
}

/// How the partner answered the `routing.requested` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PartnerReply {
    /// It decided in its answer.
    Decided(Decision),
    /// It will decide through the sidecar.
    Accepted,
    /// It refused the request for good.
    Refused(String),
    /// It could not be reached before the decision deadline.
    Unreachable,
}

/// How posting routingResult ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PostOutcome {
    /// Salesforce accepted it.
    Posted,
    /// Salesforce refused it for good.
    Refused(String),
    /// Retries ran out at the deadline.
    Missed(String),
}

/// Which timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The partner's time to decide is over.
    Decision,
    /// Salesforce stopped waiting.
    Deadline,
}

/// What happened to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Input {
    /// The request was armed.
    Start,
    /// The partner answered the delivery.
    Partner(PartnerReply),
    /// This request's claim was won.
    Claimed,
    /// Someone else claimed it: the sidecar's decision or a cancellation follows.
    ClaimLost,
    /// The partner decided through the sidecar; `assign` names a rep to give the work to.
    Sidecar {
        /// What to post.
        decision: Decision,
        /// The rep (User id) for whom an AgentWork comes first.
        assign: Option<String>,
    },
    /// The `workItemId` lookup ended.
    WorkItem(Result<String, String>),
    /// A timer fired.
    Timer(Timer),
    /// `POST /route` ended.
    Route(Result<RouteReceipt, CallFailure>),
    /// `POST /agentWork` ended, with the AgentWork id when Salesforce gave one.
    AgentWork(Result<Option<String>, CallFailure>),
    /// The `Decided` record was written (or not, and why).
    DecisionStored(Result<(), String>),
    /// Posting routingResult ended.
    Posted(PostOutcome),
    /// The `/agentWork` owed after routingResult ended.
    FollowUpDone(bool),
    /// A RoutingResult entry cancelled the request.
    Cancel,
    /// The connector is stopping.
    Shutdown,
}

/// A record state to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record {
    /// The decision, before it is posted; its outcome comes back as `DecisionStored`.
    Decided(Verdict),
    /// Salesforce accepted the routingResult.
    Posted(Verdict),
    /// The `/agentWork` owed after posting is made.
    FollowUpMade,
    /// No routingResult was accepted.
    Missed(String),
    /// A RoutingResult entry cancelled the request.
    Cancelled,
}

/// Something to count and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Count {
    /// Nobody decided in the partner's time.
    DecisionTimedOut,
    /// Salesforce accepted the routingResult.
    Posted {
        /// Who decided.
        source: DecisionSource,
        /// Whether it reported success.
        success: bool,
    },
    /// Salesforce refused the routingResult.
    Refused(String),
    /// No routingResult was accepted in time.
    Missed(String),
    /// The request was cancelled.
    Cancelled,
}

/// What a cancelled request leaves to undo in Salesforce, and the partner to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cleanup {
    /// `DELETE /route`: a PendingServiceRouting was created.
    pub delete_route: bool,
    /// `PATCH /agentWork` `Cancel` for this AgentWork.
    pub cancel_agent_work: Option<String>,
}

/// Whether `/route` may have left a route no answer confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum RouteDoubt {
    /// `/route` was not sent, or its answer said what it did.
    #[default]
    None,
    /// `/route` went out and ended unanswered: cut off at its time limit, or its retries ran
    /// out on transient errors.
    Unanswered,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    /// Deliver `routing.requested` to the partner; answers with `Input::Partner`.
    AskPartner,
    /// Look the `workItemId` up; answers with `Input::WorkItem`.
    ResolveWorkItem,
    /// Fire `Input::Timer(timer)` at `at`.
    Wake {
        /// Which timer.
        timer: Timer,
        /// When, since the request was armed.
        at: Duration,
    },
    /// Claim the request for `Claimant`; answers `Claimed` or `ClaimLost`.
    Claim(Claimant),
    /// `POST /route`, retried until `until`; answers with `Input::Route`.
    PostRoute {
        /// The target.
        routing_info: RoutingInfo,
        /// `queue` or `flow`.
        kind: &'static str,
        /// The end of its retries.
        until: Duration,
    },
    /// `POST /agentWork`, retried until `until`; answers with `Input::AgentWork`.
    PostAgentWork {
        /// The MessagingSession to give the rep.
        work_item_id: String,
        /// The rep.
        user_id: String,
        /// The `routingCorrelationId` to send, if any.
        correlation_id: Option<String>,
        /// The end of its retries.
        until: Duration,
    },
    /// Write the record in this state, with the work item, route and AgentWork known.
    Write {
        /// The state.
        record: Record,
        /// The MessagingSession id.
        work_item_id: Option<String>,
        /// What `/route` answered.
        route: Option<RouteReceipt>,
        /// The AgentWork created.
        agent_work_id: Option<String>,
    },
    /// Post routingResult until the deadline; answers with `Input::Posted`.
    PostRoutingResult {
        /// What to post.
        decision: Decision,
        /// The MessagingSession id.
        work_item_id: String,
    },
    /// Tell the others that Salesforce has the answer: cancellations no longer apply.
    MarkPosted,
    /// Answer the waiting sidecar call.
    Reply(SidecarReply),
    /// Count and log.
    Count(Count),
    /// Undo what the request left in Salesforce and send `routing.cancelled`.
    Cleanup(Cleanup),
    /// `DELETE /route` after the request ended: a `/route` cut off without an answer may
    /// have created a PendingServiceRouting that would contradict the failure posted.
    WithdrawRoute,
    /// Make the `/agentWork` owed after routingResult; answers with `Input::FollowUpDone`.
    FollowUp {
        /// The MessagingSession to give the rep.
        work_item_id: String,
        /// The rep.
        user_id: String,
        /// The `routingCorrelationId` to send, if any.
        correlation_id: Option<String>,
    },
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Salesforce accepted the routingResult (and any owed `/agentWork` was tried).
    Posted,
    /// Nothing was accepted in time, or it was refused.
    Missed,
    /// A RoutingResult entry cancelled it.
    Cancelled,
    /// The connector stopped; the record resumes after a restart.
    Stopped,
}

/// Which call the request waits for before it can post.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Route {
        kind: &'static str,
    },
    AgentWork {
        source: DecisionSource,
        user_id: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    /// The partner has until the decision timer.
    Deciding,
    /// A claim is out for this verdict (`None`: for the salesforce strategy to act).
    Claiming(Option<Verdict>),
    /// The claim was lost: the winner's decision or a cancellation comes next.
    Yielded,
    /// The salesforce strategy waits for the work item before acting.
    Resolving,
    /// Decided; waiting for the work item. `assign`: an AgentWork comes first.
    Decided {
        verdict: Verdict,
        assign: Option<String>,
    },
    /// A `/route` or `/agentWork` call is out.
    Acting(Call),
    /// The `Decided` record is being written.
    Storing(Verdict),
    /// routingResult is being posted.
    Posting(Verdict),
    /// routingResult was accepted; the owed `/agentWork` is being made.
    FollowingUp(Verdict),
    Done(End),
}

/// Where the `workItemId` lookup is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WorkItem {
    Resolving,
    Known(String),
    Failed(String),
}

/// One routing request's state.
#[derive(Debug, Clone)]
pub(super) struct Machine {
    setup: Setup,
    phase: Phase,
    work_item: WorkItem,
    route: Option<RouteReceipt>,
    /// Whether a `/route` ended without saying if it created a PendingServiceRouting.
    route_unconfirmed: RouteDoubt,
    agent_work_id: Option<String>,
    /// The decision is in the store (written by this run or a previous one).
    stored: bool,
    /// A sidecar call waits for the outcome.
    sidecar_waiting: bool,
    /// A cancellation arrived while a call or write was out: applied when it ends.
    cancel_pending: bool,
}

mod ending;
mod steps;

#[cfg(test)]
mod tests;

impl Machine {
    /// A machine for the request `setup` describes; nothing happens before `Input::Start`.
    pub(super) fn new(setup: Setup) -> Self {
        let work_item = match &setup.work_item_id {
            Some(id) => WorkItem::Known(id.clone()),
            None => WorkItem::Resolving,
        };
        Self {
            route: setup.route.clone(),
            route_unconfirmed: RouteDoubt::None,
            agent_work_id: setup.agent_work_id.clone(),
            stored: setup.resumed.is_some(),
            setup,
            phase: Phase::Idle,
            work_item,
            sidecar_waiting: false,
            cancel_pending: false,
        }
    }

    /// How the request ended, once it has.
    pub(super) fn ended(&self) -> Option<End> {
        match self.phase {
            Phase::Done(end) => Some(end),
            _ => None,
        }
    }
}
