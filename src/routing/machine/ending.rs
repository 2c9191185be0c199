//! How a request ends: the routingResult's outcome and the `/agentWork` owed after it, the
//! deadline, a cancellation, shutdown; and the writes, replies and counts every ending shares.

use super::steps::not_posted;
use super::{
    Action, Cleanup, Count, Decision, End, Machine, Phase, PostOutcome, Record, RouteDoubt,
    SidecarReply, Verdict, CANCELLED_REASON, SHUTTING_DOWN,
};

impl Machine {
    pub(super) fn posted(&mut self, outcome: PostOutcome, actions: &mut Vec<Action>) {
        let Phase::Posting(verdict) = self.phase.clone() else {
            return;
        };
        match outcome {
            PostOutcome::Posted => {
                actions.push(Action::MarkPosted);
                actions.push(self.write(Record::Posted(verdict.clone())));
                actions.push(Action::Count(Count::Posted {
                    source: verdict.source,
                    success: verdict.decision.is_success(),
                }));
                let success = verdict.decision.is_success();
                let error_message = match &verdict.decision {
                    Decision::Failed { error_message, .. } => Some(error_message.clone()),
                    Decision::Routed { .. } => None,
                };
                self.reply(
                    SidecarReply::Posted {
                        success,
                        error_message,
                    },
                    actions,
                );
                self.withdraw_unconfirmed_route(actions);
                self.follow_up(verdict, actions);
            }
            PostOutcome::Refused(reason) => {
                self.reply(not_posted(&reason), actions);
                actions.push(self.write(Record::Missed(reason.clone())));
                actions.push(Action::Count(Count::Refused(reason)));
                self.withdraw_unconfirmed_route(actions);
                self.phase = Phase::Done(End::Missed);
            }
            PostOutcome::Missed(reason) => self.miss(reason, actions),
        }
    }

    /// Makes the `/agentWork` a rep transfer short of time owes after routingResult.
    pub(super) fn follow_up(&mut self, verdict: Verdict, actions: &mut Vec<Action>) {
        match (verdict.follow_up.clone(), self.known_work_item()) {
            (Some(owed), Some(work_item_id)) => {
                actions.push(Action::FollowUp {
                    work_item_id,
                    user_id: owed.user_id,
                    correlation_id: self.setup.correlation_id.clone(),
                });
                self.phase = Phase::FollowingUp(verdict);
            }
            _ => self.phase = Phase::Done(End::Posted),
        }
    }

    pub(super) fn deadline_passed(&mut self, actions: &mut Vec<Action>) {
        match self.phase {
            Phase::Posting(_) => {
                self.miss(
                    "the deadline passed while posting the routing result".to_owned(),
                    actions,
                );
            }
            // The call or write out ends by itself; `post` refuses to post this late.
            Phase::Acting(_) | Phase::Storing(_) | Phase::FollowingUp(_) | Phase::Done(_) => {}
            Phase::Idle
            | Phase::Deciding
            | Phase::Claiming(_)
            | Phase::Yielded
            | Phase::Resolving
            | Phase::Decided { .. } => self.miss(
                "the deadline passed before the routing result was ready".to_owned(),
                actions,
            ),
        }
    }

    pub(super) fn cancelled(&mut self, actions: &mut Vec<Action>) {
        match self.phase {
            Phase::FollowingUp(_) | Phase::Done(_) => {}
            // What the call creates must be known to be undone: cancel when it ends.
            Phase::Acting(_) | Phase::Storing(_) => self.cancel_pending = true,
            _ => self.cancel(actions),
        }
    }

    /// Records the request cancelled and undoes what it left in Salesforce.
    pub(super) fn cancel(&mut self, actions: &mut Vec<Action>) {
        self.reply(not_posted(CANCELLED_REASON), actions);
        actions.push(self.write(Record::Cancelled));
        actions.push(Action::Count(Count::Cancelled));
        actions.push(Action::Cleanup(Cleanup {
            delete_route: self.route.is_some()
                || std::mem::take(&mut self.route_unconfirmed) == RouteDoubt::Unanswered,
            cancel_agent_work: self.agent_work_id.clone(),
        }));
        self.phase = Phase::Done(End::Cancelled);
    }

    /// Stops; a decision not yet stored is stored so the restart posts the same one.
    pub(super) fn shutting_down(&mut self, actions: &mut Vec<Action>) {
        match self.phase.clone() {
            // Nothing decided yet, or an assignment whose AgentWork is not made: the
            // request resumes undecided.
            Phase::Idle
            | Phase::Deciding
            | Phase::Claiming(_)
            | Phase::Yielded
            | Phase::Resolving
            | Phase::Decided {
                assign: Some(_), ..
            } => {}
            Phase::Decided { verdict, .. } => {
                if !self.stored {
                    actions.push(self.write(Record::Decided(verdict)));
                }
            }
            Phase::Acting(_)
            | Phase::Storing(_)
            | Phase::Posting(_)
            | Phase::FollowingUp(_)
            | Phase::Done(_) => return,
        }
        self.reply(not_posted(SHUTTING_DOWN), actions);
        self.phase = Phase::Done(End::Stopped);
    }

    /// Records the request missed.
    pub(super) fn miss(&mut self, reason: String, actions: &mut Vec<Action>) {
        self.reply(not_posted(&reason), actions);
        actions.push(self.write(Record::Missed(reason.clone())));
        actions.push(Action::Count(Count::Missed(reason)));
        self.withdraw_unconfirmed_route(actions);
        self.phase = Phase::Done(End::Missed);
    }

    /// Withdraws a route `/route` may have created without saying so; only once the request
    /// has its answer (or no longer can), since the window leaves no time before it.
    fn withdraw_unconfirmed_route(&mut self, actions: &mut Vec<Action>) {
        if std::mem::take(&mut self.route_unconfirmed) == RouteDoubt::Unanswered {
            actions.push(Action::WithdrawRoute);
        }
    }

    pub(super) fn write(&self, record: Record) -> Action {
        Action::Write {
            record,
            work_item_id: self.known_work_item(),
            route: self.route.clone(),
            agent_work_id: self.agent_work_id.clone(),
        }
    }

    /// Answers the waiting sidecar call, once.
    pub(super) fn reply(&mut self, reply: SidecarReply, actions: &mut Vec<Action>) {
        if std::mem::take(&mut self.sidecar_waiting) {
            actions.push(Action::Reply(reply));
        }
    }
}
