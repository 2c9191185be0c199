//! [`RoutingEngine`]: the entry points the pipeline, the sidecar and `main` call.
//!
//! A routing request is recorded durably, keyed by `channelData.eventId` (or, without one, the
//! platform event's id), before
//! `on_routing_requested` returns; then it is armed (registered for decisions, deadlines on
//! tokio's clock) and its task runs in the background (`driver.rs` over `machine.rs`). `resume` re-arms
//! what a previous run left with the original deadlines. `observe` learns session ids and
//! cancels requests Salesforce reports failed. Knows nothing about Pub/Sub or the pipeline.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::channel::{WebhookChannel, WebhookSettings};
use crate::events::{
    replay_id_hex, EntryPayload, InteractionEvent, RoutingFailureType, RoutingRequestedEvent,
};
use crate::interaction::{InteractionClient, RoutingType};
use crate::telemetry::Telemetry;

use super::active::{ActiveRequests, ArmedInfo, Claimant, SidecarOffer, SidecarReply};
use super::ask_limit::AskLimit;
use super::deadline::{RequestDeadlines, Timeline};
use super::driver::Job;
use super::partner::PartnerDecision;
use super::pending::{Decision, DecisionSource, PendingRecord, PendingState, PendingStore};
use super::ports::Request;
use super::strategy::{wire_routing_type, RoutingStrategy};
use super::views::SidecarOutcome;
use super::views::{PendingRouting, SessionLookup};
use super::work_item::WorkItemResolver;
use super::{RoutingDeps, RoutingError, RoutingRequestInput, RoutingSettings};

/// Where a routing request is, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for a decision.
    Pending,
    /// Decided, routingResult not yet accepted.
    Decided {
        /// Whether the decision is a success.
        success: bool,
    },
    /// Salesforce accepted the routingResult.
    Posted {
        /// Whether it reported success.
        success: bool,
    },
    /// No routingResult was accepted before the deadline.
    Missed {
        /// Why.
        reason: String,
    },
    /// Cancelled by a RoutingResult entry; nothing posted.
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// The shared state behind every clone of the engine.
pub(super) struct EngineInner {
    pub(super) settings: RoutingSettings,
    pub(super) interaction: InteractionClient,
    pub(super) pending: PendingStore,
    pub(super) partner: Option<WebhookChannel>,
    pub(super) resolver: WorkItemResolver,
    pub(super) active: ActiveRequests,
    pub(super) telemetry: Telemetry,
    pub(super) tasks: TaskTracker,
    pub(super) shutdown: CancellationToken,
    /// Fired by [`RoutingEngine::abandon`]: every tracked task stops at its next await.
    abandon: CancellationToken,
    pub(super) pruner_started: AtomicBool,
    pub(super) asks: AskLimit,
}

/// Answers every routing request exactly once before its deadline; cheap to clone.
#[derive(Clone)]
pub struct RoutingEngine {
    pub(super) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for RoutingEngine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RoutingEngine")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl RoutingEngine {
    /// An engine; nothing runs until a request arrives or [`RoutingEngine::resume`] is called.
    pub fn new(mut settings: RoutingSettings, deps: RoutingDeps) -> Self {
        if settings.decision_timeout >= settings.window {
            let clamped = settings.window.mul_f64(0.75);
            warn!(
                decision_timeout_ms = crate::log_value::millis(settings.decision_timeout),
                window_ms = crate::log_value::millis(settings.window),
                clamped_ms = crate::log_value::millis(clamped),
                "routing decision timeout is not shorter than the window, using three quarters of the window"
            );
            settings.decision_timeout = clamped;
        }
        let partner = deps.partner.or_else(|| partner_from_settings(&settings));
        if settings.strategy == RoutingStrategy::Partner && partner.is_none() {
            error!("routing strategy is partner but no partner routing endpoint is configured, every request will be answered success=false");
        }
        let resolver = WorkItemResolver::new(
            deps.http,
            deps.token_provider,
            &settings.soql_api_version,
            settings.insecure,
        );
        Self {
            inner: Arc::new(EngineInner {
                settings,
                interaction: deps.interaction,
                pending: PendingStore::new(deps.store),
                partner,
                resolver,
                active: ActiveRequests::default(),
                telemetry: deps.telemetry,
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                abandon: CancellationToken::new(),
                pruner_started: AtomicBool::new(false),
                asks: AskLimit::default(),
            }),
        }
    }

    /// Where this engine logs and counts what happens to its requests.
    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    /// The settings in use (a too-long decision timeout already clamped).
    pub fn settings(&self) -> &RoutingSettings {
        &self.inner.settings
    }

