//! One fake Subscribe stream: replay position, credit, batches, keepalives and faults.
//!
//! The rules follow spec/pubsub-api.md §3: replay options count only in the first
//! request, later requests may not name another topic, credit is additive and clamped to
//! 100, `num_requested <= 0` is refused, every response carries `pending_num_requested`
//! and an 8-byte `latest_replay_id`, idle streams get empty keepalives, and a stream whose
//! credit stays at zero is closed after `idle_close_after`. Every request and response is
//! recorded in a [`SessionLog`] so tests can check flow control from the server's side.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tonic::{Code, Status};

use tokio_util::sync::CancellationToken;

use super::faults::Faults;
use super::tokens::{TokenRegistry, TokenStatus};
use super::topic::{PositionError, StartPosition, TopicLog};
use crate::proto::{FetchRequest, FetchResponse, ReplayPreset};
use crate::wire::{
    sf_status, AUTH_ERROR, MAX_OUTSTANDING_EVENTS, REPLAY_ID_CORRUPTED,
    REPLAY_ID_VALIDATION_FAILED, REQUESTED_EVENTS_INVALID, TOPIC_NOT_FOUND,
};

/// What the `unavailableAfterEvents` fault ends a stream with: an UNAVAILABLE from the
/// infrastructure in front of Pub/Sub, which carries no Salesforce error code (spec §3.6).
const STREAM_RESET: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: remote reset";

/// What a session reads of the service it belongs to. The service implements it, so this
/// file never names the service.
pub(crate) trait StreamHost: Send + Sync + 'static {
    /// The topic streamed.
    fn topic(&self) -> &TopicLog;
    /// The injected faults.
    fn faults(&self) -> &Faults;
    /// The accepted tokens.
    fn tokens(&self) -> &TokenRegistry;
    /// How often an idle stream gets an empty keepalive.
    fn keepalive_interval(&self) -> Duration;
    /// How long a stream may sit with no credit before it is closed.
    fn idle_close_after(&self) -> Option<Duration>;
    /// Most events in one response.
    fn max_events_per_response(&self) -> usize;
    /// Fires when the fake stops, ending every stream.
    fn shutdown(&self) -> &CancellationToken;
}

/// A credit request as the server saw it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchObservation {
    /// `num_requested` of the request.
    pub num_requested: i32,
    /// Credit the server still owed when the request arrived.
    pub pending_before: i32,
}

/// A response as the server sent it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseObservation {
    /// Events in the response (0 for a keepalive).
    pub events: usize,
    /// `pending_num_requested` of the response.
    pub pending_after: i32,
    /// Whether events were waiting when the response went out with credit exhausted.
    pub backlog_after: bool,
}

/// Everything one Subscribe stream did, for tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLog {
    /// The first request's preset (`LATEST`, `EARLIEST`, `CUSTOM`).
    pub replay_preset: String,
    /// The first request's replay id, as a number, when CUSTOM.
    pub replay_id: Option<u64>,
    /// Every credit request, in order.
    pub fetch_requests: Vec<FetchObservation>,
    /// Every response, in order.
    pub responses: Vec<ResponseObservation>,
    /// Why the stream ended, once it has.
    pub ended: Option<String>,
}

/// A shared, growing [`SessionLog`].
#[derive(Debug, Default)]
pub struct SessionRecord(Mutex<SessionLog>);

