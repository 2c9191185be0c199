//! One unit of work per event, run on a task of its own or, when it only waits for the
//! channel's own task, on the dispatcher's (`running.rs`): deliver to the partner (retrying
//! until delivered, refused or shut down), hand a routing request to routing, or record a
//! dead letter. A job reports how it ended, a panic included (the event is dead-lettered);
//! the dispatcher decides what that means for the watermark. It knows no Pub/Sub and no lanes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn, Instrument as _};

use super::credit::CreditRule;
use super::watermark::Seq;
use crate::channel::retry::{
    deliver_once, retry_after_first, RetryNotice, RetryPolicy, RetryStopped,
};
use crate::channel::{AnyChannel, Delivery, DeliveryError, PermanentFailure};
use crate::events::{DecodedEvent, InteractionEvent};
use crate::store::{NewDeadLetter, Store};
use crate::telemetry::Telemetry;

/// Where routing requests go instead of the partner webhook (implemented by the connector
/// over the routing engine, so the pipeline does not depend on routing).
pub trait RoutingSink: Send + Sync + 'static {
    /// Accepts a routing request; resolves once it is durably owned by routing.
    fn on_routing_requested(
        &self,
        event: DecodedEvent,
        webhook_body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<(), RoutingSinkError>> + Send + '_>>;

    /// Sees every conversation entry (to learn sessions and cancel pending requests).
    fn observe(&self, event: &InteractionEvent);
}

