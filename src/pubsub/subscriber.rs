//! The long-lived subscription: subscribe, keep credit flowing, watch for silence,
//! reconnect forever.
//!
//! One task owns the gRPC stream. It hands events to the consumer through a bounded
//! channel and takes acknowledgements back through an [`AckHandle`]: releases top up credit
//! (in batches, see [`super::flow`]). A reconnect resumes after the last event handed to the
//! consumer in this process (the consumer holds every event not yet checkpointed), or after a
//! newer checkpointed keepalive position. A stream that is silent for `keepalive_timeout` is torn down; failures
//! are retried with jittered exponential backoff, refreshing the token first on auth errors
//! and applying the configured policy when the stored replay id is refused. A watch says
//! whether a stream is open, and every notable occurrence goes to a [`SubscriberTelemetry`].
//! It knows no BYOC.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::client::{PubSubClient, RpcError};
use super::connection::{connect_lazy, ConnectionError, EndpointSettings};
use super::credentials::CredentialSource;
use super::flow::{CreditLedger, MAX_OUTSTANDING_EVENTS};
use super::proto::{FetchRequest, FetchResponse, ReplayPreset};
use super::received::{ReceivedEvent, RestartPoint, SubscriberItem};
use super::replay::{CorruptedReplayPolicy, ReplayId};
use super::requests::{credit_as_i32, fetch_requests, FetchRequestObserver};
use super::schema_cache::SchemaCache;
use super::status::{self, FailureKind};
use super::telemetry::{ReconnectReason, SubscriberOccurrence, SubscriberTelemetry};

/// Default silence after which a stream is presumed dead (Salesforce promises a keepalive
/// within 270 s).
pub(crate) const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default first reconnect delay.
pub(crate) const MIN_RECONNECT_BACKOFF: Duration = Duration::from_millis(500);
/// Default longest reconnect delay.
pub(crate) const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(60);
/// The least wait before subscribing again after Salesforce said `service.unavailable`: its
/// guidance is to wait about 5 s and retry (spec §3.6), whatever the backoff has reached.
pub const SERVICE_UNAVAILABLE_WAIT: Duration = Duration::from_secs(5);

/// Where a subscription with no checkpoint starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStart {
    /// Only events published from now on.
    Latest,
    /// Every retained event.
    Earliest,
    /// Events after this stored position (exclusive).
    After(ReplayId),
}

/// Everything the subscriber needs to know.
#[derive(Debug, Clone)]
pub struct SubscriberSettings {
    /// Where to connect.
    pub endpoint: EndpointSettings,
    /// `/event/<Name>__e`.
    pub topic: String,
    /// Position when nothing has been checkpointed yet.
    pub start: ReplayStart,
    /// Flow-control credit: events requested but not yet acknowledged; clamped to 1..=100.
    pub credit_window: u32,
    /// Silence after which a stream is torn down and opened again.
    pub keepalive_timeout: Duration,
    /// Reaction to a refused replay id.
    pub corrupted_replay_policy: CorruptedReplayPolicy,
    /// First reconnect delay.
    pub min_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// Told about every `FetchRequest` sent.
    pub on_fetch_request: FetchRequestObserver,
}

impl SubscriberSettings {
    /// Defaults for `topic` on the real endpoint.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            endpoint: EndpointSettings::default(),
            topic: topic.into(),
            start: ReplayStart::Latest,
            credit_window: MAX_OUTSTANDING_EVENTS,
            keepalive_timeout: KEEPALIVE_TIMEOUT,
            corrupted_replay_policy: CorruptedReplayPolicy::default(),
            min_backoff: MIN_RECONNECT_BACKOFF,
            max_backoff: MAX_RECONNECT_BACKOFF,
            on_fetch_request: FetchRequestObserver::default(),
        }
    }
}

/// Why the subscriber stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    /// The endpoint configuration is unusable.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The stored replay id was refused and the policy is `fail`.
    #[error("stored replay id {lost} was refused as corrupted or expired and corrupted_replay_policy is fail")]
    ReplayIdCorrupted {
        /// The refused position (empty when unknown).
        lost: String,
    },
}