impl SessionRecord {
    /// A copy of the log so far.
    pub fn snapshot(&self) -> SessionLog {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, SessionLog> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs one session until the client goes away, a fault or error ends it, or the fake
/// shuts down. Errors are sent to the client as the stream's final status.
pub(crate) async fn run<S>(
    fake: Arc<dyn StreamHost>,
    token: String,
    rpc_id: String,
    inbound: S,
    outbound: mpsc::Sender<Result<FetchResponse, Status>>,
    record: Arc<SessionRecord>,
) where
    S: Stream<Item = Result<FetchRequest, Status>> + Unpin + Send,
{
    let mut session = Session {
        fake,
        token,
        rpc_id,
        outbound,
        record,
        pending: 0,
        next_id: 0,
    };
    let shutdown = session.fake.shutdown().clone();
    let end = tokio::select! {
        end = session.serve(inbound) => end,
        () = shutdown.cancelled() => Err(Status::unavailable("fake salesforce is shutting down")),
    };
    let reason = match &end {
        Ok(()) => "closed".to_owned(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    };
    session.record.lock().ended = Some(reason);
    if let Err(status) = end {
        // The client may already be gone; nothing to do then.
        let _ = session.outbound.send(Err(status)).await;
    }
}

/// How much of an injected delay is left to a precise OS sleep rather than tokio's timer.
const TIMER_SLACK: Duration = Duration::from_millis(2);

struct Session {
    fake: Arc<dyn StreamHost>,
    token: String,
    rpc_id: String,
    outbound: mpsc::Sender<Result<FetchResponse, Status>>,
    record: Arc<SessionRecord>,
    /// Events the client asked for and has not received.
    pending: i32,
    /// Replay id of the next event to send.
    next_id: u64,
}

impl Session {
    async fn serve<S>(&mut self, mut inbound: S) -> Result<(), Status>
    where
        S: Stream<Item = Result<FetchRequest, Status>> + Unpin + Send,
    {
        let Some(first) = inbound.next().await.transpose().ok().flatten() else {
            return Ok(());
        };
        self.start(&first)?;
        let mut appended = self.fake.topic().watch_latest();
        let mut faults_changed = self.fake.faults().watch();
        let keepalive_interval = self.fake.keepalive_interval();
        let mut keepalive_at = Instant::now() + keepalive_interval;
        let mut idle_since: Option<Instant> = None;
        loop {
            self.check_token()?;
            if self.fake.faults().unavailable_now() {
                return Err(self.status(Code::Unavailable, STREAM_RESET, None));
            }
            if !self.drain_credit_requests(&mut inbound)? {
                return Ok(());
            }
            let stalled = self.fake.faults().stalled();
            if self.pending > 0 {
                idle_since = None;
            } else if idle_since.is_none() {
                idle_since = Some(Instant::now());
            }
            appended.borrow_and_update();
            faults_changed.borrow_and_update();
            if !stalled && self.pending > 0 && self.next_id <= self.fake.topic().latest_id() {
                // Injected latency delays the response, not the credit: requests that arrive
                // meanwhile count toward this batch, as on a slow but busy server.
                self.delay().await;
                if !self.drain_credit_requests(&mut inbound)? {
                    return Ok(());
                }
                self.send_batch().await?;
                keepalive_at = Instant::now() + keepalive_interval;
                continue;
            }
            let idle_close_at = match (self.fake.idle_close_after(), idle_since) {
                (Some(after), Some(since)) => Some(since + after),
                _ => None,
            };
            tokio::select! {
                biased;
                next = inbound.next() => match next {
                    Some(Ok(request)) => self.add_credit(&request)?,
                    Some(Err(_)) | None => return Ok(()),
                },
                _ = faults_changed.changed() => {}
                _ = appended.changed(), if !stalled => {}
                () = sleep_until(keepalive_at), if !stalled => {
                    self.send_keepalive().await?;
                    keepalive_at = Instant::now() + keepalive_interval;
                }
                () = sleep_until(idle_close_at.unwrap_or(keepalive_at)), if idle_close_at.is_some() && !stalled => {
                    return Ok(());
                }
            }
        }
    }

    /// Validates the first request and positions the session.
    fn start(&mut self, first: &FetchRequest) -> Result<(), Status> {
        if first.topic_name != self.fake.topic().topic_name() {
            return Err(self.status(
                Code::NotFound,
                &format!("topic {} not found", first.topic_name),
                Some(TOPIC_NOT_FOUND),
            ));
        }
        let preset = ReplayPreset::try_from(first.replay_preset)
            .map_err(|_| self.status(Code::InvalidArgument, "unknown replay preset", None))?;
        let position = match preset {
            ReplayPreset::Latest => StartPosition::Latest,
            ReplayPreset::Earliest => StartPosition::Earliest,
            ReplayPreset::Custom if first.replay_id.is_empty() => {
                return Err(self.status(
                    Code::InvalidArgument,
                    "the replay id must be set when the replay preset is CUSTOM",
                    Some(REPLAY_ID_VALIDATION_FAILED),
                ))
            }
            ReplayPreset::Custom => StartPosition::After(&first.replay_id),
        };
        let next_id = self.fake.topic().first_id_after(position);
        // Recorded once the position is fixed, so a test that sees the preset knows that the
        // events published from then on are the stream's; recorded even when it is refused.
        {
            let mut log = self.record.lock();
            preset.as_str_name().clone_into(&mut log.replay_preset);
            log.replay_id = <[u8; 8]>::try_from(first.replay_id.as_ref())
                .ok()
                .map(u64::from_be_bytes);
        }
        self.next_id = next_id.map_err(|PositionError::Corrupted| {
            self.status(
                Code::InvalidArgument,
                "the replay id validation failed; it is invalid or outside the retention window",
                Some(REPLAY_ID_CORRUPTED),
            )
        })?;
        self.add_credit(first)
    }

    /// Adds a request's credit, clamped to 100 outstanding.
    fn add_credit(&mut self, request: &FetchRequest) -> Result<(), Status> {
        if !request.topic_name.is_empty() && request.topic_name != self.fake.topic().topic_name() {
            return Err(self.status(
                Code::InvalidArgument,
                "a fetch request named a different topic than the subscription",
                None,
            ));
        }
        if request.num_requested <= 0 {
            return Err(self.status(
                Code::InvalidArgument,
                "the requested number of events in a fetch request must be greater than zero",
                Some(REQUESTED_EVENTS_INVALID),
            ));
        }
        self.record.lock().fetch_requests.push(FetchObservation {
            num_requested: request.num_requested,
            pending_before: self.pending,
        });
        let max = i32::try_from(MAX_OUTSTANDING_EVENTS).unwrap_or(i32::MAX);
        self.pending = self.pending.saturating_add(request.num_requested).min(max);
        Ok(())
    }

    /// Takes every credit request that has already arrived; `false` when the client closed.
    fn drain_credit_requests<S>(&mut self, inbound: &mut S) -> Result<bool, Status>
    where
        S: Stream<Item = Result<FetchRequest, Status>> + Unpin + Send,
    {
        while let Some(next) = inbound.next().now_or_never() {
            match next {
                Some(Ok(request)) => self.add_credit(&request)?,
                Some(Err(_)) | None => return Ok(false),
            }
        }
        Ok(true)
    }

    async fn send_batch(&mut self) -> Result<(), Status> {
        let max_events = usize::try_from(self.pending)
            .unwrap_or(0)
            .min(self.fake.max_events_per_response());
        let allowed = self.fake.faults().allow_events(max_events);
        if allowed == 0 {
            return Err(self.status(Code::Unavailable, STREAM_RESET, None));
        }
        let mut events = Vec::with_capacity(allowed);
        for event in self.fake.topic().read_from(self.next_id, allowed) {
            if events.len() >= allowed {
                break;
            }
            if self.fake.faults().take_duplicate() && events.len() + 1 < allowed {
                events.push(event.clone());
            }
            events.push(event);
        }
        // Duplicates may have displaced later events; resume after the last one sent.
        let last_sent = events
            .last()
            .and_then(|event| <[u8; 8]>::try_from(event.replay_id.as_ref()).ok())
            .map_or(self.next_id.saturating_sub(1), u64::from_be_bytes);
        self.next_id = last_sent + 1;
        // At most `pending` events are ever sent, so the count fits and never goes below zero.
        self.pending = self
            .pending
            .saturating_sub(i32::try_from(events.len()).unwrap_or(i32::MAX));
        let count = events.len();
        let response = FetchResponse {
            events,
            latest_replay_id: self.latest_replay_id(),
            rpc_id: self.rpc_id.clone(),
            pending_num_requested: self.pending,
        };
        self.send(response, count).await
    }

    async fn send_keepalive(&mut self) -> Result<(), Status> {
        self.delay().await;
        let latest_replay_id = if self.fake.faults().take_blank_keepalive_position() {
            bytes::Bytes::new()
        } else {
            self.latest_replay_id()
        };
        let response = FetchResponse {
            events: Vec::new(),
            latest_replay_id,
            rpc_id: self.rpc_id.clone(),
            pending_num_requested: self.pending,
        };
        self.send(response, 0).await
    }

    async fn send(&mut self, response: FetchResponse, events: usize) -> Result<(), Status> {
        let backlog_after = self.pending == 0 && self.next_id <= self.fake.topic().latest_id();
        self.record.lock().responses.push(ResponseObservation {
            events,
            pending_after: response.pending_num_requested,
            backlog_after,
        });
        if self.outbound.send(Ok(response)).await.is_err() {
            return Err(Status::cancelled("client went away"));
        }
        if self.fake.faults().unavailable_now() {
            return Err(self.status(Code::Unavailable, STREAM_RESET, None));
        }
        Ok(())
    }

    /// Waits out the injected latency, to within a fraction of a millisecond.
    ///
    /// Tokio's timer rounds every deadline up to its next millisecond tick and wakes a little
    /// later still, which added about 1.2 ms to each 20 ms delay: the fake was slower than it
    /// claimed to be. So the timer covers all but the last [`TIMER_SLACK`], and a blocking thread,
    /// whose OS sleep is precise, covers the rest.
    async fn delay(&self) {
        let latency = self.fake.faults().latency();
        if latency.is_zero() {
            return;
        }
        let deadline = std::time::Instant::now() + latency;
        if let Some(coarse) = latency.checked_sub(TIMER_SLACK) {
            tokio::time::sleep(coarse).await;
        }
        let rest = deadline.saturating_duration_since(std::time::Instant::now());
        if !rest.is_zero() {
            // The closure cannot panic; a join error would only mean the runtime is stopping.
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
        }
    }

    fn check_token(&self) -> Result<(), Status> {
        match self.fake.tokens().status(&self.token) {
            TokenStatus::Valid => Ok(()),
            TokenStatus::Expired | TokenStatus::Unknown => Err(self.status(
                Code::Unauthenticated,
                "the access token expired",
                Some(AUTH_ERROR),
            )),
        }
    }

    fn latest_replay_id(&self) -> Bytes {
        Bytes::copy_from_slice(&self.fake.topic().latest_id().to_be_bytes())
    }

    fn status(&self, code: Code, message: &str, error_code: Option<&str>) -> Status {
        sf_status(code, message, error_code, &self.rpc_id)
    }
}
