//! The transitions of [`Machine`] up to the post: one function per kind of input, and the
//! moves from a decision to its stored, posted answer (`ending.rs` has how a request ends). An input that does not apply to the current
//! phase (a late answer, a second timer) changes nothing and asks for nothing.

use std::time::Duration;

use super::{
    Action, Call, Claimant, Count, Decision, DecisionSource, End, Input, Machine, Phase, Plan,
    Record, RouteDoubt, SidecarReply, Target, Timer, Verdict, WorkItem,
};
use crate::routing::pending::AgentWorkFollowUp;

impl Machine {
    /// Takes `input`, arriving `now` (time since the request was armed); gives what to do.
    pub(in crate::routing) fn step(&mut self, input: Input, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        if matches!(self.phase, Phase::Done(_)) {
            return actions;
        }
        match input {
            Input::Start => self.start(now, &mut actions),
            Input::Partner(reply) => self.partner_answered(reply, &mut actions),
            Input::Claimed => self.claimed(now, &mut actions),
            Input::ClaimLost => {
                if matches!(self.phase, Phase::Claiming(_)) {
                    self.phase = Phase::Yielded;
                }
            }
            Input::Sidecar { decision, assign } => {
                // Only the partner strategies take the partner's decisions.
                let takes_sidecar = matches!(self.setup.plan, Plan::Partner | Plan::NoPartner);
                if takes_sidecar && matches!(self.phase, Phase::Deciding | Phase::Yielded) {
                    self.sidecar_waiting = true;
                    let verdict = verdict(decision, DecisionSource::Sidecar);
                    self.decided(verdict, assign, now, &mut actions);
                }
            }
            Input::WorkItem(found) => self.work_item_found(found, now, &mut actions),
            Input::Timer(Timer::Decision) => {
                if self.phase == Phase::Deciding {
                    let timed_out = Decision::failed(self.setup.timeout_message.clone());
                    let proposal = verdict(timed_out, DecisionSource::DecisionTimeout);
                    self.claim(Claimant::DecisionTimeout, Some(proposal), &mut actions);
                }
            }
            Input::Timer(Timer::Deadline) => self.deadline_passed(&mut actions),
            Input::Route(answer) => self.route_answered(answer, now, &mut actions),
            Input::AgentWork(answer) => self.agent_work_answered(answer, now, &mut actions),
            Input::DecisionStored(stored) => self.decision_stored(stored, now, &mut actions),
            Input::Posted(outcome) => self.posted(outcome, &mut actions),
            Input::FollowUpDone(made) => {
                if matches!(self.phase, Phase::FollowingUp(_)) {
                    if made {
                        actions.push(self.write(super::Record::FollowUpMade));
                    }
                    self.phase = Phase::Done(End::Posted);
                }
            }
            Input::Cancel => self.cancelled(&mut actions),
            Input::Shutdown => self.shutting_down(&mut actions),
        }
        actions
    }

    fn start(&mut self, now: Duration, actions: &mut Vec<Action>) {
        if self.phase != Phase::Idle {
            return;
        }
        if let Some(posted) = self.setup.owed_follow_up.clone() {
            self.follow_up(posted, actions);
            return;
        }
        actions.push(Action::Wake {
            timer: Timer::Deadline,
            at: self.setup.deadline_at,
        });
        if self.work_item == WorkItem::Resolving {
            actions.push(Action::ResolveWorkItem);
        }
        if let Some(resumed) = self.setup.resumed.clone() {
            self.decided(resumed, None, now, actions);
            return;
        }
        match self.setup.plan.clone() {
            Plan::Partner if now >= self.setup.decision_at => {
                let timed_out = Decision::failed(self.setup.timeout_message.clone());
                let proposal = verdict(timed_out, DecisionSource::DecisionTimeout);
                self.claim(Claimant::DecisionTimeout, Some(proposal), actions);
            }
            Plan::Partner => {
                self.phase = Phase::Deciding;
                actions.push(Action::AskPartner);
                actions.push(Action::Wake {
                    timer: Timer::Decision,
                    at: self.setup.decision_at,
                });
            }
            Plan::NoPartner => {
                let failed = Decision::failed("no partner routing endpoint is configured");
                let proposal = verdict(failed, DecisionSource::Strategy);
                self.claim(Claimant::Strategy, Some(proposal), actions);
            }
            Plan::Reject => {
                let failed = Decision::failed(crate::routing::REJECT_MESSAGE);
                let proposal = verdict(failed, DecisionSource::Strategy);
                self.claim(Claimant::Strategy, Some(proposal), actions);
            }
            Plan::Salesforce(_) => {
                self.phase = Phase::Resolving;
                self.act_when_resolved(actions);
            }
        }
    }

