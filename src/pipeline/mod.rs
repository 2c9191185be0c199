//! Dispatch: from subscribed events to partner deliveries, with the checkpoint as the
//! low watermark.
//!
//! One dispatcher task owns all state. Each event arrives decoded (on the subscriber's task,
//! `decode.rs`), then is either completed at once (a duplicate, another channel's event) or
//! turned into a job: a dead letter for undecodable bytes, a routing hand-off, or a delivery
//! in its conversation's lane.
//! Arrivals return subscriber credit while the pipeline holds at most `prefetch_events`,
//! completions beyond that (a slow partner slows consumption); a RoutingRequested returns it
//! only once routing has recorded it (`credit.rs`). Completions move the watermark, which is
//! the only thing ever checkpointed (G1). Keepalive positions are checkpointed only when
//! nothing is in flight. It knows the event model and the store, not gRPC.

mod credit;
mod decode;
mod job;
pub mod lanes;
mod running;
pub mod watermark;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::credit::{CreditReturn, CreditRule};
pub use self::decode::{PreparedEvent, Undecodable};
use self::job::{Done, Job, JobContext, Outcome, Work};
pub(crate) use self::job::{EntryObserver, EntryRef};
pub use self::job::{RoutingSink, RoutingSinkError};
use self::lanes::LaneScheduler;
use self::running::Running;
use self::watermark::Watermark;
use crate::channel::retry::RetryPolicy;
use crate::channel::{AnyChannel, Delivery};
use crate::events::{DecodedEvent, FieldNames, OutboundEvent};
use crate::pubsub::{AckHandle, ReceivedEvent, ReplayId, Subscriber, SubscriberItem};
use crate::store::{compare_replay_ids, CheckpointWriter, StoreError, WriterHealth};
use crate::telemetry::Telemetry;

/// Default number of conversation lanes delivering at once.
pub(crate) const DEFAULT_MAX_CONCURRENT_CONVERSATIONS: usize = 64;
/// Default bound on events tracked behind the watermark before intake pauses.
pub(crate) const DEFAULT_MAX_WATERMARK_LAG_EVENTS: usize = 10_000;
/// Default number of events the pipeline holds before credit waits for completions.
pub(crate) const DEFAULT_PREFETCH_EVENTS: usize = 1_000;
/// Default time in-flight work may take to finish on shutdown.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(20);

/// How the pipeline behaves.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Org part of the checkpoint key.
    pub org_id: String,
    /// Topic part of the checkpoint key.
    pub topic: String,
    /// Names of the event-type and payload fields.
    pub field_names: FieldNames,
    /// Conversation lanes delivering at once; each lane keeps its conversation in order.
    pub max_concurrent_conversations: usize,
    /// Events tracked behind the watermark before intake pauses; bounds memory when one
    /// conversation is stuck while others flow.
    pub max_watermark_lag: usize,
    /// Events held (arrived, not completed) up to which each arrival returns its Pub/Sub
    /// credit at once; beyond it credit returns on completion. 0: only on completion.
    pub prefetch_events: usize,
    /// Time in-flight work may take to finish on shutdown.
    pub grace: Duration,
    /// When set, events for other channels are completed without delivery.
    pub channel_filter: Option<HashSet<String>>,
    /// Delivery retry timing.
    pub retry: RetryPolicy,
}

impl PipelineSettings {
    /// Defaults for (org, topic).
    pub fn new(org_id: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            org_id: org_id.into(),
            topic: topic.into(),
            field_names: FieldNames::default(),
            max_concurrent_conversations: DEFAULT_MAX_CONCURRENT_CONVERSATIONS,
            max_watermark_lag: DEFAULT_MAX_WATERMARK_LAG_EVENTS,
            prefetch_events: DEFAULT_PREFETCH_EVENTS,
            grace: DEFAULT_GRACE,
            channel_filter: None,
            retry: RetryPolicy::default(),
        }
    }

    /// The preparer the pipeline's subscriber runs: decodes each event with these field
    /// names on the subscriber's task ([`Subscriber::spawn_preparing`]).
    pub fn decoder(&self) -> impl Fn(&ReceivedEvent) -> PreparedEvent + Send + Sync + 'static {
        decode::decoder(self.field_names.clone())
    }
}

