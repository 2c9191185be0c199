//! The armed routing requests in memory, and the claim that makes their decision happen once.
//!
//! Whoever decides first — the partner's answer, the sidecar, the decision timeout, a strategy
//! or a cancelling RoutingResult entry — claims the request under one lock; everyone after
//! that loses. A sidecar decision is handed to the request's task through a oneshot sent
//! under the same lock, so a task that loses its claim always finds the winner's decision (or
//! its cancellation) already there. Knows nothing about HTTP, the store or strategies.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::interaction::RoutingType;

use super::deadline::Timeline;
use super::pending::Decision;

/// Who decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claimant {
    /// The partner, in its answer to the delivery.
    Partner,
    /// The partner, through the sidecar.
    Sidecar,
    /// The decision timeout.
    DecisionTimeout,
    /// The `salesforce` or `reject` strategy.
    Strategy,
    /// A RoutingResult failure or cancel entry.
    Cancellation,
    /// An earlier run of the connector (the request resumed already decided).
    Resumed,
}

/// A decision from the sidecar, and where to report whether it was posted.
#[derive(Debug)]
pub(super) struct SidecarDecision {
    /// What to post.
    pub decision: Decision,
    /// The rep (User id) to create an AgentWork for before posting, from the assign route.
    pub assign: Option<String>,
    /// Receives the outcome of the post.
    pub reply: oneshot::Sender<SidecarReply>,
}

/// What became of a sidecar decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SidecarReply {
    /// Salesforce accepted the routingResult.
    Posted {
        /// Whether it reported success.
        success: bool,
        /// The routingResult's `errorMessage`, on a failure.
        error_message: Option<String>,
    },
    /// It could not be posted.
    NotPosted {
        /// Why.
        reason: String,
    },
}

/// What happened to a decision offered by the sidecar.
#[derive(Debug)]
pub(super) enum SidecarOffer {
    /// Taken; the reply will say whether it was posted.
    Taken(oneshot::Receiver<SidecarReply>),
    /// No armed request has this event id.
    NotArmed,
    /// Someone decided first.
    AlreadyDecided(Claimant),
    /// The decision deadline has passed.
    TooLate,
    /// This request does not take partner decisions (strategy `salesforce` or `reject`).
    NotAccepted,
}

/// What the registry keeps per armed request.
#[derive(Debug)]
pub(super) struct ArmedInfo {
    /// The conversation, for cancellation.
    pub conversation_identifier: String,
    /// The routing type, for cancellation.
    pub routing_type: Option<RoutingType>,
    /// `CreatedDate`, epoch ms: entries transcribed before it cannot be about it.
    pub created_date_ms: i64,
    /// The request's deadlines.
    pub timeline: Timeline,
}

/// What the request's task gets when it is armed.
#[derive(Debug)]
pub(super) struct Registration {
    /// Sidecar decisions (closed for requests that take none).
    pub decisions: oneshot::Receiver<SidecarDecision>,
    /// Cancelled when a RoutingResult entry cancels the request.
    pub cancelled: CancellationToken,
}

impl Registration {
    /// A registration for a task that is not armed (an owed `/agentWork` after a restart):
    /// no decision and no cancellation ever reach it.
    pub(super) fn detached() -> Self {
        let (_sender, decisions) = oneshot::channel();
        Self {
            decisions,
            cancelled: CancellationToken::new(),
        }
    }
}

#[derive(Debug)]
struct ArmedRequest {
    info: ArmedInfo,
    /// Present while the sidecar may still decide.
    decisions: Option<oneshot::Sender<SidecarDecision>>,
    claimed_by: Option<Claimant>,
    cancelled: CancellationToken,
    /// Salesforce accepted the routingResult: nothing cancels the request any more.
    posted: bool,
}

/// Every armed request, by event id.
#[derive(Debug, Default)]
pub(super) struct ActiveRequests {
    requests: Mutex<HashMap<String, ArmedRequest>>,
}