/// State shared between the stream task and the consumer's acks.
#[derive(Debug)]
struct Shared {
    /// Shared with each stream's request side, which sends the top-ups.
    ledger: Arc<CreditLedger>,
    /// Where a reconnect resumes: the newest of the last event handed to the consumer in
    /// this process and the last checkpointed position. The consumer still holds every
    /// event handed over and not yet checkpointed, so resuming after the last one loses
    /// nothing and fetches nothing twice; the stored checkpoint stays the low watermark a
    /// new process resumes after.
    resume_after: Mutex<Option<ReplayId>>,
    /// Whether a Subscribe stream is open right now; the connector's readiness listens.
    stream_open: watch::Sender<bool>,
}

impl Shared {
    fn resume_after(&self) -> Option<ReplayId> {
        self.lock_resume_after().clone()
    }

    /// Forgets the position (the server refused it).
    fn clear_resume_after(&self) {
        *self.lock_resume_after() = None;
    }

    /// An event was handed to the consumer: it is the newest position in this process.
    fn handed_over(&self, replay_id: &ReplayId) {
        *self.lock_resume_after() = Some(replay_id.clone());
    }

    /// A checkpoint moves the position only forward: it is behind the last event handed
    /// over unless it is a keepalive's position on an idle stream.
    fn checkpointed(&self, replay_id: ReplayId) {
        let mut resume_after = self.lock_resume_after();
        let moves_forward = resume_after
            .as_ref()
            .is_none_or(|current| replay_id.is_at_or_after(current));
        if moves_forward {
            *resume_after = Some(replay_id);
        }
    }

    fn lock_resume_after(&self) -> std::sync::MutexGuard<'_, Option<ReplayId>> {
        self.resume_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How the consumer tells the subscriber an event is done.
#[derive(Debug, Clone)]
pub struct AckHandle {
    shared: Arc<Shared>,
}

impl AckHandle {
    /// One event is complete and everything up to `replay_id` is too (in-order consumers).
    pub fn ack(&self, replay_id: &ReplayId) {
        self.release(1);
        self.checkpoint(replay_id.clone());
    }

    /// `count` events are complete, in any order: their credit can be requested again.
    pub fn release(&self, count: u32) {
        self.shared.ledger.release(count);
    }

    /// Every event up to `replay_id` is complete: a reconnect resumes after it, unless
    /// later events were already handed over (the consumer holds those).
    pub fn checkpoint(&self, replay_id: ReplayId) {
        self.shared.checkpointed(replay_id);
    }

    /// Events delivered and not yet released.
    pub fn in_hand(&self) -> u32 {
        self.shared.ledger.in_hand()
    }
}

/// Turns each received event into what the consumer wants of it, on the stream's task.
type Preparer<T> = Box<dyn Fn(&ReceivedEvent) -> T + Send + Sync>;

/// A running subscription; `T` is what its preparer makes of each event.
#[derive(Debug)]
pub struct Subscriber<T = ()> {
    items: mpsc::Receiver<SubscriberItem<T>>,
    acks: AckHandle,
    task: JoinHandle<Result<(), SubscriberError>>,
}

impl Subscriber {
    /// Starts subscribing in a background task until `shutdown` is cancelled, the
    /// receiver is dropped, or the corrupted-replay policy is `fail`; every notable
    /// occurrence goes to `telemetry`.
    pub fn spawn<C: CredentialSource>(
        config: SubscriberSettings,
        credentials: C,
        telemetry: impl SubscriberTelemetry,
        shutdown: CancellationToken,
    ) -> Result<Self, SubscriberError> {
        Self::spawn_preparing(config, credentials, telemetry, shutdown, |_| ())
    }
}

impl<T: Send + 'static> Subscriber<T> {
    /// Like [`Subscriber::spawn`], and `prepare` runs over each event on the stream's task
    /// before it is handed over (its result in [`ReceivedEvent::prepared`]): work a consumer
    /// would otherwise do on its own task, in order, one event after the other.
    pub fn spawn_preparing<C: CredentialSource>(
        config: SubscriberSettings,
        credentials: C,
        telemetry: impl SubscriberTelemetry,
        shutdown: CancellationToken,
        prepare: impl Fn(&ReceivedEvent) -> T + Send + Sync + 'static,
    ) -> Result<Self, SubscriberError> {
        let channel = connect_lazy(&config.endpoint)?;
        let client = PubSubClient::new(channel, credentials);
        let shared = Arc::new(Shared {
            ledger: Arc::new(CreditLedger::new(config.credit_window)),
            resume_after: Mutex::new(None),
            stream_open: watch::Sender::new(false),
        });
        // Events are bounded by credit; room for a few keepalives and resets on top.
        let (items_tx, items) = mpsc::channel(shared.ledger.window() as usize + 16);
        let task = StreamTask {
            start: config.start.clone(),
            config,
            client,
            shared: shared.clone(),
            items: items_tx,
            schemas: SchemaCache::default(),
            telemetry: Arc::new(telemetry),
            handed_over_any: false,
            token_refusals_in_a_row: 0,
            next_wait_at_least: Duration::ZERO,
            prepare: Box::new(prepare),
        };
        let task = tokio::spawn(task.run(shutdown));
        Ok(Self {
            items,
            acks: AckHandle { shared },
            task,
        })
    }

