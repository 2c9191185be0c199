//! The thin async task around one request's [`Machine`]: it feeds the machine what happens
//! (port results, timers, sidecar decisions, cancellation, shutdown) and carries out what the
//! machine asks through [`RoutingPorts`].
//!
//! Calls and timers run side by side in one set; writes, the claim, replies and cleanup run
//! in order, as the machine listed them, so a `Decided` write has ended before the machine
//! hears of it and can post. When the machine ends, whatever is still out (a post a
//! cancellation overtook, a lookup at shutdown) is dropped. Knows nothing about which
//! clients carry the ports out, nor the machine's rules.

use std::collections::VecDeque;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::active::{Registration, SidecarReply};
use super::machine::{Action, Input, Machine, Record, CANCELLED_REASON};
use super::pending::{PendingRecord, PendingState};
use super::ports::{Request, RoutingPorts};

/// Time an `/agentWork` owed after routingResult may take.
const FOLLOW_UP_BUDGET: Duration = Duration::from_secs(30);

/// An armed request, handed to its task.
pub(super) struct Job {
    /// What its calls need to know.
    pub request: Request,
    /// Its sidecar decisions and cancellation.
    pub registration: Registration,
}

/// Runs `machine` for `job` until it ends; the machine's time counts from `base`, the instant
/// its setup's times were measured from.
///
/// Both come boxed and are unboxed at once: an async fn keeps its arguments apart from its
/// locals for its whole run, so unboxed they would sit in every waiting request's task twice
/// (moved into the driver and still counted where they arrived), about a kilobyte per request;
/// and a box moved out of is freed only where its binding ends.
pub(super) async fn drive<P: RoutingPorts>(
    ports: &P,
    machine: Box<Machine>,
    job: Box<Job>,
    base: Instant,
    shutdown: &CancellationToken,
) {
    let (
        machine,
        Job {
            request,
            registration,
        },
    ) = unbox(machine, job);
    let mut driver = Driver {
        ports,
        request: &request,
        base,
        record: request.record.clone(),
        machine,
        registration,
        reply: None,
        inputs: VecDeque::from([Input::Start]),
        calls: FuturesUnordered::new(),
        decisions_open: true,
    };
    driver.run(shutdown).await;
}

/// The machine and the job out of their boxes, the boxes freed.
fn unbox(machine: Box<Machine>, job: Box<Job>) -> (Machine, Job) {
    (*machine, *job)
}

struct Driver<'a, P> {
    ports: &'a P,
    request: &'a Request,
    /// Machine time counts from here.
    base: Instant,
    /// The record as last written.
    record: PendingRecord,
    machine: Machine,
    registration: Registration,
    /// The sidecar call waiting for its decision's outcome.
    reply: Option<oneshot::Sender<SidecarReply>>,
    inputs: VecDeque<Input>,
    calls: FuturesUnordered<BoxFuture<'a, Input>>,
    decisions_open: bool,
}

