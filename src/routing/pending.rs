//! Durable pending routing requests and their exactly-once state machine:
//! `Pending → Decided → Posted | Missed | Cancelled`, `Pending → Cancelled | Missed`.
//!
//! One record per request key (`channelData.eventId`, else the platform event's id), written to the store before the pipeline may
//! acknowledge the event, and rewritten (durably) at every transition. A redelivered request
//! finds its record and is never posted twice; after a restart, non-terminal records resume
//! with their original deadlines. Terminal records stay for [`TERMINAL_RECORD_RETENTION`] so
//! late redeliveries are still recognised. Records are JSON; the store sees opaque bytes.
//! Knows nothing about HTTP, strategies or the pipeline.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{GroupCommitter, PendingRoutingWrite, Store, StoreError};

use super::RoutingError;

/// How long the records' committer gathers writes after a commit that carried several. Each
/// commit costs the same fixed work (page flush, fsync) however few records it holds, and a
/// busy stream of requests otherwise commits every few milliseconds; waiting this long halves
/// the commits and delays a decision's post by at most as much, far inside the window
/// (`docs/benchmarks.md` has the figures). A lone write on a quiet store never waits.
const COMMIT_LINGER: Duration = Duration::from_millis(5);

/// Version of the record layout, bumped on incompatible changes.
const RECORD_VERSION: u32 = 1;

/// How long a finished record is kept after its deadline: as long as Salesforce retains
/// events, so no redelivery can arrive later than that.
pub(crate) const TERMINAL_RECORD_RETENTION: Duration = crate::store::EVENT_RETENTION;

/// What the routingResult says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Decision {
    /// Routed; `externally_routed` when the target is outside this org.
    #[serde(rename_all = "camelCase")]
    Routed {
        /// True for an external contact or another contact center.
        externally_routed: bool,
    },
    /// Not routed; the message is shown to the rep.
    #[serde(rename_all = "camelCase")]
    Failed {
        /// Why; Salesforce requires one.
        error_message: String,
        /// The partner's `externallyRouted`, which routingResult requires on failures too;
        /// false for failures the connector decides (and in records written before it existed).
        #[serde(default)]
        externally_routed: bool,
    },
}

impl Decision {
    /// A failure the connector decides itself: nothing was routed anywhere.
    pub(crate) fn failed(error_message: impl Into<String>) -> Self {
        Self::Failed {
            error_message: error_message.into(),
            externally_routed: false,
        }
    }

    /// Whether the routingResult reports success.
    pub(crate) fn is_success(&self) -> bool {
        matches!(self, Self::Routed { .. })
    }
}

/// Who made the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum DecisionSource {
    /// The partner's `200` answer to the `routing.requested` delivery.
    Partner,
    /// The partner, later, through the sidecar endpoint.
    Sidecar,
    /// Nobody decided by `CreatedDate + decision_timeout`.
    DecisionTimeout,
    /// The `salesforce` or `reject` strategy.
    Strategy,
}

impl DecisionSource {
    /// Lowercase name for logs.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Sidecar => "sidecar",
            Self::DecisionTimeout => "decision_timeout",
            Self::Strategy => "strategy",
        }
    }
}

/// An `/agentWork` call still owed after routingResult was posted first (rep transfers that
/// ran short of time); kept in the record so a restart still makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentWorkFollowUp {
    /// The rep's User id.
    pub user_id: String,
}

/// What `POST /route` answered: kept so a later cancellation (`DELETE /route`) or an
/// `/agentWork` for the routed conversation can refer to the PendingServiceRouting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteReceipt {
    /// The PendingServiceRouting Salesforce created.
    pub psr_id: Option<String>,
    /// The id Salesforce wants on a later `/agentWork` for this routing.
    pub routing_correlation_id: Option<String>,
}