/// Why the pipeline stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed, retries included; nothing more can be checkpointed safely.
    #[error("checkpoint store failed: {0}")]
    Store(#[from] StoreError),
    /// A dead letter could not be written, retries included; the event cannot complete.
    #[error("cannot record a dead letter for replay id {replay_id}: {source}")]
    DeadLetter {
        /// The event's replay id, hex.
        replay_id: String,
        /// Why the store refused it.
        #[source]
        source: Box<StoreError>,
    },
    /// The delivery channel can never deliver again; what completed before is checkpointed.
    #[error("the delivery channel is closed: {reason}")]
    ChannelClosed {
        /// Why, from the channel.
        reason: String,
    },
}

/// The running pipeline's parts.
pub struct Pipeline {
    settings: PipelineSettings,
    /// The checkpoint key's org and topic, shared with each checkpoint command.
    checkpoint_key: (Arc<str>, Arc<str>),
    subscriber: Subscriber<PreparedEvent>,
    acks: AckHandle,
    /// When each event's credit goes back to the subscriber.
    credit: CreditReturn,
    writer: CheckpointWriter,
    /// The writer's health: the pipeline stops when commits have failed for good.
    writer_health: tokio::sync::watch::Receiver<WriterHealth>,
    jobs: Arc<JobContext>,
    watermark: Watermark,
    /// The last replay id checkpointed: checkpoints only move forward. After a stream reset
    /// the subscriber resumes at the checkpoint and hands over again events still in flight;
    /// their second copies can complete after newer events did, and the watermark then yields
    /// an older id.
    checkpointed: Option<ReplayId>,
    /// Salesforce refused the stored replay id and the subscription restarted: the next
    /// checkpoint replaces the refused one, which stays stored until then.
    replaces_refused_checkpoint: bool,
    lanes: LaneScheduler<Job>,
    /// Jobs started and not finished, lane or not.
    running: Running,
    /// Whether the channel delivers on a task of its own (batched webhook, stdout), so a
    /// delivery job only waits and runs on the dispatcher's task (`running.rs`).
    deliveries_inline: bool,
    /// Logs and counts every occurrence; the one source of the pipeline's counts.
    telemetry: Telemetry,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Assembles a pipeline over a running subscriber that decodes with
    /// [`PipelineSettings::decoder`].
    pub fn new(
        settings: PipelineSettings,
        subscriber: Subscriber<PreparedEvent>,
        writer: CheckpointWriter,
        channel: Arc<AnyChannel>,
        routing: Option<Arc<dyn RoutingSink>>,
        telemetry: Telemetry,
    ) -> Self {
        let deliveries_inline = channel.delivers_on_its_own_task();
        let jobs = Arc::new(JobContext {
            channel,
            retry: settings.retry.clone(),
            store: writer.store().clone(),
            routing,
            abandon: CancellationToken::new(),
            telemetry: telemetry.clone(),
            observer: None,
        });
        Self {
            checkpoint_key: (
                Arc::from(settings.org_id.as_str()),
                Arc::from(settings.topic.as_str()),
            ),
            lanes: LaneScheduler::new(settings.max_concurrent_conversations),
            acks: subscriber.acks(),
            credit: CreditReturn::new(u32::try_from(settings.prefetch_events).unwrap_or(u32::MAX)),
            settings,
            subscriber,
            writer_health: writer.health(),
            writer,
            jobs,
            watermark: Watermark::new(),
            checkpointed: None,
            replaces_refused_checkpoint: false,
            running: Running::default(),
            deliveries_inline,
            telemetry,
        }
    }

    /// Tells `observer` what becomes of every conversation entry. Call it before [`Pipeline::run`].
    #[must_use]
    pub(crate) fn with_observer(mut self, observer: Arc<dyn EntryObserver>) -> Self {
        if let Some(jobs) = Arc::get_mut(&mut self.jobs) {
            jobs.observer = Some(observer);
        }
        self
    }