impl<P: RoutingPorts> Driver<'_, P> {
    async fn run(&mut self, shutdown: &CancellationToken) {
        let cancelled = self.registration.cancelled.clone();
        let mut cancel_fed = false;
        let mut shutdown_fed = false;
        loop {
            while let Some(input) = self.inputs.pop_front() {
                let now = Instant::now().saturating_duration_since(self.base);
                for action in self.machine.step(input, now) {
                    // Boxed: an action's calls (a store write, a cleanup's HTTP requests) are
                    // large futures, and inline they would size every waiting request's task
                    // (10 KB instead of 3.8 KB), for the whole of its wait.
                    Box::pin(self.execute(action)).await;
                }
            }
            if self.machine.ended().is_some() {
                return;
            }
            let input = tokio::select! {
                biased;
                () = cancelled.cancelled(), if !cancel_fed => {
                    cancel_fed = true;
                    Input::Cancel
                }
                () = shutdown.cancelled(), if !shutdown_fed => {
                    shutdown_fed = true;
                    Input::Shutdown
                }
                received = &mut self.registration.decisions, if self.decisions_open => {
                    self.decisions_open = false;
                    match received {
                        Ok(sidecar) => {
                            self.reply = Some(sidecar.reply);
                            Input::Sidecar { decision: sidecar.decision, assign: sidecar.assign }
                        }
                        // Closed by a claim: the claimant's input follows.
                        Err(_) => continue,
                    }
                }
                Some(input) = self.calls.next() => input,
                else => {
                    error!(event_id = %self.request.record.event_id, "routing request waits for nothing, stopped");
                    return;
                }
            };
            self.inputs.push_back(input);
        }
    }

    fn at(&self, since_base: Duration) -> Instant {
        self.base + since_base
    }

    async fn execute(&mut self, action: Action) {
        let ports = self.ports;
        let request = self.request;
        match action {
            Action::AskPartner => self
                .calls
                .push(ports.ask_partner(request).map(Input::Partner).boxed()),
            Action::ResolveWorkItem => self.calls.push(
                ports
                    .resolve_work_item(request)
                    .map(Input::WorkItem)
                    .boxed(),
            ),
            Action::Wake { timer, at } => {
                let at = self.at(at);
                self.calls.push(
                    async move {
                        tokio::time::sleep_until(at).await;
                        Input::Timer(timer)
                    }
                    .boxed(),
                );
            }
            Action::Claim(claimant) => {
                if ports.claim(request, claimant) {
                    self.inputs.push_back(Input::Claimed);
                    return;
                }
                self.inputs.push_back(Input::ClaimLost);
                // The winner's decision was sent under the claim's lock; else it cancelled.
                match self.registration.decisions.try_recv() {
                    Ok(sidecar) => {
                        self.decisions_open = false;
                        self.reply = Some(sidecar.reply);
                        self.inputs.push_back(Input::Sidecar {
                            decision: sidecar.decision,
                            assign: sidecar.assign,
                        });
                    }
                    _ => self.inputs.push_back(Input::Cancel),
                }
            }
            Action::PostRoute {
                routing_info,
                kind,
                until,
            } => {
                let until = self.at(until);
                self.calls.push(
                    ports
                        .post_route(request, routing_info, kind, until)
                        .map(Input::Route)
                        .boxed(),
                );
            }
            Action::PostAgentWork {
                work_item_id,
                user_id,
                correlation_id,
                until,
            } => {
                let until = self.at(until);
                let call =
                    ports.post_agent_work(request, work_item_id, user_id, correlation_id, until);
                self.calls.push(call.map(Input::AgentWork).boxed());
            }
            Action::FollowUp {
                work_item_id,
                user_id,
                correlation_id,
            } => {
                let until = Instant::now() + FOLLOW_UP_BUDGET;
                let call =
                    ports.post_agent_work(request, work_item_id, user_id, correlation_id, until);
                self.calls
                    .push(call.map(|made| Input::FollowUpDone(made.is_ok())).boxed());
            }
            Action::PostRoutingResult {
                decision,
                work_item_id,
            } => self.calls.push(
                ports
                    .post_routing_result(request, decision, work_item_id)
                    .map(Input::Posted)
                    .boxed(),
            ),
            Action::Write {
                record,
                work_item_id,
                route,
                agent_work_id,
            } => {
                if work_item_id.is_some() {
                    self.record.work_item_id = work_item_id;
                }
                self.record.route = route;
                self.record.agent_work_id = agent_work_id;
                self.write(record).await;
            }
            Action::MarkPosted => ports.mark_posted(request),
            Action::Reply(reply) => {
                if let Some(waiting) = self.reply.take() {
                    // The caller may have hung up; the outcome is recorded either way.
                    let _ = waiting.send(reply);
                }
            }
            Action::Count(count) => ports.count(&self.record, count),
            Action::Cleanup(cleanup) => ports.clean_up(&self.record, cleanup).await,
            Action::WithdrawRoute => ports.withdraw_route(&self.record).await,
        }
    }

    /// Moves the record to the state `record` names and writes it; a `Decided` write's
    /// outcome goes back to the machine, other failures are logged.
    async fn write(&mut self, record: Record) {
        let decided = matches!(record, Record::Decided(_));
        let next = match record {
            Record::Decided(verdict) => PendingState::Decided {
                decision: verdict.decision,
                source: verdict.source,
                follow_up: verdict.follow_up,
            },
            Record::Posted(verdict) => PendingState::Posted {
                decision: verdict.decision,
                source: verdict.source,
                posted_ms: self.ports.now_ms(),
                follow_up: verdict.follow_up,
            },
            Record::FollowUpMade => match self.record.state.clone() {
                PendingState::Posted {
                    decision,
                    source,
                    posted_ms,
                    ..
                } => PendingState::Posted {
                    decision,
                    source,
                    posted_ms,
                    follow_up: None,
                },
                _ => return,
            },
            Record::Missed(reason) => PendingState::Missed { reason },
            Record::Cancelled => PendingState::Cancelled {
                reason: CANCELLED_REASON.to_owned(),
            },
        };
        self.record.transition(next);
        let written = self.ports.write(&self.record).await;
        if let Err(problem) = &written {
            error!(event_id = %self.record.event_id, state = self.record.state.name(), error = %problem, "routing request state could not be recorded");
        }
        if decided {
            self.inputs.push_back(Input::DecisionStored(
                written.map_err(|problem| problem.to_string()),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