/// Hears what became of each conversation entry (implemented by the connector, so the
/// pipeline knows neither conversation state nor the Interaction Service). Every method is
/// called on the delivery path and must return at once: hand the work to another task.
pub(crate) trait EntryObserver: Send + Sync + 'static {
    /// Sees every conversation entry as it is dispatched.
    fn seen(&self, event: &InteractionEvent);
    /// The partner accepted `entry`; it is the observer's to keep.
    fn delivered(&self, entry: EntryRef);
    /// The partner refused `entry` for good; its dead letter is recorded already.
    fn refused(&self, entry: &EntryRef, refusal: &PermanentFailure);
    /// Called once when the pipeline stops, before its final checkpoint: hand whatever the
    /// observer keeps for the store to the checkpoint writer, so that commit stores it.
    fn settle(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The conversation entry a delivery carries, for an [`EntryObserver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRef {
    /// The conversation.
    pub conversation_identifier: String,
    /// The channel.
    pub channel_address_identifier: String,
    /// The end user the entry went to (`recipient.subject`).
    pub end_user_client_id: String,
    /// The ConversationEntry's identifier.
    pub entry_identifier: String,
    /// The webhook `type`, e.g. `interaction.message`.
    pub event_type: &'static str,
    /// The event's replay id, hex.
    pub replay_id: String,
}

impl EntryRef {
    /// The entry of `event`, delivered under replay id `replay_id`; takes the event's
    /// strings rather than copying them, since the event is done with once its body is written.
    pub(crate) fn of(event: InteractionEvent, replay_id: &[u8]) -> Self {
        let entry = *event.entry;
        Self {
            conversation_identifier: event.conversation_identifier,
            channel_address_identifier: event.channel_address_identifier,
            end_user_client_id: event.recipient.subject,
            entry_identifier: entry.identifier,
            event_type: entry.payload.event_type_name(),
            replay_id: crate::events::replay_id_hex(replay_id),
        }
    }
}

/// Why routing could not take a request. The pipeline only logs it (with its whole source
/// chain) and leaves the event incomplete, so it is handed over again after a restart.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RoutingSinkError(pub Box<dyn std::error::Error + Send + Sync>);

/// What a job does.
pub(crate) enum Work {
    /// Deliver the envelope to the partner channel.
    Deliver(Delivery),
    /// Hand a routing request to routing.
    Route(Box<DecodedEvent>, Bytes),
    /// Record an undecodable event.
    DeadLetter {
        /// A stable code for metrics (`DecodeError::kind()`-like).
        kind: &'static str,
        reason: String,
    },
}

/// A job with what it needs to report and to dead-letter.
pub(crate) struct Job {
    pub(crate) seq: Seq,
    /// The lane it runs in, if any.
    pub(crate) lane: Option<String>,
    pub(crate) replay_id: Bytes,
    /// The raw Avro bytes, kept for a dead letter.
    pub(crate) raw: Bytes,
    pub(crate) schema_id: String,
    /// Recorded as completed when the job succeeds.
    pub(crate) idempotency_key: Option<String>,
    /// The webhook `type`, for metrics.
    pub(crate) event_type: &'static str,
    /// When the event was taken from the subscriber, for the delivery latency.
    pub(crate) received_at: std::time::Instant,
    /// The conversation entry delivered, when an observer wants to hear of it.
    pub(crate) entry: Option<EntryRef>,
    /// When its Pub/Sub credit goes back.
    pub(crate) credit: CreditRule,
    pub(crate) work: Work,
}

/// How a job ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Delivered (or accepted by routing): record the key, then complete.
    Delivered,
    /// Dead-lettered durably: complete.
    DeadLettered {
        /// A stable code for metrics.
        kind: &'static str,
        /// Why, for the operator.
        reason: String,
    },
    /// Stopped by shutdown: the event stays incomplete and is delivered again later.
    Abandoned,
    /// The store refused the dead letter, retries included: the pipeline must stop.
    StoreFailed(crate::store::StoreError),
    /// The channel can never deliver again (why): the event stays incomplete and the
    /// pipeline must stop.
    ChannelClosed(String),
}

/// A finished job, sent back to the dispatcher.
pub(crate) struct Done {
    pub(crate) seq: Seq,
    pub(crate) lane: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) event_type: &'static str,
    pub(crate) received_at: std::time::Instant,
    pub(crate) replay_id: Bytes,
    pub(crate) credit: CreditRule,
    pub(crate) outcome: Outcome,
}

/// What jobs share.
pub(crate) struct JobContext {
    pub(crate) channel: Arc<AnyChannel>,
    pub(crate) retry: RetryPolicy,
    pub(crate) store: Store,
    pub(crate) routing: Option<Arc<dyn RoutingSink>>,
    /// Fires after the shutdown grace period: abandon retries.
    pub(crate) abandon: CancellationToken,
    /// Counts delivery retries.
    pub(crate) telemetry: Telemetry,
    /// Hears what became of conversation entries.
    pub(crate) observer: Option<Arc<dyn EntryObserver>>,
}

impl Job {
    /// Runs the job to its end.
    ///
    /// A panic while handling the event (a bug, perhaps met on odd input) dead-letters it with
    /// its raw bytes and the panic's message, and the job still reports: left unreported, the
    /// event would never complete, its conversation's lane would stay busy and the watermark
    /// would stop there until intake paused at the lag bound, silently.
    pub(crate) async fn run(self, context: Arc<JobContext>) -> Done {
        use futures::FutureExt as _;

        let handled = std::panic::AssertUnwindSafe(self.handle(&context))
            .catch_unwind()
            .await;
        let outcome = match handled {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = panic_message(&*panic);
                Box::pin(
                    self.dead_letter_panicked(&context, message)
                        .instrument(self.span()),
                )
                .await
            }
        };
        // Told here, where the job is owned, so the entry's strings move to the observer.
        if let (Outcome::Delivered, Some(observer), Some(entry)) =
            (&outcome, &context.observer, self.entry)
        {
            observer.delivered(entry);
        }
        Done {
            seq: self.seq,
            lane: self.lane,
            idempotency_key: self.idempotency_key,
            event_type: self.event_type,
            received_at: self.received_at,
            replay_id: self.replay_id,
            credit: self.credit,
            outcome,
        }
    }

    /// The span every line a job logs (a retry, a refusal) carries, naming the event.
    /// Formatting it costs about a microsecond at info level, so a delivery builds it only once
    /// its first attempt has failed.
    fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "event",
            replay_id = %hex::encode(&self.replay_id),
            conversation_id = self.lane.as_deref(),
            idempotency_key = self.idempotency_key.as_deref(),
        )
    }

    async fn handle(&self, context: &JobContext) -> Outcome {
        // Every path but a first delivery attempt is boxed here and in `deliver`: a future is
        // as large as its largest path, and each job pays for its size however it ends.
        match &self.work {
            Work::Deliver(delivery) => self.deliver(context, delivery).await,
            Work::Route(event, body) => {
                Box::pin(
                    self.route(context, event, body.clone())
                        .instrument(self.span()),
                )
                .await
            }
            Work::DeadLetter { kind, reason } => {
                Box::pin(
                    self.dead_letter(context, kind, reason.clone(), None, BTreeMap::new())
                        .instrument(self.span()),
                )
                .await
            }
        }
    }

    /// Dead-letters the event whose handling panicked with `message`.
    async fn dead_letter_panicked(&self, context: &JobContext, message: String) -> Outcome {
        error!(panic = %message, "handling the event panicked; dead-lettering it");
        let mut attributes = BTreeMap::new();
        if let Some(key) = &self.idempotency_key {
            attributes.insert("idempotency_key".to_owned(), key.clone());
        }
        attributes.insert("event_type".to_owned(), self.event_type.to_owned());
        let envelope = match &self.work {
            Work::Deliver(Delivery { body, .. }) | Work::Route(_, body) => {
                Some(String::from_utf8_lossy(body).into_owned())
            }
            Work::DeadLetter { .. } => None,
        };
        let reason = format!("the connector panicked while handling this event: {message}");
        self.dead_letter(context, "handling_panicked", reason, envelope, attributes)
            .await
    }

    async fn deliver(&self, context: &JobContext, delivery: &Delivery) -> Outcome {
        let first = match deliver_once(&*context.channel, delivery, &context.abandon).await {
            Ok(Ok(())) => return Outcome::Delivered,
            Ok(failed) => failed,
            Err(stopped) => {
                return Box::pin(self.retry_stopped(context, delivery, stopped)).await;
            }
        };
        Box::pin(
            self.deliver_after_failure(context, delivery, first)
                .instrument(self.span()),
        )
        .await
    }

    /// Retries a delivery whose first attempt ended with `first`, then settles its fate.
    async fn deliver_after_failure(
        &self,
        context: &JobContext,
        delivery: &Delivery,
        first: Result<(), DeliveryError>,
    ) -> Outcome {
        let on_retry = |notice: &RetryNotice<'_>| {
            let attempt = u32::try_from(notice.attempt).unwrap_or(u32::MAX);
            context
                .telemetry
                .delivery_retried(notice.status, attempt, notice.reason);
        };
        match retry_after_first(
            &*context.channel,
            delivery,
            &context.retry,
            &context.abandon,
            on_retry,
            first,
        )
        .await
        {
            Ok(()) => Outcome::Delivered,
            Err(stopped) => self.retry_stopped(context, delivery, stopped).await,
        }
    }

    /// What a delivery that stopped (`stopped`) without being delivered ends as.
    async fn retry_stopped(
        &self,
        context: &JobContext,
        delivery: &Delivery,
        stopped: RetryStopped,
    ) -> Outcome {
        match stopped {
            RetryStopped::Cancelled => Outcome::Abandoned,
            RetryStopped::Closed(reason) => Outcome::ChannelClosed(reason),
            RetryStopped::Permanent(failure) => {
                let mut attributes = BTreeMap::from([
                    (
                        "idempotency_key".to_owned(),
                        delivery.idempotency_key.clone(),
                    ),
                    ("event_type".to_owned(), delivery.event_type.to_string()),
                ]);
                if let Some(status) = failure.status {
                    attributes.insert("status".to_owned(), status.as_u16().to_string());
                }
                let body_prefix = String::from_utf8_lossy(&failure.body_prefix).into_owned();
                attributes.insert("response_body_prefix".to_owned(), body_prefix);
                let envelope = String::from_utf8_lossy(&delivery.body).into_owned();
                let reason = format!("partner refused the delivery: {}", failure.reason);
                let outcome = self
                    .dead_letter(
                        context,
                        "delivery_rejected",
                        reason,
                        Some(envelope),
                        attributes,
                    )
                    .await;
                let dead_lettered = matches!(outcome, Outcome::DeadLettered { .. });
                if let (true, Some(observer), Some(entry)) =
                    (dead_lettered, &context.observer, &self.entry)
                {
                    observer.refused(entry, &failure);
                }
                outcome
            }
        }
    }

    async fn route(&self, context: &JobContext, event: &DecodedEvent, body: Bytes) -> Outcome {
        let Some(routing) = &context.routing else {
            return Outcome::Abandoned;
        };
        // Routing owns the request once it is stored; until then a failure (the store is
        // unavailable) must not complete the event, so it is retried after a restart.
        match routing.on_routing_requested(event.clone(), body).await {
            Ok(()) => Outcome::Delivered,
            Err(error) => {
                error!(error = %crate::error_chain::render(&error), "routing could not accept the request; it will be retried after a restart");
                Outcome::Abandoned
            }
        }
    }

    async fn dead_letter(
        &self,
        context: &JobContext,
        kind: &'static str,
        reason: String,
        decoded_json: Option<String>,
        mut attributes: BTreeMap<String, String>,
    ) -> Outcome {
        attributes.insert("schema_id".to_owned(), self.schema_id.clone());
        let letter = NewDeadLetter {
            replay_id: self.replay_id.to_vec(),
            raw: self.raw.to_vec(),
            decoded_json,
            reason: reason.clone(),
            attributes,
        };
        let mut backoff = context.store.write_retry_backoff();
        let mut attempt: u32 = 1;
        loop {
            let letter = letter.clone();
            let recorded = context
                .store
                .run_blocking(move |store| {
                    store.record_dead_letter(&letter, SystemTime::now())?;
                    // Retention may have removed older letters in the same transaction.
                    store.count_dead_letters()
                })
                .await;
            let error = match recorded {
                Ok(count) => {
                    context.telemetry.set_dead_letters(count);
                    return Outcome::DeadLettered { kind, reason };
                }
                Err(error) => error,
            };
            // Without a durable dead letter the event must stay incomplete; a store that keeps
            // failing stops the pipeline rather than stalling it silently.
            // A lost lease (fenced) is final: retrying would only be refused again.
            let retry = if error.is_fenced() {
                None
            } else {
                backoff.next()
            };
            let Some(delay) = retry else {
                return Outcome::StoreFailed(error);
            };
            warn!(
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %crate::error_chain::render(&error),
                replay_id = %hex::encode(&self.replay_id),
                "cannot record a dead letter; retrying"
            );
            tokio::select! {
                () = context.abandon.cancelled() => return Outcome::Abandoned,
                () = tokio::time::sleep(delay) => {}
            }
            attempt += 1;
        }
    }
}

/// What a panic said, when it said it with a string.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