    /// The next item, or `None` once the subscriber has stopped.
    pub async fn next(&mut self) -> Option<SubscriberItem<T>> {
        self.items.recv().await
    }

    /// A handle for acknowledging events, usable from any task.
    pub fn acks(&self) -> AckHandle {
        self.acks.clone()
    }

    /// Whether a Subscribe stream is open: `true` from the moment a stream's first request is
    /// on the wire until the stream ends (whether or not the server has answered yet),
    /// `false` between streams and once the subscriber has stopped.
    pub fn stream_open(&self) -> watch::Receiver<bool> {
        self.acks.shared.stream_open.subscribe()
    }

    /// Waits for the background task to stop and returns why it stopped.
    pub async fn join(self) -> Result<(), SubscriberError> {
        drop(self.items);
        match self.task.await {
            Ok(result) => result,
            Err(join_error) if join_error.is_panic() => {
                std::panic::resume_unwind(join_error.into_panic())
            }
            Err(_) => Ok(()),
        }
    }
}

/// How one stream ended.
enum StreamEnd {
    /// The consumer dropped its receiver.
    ConsumerGone,
    /// No message within `keepalive_timeout`.
    Silent,
    /// The server closed the stream cleanly.
    Closed,
    /// An RPC failed.
    Failed(RpcError),
}

struct StreamOutcome {
    end: StreamEnd,
    /// At least one response arrived: the connection and credentials were good.
    healthy: bool,
}

struct StreamTask<C, T> {
    config: SubscriberSettings,
    /// Where to start when nothing is checkpointed; moved by the corrupted-replay policy.
    start: ReplayStart,
    client: PubSubClient<C>,
    shared: Arc<Shared>,
    items: mpsc::Sender<SubscriberItem<T>>,
    schemas: SchemaCache,
    /// Logs and counts what happens to the streams.
    telemetry: Arc<dyn SubscriberTelemetry>,
    /// Whether any event was handed to the consumer yet, over all streams.
    handed_over_any: bool,
    /// Tokens refused since a stream last worked.
    token_refusals_in_a_row: u32,
    /// The least the next reconnect waits, whatever the backoff says; zero but after
    /// `service.unavailable`.
    next_wait_at_least: Duration,
    /// Runs over each event before it is handed over.
    prepare: Preparer<T>,
}

