//! Recovery after a restart, and forgetting finished records.
//!
//! `resume` re-arms every unfinished request a previous run left in the store, with the
//! deadlines recorded when it first arrived: a request whose deadline passed while the
//! connector was down is counted as missed and never posted; an `/agentWork` still owed after
//! routingResult is made again. Finished records are kept for
//! [`super::TERMINAL_RECORD_RETENTION`] so late redeliveries are recognised, then forgotten.
//! Knows nothing about Pub/Sub or the pipeline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{error, info, warn};

use crate::events::{
    DecodedEvent, OutboundEvent, RoutingRequestedEvent, ROUTING_REQUESTED_EVENT_TYPE,
};

use super::active::Claimant;
use super::active::Registration;
use super::deadline::RequestDeadlines;
use super::driver::Job;
use super::engine::{EngineInner, RoutingEngine};
use super::pending::{PendingRecord, PendingState};
use super::ports::Request;
use super::RoutingError;

/// How often finished records older than their retention are forgotten.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// What `resume` found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeSummary {
    /// Requests armed again with their original deadlines.
    pub resumed: usize,
    /// Requests whose deadline passed while the connector was down.
    pub missed: usize,
    /// Owed `/agentWork` calls made again.
    pub follow_ups: usize,
    /// Finished records older than their retention, forgotten.
    pub forgotten: usize,
}

impl RoutingEngine {
    /// Re-arms every unfinished request a previous run left, with its original deadlines;
    /// requests whose deadline passed meanwhile are counted as missed, never posted.
    pub async fn resume(&self) -> Result<ResumeSummary, RoutingError> {
        let inner = &self.inner;
        let (records, corrupt) = inner.pending.list().await?;
        for problem in corrupt {
            error!(error = %problem, "pending routing record cannot be read, skipped");
        }
        let now_ms = inner.settings.clock.now_ms();
        let mut summary = ResumeSummary::default();
        for record in records {
            if record.state.is_terminal() {
                if record.is_expired(now_ms) {
                    inner.pending.remove(&record.event_id).await?;
                    summary.forgotten += 1;
                }
                continue;
            }
            if inner.active.contains(&record.event_id) {
                continue;
            }
            let (event, body) = match decode_stored(&record) {
                Ok(decoded) => decoded,
                Err(reason) if matches!(record.state, PendingState::Posted { .. }) => {
                    error!(event_id = %record.event_id, reason = %reason, "owed agent work cannot be made, its stored request is unreadable");
                    continue;
                }
                Err(reason) => {
                    inner.mark_missed(record, &reason).await;
                    summary.missed += 1;
                    continue;
                }
            };
            match inner.arm_stored(record, event, body).await? {
                Armed::Resumed => summary.resumed += 1,
                Armed::Missed => summary.missed += 1,
                Armed::FollowUp => summary.follow_ups += 1,
                Armed::Nothing => {}
            }
        }
        inner.start_pruner();
        info!(
            resumed = summary.resumed,
            missed = summary.missed,
            follow_ups = summary.follow_ups,
            forgotten = summary.forgotten,
            "pending routing requests resumed"
        );
        Ok(summary)
    }
}

/// What arming a stored record did.
pub(super) enum Armed {
    Resumed,
    Missed,
    FollowUp,
    Nothing,
}

impl EngineInner {
    /// Arms a stored, unfinished record with its original deadlines.
    pub(super) async fn arm_stored(
        self: &Arc<Self>,
        record: PendingRecord,
        event: Box<RoutingRequestedEvent>,
        body: Bytes,
    ) -> Result<Armed, RoutingError> {
        let now_ms = self.settings.clock.now_ms();
        let deadlines = RequestDeadlines {
            decision_ms: record.decision_deadline_ms,
            deadline_ms: record.deadline_ms,
        };
        if let PendingState::Posted {
            follow_up: Some(_), ..
        } = &record.state
        {
            let inner = self.clone();
            let job = Job {
                request: Request {
                    record,
                    event,
                    body,
                    timeline: deadlines.timeline(now_ms),
                },
                registration: Registration::detached(),
            };
            self.track(inner.run_follow_up(job));
            return Ok(Armed::FollowUp);
        }
        if record.state.is_terminal() {
            return Ok(Armed::Nothing);
        }
        if deadlines.is_past(now_ms) {
            self.mark_missed(record, "the deadline passed while the connector was down")
                .await;
            return Ok(Armed::Missed);
        }
        let timeline = deadlines.timeline(now_ms);
        let already_claimed = match record.state {
            PendingState::Decided { .. } => Some(Claimant::Resumed),
            _ => None,
        };
        let Some(registration) = self.register(&record, &event, timeline, already_claimed) else {
            return Ok(Armed::Nothing);
        };
        self.spawn(Job {
            request: Request {
                record,
                event,
                body,
                timeline,
            },
            registration,
        });
        Ok(Armed::Resumed)
    }

    /// Starts the task forgetting old finished records, once.
    fn start_pruner(self: &Arc<Self>) {
        if self.pruner_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.track(async move {
            loop {
                tokio::select! {
                    () = inner.shutdown.cancelled() => return,
                    () = tokio::time::sleep(PRUNE_INTERVAL) => {}
                }
                inner.prune().await;
            }
        });
    }

    async fn prune(&self) {
        let records = match self.pending.list().await {
            Ok((records, _)) => records,
            Err(problem) => {
                warn!(error = %problem, "pending routing records could not be listed for pruning");
                return;
            }
        };
        let now_ms = self.settings.clock.now_ms();
        for record in records.iter().filter(|record| record.is_expired(now_ms)) {
            if let Err(problem) = self.pending.remove(&record.event_id).await {
                warn!(event_id = %record.event_id, error = %problem, "finished routing record could not be forgotten");
            }
        }
    }
}

/// The request and its webhook body, rebuilt from a stored record.
fn decode_stored(record: &PendingRecord) -> Result<(Box<RoutingRequestedEvent>, Bytes), String> {
    let replay_id = hex::decode(&record.replay_id)
        .map_err(|problem| format!("stored replay id is not hex: {problem}"))?;
    let event = OutboundEvent::from_json(ROUTING_REQUESTED_EVENT_TYPE, &record.payload, &replay_id)
        .map_err(|problem| format!("stored request cannot be decoded: {problem}"))?;
    let decoded = DecodedEvent {
        event,
        created_date_ms: record.created_date_ms,
        idempotency_key: record.idempotency_key.clone(),
        replay_id,
    };
    let body = decoded.webhook_body();
    match decoded.event {
        OutboundEvent::RoutingRequested(event) => Ok((event, body)),
        OutboundEvent::Interaction(_) => Err("stored payload is not a routing request".to_owned()),
    }
}