    /// Takes a routing request: returns once it is durably recorded (or recognised as known),
    /// so the pipeline may acknowledge the event; deciding and posting go on in the background.
    pub async fn on_routing_requested(
        &self,
        request: RoutingRequestInput,
    ) -> Result<(), RoutingError> {
        let inner = &self.inner;
        let RoutingRequestInput {
            event,
            created_date_ms,
            replay_id,
            idempotency_key,
            webhook_body,
        } = request;
        let event_id = request_key(&event, &idempotency_key);
        if let Some(problem) = &event.routing_parameters_problem {
            warn!(
                event_id = %event_id,
                problem = %problem,
                "routing request has unreadable routingParameters fields, answered from the rest"
            );
        }
        let now_ms = inner.settings.clock.now_ms();
        let deadlines = RequestDeadlines::new(
            created_date_ms,
            inner.settings.decision_timeout,
            inner.settings.window,
        );
        let arrived_late = deadlines.is_past(now_ms);
        let record = PendingRecord::new(
            event_id.clone(),
            event.conversation_identifier.clone(),
            created_date_ms,
            deadlines.decision_ms,
            deadlines.deadline_ms,
            idempotency_key,
            replay_id_hex(&replay_id),
            event.source.text().into(),
            if arrived_late {
                PendingState::Missed {
                    reason: "the request arrived after its deadline".to_owned(),
                }
            } else {
                PendingState::Pending
            },
        );
        if arrived_late || inner.shutdown.is_cancelled() {
            return self.record_only(&record).await;
        }
        let timeline = deadlines.timeline(now_ms);
        let Some(registration) = inner.register(&record, &event, timeline, None) else {
            inner
                .telemetry
                .routing_request_redelivered(&event_id, "armed");
            return Ok(());
        };
        match inner.pending.insert_if_absent(&record).await {
            Ok(true) => {
                inner.spawn(Job {
                    request: Request {
                        record,
                        event,
                        body: webhook_body,
                        timeline,
                    },
                    registration,
                });
                Ok(())
            }
            Ok(false) => {
                inner.disarm(&event_id);
                drop(registration);
                self.rearm_redelivered(&event_id, event, webhook_body).await
            }
            Err(error) => {
                inner.disarm(&event_id);
                Err(error)
            }
        }
    }

    /// Records a request that will not be armed now (late, or arriving during shutdown).
    async fn record_only(&self, record: &PendingRecord) -> Result<(), RoutingError> {
        let inner = &self.inner;
        let inserted = inner.pending.insert_if_absent(record).await?;
        match (&record.state, inserted) {
            (PendingState::Missed { reason }, true) => inner.telemetry.routing_deadline_missed(
                &record.event_id,
                &record.conversation_identifier,
                reason,
            ),
            (PendingState::Pending, true) => {
                info!(event_id = %record.event_id, "routing request recorded during shutdown, it resumes after restart");
            }
            (_, false) => inner
                .telemetry
                .routing_request_redelivered(&record.event_id, "stored"),
            _ => {}
        }
        Ok(())
    }

    /// A redelivered request whose record exists: arms it when a previous run left it
    /// unfinished and nothing armed it yet; otherwise it is a duplicate.
    async fn rearm_redelivered(
        &self,
        event_id: &str,
        event: Box<RoutingRequestedEvent>,
        body: Bytes,
    ) -> Result<(), RoutingError> {
        let inner = &self.inner;
        let Some(stored) = inner.pending.get(event_id).await? else {
            return Ok(());
        };
        if stored.state.is_terminal() || inner.active.contains(event_id) {
            inner
                .telemetry
                .routing_request_redelivered(event_id, stored.state.name());
            return Ok(());
        }
        info!(
            event_id,
            state = stored.state.name(),
            "redelivered routing request resumes its stored record"
        );
        inner.arm_stored(stored, event, body).await.map(drop)
    }

    /// Learns from an Interaction event: session ids from `SessionStatusChanged` and
    /// `RoutingResult`, and cancels pending requests a failed or cancelled `RoutingResult`
    /// entry is about (they are not posted).
    pub fn observe(&self, event: &InteractionEvent) {
        let inner = &self.inner;
        match &event.entry.payload {
            EntryPayload::SessionStatusChanged(entry) => {
                let conversation = if entry.conversation_identifier.is_empty() {
                    &event.conversation_identifier
                } else {
                    &entry.conversation_identifier
                };
                inner.resolver.learn(conversation, &entry.session_id);
            }
            EntryPayload::RoutingResult(entry) => {
                if let Some(record_id) = &entry.record_id {
                    inner
                        .resolver
                        .learn(&event.conversation_identifier, record_id);
                }
                let failed = entry.failure_type != RoutingFailureType::None;
                if !failed && entry.cancel_reason.is_none() {
                    return;
                }
                let routing_type = match entry.routing_type {
                    crate::events::RoutingType::Initial => Some(RoutingType::Initial),
                    crate::events::RoutingType::Transfer => Some(RoutingType::Transfer),
                    crate::events::RoutingType::Conference => Some(RoutingType::Conference),
                    crate::events::RoutingType::Other(_) => None,
                };
                let cancelled = inner.active.cancel_matching(
                    &event.conversation_identifier,
                    routing_type,
                    event.entry.transcripted_timestamp_ms,
                );
                for event_id in cancelled {
                    debug!(
                        event_id,
                        failure_type = %entry.failure_type,
                        "routing result entry cancels the pending request"
                    );
                }
            }
            _ => {}
        }
    }