    /// The salesforce strategy acts once it knows the work item.
    fn act_when_resolved(&mut self, actions: &mut Vec<Action>) {
        match self.work_item.clone() {
            WorkItem::Resolving => {}
            WorkItem::Known(_) => self.claim(Claimant::Strategy, None, actions),
            WorkItem::Failed(reason) => {
                self.miss(
                    format!("no workItemId for the routing result: {reason}"),
                    actions,
                );
            }
        }
    }

    fn claim(&mut self, claimant: Claimant, proposal: Option<Verdict>, actions: &mut Vec<Action>) {
        self.phase = Phase::Claiming(proposal);
        actions.push(Action::Claim(claimant));
    }

    fn partner_answered(&mut self, reply: super::PartnerReply, actions: &mut Vec<Action>) {
        if self.phase != Phase::Deciding {
            return;
        }
        let decision = match reply {
            super::PartnerReply::Decided(decision) => decision,
            super::PartnerReply::Refused(reason) => {
                Decision::failed(format!("the partner refused the routing request: {reason}"))
            }
            super::PartnerReply::Accepted | super::PartnerReply::Unreachable => return,
        };
        let proposal = verdict(decision, DecisionSource::Partner);
        self.claim(Claimant::Partner, Some(proposal), actions);
    }

    fn claimed(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let Phase::Claiming(proposal) = self.phase.clone() else {
            return;
        };
        match proposal {
            Some(verdict) => {
                if verdict.source == DecisionSource::DecisionTimeout {
                    actions.push(Action::Count(Count::DecisionTimedOut));
                }
                self.decided(verdict, None, now, actions);
            }
            None => self.act(now, actions),
        }
    }

    /// Carries out the salesforce strategy's target.
    fn act(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let Plan::Salesforce(target) = self.setup.plan.clone() else {
            return;
        };
        match target {
            Target::Route { routing_info, kind } => {
                self.phase = Phase::Acting(Call::Route { kind });
                actions.push(Action::PostRoute {
                    routing_info,
                    kind,
                    until: self.preliminary_deadline(),
                });
            }
            Target::Rep { user_id } => {
                self.assign(user_id, DecisionSource::Strategy, now, actions);
            }
            Target::Answer(decision) => {
                let verdict = verdict(decision, DecisionSource::Strategy);
                self.store(verdict, now, actions);
            }
        }
    }

    /// A rep transfer: `/agentWork` first, or routingResult first when time is short.
    fn assign(
        &mut self,
        user_id: String,
        source: DecisionSource,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        let left = self.setup.deadline_at.saturating_sub(now);
        if left < self.setup.agent_work_margin {
            let verdict = super::Verdict {
                decision: routed(),
                source,
                follow_up: Some(AgentWorkFollowUp { user_id }),
            };
            self.store(verdict, now, actions);
            return;
        }
        // After `/route`, Salesforce expects the id it returned; else the event's own.
        let correlation_id = self
            .route
            .as_ref()
            .and_then(|route| route.routing_correlation_id.clone())
            .or_else(|| self.setup.correlation_id.clone());
        self.phase = Phase::Acting(Call::AgentWork {
            source,
            user_id: user_id.clone(),
        });
        let Some(work_item_id) = self.known_work_item() else {
            return;
        };
        actions.push(Action::PostAgentWork {
            work_item_id,
            user_id,
            correlation_id,
            until: self.preliminary_deadline(),
        });
    }

    fn preliminary_deadline(&self) -> Duration {
        self.setup
            .deadline_at
            .saturating_sub(self.setup.result_reserve)
    }

    /// A decision was taken: it goes on once the work item is known.
    pub(super) fn decided(
        &mut self,
        verdict: Verdict,
        assign: Option<String>,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        match self.work_item.clone() {
            WorkItem::Resolving => self.phase = Phase::Decided { verdict, assign },
            WorkItem::Failed(reason) => {
                self.miss(
                    format!("no workItemId for the routing result: {reason}"),
                    actions,
                );
            }
            WorkItem::Known(_) => match assign {
                Some(user_id) => self.assign(user_id, verdict.source, now, actions),
                None => self.store(verdict, now, actions),
            },
        }
    }