/// Where a request is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub(super) enum PendingState {
    /// Waiting for a decision.
    Pending,
    /// Decided, routingResult not yet accepted by Salesforce.
    #[serde(rename_all = "camelCase")]
    Decided {
        /// What to post.
        decision: Decision,
        /// Who decided.
        source: DecisionSource,
        /// An `/agentWork` to make after posting.
        follow_up: Option<AgentWorkFollowUp>,
    },
    /// Salesforce accepted the routingResult (terminal once `follow_up` is done).
    #[serde(rename_all = "camelCase")]
    Posted {
        /// What was posted.
        decision: Decision,
        /// Who decided.
        source: DecisionSource,
        /// When Salesforce accepted it, epoch ms.
        posted_ms: i64,
        /// An `/agentWork` still to make.
        follow_up: Option<AgentWorkFollowUp>,
    },
    /// No routingResult was accepted before the deadline (terminal).
    Missed {
        /// Why.
        reason: String,
    },
    /// Salesforce reported the routing failed or was cancelled before it accepted a
    /// routingResult; nothing more is posted (terminal).
    Cancelled {
        /// Why.
        reason: String,
    },
}

impl PendingState {
    /// Lowercase name for logs and the sidecar's answers.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Decided { .. } => "decided",
            Self::Posted { .. } => "posted",
            Self::Missed { .. } => "missed",
            Self::Cancelled { .. } => "cancelled",
        }
    }

    /// Whether the request needs no more work.
    pub(super) fn is_terminal(&self) -> bool {
        match self {
            Self::Pending | Self::Decided { .. } => false,
            Self::Posted { follow_up, .. } => follow_up.is_none(),
            Self::Missed { .. } | Self::Cancelled { .. } => true,
        }
    }

    /// Whether moving to `next` follows the state machine.
    pub(super) fn may_become(&self, next: &PendingState) -> bool {
        use PendingState::{Cancelled, Decided, Missed, Pending, Posted};
        matches!(
            (self, next),
            (Pending, Decided { .. } | Missed { .. } | Cancelled { .. })
                | (
                    Decided { .. },
                    Posted { .. } | Missed { .. } | Cancelled { .. }
                )
                | (Posted { .. }, Posted { .. })
        )
    }
}

/// One routing request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PendingRecord {
    /// Layout version.
    pub version: u32,
    /// The key: `channelData.eventId`, else the platform event's id.
    pub event_id: String,
    /// The conversation, for cancellation and logs.
    pub conversation_identifier: String,
    /// `CreatedDate`, epoch ms.
    pub created_date_ms: i64,
    /// When the partner's time to decide ends, epoch ms (fixed at arrival, so a config change
    /// never moves it).
    pub decision_deadline_ms: i64,
    /// When Salesforce stops waiting, epoch ms (fixed at arrival).
    pub deadline_ms: i64,
    /// The delivery's `Idempotency-Key`, the same after a restart.
    pub idempotency_key: String,
    /// The Pub/Sub replay id, hex.
    pub replay_id: String,
    /// The platform event's payload field exactly as received; decoded again on resume.
    /// Shared: the driver keeps a copy of the record beside the one the request was armed
    /// with, and the payload is most of a record.
    pub payload: Arc<str>,
    /// The MessagingSession id once resolved.
    pub work_item_id: Option<String>,
    /// What `POST /route` answered, for queue and flow transfers the connector routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteReceipt>,
    /// The AgentWork (`0Bz…`) created for this request, so a cancellation can withdraw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_work_id: Option<String>,
    /// Where the request is.
    pub state: PendingState,
}