    /// Where routing finds a conversation's MessagingSession when it has not learned it in
    /// this run: consulted after the learned map and before SOQL. Set once; false when one
    /// was set already.
    pub(crate) fn set_session_lookup(&self, lookup: Arc<dyn SessionLookup>) -> bool {
        self.inner.resolver.set_lookup(lookup)
    }

    /// The routing requests of `conversation` still waiting for their routingResult.
    pub(crate) fn pending_for(&self, conversation: &str) -> Vec<PendingRouting> {
        let window_ms = i64::try_from(self.inner.settings.window.as_millis()).unwrap_or(i64::MAX);
        self.inner
            .active
            .of_conversation(conversation)
            .into_iter()
            .map(
                |(event_id, routing_type, created_date_ms, decided)| PendingRouting {
                    event_id,
                    routing_type: routing_type.map(|kind| format!("{kind:?}")),
                    created_date_ms,
                    deadline_ms: created_date_ms.saturating_add(window_ms),
                    decided,
                },
            )
            .collect()
    }

    /// A partner decision for `event_id` (the sidecar endpoint calls this); waits until the
    /// routingResult is posted or cannot be.
    pub async fn decide(
        &self,
        event_id: &str,
        decision: PartnerDecision,
    ) -> Result<SidecarOutcome, RoutingError> {
        self.offer(event_id, decision.into_decision(), None).await
    }

    /// The rep the partner found for `event_id` (the sidecar's assign route calls this):
    /// creates the AgentWork for `user_id` and posts routingResult in the documented order;
    /// waits until the routingResult is posted or cannot be.
    pub async fn assign(
        &self,
        event_id: &str,
        user_id: String,
    ) -> Result<SidecarOutcome, RoutingError> {
        let routed = Decision::Routed {
            externally_routed: false,
        };
        self.offer(event_id, routed, Some(user_id)).await
    }

    async fn offer(
        &self,
        event_id: &str,
        decision: Decision,
        assign: Option<String>,
    ) -> Result<SidecarOutcome, RoutingError> {
        let inner = &self.inner;
        match inner.active.offer(event_id, decision, assign) {
            SidecarOffer::Taken(reply) => Ok(match reply.await {
                Ok(SidecarReply::Posted {
                    success,
                    error_message,
                }) => SidecarOutcome::Posted {
                    success,
                    error_message,
                },
                Ok(SidecarReply::NotPosted { reason }) => SidecarOutcome::NotPosted { reason },
                Err(_) => SidecarOutcome::NotPosted {
                    reason: "the connector stopped before posting".to_owned(),
                },
            }),
            SidecarOffer::AlreadyDecided(claimant) => Ok(SidecarOutcome::AlreadyDecided {
                state: if claimant == Claimant::Cancellation {
                    "cancelled"
                } else {
                    "decided"
                }
                .to_owned(),
            }),
            SidecarOffer::TooLate => Ok(SidecarOutcome::PastDeadline),
            SidecarOffer::NotAccepted => Ok(SidecarOutcome::NotAccepted),
            SidecarOffer::NotArmed => self.decide_unarmed(event_id).await,
        }
    }

    /// The sidecar's answer for a request that is not armed, from its stored record.
    async fn decide_unarmed(&self, event_id: &str) -> Result<SidecarOutcome, RoutingError> {
        let Some(record) = self.inner.pending.get(event_id).await? else {
            return Ok(SidecarOutcome::Unknown);
        };
        let partner_time_over = self.inner.settings.clock.now_ms() >= record.decision_deadline_ms;
        Ok(match &record.state {
            PendingState::Pending | PendingState::Decided { .. } if partner_time_over => {
                SidecarOutcome::PastDeadline
            }
            PendingState::Pending | PendingState::Decided { .. } => SidecarOutcome::Resuming,
            PendingState::Posted {
                source: DecisionSource::Partner | DecisionSource::Sidecar,
                ..
            } => SidecarOutcome::AlreadyDecided {
                state: record.state.name().to_owned(),
            },
            _ if partner_time_over => SidecarOutcome::PastDeadline,
            state => SidecarOutcome::AlreadyDecided {
                state: state.name().to_owned(),
            },
        })
    }