    fn work_item_found(
        &mut self,
        found: Result<String, String>,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        if self.work_item != WorkItem::Resolving {
            return;
        }
        self.work_item = match found {
            Ok(id) => WorkItem::Known(id),
            Err(reason) => WorkItem::Failed(reason),
        };
        match self.phase.clone() {
            Phase::Decided { verdict, assign } => self.decided(verdict, assign, now, actions),
            Phase::Resolving => self.act_when_resolved(actions),
            _ => {}
        }
    }

    fn route_answered(
        &mut self,
        answer: Result<crate::routing::pending::RouteReceipt, super::CallFailure>,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        let Phase::Acting(Call::Route { kind }) = self.phase else {
            return;
        };
        let decision = match answer {
            Ok(receipt) => {
                self.route = Some(receipt);
                routed()
            }
            Err(failure) => {
                if !failure.permanent {
                    self.route_unconfirmed = RouteDoubt::Unanswered;
                }
                Decision::failed(format!("{kind} routing failed: {}", failure.text))
            }
        };
        self.store(verdict(decision, DecisionSource::Strategy), now, actions);
    }

    fn agent_work_answered(
        &mut self,
        answer: Result<Option<String>, super::CallFailure>,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        let Phase::Acting(Call::AgentWork { source, user_id }) = self.phase.clone() else {
            return;
        };
        let verdict = match answer {
            Ok(agent_work_id) => {
                self.agent_work_id = agent_work_id;
                verdict(routed(), source)
            }
            Err(failure) if failure.permanent => verdict(
                Decision::failed(format!(
                    "the conversation could not be assigned to the rep: {}",
                    failure.text
                )),
                source,
            ),
            Err(_) => super::Verdict {
                decision: routed(),
                source,
                follow_up: Some(AgentWorkFollowUp { user_id }),
            },
        };
        self.store(verdict, now, actions);
    }

    /// Writes the decision before anything is posted; a decision stored already is posted.
    pub(super) fn store(&mut self, verdict: Verdict, now: Duration, actions: &mut Vec<Action>) {
        if self.cancel_pending {
            self.cancel(actions);
            return;
        }
        if self.stored {
            self.post(verdict, now, actions);
            return;
        }
        self.phase = Phase::Storing(verdict.clone());
        actions.push(self.write(Record::Decided(verdict)));
    }

    fn decision_stored(
        &mut self,
        stored: Result<(), String>,
        now: Duration,
        actions: &mut Vec<Action>,
    ) {
        let Phase::Storing(verdict) = self.phase.clone() else {
            return;
        };
        match stored {
            Ok(()) => {
                self.stored = true;
                if self.cancel_pending {
                    self.cancel(actions);
                } else {
                    self.post(verdict, now, actions);
                }
            }
            Err(problem) => {
                let reason =
                    format!("the decision could not be recorded, so it was not posted: {problem}");
                self.reply(not_posted(&reason), actions);
                actions.push(Action::Count(Count::Missed(reason)));
                self.phase = Phase::Done(End::Missed);
            }
        }
    }

    /// Posts the stored decision, unless the deadline has passed.
    pub(super) fn post(&mut self, verdict: Verdict, now: Duration, actions: &mut Vec<Action>) {
        let Some(work_item_id) = self.known_work_item() else {
            return;
        };
        if now >= self.setup.deadline_at {
            self.miss(
                "the deadline passed before the routing result was ready".to_owned(),
                actions,
            );
            return;
        }
        actions.push(Action::PostRoutingResult {
            decision: verdict.decision.clone(),
            work_item_id,
        });
        self.phase = Phase::Posting(verdict);
    }

    pub(super) fn known_work_item(&self) -> Option<String> {
        match &self.work_item {
            WorkItem::Known(id) => Some(id.clone()),
            _ => None,
        }
    }
}

fn verdict(decision: Decision, source: DecisionSource) -> Verdict {
    Verdict {
        decision,
        source,
        follow_up: None,
    }
}

fn routed() -> Decision {
    Decision::Routed {
        externally_routed: false,
    }
}

pub(super) fn not_posted(reason: &str) -> SidecarReply {
    SidecarReply::NotPosted {
        reason: reason.to_owned(),
    }
}