impl PendingRecord {
    /// A new record in state `Pending` (or `state` for requests already past their deadline).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        event_id: String,
        conversation_identifier: String,
        created_date_ms: i64,
        decision_deadline_ms: i64,
        deadline_ms: i64,
        idempotency_key: String,
        replay_id: String,
        payload: Arc<str>,
        state: PendingState,
    ) -> Self {
        Self {
            version: RECORD_VERSION,
            event_id,
            conversation_identifier,
            created_date_ms,
            decision_deadline_ms,
            deadline_ms,
            idempotency_key,
            replay_id,
            payload,
            work_item_id: None,
            route: None,
            agent_work_id: None,
            state,
        }
    }

    /// Moves to `next`; a transition outside the state machine is a bug.
    pub(super) fn transition(&mut self, next: PendingState) {
        debug_assert!(
            self.state.may_become(&next),
            "routing request {} may not go from {} to {}",
            self.event_id,
            self.state.name(),
            next.name()
        );
        self.state = next;
    }

    /// Whether a terminal record is old enough to forget at `now_ms`.
    pub(super) fn is_expired(&self, now_ms: i64) -> bool {
        let retention_ms = i64::try_from(TERMINAL_RECORD_RETENTION.as_millis()).unwrap_or(i64::MAX);
        self.state.is_terminal() && now_ms >= self.deadline_ms.saturating_add(retention_ms)
    }

    fn encode(&self) -> Result<Vec<u8>, RoutingError> {
        serde_json::to_vec(self).map_err(|error| RoutingError::CorruptRecord {
            event_id: self.event_id.clone(),
            reason: error.to_string(),
        })
    }

    fn decode(event_id: &str, bytes: &[u8]) -> Result<Self, RoutingError> {
        serde_json::from_slice(bytes).map_err(|error| RoutingError::CorruptRecord {
            event_id: event_id.to_owned(),
            reason: error.to_string(),
        })
    }
}

/// The pending-routing table, with async calls that never block the runtime on an fsync;
/// inserts and puts share group commits ([`GroupCommitter`]).
#[derive(Debug, Clone)]
pub(super) struct PendingStore {
    store: Store,
    writes: GroupCommitter<PendingRoutingWrite, bool>,
}

fn store_error(operation: &'static str) -> impl FnOnce(StoreError) -> RoutingError {
    move |source| RoutingError::Store {
        operation,
        source: Box::new(source),
    }
}

impl PendingStore {
    /// The table in `store`.
    pub(super) fn new(store: Store) -> Self {
        Self {
            writes: GroupCommitter::lingering(
                store.clone(),
                Store::write_pending_routing_batch,
                COMMIT_LINGER,
            ),
            store,
        }
    }

    /// Durably writes `record` unless its event id has one; returns whether it did.
    pub(super) async fn insert_if_absent(
        &self,
        record: &PendingRecord,
    ) -> Result<bool, RoutingError> {
        self.writes
            .write(PendingRoutingWrite {
                event_id: record.event_id.clone(),
                record: record.encode()?,
                replace: false,
            })
            .await
            .map_err(store_error("insert pending routing request"))
    }

    /// Durably replaces the record of `record.event_id`.
    pub(super) async fn put(&self, record: &PendingRecord) -> Result<(), RoutingError> {
        self.writes
            .write(PendingRoutingWrite {
                event_id: record.event_id.clone(),
                record: record.encode()?,
                replace: true,
            })
            .await
            .map(drop)
            .map_err(store_error("update pending routing request"))
    }

    /// The record of `event_id`, if any.
    pub(super) async fn get(&self, event_id: &str) -> Result<Option<PendingRecord>, RoutingError> {
        let key = event_id.to_owned();
        let bytes = self
            .store
            .run_blocking(move |store| store.get_pending_routing(&key))
            .await
            .map_err(store_error("read pending routing request"))?;
        bytes
            .map(|bytes| PendingRecord::decode(event_id, &bytes))
            .transpose()
    }

    /// Every record that decodes; the ones that do not are returned as errors beside them.
    pub(super) async fn list(
        &self,
    ) -> Result<(Vec<PendingRecord>, Vec<RoutingError>), RoutingError> {
        let rows = self
            .store
            .run_blocking(super::super::store::Store::list_pending_routing)
            .await
            .map_err(store_error("list pending routing requests"))?;
        let mut records = Vec::with_capacity(rows.len());
        let mut corrupt = Vec::new();
        for (event_id, bytes) in rows {
            match PendingRecord::decode(&event_id, &bytes) {
                Ok(record) => records.push(record),
                Err(error) => corrupt.push(error),
            }
        }
        Ok((records, corrupt))
    }