    /// Where `event_id` is, from the store.
    pub async fn request_status(
        &self,
        event_id: &str,
    ) -> Result<Option<RequestStatus>, RoutingError> {
        let record = self.inner.pending.get(event_id).await?;
        Ok(record.map(|record| match record.state {
            PendingState::Pending => RequestStatus::Pending,
            PendingState::Decided { decision, .. } => RequestStatus::Decided {
                success: decision.is_success(),
            },
            PendingState::Posted { decision, .. } => RequestStatus::Posted {
                success: decision.is_success(),
            },
            PendingState::Missed { reason } => RequestStatus::Missed { reason },
            PendingState::Cancelled { reason } => RequestStatus::Cancelled { reason },
        }))
    }

    /// Stops: requests waiting for a decision stay pending in the store and resume after a
    /// restart; posts in flight finish (each is bounded by its deadline). Bound it with the
    /// shutdown grace.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Drops every request's task where it stands, as a crash there would, for when
    /// [`RoutingEngine::shutdown`] outlasted the grace: a decision is stored before its post,
    /// so the restart posts the same answer, and nothing of the engine outlives the connector.
    pub async fn abandon(&self) {
        self.inner.shutdown.cancel();
        self.inner.abandon.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl EngineInner {
    /// Registers `record` for decisions; `None` when it is armed already.
    pub(super) fn register(
        &self,
        record: &PendingRecord,
        event: &RoutingRequestedEvent,
        timeline: Timeline,
        already_claimed: Option<Claimant>,
    ) -> Option<super::active::Registration> {
        let info = ArmedInfo {
            conversation_identifier: record.conversation_identifier.clone(),
            routing_type: wire_routing_type(event),
            created_date_ms: record.created_date_ms,
            timeline,
        };
        let takes_sidecar = self.settings.strategy == RoutingStrategy::Partner;
        let registration =
            self.active
                .register(&record.event_id, info, takes_sidecar, already_claimed);
        self.telemetry
            .set_pending_routing_requests(self.active.len());
        registration
    }

    /// Disarms `event_id`.
    pub(super) fn disarm(&self, event_id: &str) {
        self.active.remove(event_id);
        self.telemetry
            .set_pending_routing_requests(self.active.len());
    }

    /// Runs a request's task on the tracker.
    pub(super) fn spawn(self: &Arc<Self>, job: Job) {
        let inner = self.clone();
        self.track(inner.run(job));
    }

    /// Runs `task` on the tracker until it ends or the engine is abandoned.
    pub(super) fn track(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let abandon = self.abandon.clone();
        // Boxed: `select!` moves it from this block's captures into a local of its own, and
        // the block would keep room for both for as long as the request waits.
        let task = Box::pin(task);
        self.tasks.spawn(async move {
            tokio::select! {
                biased;
                () = abandon.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Records `record` as missed and counts it.
    pub(super) async fn mark_missed(&self, mut record: PendingRecord, reason: &str) {
        record.transition(PendingState::Missed {
            reason: reason.to_owned(),
        });
        if let Err(problem) = self.pending.put(&record).await {
            error!(event_id = %record.event_id, error = %problem, "missed routing request could not be recorded");
        }
        self.telemetry.routing_deadline_missed(
            &record.event_id,
            &record.conversation_identifier,
            reason,
        );
    }
}

/// The key of a request: `channelData.eventId`, or when `channelData` is absent or unreadable
/// the platform event's own id (`EventUuid`, else `ProducerEvent.id`: the idempotency key), so
/// the request is still answered and a redelivery still finds it.
fn request_key(event: &RoutingRequestedEvent, idempotency_key: &str) -> String {
    if let Some(event_id) = event.event_id() {
        return event_id.to_owned();
    }
    let reason = event
        .channel_data_problem
        .as_deref()
        .unwrap_or("routingParameters.channelData is absent");
    warn!(
        key = idempotency_key,
        conversation_identifier = %event.conversation_identifier,
        reason,
        "routing request has no channelData.eventId, keyed by the platform event's id"
    );
    idempotency_key.to_owned()
}

/// The partner channel from `routing.url` and `routing.secret`, when no channel was given.
fn partner_from_settings(settings: &RoutingSettings) -> Option<WebhookChannel> {
    let url = settings.url.as_ref()?;
    let mut webhook = WebhookSettings::new(url.clone());
    webhook.secret.clone_from(&settings.secret);
    match WebhookChannel::new(webhook) {
        Ok(channel) => Some(channel),
        Err(problem) => {
            error!(error = %problem, "partner routing endpoint cannot be used");
            None
        }
    }
}