    /// Runs until `shutdown` fires or the subscriber stops, then drains in-flight work for
    /// up to the grace period and writes the final checkpoint.
    ///
    /// A channel closed for good stops it too, with [`PipelineError::ChannelClosed`], after
    /// the same final checkpoint: the deliveries still in flight are abandoned at once (none
    /// can succeed), so nothing after the last delivered event is acknowledged.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PipelineError> {
        let closed = match self.consume(&shutdown).await {
            Ok(()) => None,
            Err(PipelineError::ChannelClosed { reason }) => {
                error!(reason = %reason, "the delivery channel is closed; stopping");
                self.jobs.abandon.cancel();
                Some(reason)
            }
            Err(other) => return Err(other),
        };
        self.drain().await?;
        if let Some(observer) = &self.jobs.observer {
            observer.settle().await;
        }
        // Close, not only flush: closing also waits for the writer task to end, so its store
        // handle is gone when `run` returns and an embedder can reopen the file at once.
        let Pipeline {
            writer, telemetry, ..
        } = self;
        writer.close().await?;
        telemetry.pipeline_stopped();
        match closed {
            Some(reason) => Err(PipelineError::ChannelClosed { reason }),
            None => Ok(()),
        }
    }

    /// Takes events in and completes them until `shutdown` fires, the subscriber stops or
    /// something fails.
    async fn consume(&mut self, shutdown: &CancellationToken) -> Result<(), PipelineError> {
        loop {
            let intake_open = self.watermark.lag() < self.settings.max_watermark_lag;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                Some(done) = self.running.next() => self.on_done(done).await?,
                Ok(()) = self.writer_health.changed() => self.check_writer()?,
                item = self.subscriber.next(), if intake_open => match item {
                    Some(item) => self.on_item(item).await?,
                    None => return Ok(()),
                },
            }
        }
    }

    /// Fails once the writer has given up: nothing can be checkpointed any more, so the
    /// process must stop loudly rather than stall with the watermark stuck.
    fn check_writer(&mut self) -> Result<(), PipelineError> {
        if *self.writer_health.borrow_and_update() != WriterHealth::Failed {
            return Ok(());
        }
        let reason = self
            .writer
            .stop_reason()
            .unwrap_or(StoreError::WriterStopped(
                crate::store::WriterStop::TaskEnded,
            ));
        error!(error = %crate::error_chain::render(&reason), "checkpoint store failed; stopping");
        Err(PipelineError::Store(reason))
    }

    async fn drain(&mut self) -> Result<(), PipelineError> {
        if self.running.is_empty() {
            return Ok(());
        }
        info!(
            in_flight = self.running.len(),
            grace_secs = self.settings.grace.as_secs(),
            "draining in-flight events"
        );
        let grace_over = tokio::time::sleep(self.settings.grace);
        tokio::pin!(grace_over);
        while !self.running.is_empty() {
            tokio::select! {
                Some(done) = self.running.next() => self.on_done(done).await?,
                () = &mut grace_over, if !self.jobs.abandon.is_cancelled() => {
                    warn!(in_flight = self.running.len(), "shutdown grace period over; abandoning in-flight deliveries");
                    self.jobs.abandon.cancel();
                }
            }
        }
        Ok(())
    }

    async fn on_item(&mut self, item: SubscriberItem<PreparedEvent>) -> Result<(), PipelineError> {
        match item {
            SubscriberItem::Event(event) => {
                let handled = self.on_event(event).await;
                // Published on arrival too, not only on completion: while deliveries fail
                // nothing completes, and the gauges must show the events waiting.
                self.publish_gauges();
                handled
            }
            SubscriberItem::Keepalive { latest_replay_id } => {
                if self.watermark.is_idle() {
                    self.checkpoint(latest_replay_id, None).await?;
                }
                Ok(())
            }
            SubscriberItem::ReplayReset {
                lost,
                restarted_from,
            } => {
                // The stored position is unusable, but it stays stored until the restarted
                // stream has a position of its own: a process that dies in between meets the
                // same refusal and the same restart, instead of an empty store and the
                // configured start (LATEST by default, which would skip every retained event).
                error!(lost = ?lost, ?restarted_from, "subscription restarted after a refused replay id");
                self.writer.flush().await?;
                self.checkpointed = None;
                self.replaces_refused_checkpoint = true;
                Ok(())
            }
        }
    }

    async fn on_event(&mut self, event: ReceivedEvent<PreparedEvent>) -> Result<(), PipelineError> {
        self.telemetry.event_received();
        let seq = self.watermark.track(event.replay_id.clone());
        let mut job = Job {
            seq,
            lane: None,
            replay_id: event.replay_id.to_bytes(),
            raw: event.payload,
            schema_id: event.schema_id,
            idempotency_key: None,
            event_type: "undecodable",
            received_at: std::time::Instant::now(),
            entry: None,
            credit: CreditRule::Prefetch,
            work: Work::DeadLetter {
                kind: "undecodable",
                reason: String::new(),
            },
        };
        let decoded = event.prepared;
        // Counted before anything can complete the event (a duplicate, another channel's).
        job.credit = match &decoded {
            Ok(decoded)
                if self.jobs.routing.is_some()
                    && matches!(decoded.event, OutboundEvent::RoutingRequested(_)) =>
            {
                CreditRule::OnCompletion
            }
            _ => CreditRule::Prefetch,
        };
        let rule = job.credit;
        self.return_credit(|credit| credit.arrived(rule));
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(Undecodable { kind, reason }) => {
                job.work = Work::DeadLetter { kind, reason };
                self.start(job);
                return Ok(());
            }
        };
        if let Some(channels) = &self.settings.channel_filter {
            let channel = decoded.event.channel_address_identifier();
            if !channels.contains(channel) {
                self.telemetry.event_filtered(channel);
                return self.complete(seq, None, rule).await;
            }
        }
        if self.writer.is_completed(&decoded.idempotency_key).await? {
            self.telemetry.duplicate_skipped(&decoded.idempotency_key);
            return self.complete(seq, None, rule).await;
        }
        let body: Bytes = decoded.webhook_body();
        job.idempotency_key = Some(decoded.idempotency_key.clone());
        job.event_type = decoded.event_type_name();
        match (&decoded.event, &self.jobs.routing) {
            (OutboundEvent::RoutingRequested(_), Some(_)) => {
                // Routing has its own deadline; it must not wait behind a conversation's deliveries.
                job.work = Work::Route(Box::new(decoded), body);
                self.start(job);
            }
            (_, routing) => {
                let lane = decoded.event.conversation_identifier().to_owned();
                let event_type = decoded.event_type_name().into();
                // The body is written, so the event's strings can move instead of being copied.
                let DecodedEvent {
                    event,
                    idempotency_key,
                    ..
                } = decoded;
                if let OutboundEvent::Interaction(interaction) = event {
                    if let Some(routing) = routing {
                        routing.observe(&interaction);
                    }
                    if let Some(observer) = &self.jobs.observer {
                        observer.seen(&interaction);
                        job.entry = Some(EntryRef::of(interaction, &job.replay_id));
                    }
                }
                job.work = Work::Deliver(Delivery {
                    idempotency_key,
                    event_type,
                    body,
                });
                job.lane = Some(lane.clone());
                if let Some(job) = self.lanes.submit(&lane, job) {
                    self.start(job);
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, job: Job) {
        let context = self.jobs.clone();
        if self.deliveries_inline && matches!(job.work, Work::Deliver(_)) {
            self.running.push_inline(job.run(context));
        } else {
            self.running.spawn(job.run(context));
        }
    }

    async fn on_done(&mut self, done: Result<Done, String>) -> Result<(), PipelineError> {
        let done = match done {
            Ok(done) => done,
            // A job reports its own panics (`Job::run`); only one while recording that dead
            // letter gets here. Its event stays incomplete and the watermark holds there, so it
            // is delivered again after a restart.
            Err(failure) => {
                error!(error = %failure, "a delivery job failed");
                return Ok(());
            }
        };
        if let Some(lane) = &done.lane {
            self.lanes.finished(lane);
            while let Some((_, next)) = self.lanes.next_to_start() {
                self.start(next);
            }
        }
        let completed = match done.outcome {
            Outcome::Delivered => {
                self.telemetry
                    .event_delivered(done.event_type, done.received_at.elapsed());
                self.complete(done.seq, done.idempotency_key, done.credit)
                    .await
            }
            Outcome::DeadLettered { kind, reason } => {
                self.telemetry.event_dead_lettered(
                    kind,
                    &hex::encode(&done.replay_id),
                    done.lane.as_deref(),
                    &reason,
                );
                // Done, as a delivered event is: were it delivered again after a restart, it
                // would come behind the later events of its conversation. (An undecodable
                // event has no key.)
                self.complete(done.seq, done.idempotency_key, done.credit)
                    .await
            }
            Outcome::Abandoned => Ok(()),
            Outcome::StoreFailed(source) => Err(PipelineError::DeadLetter {
                replay_id: hex::encode(&done.replay_id),
                source: Box::new(source),
            }),
            // Reported once; the rest of the jobs that were in flight just stay incomplete.
            Outcome::ChannelClosed(_) if self.jobs.abandon.is_cancelled() => Ok(()),
            Outcome::ChannelClosed(reason) => Err(PipelineError::ChannelClosed { reason }),
        };
        self.publish_gauges();
        completed
    }

    /// Publishes the in-flight count and the watermark lag.
    fn publish_gauges(&self) {
        self.telemetry
            .set_in_flight_events(self.running.len() + self.lanes.queued());
        self.telemetry
            .set_watermark_lag_events(self.watermark.lag() as u64);
    }

    /// Hands back to the subscriber the credit `step` says is due.
    fn return_credit(&mut self, step: impl FnOnce(&mut CreditReturn) -> u32) {
        let due = step(&mut self.credit);
        if due > 0 {
            self.acks.release(due);
        }
    }

    /// Completes one event that arrived under `credit`: records its key, moves the watermark,
    /// returns credit if some is kept.
    async fn complete(
        &mut self,
        seq: watermark::Seq,
        completed_key: Option<String>,
        credit: CreditRule,
    ) -> Result<(), PipelineError> {
        match self.watermark.complete(seq) {
            Some(replay_id) => self.checkpoint(replay_id, completed_key).await?,
            None => self.record_completed(completed_key).await?,
        }
        self.return_credit(|ledger| ledger.completed(credit));
        Ok(())
    }

    async fn record_completed(
        &mut self,
        completed_key: Option<String>,
    ) -> Result<(), PipelineError> {
        if let Some(key) = completed_key {
            self.writer.record_completed(key).await?;
        }
        Ok(())
    }

    /// Checkpoints `replay_id`, recording `completed_key` (the event that moved the watermark
    /// there, if it has a key) first; usually both go to the writer as one command.
    async fn checkpoint(
        &mut self,
        replay_id: ReplayId,
        completed_key: Option<String>,
    ) -> Result<(), PipelineError> {
        let moves_back = self.checkpointed.as_ref().is_some_and(|last| {
            compare_replay_ids(replay_id.as_bytes(), last.as_bytes()) == std::cmp::Ordering::Less
        });
        if moves_back {
            return self.record_completed(completed_key).await;
        }
        if std::mem::take(&mut self.replaces_refused_checkpoint) {
            // Older than the refused id, most likely, so it is set rather than advanced, after
            // everything queued before it.
            self.record_completed(completed_key).await?;
            self.writer.flush().await?;
            let (org, topic) = self.checkpoint_key.clone();
            let position = replay_id.as_bytes().to_vec();
            self.writer
                .store()
                .run_blocking(move |store| store.set_checkpoint(&org, &topic, &position))
                .await?;
        } else if let Some(key) = completed_key {
            let (org, topic) = &self.checkpoint_key;
            self.writer
                .record_completed_and_advance(key, org, topic, replay_id.as_bytes())
                .await?;
        } else {
            let (org, topic) = &self.checkpoint_key;
            self.writer
                .advance_shared_checkpoint(org, topic, replay_id.as_bytes())
                .await?;
        }
        if let Some(position) = replay_id.as_u64() {
            self.telemetry.checkpoint_advanced(position);
        }
        self.checkpointed = Some(replay_id.clone());
        self.acks.checkpoint(replay_id);
        Ok(())
    }
}