impl<C: CredentialSource, T: Send + 'static> StreamTask<C, T> {
    async fn run(mut self, shutdown: CancellationToken) -> Result<(), SubscriberError> {
        let mut backoff = self.new_backoff();
        let mut credit_signal = self.shared.ledger.top_up_signal();
        loop {
            credit_signal.borrow_and_update();
            let initial_credit = self.shared.ledger.start_stream();
            if initial_credit == 0 {
                debug!("consumer holds the whole credit window; waiting before subscribing");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = credit_signal.changed() => continue,
                }
            }
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                outcome = self.run_stream(initial_credit) => outcome,
            };
            if outcome.healthy {
                backoff = self.new_backoff();
                self.token_refusals_in_a_row = 0;
            }
            let reason = match outcome.end {
                StreamEnd::ConsumerGone => return Ok(()),
                StreamEnd::Silent => {
                    self.telemetry.emit(SubscriberOccurrence::StreamSilent {
                        timeout: self.config.keepalive_timeout,
                    });
                    ReconnectReason::Watchdog
                }
                StreamEnd::Closed => {
                    self.telemetry.emit(SubscriberOccurrence::StreamClosed);
                    ReconnectReason::ServerClosed
                }
                StreamEnd::Failed(failure) => self.handle_failure(failure).await?,
            };
            if reason == ReconnectReason::ReplayReset {
                // The position was reset: subscribe again at once.
                backoff = self.new_backoff();
                continue;
            }
            let delay = backoff
                .next()
                .unwrap_or(self.config.max_backoff)
                .max(std::mem::take(&mut self.next_wait_at_least));
            debug!(
                delay_ms = crate::log_value::millis(delay),
                "waiting before subscribing again"
            );
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Reacts to a failed stream and says why the next stream is opened;
    /// [`ReconnectReason::ReplayReset`] means at once (the position was reset), `Err` that the
    /// subscriber must stop.
    async fn handle_failure(
        &mut self,
        failure: RpcError,
    ) -> Result<ReconnectReason, SubscriberError> {
        let (status, credentials) = match failure {
            RpcError::Status {
                status,
                credentials,
            } => (status, credentials),
            other => {
                self.telemetry
                    .emit(SubscriberOccurrence::CallFailed { error: &other });
                return Ok(ReconnectReason::StreamFailed);
            }
        };
        let error_code = status::error_code(&status).unwrap_or_default().to_owned();
        let rpc_id = status::rpc_id(&status).unwrap_or_default().to_owned();
        match status::classify(&status) {
            FailureKind::Auth => {
                self.token_refusals_in_a_row = self.token_refusals_in_a_row.saturating_add(1);
                self.telemetry.emit(SubscriberOccurrence::TokenRejected {
                    error_code: &error_code,
                    rpc_id: &rpc_id,
                    in_a_row: self.token_refusals_in_a_row,
                });
                if let Err(err) = self.client.credential_source().refresh(&credentials).await {
                    warn!(error = %err, "token refresh failed; retrying with backoff");
                }
                Ok(ReconnectReason::AuthRejected)
            }
            FailureKind::ReplayIdCorrupted => self
                .apply_corrupted_policy(&rpc_id)
                .await
                .map(|()| ReconnectReason::ReplayReset),
            kind @ (FailureKind::Transient | FailureKind::ServiceUnavailable) => {
                self.telemetry.emit(SubscriberOccurrence::StreamFailed {
                    status: &status,
                    error_code: &error_code,
                    rpc_id: &rpc_id,
                });
                if kind == FailureKind::ServiceUnavailable {
                    info!(
                        wait_ms = crate::log_value::millis(SERVICE_UNAVAILABLE_WAIT),
                        "Salesforce says the service is unavailable; waiting before subscribing again"
                    );
                    self.next_wait_at_least = SERVICE_UNAVAILABLE_WAIT;
                }
                Ok(ReconnectReason::StreamFailed)
            }
        }
    }

    async fn apply_corrupted_policy(&mut self, rpc_id: &str) -> Result<(), SubscriberError> {
        let (_, lost) = self.position();
        let lost_position = lost.as_ref().map(ToString::to_string).unwrap_or_default();
        let policy = self.config.corrupted_replay_policy;
        self.telemetry.emit(SubscriberOccurrence::ReplayIdRefused {
            lost_position: &lost_position,
            policy,
            rpc_id,
        });
        let restarted_from = match policy {
            CorruptedReplayPolicy::Fail => {
                return Err(SubscriberError::ReplayIdCorrupted {
                    lost: lost_position,
                })
            }
            CorruptedReplayPolicy::Earliest => {
                self.start = ReplayStart::Earliest;
                RestartPoint::Earliest
            }
            CorruptedReplayPolicy::Latest => {
                self.start = ReplayStart::Latest;
                RestartPoint::Latest
            }
        };
        self.shared.clear_resume_after();
        // Ignoring a send failure is fine: a gone consumer ends the task on the next stream.
        let _ = self
            .items
            .send(SubscriberItem::ReplayReset {
                lost,
                restarted_from,
            })
            .await;
        Ok(())
    }

    /// The replay preset and id for the next first `FetchRequest`.
    fn position(&self) -> (ReplayPreset, Option<ReplayId>) {
        if let Some(resume_after) = self.shared.resume_after() {
            return (ReplayPreset::Custom, Some(resume_after));
        }
        match &self.start {
            ReplayStart::Latest => (ReplayPreset::Latest, None),
            ReplayStart::Earliest => (ReplayPreset::Earliest, None),
            ReplayStart::After(replay_id) => (ReplayPreset::Custom, Some(replay_id.clone())),
        }
    }

    async fn run_stream(&mut self, initial_credit: u32) -> StreamOutcome {
        let not_healthy = |end| StreamOutcome {
            end,
            healthy: false,
        };
        self.schemas.forget_unavailable();
        // Bounded like the stream itself: on a connection that died without a word these
        // calls would otherwise wait for TCP to give up, minutes on end.
        let topic_and_schema = tokio::time::timeout(self.config.keepalive_timeout, async {
            let topic = self.client.get_topic(&self.config.topic).await?;
            self.schemas.resolve(&self.client, &topic.schema_id).await
        });
        match topic_and_schema.await {
            Ok(Ok(_)) => {}
            Ok(Err(failure)) => return not_healthy(StreamEnd::Failed(failure)),
            Err(_elapsed) => return not_healthy(StreamEnd::Silent),
        }
        let (replay_preset, replay_id) = self.position();
        info!(
            topic = %self.config.topic,
            ?replay_preset,
            replay_id = %replay_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            credit = initial_credit,
            "subscribing"
        );
        let first_request = FetchRequest {
            topic_name: self.config.topic.clone(),
            replay_preset: replay_preset as i32,
            replay_id: replay_id.map(|id| id.to_bytes()).unwrap_or_default(),
            num_requested: credit_as_i32(initial_credit),
            auth_refresh: String::new(),
        };
        let (first_taken_tx, mut first_taken) = oneshot::channel();
        // However this function returns, the request half ends with it.
        let stream_ended = CancellationToken::new();
        let _end_requests = stream_ended.clone().drop_guard();
        let requests = fetch_requests(
            first_request,
            self.shared.ledger.clone(),
            self.config.on_fetch_request.clone(),
            first_taken_tx,
            stream_ended,
        );
        // The stream counts as open once the transport takes its first request, i.e. the
        // connection is up and the call started. Servers in Java and Go send response
        // headers only with the first response, which on a quiet topic is a keepalive minutes
        // later, so waiting for `subscribe` to return would report a working stream as not
        // open. Cleared however the stream ends.
        let mut open = OpenStream::new(self.shared.clone());
        // The watchdog starts here, not at the first response: a server that sends its
        // headers with the first response and then says nothing must not hold us forever.
        let subscribed = tokio::time::timeout(self.config.keepalive_timeout, async {
            let subscribing = self.client.subscribe(requests);
            tokio::pin!(subscribing);
            loop {
                tokio::select! {
                    biased;
                    subscribed = &mut subscribing => break subscribed,
                    Ok(()) = &mut first_taken, if !open.is_marked() => open.mark(),
                }
            }
        })
        .await;
        let (mut inbound, stream_credentials) = match subscribed {
            Ok(Ok((inbound, credentials))) => (inbound, credentials),
            Ok(Err(failure)) => return not_healthy(StreamEnd::Failed(failure)),
            Err(_elapsed) => return not_healthy(StreamEnd::Silent),
        };
        open.mark();
        let mut healthy = false;
        loop {
            let next = tokio::time::timeout(self.config.keepalive_timeout, inbound.message()).await;
            let response = match next {
                Err(_elapsed) => {
                    return StreamOutcome {
                        end: StreamEnd::Silent,
                        healthy,
                    }
                }
                Ok(Ok(Some(response))) => response,
                Ok(Ok(None)) => {
                    return StreamOutcome {
                        end: StreamEnd::Closed,
                        healthy,
                    }
                }
                Ok(Err(status)) => {
                    // Report exactly the token this stream was opened with, so a token someone
                    // else already replaced is not refreshed a second time.
                    let failure = RpcError::Status {
                        status,
                        credentials: Box::new(stream_credentials),
                    };
                    return StreamOutcome {
                        end: StreamEnd::Failed(failure),
                        healthy,
                    };
                }
            };
            healthy = true;
            if let Err(end) = self.deliver(response).await {
                return StreamOutcome { end, healthy };
            }
        }
    }

    /// Hands one response's events (or its keepalive) to the consumer.
    async fn deliver(&mut self, response: FetchResponse) -> Result<(), StreamEnd> {
        if response.events.is_empty() {
            // A position is taken only from a server that owed us events and had none to
            // send. Owing nothing, it may be holding events back for lack of credit, and its
            // latest id would skip them.
            if response.pending_num_requested <= 0 {
                debug!("keepalive while the server owes nothing, its position not taken");
                return Ok(());
            }
            if response.latest_replay_id.is_empty() {
                // Salesforce always sends one; an empty position could be neither resumed
                // from nor stored (a later Subscribe at it would be refused).
                warn!("keepalive without a latest_replay_id; its position not taken");
                return Ok(());
            }
            let latest_replay_id = ReplayId::from_bytes(response.latest_replay_id);
            if !self.handed_over_any
                && self.shared.resume_after().is_none()
                && self.start == ReplayStart::Latest
            {
                // Nothing was delivered yet, so resuming after this position skips nothing and
                // avoids LATEST skipping events published while we reconnect.
                self.start = ReplayStart::After(latest_replay_id.clone());
            }
            // A keepalive is informational; when the consumer is behind, dropping one is fine
            // because the next carries a newer position.
            let _ = self
                .items
                .try_send(SubscriberItem::Keepalive { latest_replay_id });
            return Ok(());
        }
        // Every event of the response is prepared before any is handed over: handed over one
        // by one as each is prepared, the consumer would drain each and sleep until the next,
        // woken once per event instead of once per response.
        let mut prepared_events = Vec::with_capacity(response.events.len());
        for consumer_event in response.events {
            let producer_event = consumer_event.event.unwrap_or_default();
            let schema = self
                .schemas
                .resolve(&self.client, &producer_event.schema_id)
                .await
                .map_err(StreamEnd::Failed)?;
            let event = ReceivedEvent {
                replay_id: ReplayId::from_bytes(consumer_event.replay_id),
                event_id: producer_event.id,
                schema_id: producer_event.schema_id,
                payload: producer_event.payload,
                schema,
                prepared: (),
            };
            let prepared = (self.prepare)(&event);
            prepared_events.push(event.with_prepared(prepared));
        }
        for event in prepared_events {
            self.shared.ledger.on_delivered();
            self.shared.handed_over(&event.replay_id);
            self.handed_over_any = true;
            if self.items.send(SubscriberItem::Event(event)).await.is_err() {
                return Err(StreamEnd::ConsumerGone);
            }
        }
        Ok(())
    }

    fn new_backoff(&self) -> backon::ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

/// One Subscribe stream's entry in [`Shared::stream_open`]: marked open once the stream is,
/// and cleared when dropped, so the flag clears however the stream ends, including when
/// shutdown drops the stream's future.
struct OpenStream {
    shared: Arc<Shared>,
    marked: bool,
}

impl OpenStream {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            marked: false,
        }
    }

    fn mark(&mut self) {
        self.marked = true;
        set_stream_open(&self.shared, true);
    }

    fn is_marked(&self) -> bool {
        self.marked
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        if self.marked {
            set_stream_open(&self.shared, false);
        }
    }
}

/// Sets the stream-open flag, waking listeners only on a change.
fn set_stream_open(shared: &Shared, open: bool) {
    shared
        .stream_open
        .send_if_modified(|current| std::mem::replace(current, open) != open);
}