impl ActiveRequests {
    /// Arms `event_id`; `None` when it is armed already. `already_claimed` arms a request
    /// decided earlier; `takes_sidecar` says whether the sidecar may decide it.
    pub(super) fn register(
        &self,
        event_id: &str,
        info: ArmedInfo,
        takes_sidecar: bool,
        already_claimed: Option<Claimant>,
    ) -> Option<Registration> {
        let mut requests = self.lock();
        if requests.contains_key(event_id) {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        let cancelled = CancellationToken::new();
        let open = takes_sidecar && already_claimed.is_none();
        requests.insert(
            event_id.to_owned(),
            ArmedRequest {
                info,
                decisions: open.then_some(sender),
                claimed_by: already_claimed,
                cancelled: cancelled.clone(),
                posted: false,
            },
        );
        Some(Registration {
            decisions: receiver,
            cancelled,
        })
    }

    /// Claims `event_id` for `claimant`; true when nobody had.
    pub(super) fn claim(&self, event_id: &str, claimant: Claimant) -> bool {
        let mut requests = self.lock();
        let Some(request) = requests.get_mut(event_id) else {
            return false;
        };
        if request.claimed_by.is_some() {
            return false;
        }
        request.claimed_by = Some(claimant);
        request.decisions = None;
        true
    }

    /// Offers a sidecar decision for `event_id`, with the rep to assign first, if any.
    pub(super) fn offer(
        &self,
        event_id: &str,
        decision: Decision,
        assign: Option<String>,
    ) -> SidecarOffer {
        let mut requests = self.lock();
        let Some(request) = requests.get_mut(event_id) else {
            return SidecarOffer::NotArmed;
        };
        if let Some(claimant) = request.claimed_by {
            return match claimant {
                Claimant::DecisionTimeout => SidecarOffer::TooLate,
                other => SidecarOffer::AlreadyDecided(other),
            };
        }
        if Instant::now() >= request.info.timeline.decision_at {
            return SidecarOffer::TooLate;
        }
        let Some(sender) = request.decisions.take() else {
            return SidecarOffer::NotAccepted;
        };
        let (reply, outcome) = oneshot::channel();
        let offered = SidecarDecision {
            decision,
            assign,
            reply,
        };
        if sender.send(offered).is_err() {
            // The task is gone; it cannot post any more.
            return SidecarOffer::TooLate;
        }
        request.claimed_by = Some(Claimant::Sidecar);
        SidecarOffer::Taken(outcome)
    }

    /// Cancels every request of `conversation` whose routingResult Salesforce has not accepted
    /// and that a RoutingResult entry transcribed at `transcribed_ms` for `routing_type` can be
    /// about; returns their event ids. An undecided request is claimed by the cancellation; a
    /// decided one keeps its claim and its task stops posting and cleans up.
    pub(super) fn cancel_matching(
        &self,
        conversation: &str,
        routing_type: Option<RoutingType>,
        transcribed_ms: i64,
    ) -> Vec<String> {
        let mut requests = self.lock();
        let mut cancelled = Vec::new();
        for (event_id, request) in requests.iter_mut() {
            let info = &request.info;
            let same_type = match (routing_type, info.routing_type) {
                (Some(entry_type), Some(request_type)) => entry_type == request_type,
                _ => true,
            };
            let matches = info.conversation_identifier == conversation
                && same_type
                && info.created_date_ms <= transcribed_ms
                && !request.posted
                && !request.cancelled.is_cancelled();
            if !matches {
                continue;
            }
            if request.claimed_by.is_none() {
                request.claimed_by = Some(Claimant::Cancellation);
                request.decisions = None;
            }
            request.cancelled.cancel();
            cancelled.push(event_id.clone());
        }
        cancelled
    }

    /// Records that Salesforce accepted `event_id`'s routingResult: no cancellation reaches it
    /// any more.
    pub(super) fn mark_posted(&self, event_id: &str) {
        if let Some(request) = self.lock().get_mut(event_id) {
            request.posted = true;
        }
    }

    /// Whether `event_id` is armed.
    pub(super) fn contains(&self, event_id: &str) -> bool {
        self.lock().contains_key(event_id)
    }

    /// The armed requests of `conversation`, ordered by event id: (event id, routing type,
    /// CreatedDate in epoch ms, whether a decision has claimed it).
    pub(super) fn of_conversation(
        &self,
        conversation: &str,
    ) -> Vec<(String, Option<RoutingType>, i64, bool)> {
        let mut found: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, armed)| armed.info.conversation_identifier == conversation)
            .map(|(event_id, armed)| {
                (
                    event_id.clone(),
                    armed.info.routing_type,
                    armed.info.created_date_ms,
                    armed.claimed_by.is_some(),
                )
            })
            .collect();
        found.sort_by(|left, right| left.0.cmp(&right.0));
        found
    }

    /// How many requests are armed.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Disarms `event_id`.
    pub(super) fn remove(&self, event_id: &str) {
        self.lock().remove(event_id);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ArmedRequest>> {
        // Every critical section is a few map operations that cannot panic halfway.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn info(conversation: &str, decision_in: Duration) -> ArmedInfo {
        let now = Instant::now();
        ArmedInfo {
            conversation_identifier: conversation.to_owned(),
            routing_type: Some(RoutingType::Transfer),
            created_date_ms: 1_000,
            timeline: Timeline {
                decision_at: now + decision_in,
                deadline_at: now + decision_in * 2,
            },
        }
    }

    fn routed() -> Decision {
        Decision::Routed {
            externally_routed: false,
        }
    }

    #[tokio::test]
    async fn the_first_claim_wins_and_the_sidecar_then_sees_it_decided() {
        let active = ActiveRequests::default();
        let mut registration = active
            .register("e", info("c", Duration::from_secs(45)), true, None)
            .unwrap();
        assert!(active
            .register("e", info("c", Duration::from_secs(45)), true, None)
            .is_none());
        assert!(matches!(
            active.offer("e", routed(), None),
            SidecarOffer::Taken(_)
        ));
        assert!(registration.decisions.try_recv().is_ok());
        assert!(!active.claim("e", Claimant::DecisionTimeout));
        assert!(matches!(
            active.offer("e", routed(), None),
            SidecarOffer::AlreadyDecided(Claimant::Sidecar)
        ));
        assert!(matches!(
            active.offer("other", routed(), None),
            SidecarOffer::NotArmed
        ));
    }

    #[tokio::test]
    async fn a_timed_out_request_answers_the_sidecar_too_late() {
        let active = ActiveRequests::default();
        let _registration = active
            .register("e", info("c", Duration::from_secs(45)), true, None)
            .unwrap();
        assert!(active.claim("e", Claimant::DecisionTimeout));
        assert!(matches!(
            active.offer("e", routed(), None),
            SidecarOffer::TooLate
        ));
    }

    #[tokio::test]
    async fn cancellation_reaches_only_unposted_requests_it_can_be_about() {
        let active = ActiveRequests::default();
        let open = active
            .register("open", info("c", Duration::from_secs(45)), true, None)
            .unwrap();
        let _posted = active
            .register("posted", info("c", Duration::from_secs(45)), true, None)
            .unwrap();
        assert!(active.claim("posted", Claimant::Partner));
        active.mark_posted("posted");
        let _elsewhere = active
            .register(
                "elsewhere",
                info("other", Duration::from_secs(45)),
                true,
                None,
            )
            .unwrap();
        assert!(active
            .cancel_matching("c", Some(RoutingType::Transfer), 999)
            .is_empty());
        assert!(active
            .cancel_matching("c", Some(RoutingType::Initial), 2_000)
            .is_empty());
        assert_eq!(
            active.cancel_matching("c", Some(RoutingType::Transfer), 2_000),
            vec!["open".to_owned()]
        );
        assert!(open.cancelled.is_cancelled());
    }
}