    /// Durably forgets the record of `event_id`.
    pub(super) async fn remove(&self, event_id: &str) -> Result<(), RoutingError> {
        let key = event_id.to_owned();
        self.store
            .run_blocking(move |store| store.remove_pending_routing(&key).map(drop))
            .await
            .map_err(store_error("remove pending routing request"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: PendingState) -> PendingRecord {
        PendingRecord::new(
            "e-1".into(),
            "c-1".into(),
            1_000,
            46_000,
            61_000,
            "key".into(),
            "0a".into(),
            "{}".into(),
            state,
        )
    }

    #[test]
    fn the_state_machine_allows_exactly_the_documented_transitions() {
        let decided = PendingState::Decided {
            decision: Decision::Routed {
                externally_routed: false,
            },
            source: DecisionSource::Sidecar,
            follow_up: None,
        };
        let posted = PendingState::Posted {
            decision: Decision::Routed {
                externally_routed: false,
            },
            source: DecisionSource::Sidecar,
            posted_ms: 2_000,
            follow_up: None,
        };
        let missed = PendingState::Missed {
            reason: "late".into(),
        };
        let cancelled = PendingState::Cancelled {
            reason: "cancelled".into(),
        };
        assert!(PendingState::Pending.may_become(&decided));
        assert!(PendingState::Pending.may_become(&missed));
        assert!(PendingState::Pending.may_become(&cancelled));
        assert!(decided.may_become(&posted));
        assert!(decided.may_become(&missed));
        assert!(
            !PendingState::Pending.may_become(&posted),
            "posting needs a decision"
        );
        assert!(
            !posted.may_become(&decided),
            "a posted request is never decided again"
        );
        assert!(!missed.may_become(&decided));
        assert!(!cancelled.may_become(&decided));
        assert!(
            decided.may_become(&cancelled),
            "a decision not yet accepted can still be cancelled"
        );
        assert!(
            !posted.may_become(&cancelled),
            "an accepted routingResult is never cancelled"
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let mut original = record(PendingState::Decided {
            decision: Decision::Failed {
                error_message: "no rep available".into(),
                externally_routed: true,
            },
            source: DecisionSource::DecisionTimeout,
            follow_up: Some(AgentWorkFollowUp {
                user_id: "005xx".into(),
            }),
        });
        original.route = Some(RouteReceipt {
            psr_id: Some("0JRxx0000000001".into()),
            routing_correlation_id: Some("corr-1".into()),
        });
        let bytes = original.encode().unwrap();
        assert_eq!(PendingRecord::decode("e-1", &bytes).unwrap(), original);
        assert!(PendingRecord::decode("e-1", b"{").is_err());
    }

    #[test]
    fn records_written_before_externally_routed_and_route_were_kept_still_decode() {
        let mut current = record(PendingState::Decided {
            decision: Decision::failed("no rep available"),
            source: DecisionSource::Partner,
            follow_up: None,
        });
        let mut old: serde_json::Value =
            serde_json::from_slice(&current.encode().unwrap()).unwrap();
        old["state"]["decision"]
            .as_object_mut()
            .unwrap()
            .remove("externallyRouted");
        let decoded = PendingRecord::decode("e-1", old.to_string().as_bytes()).unwrap();
        current.route = None;
        assert_eq!(decoded, current);
    }

    #[test]
    fn only_terminal_records_expire_and_only_after_retention() {
        let retention_ms = i64::try_from(TERMINAL_RECORD_RETENTION.as_millis()).unwrap();
        let missed = record(PendingState::Missed {
            reason: "late".into(),
        });
        assert!(!missed.is_expired(61_000 + retention_ms - 1));
        assert!(missed.is_expired(61_000 + retention_ms));
        assert!(!record(PendingState::Pending).is_expired(i64::MAX));
    }
}
