//! The fake Salesforce's routing window: each `RoutingRequested` published on the fake topic
//! must get a routingResult within `window` of its `CreatedDate`.
//!
//! [`RoutingWindow::track`] learns each request as it is published. The recorded
//! `/routingResult` calls of the [`InteractionFake`] (2xx only) answer the oldest unanswered
//! request of their conversation; one that arrives after the request's deadline is recorded
//! as late. At the deadline of a request with no timely answer, the watcher publishes on the
//! topic an `Interaction` event whose entry is a `RoutingResult` with `failureType:
//! RoutingError` — our documented assumption, since Salesforce does not say what it emits on
//! a timeout (spec §3.3, §7 gap 2). Deadlines are tokio instants fixed at tracking time, so
//! lateness is exact whatever the polling. It must not import connector modules.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::avro::EncodeError;
use super::interaction_service::{InteractionFake, RecordedCall};
use super::topic::{wall_clock_ms, NewEvent};

/// Salesforce's routing window.
pub const ROUTING_WINDOW: Duration = Duration::from_secs(60);

/// The error message of the RoutingResult entry published on a timeout (our assumption).
pub const ROUTING_TIMEOUT_MESSAGE: &str =
    "The routing request timed out: no routing result was received within the routing window.";

/// How many finished requests are kept for reports before the oldest are dropped.
const FINISHED_REQUESTS_KEPT: usize = 10_000;

/// The event-type value of routing requests and of conversation entries.
const ROUTING_REQUESTED: &str = "RoutingRequested";
const INTERACTION: &str = "Interaction";

/// Publishes events on the fake topic (`TopicLog::publish`).
pub type Publisher = Arc<dyn Fn(&[NewEvent]) -> Result<Vec<u64>, EncodeError> + Send + Sync>;

/// A routingResult that arrived after its request's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LateRoutingResult {
    /// The request's `channelData.eventId`, else its `EventUuid`.
    pub event_id: String,
    /// The conversation.
    pub conversation_identifier: String,
    /// The call's `seq` in the Interaction fake's recording.
    pub seq: u64,
    /// How long after the deadline it arrived.
    pub late_by_ms: u64,
}

/// What the window has seen, for tests and `GET /_harness/routing`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// Requests tracked, in order.
    pub tracked: Vec<String>,
    /// Requests answered in time.
    pub answered: Vec<String>,
    /// Requests whose window closed without a timely answer (a failure entry was published).
    pub timed_out: Vec<String>,
    /// routingResults that came too late.
    pub late: Vec<LateRoutingResult>,
}

/// One tracked routing request.
#[derive(Debug)]
struct TrackedRequest {
    event_id: String,
    conversation: String,
    channel: String,
    recipient: Value,
    routing_type: String,
    deadline_at: Instant,
    answered_on_time: bool,
    answered_late: bool,
    timed_out: bool,
}

impl TrackedRequest {
    fn is_waiting(&self) -> bool {
        !self.answered_on_time && !self.timed_out
    }
}

/// Everything the window knows, indexed so that tracking, answering and expiring cost the same
/// whether ten requests are kept or ten thousand (a bench publishes tens of thousands).
#[derive(Debug, Default)]
struct WindowState {
    /// The kept requests by tracking order.
    requests: BTreeMap<u64, TrackedRequest>,
    /// The next tracking number.
    next_id: u64,
    /// The event ids of the kept requests.
    known: HashSet<String>,
    /// Per conversation, the requests a routingResult may still answer (waiting, or timed out
    /// and not yet answered late), oldest first; finished ones are dropped lazily.
    open_by_conversation: HashMap<String, Vec<u64>>,
    /// The waiting requests by deadline.
    waiting: BTreeSet<(Instant, u64)>,
    /// The highest recorded-call `seq` already read.
    last_seen_seq: u64,
    late: Vec<LateRoutingResult>,
}

impl WindowState {
    /// Keeps `request` unless its event id is known; whether it did.
    fn insert(&mut self, request: TrackedRequest) -> bool {
        if !self.known.insert(request.event_id.clone()) {
            return false;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open_by_conversation
            .entry(request.conversation.clone())
            .or_default()
            .push(id);
        self.waiting.insert((request.deadline_at, id));
        self.requests.insert(id, request);
        true
    }

    /// Marks the waiting request `id` answered on time or timed out.
    fn finish(&mut self, id: u64, deadline_at: Instant) {
        self.waiting.remove(&(deadline_at, id));
    }

    /// How many kept requests are finished: every kept one not waiting.
    fn finished(&self) -> usize {
        self.requests.len() - self.waiting.len()
    }

    /// Applies one accepted routingResult call to the request it answers: the oldest waiting
    /// request of its conversation, else the oldest one whose window closed unanswered.
    fn answer(&mut self, call: &RecordedCall) {
        let conversation = call
            .body
            .get("conversationIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(open) = self.open_by_conversation.get_mut(conversation) else {
            return;
        };
        let requests = &self.requests;
        open.retain(|id| {
            requests.get(id).is_some_and(|request| {
                request.is_waiting() || (request.timed_out && !request.answered_late)
            })
        });
        let waiting = open
            .iter()
            .copied()
            .find(|id| requests.get(id).is_some_and(TrackedRequest::is_waiting));
        let Some(id) = waiting.or_else(|| open.first().copied()) else {
            return;
        };
        let Some(request) = self.requests.get_mut(&id) else {
            return;
        };
        if call.received_at <= request.deadline_at {
            let was_waiting = request.is_waiting();
            request.answered_on_time = true;
            let deadline_at = request.deadline_at;
            if was_waiting {
                self.finish(id, deadline_at);
            }
            return;
        }
        request.answered_late = true;
        let late_by = call.received_at - request.deadline_at;
        let record = LateRoutingResult {
            event_id: request.event_id.clone(),
            conversation_identifier: request.conversation.clone(),
            seq: call.seq,
            late_by_ms: u64::try_from(late_by.as_millis()).unwrap_or(u64::MAX),
        };
        warn!(event_id = %record.event_id, late_by_ms = record.late_by_ms, "fake salesforce received a late routing result");
        self.late.push(record);
    }

    /// Times out every waiting request whose deadline is not after `now`; their failure events.
    fn expire(&mut self, now: Instant) -> Vec<NewEvent> {
        let mut expired = Vec::new();
        while let Some(&(deadline_at, id)) = self.waiting.first() {
            if deadline_at > now {
                break;
            }
            self.finish(id, deadline_at);
            if let Some(request) = self.requests.get_mut(&id) {
                request.timed_out = true;
                expired.push(timeout_event(request));
            }
        }
        expired
    }

    /// Drops the oldest finished requests beyond [`FINISHED_REQUESTS_KEPT`].
    fn forget_oldest_finished(&mut self) {
        let to_drop = self.finished().saturating_sub(FINISHED_REQUESTS_KEPT);
        if to_drop == 0 {
            return;
        }
        let dropped: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, request)| !request.is_waiting())
            .map(|(id, _)| *id)
            .take(to_drop)
            .collect();
        for id in dropped {
            if let Some(request) = self.requests.remove(&id) {
                self.known.remove(&request.event_id);
                if let Some(open) = self.open_by_conversation.get_mut(&request.conversation) {
                    open.retain(|open_id| *open_id != id);
                    if open.is_empty() {
                        self.open_by_conversation.remove(&request.conversation);
                    }
                }
            }
        }
    }
}

/// The fake's routing window; share it as `Arc<RoutingWindow>`.
pub struct RoutingWindow {
    window: Duration,
    interaction: Arc<InteractionFake>,
    publish: Publisher,
    state: Mutex<WindowState>,
    /// Wakes the watcher when a request is tracked.
    tracked: Notify,
}

impl std::fmt::Debug for RoutingWindow {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RoutingWindow")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl RoutingWindow {
    /// A window of `window` over the calls `interaction` records, publishing with `publish`.
    pub fn new(window: Duration, interaction: Arc<InteractionFake>, publish: Publisher) -> Self {
        Self {
            window,
            interaction,
            publish,
            state: Mutex::new(WindowState::default()),
            tracked: Notify::new(),
        }
    }

    /// Learns a published event; returns whether it was a routing request now tracked.
    pub fn track(&self, event: &NewEvent) -> bool {
        if event.event_type.as_deref() != Some(ROUTING_REQUESTED) {
            return false;
        }
        let Some(mut request) = event
            .payload
            .as_deref()
            .and_then(|payload| parse_request(payload, event.event_uuid.as_deref()))
        else {
            warn!("fake routing window cannot read a published routing request, not tracked");
            return false;
        };
        let now_ms = wall_clock_ms();
        let created_ms = event.created_date.unwrap_or(now_ms);
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        let ahead_ms = created_ms.saturating_add(window_ms).saturating_sub(now_ms);
        request.deadline_at =
            Instant::now() + Duration::from_millis(u64::try_from(ahead_ms).unwrap_or(0));
        if !self.lock().insert(request) {
            return false;
        }
        self.tracked.notify_one();
        true
    }

    /// Tracks every routing request among `events`; returns how many.
    pub fn track_all(&self, events: &[NewEvent]) -> usize {
        events.iter().filter(|event| self.track(event)).count()
    }

    /// Reads new routingResult calls and publishes failure entries for windows that closed.
    pub fn check(&self) {
        let last_seen = self.lock().last_seen_seq;
        let calls = self.interaction.calls_to_after("routingResult", last_seen);
        let now = Instant::now();
        let expired = {
            let mut state = self.lock();
            for call in &calls {
                // Another check may have read this call between the two locks.
                if call.seq <= state.last_seen_seq {
                    continue;
                }
                state.last_seen_seq = call.seq;
                if (200..300).contains(&call.status) {
                    state.answer(call);
                }
            }
            let expired = state.expire(now);
            state.forget_oldest_finished();
            expired
        };
        if expired.is_empty() {
            return;
        }
        info!(
            count = expired.len(),
            "fake salesforce routing window closed, publishing routing result failures"
        );
        if let Err(error) = (self.publish)(&expired) {
            warn!(error = %error, "fake routing window could not publish routing result failures");
        }
    }

    /// What the window has seen (after reading new calls).
    pub fn report(&self) -> WindowReport {
        self.check();
        let state = self.lock();
        let ids = |keep: fn(&TrackedRequest) -> bool| {
            state
                .requests
                .values()
                .filter(|request| keep(request))
                .map(|request| request.event_id.clone())
                .collect::<Vec<_>>()
        };
        WindowReport {
            tracked: ids(|_| true),
            answered: ids(|request| request.answered_on_time),
            timed_out: ids(|request| request.timed_out),
            late: state.late.clone(),
        }
    }

    /// Runs the watcher until `shutdown`: it wakes at each request's deadline.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        let window = self.clone();
        tokio::spawn(async move {
            loop {
                window.check();
                let next_deadline = window.next_deadline();
                let sleep = async {
                    match next_deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = window.tracked.notified() => {}
                    () = sleep => {}
                }
            }
        })
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.lock()
            .waiting
            .first()
            .map(|(deadline_at, _)| *deadline_at)
    }

    fn lock(&self) -> MutexGuard<'_, WindowState> {
        // Every critical section only updates plain fields; a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `GET /_harness/routing` route, showing [`RoutingWindow::report`].
pub fn router(window: Arc<RoutingWindow>) -> Router {
    Router::new()
        .route("/_harness/routing", get(report))
        .with_state(window)
}

async fn report(State(window): State<Arc<RoutingWindow>>) -> Json<WindowReport> {
    Json(window.report())
}

/// Reads what the window needs from a RoutingRequested payload. Every field of the request is
/// optional in the YAML: one without `channelData.eventId` is keyed by its `EventUuid` (a
/// fresh id when the publisher gave none), one that names no conversation is not tracked.
fn parse_request(payload: &str, event_uuid: Option<&str>) -> Option<TrackedRequest> {
    let envelope: Value = serde_json::from_str(payload).ok()?;
    let routing = envelope.get("payload")?;
    let channel_data: Value = routing
        .get("routingParameters")
        .and_then(|parameters| parameters.get("channelData"))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let event_id = text(channel_data.get("eventId"))
        .or_else(|| event_uuid.map(str::to_owned))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Some(TrackedRequest {
        event_id,
        conversation: text(routing.get("conversationIdentifier"))
            .or_else(|| text(channel_data.get("conversationId")))?,
        channel: text(envelope.get("channelAddressIdentifier")).unwrap_or_default(),
        recipient: envelope.get("recipient").cloned().unwrap_or(Value::Null),
        routing_type: text(routing.get("routingType"))
            .or_else(|| text(channel_data.get("routingType")))
            .unwrap_or_else(|| "Transfer".to_owned()),
        deadline_at: Instant::now(),
        answered_on_time: false,
        answered_late: false,
        timed_out: false,
    })
}

/// The `Interaction` event carrying a RoutingResult failure entry for `request`.
fn timeout_event(request: &TrackedRequest) -> NewEvent {
    let now_ms = wall_clock_ms();
    let entry_id = uuid::Uuid::new_v4().to_string();
    let payload = json!({
        "conversationIdentifier": request.conversation,
        "channelAddressIdentifier": request.channel,
        "recipient": request.recipient,
        "payload": {
            "identifier": entry_id,
            "entryType": "RoutingResult",
            "entryPayload": {
                "entryType": "RoutingResult",
                "id": entry_id,
                "routingType": request.routing_type,
                "failureType": "RoutingError",
                "errorMessages": [ROUTING_TIMEOUT_MESSAGE],
                "isExternallyRouted": false,
            },
            "sender": {"appType": "conversation", "subject": "routing", "role": "System"},
            "transcriptedTimestamp": now_ms,
            "clientTimestamp": now_ms,
            "clientDuration": 0,
        },
    });
    NewEvent {
        event_type: Some(INTERACTION.to_owned()),
        payload: Some(payload.to_string()),
        created_date: Some(now_ms),
        ..NewEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn request(event_id: &str, conversation: &str, deadline_at: Instant) -> TrackedRequest {
        TrackedRequest {
            event_id: event_id.to_owned(),
            conversation: conversation.to_owned(),
            channel: "channel".to_owned(),
            recipient: Value::Null,
            routing_type: "Transfer".to_owned(),
            deadline_at,
            answered_on_time: false,
            answered_late: false,
            timed_out: false,
        }
    }

    fn routing_result(seq: u64, conversation: &str, received_at: Instant) -> RecordedCall {
        RecordedCall {
            seq,
            method: "POST".to_owned(),
            path: "/api/v1/routingResult".to_owned(),
            received_at_ms: 0,
            received_at,
            handling_micros: 0,
            headers: BTreeMap::new(),
            body: json!({"conversationIdentifier": conversation}),
            status: 200,
            response: Value::Null,
        }
    }

    fn state_of(state: &WindowState, event_id: &str) -> (bool, bool, bool) {
        let request = state
            .requests
            .values()
            .find(|request| request.event_id == event_id)
            .unwrap();
        (
            request.answered_on_time,
            request.answered_late,
            request.timed_out,
        )
    }

    #[test]
    fn a_request_without_channel_data_is_tracked_by_its_event_uuid_and_one_without_a_conversation_is_not(
    ) {
        let bare = json!({
            "channelAddressIdentifier": "channel",
            "payload": {"conversationIdentifier": "c1", "routingType": "Initial"},
        })
        .to_string();
        let request = parse_request(&bare, Some("uuid-1")).expect("tracked");
        assert_eq!(request.event_id, "uuid-1");
        assert_eq!(request.conversation, "c1");
        assert_eq!(request.routing_type, "Initial");
        assert!(parse_request(&bare, None).is_some_and(|request| !request.event_id.is_empty()));

        let nameless = json!({"payload": {"routingType": "Initial"}}).to_string();
        assert!(parse_request(&nameless, Some("uuid-2")).is_none());
    }

    #[test]
    fn answers_go_to_the_oldest_waiting_request_of_their_conversation_then_to_a_timed_out_one() {
        let start = Instant::now();
        let mut state = WindowState::default();
        assert!(state.insert(request("e1", "c1", start + Duration::from_secs(1))));
        assert!(state.insert(request("e2", "c1", start + Duration::from_secs(60))));
        assert!(state.insert(request("e3", "c2", start + Duration::from_secs(60))));
        assert!(!state.insert(request("e1", "c1", start)), "tracked twice");

        let expired = state.expire(start + Duration::from_secs(2));
        assert_eq!(expired.len(), 1);
        assert_eq!(state_of(&state, "e1"), (false, false, true));

        state.answer(&routing_result(1, "c1", start + Duration::from_secs(3)));
        assert_eq!(
            state_of(&state, "e2"),
            (true, false, false),
            "the waiting one first"
        );
        state.answer(&routing_result(2, "c1", start + Duration::from_secs(4)));
        assert_eq!(
            state_of(&state, "e1"),
            (false, true, true),
            "then the timed-out one, late"
        );
        assert_eq!(state.late.len(), 1);
        state.answer(&routing_result(3, "c1", start + Duration::from_secs(5)));
        assert_eq!(state.late.len(), 1, "nothing left to answer in c1");
        assert_eq!(state_of(&state, "e3"), (false, false, false));
        assert_eq!(state.waiting.len(), 1);
    }

    #[test]
    fn finished_requests_beyond_the_kept_count_are_forgotten_oldest_first_and_waiting_ones_never() {
        let start = Instant::now();
        let far = start + Duration::from_secs(3_600);
        let mut state = WindowState::default();
        assert!(state.insert(request("waiting", "c-waiting", far)));
        let answered = FINISHED_REQUESTS_KEPT + 25;
        for n in 0..answered {
            let conversation = format!("c{n}");
            assert!(state.insert(request(&format!("e{n}"), &conversation, far)));
            let seq = u64::try_from(n).unwrap() + 1;
            state.answer(&routing_result(seq, &conversation, start));
        }

        state.forget_oldest_finished();

        assert_eq!(state.finished(), FINISHED_REQUESTS_KEPT);
        assert_eq!(state.requests.len(), FINISHED_REQUESTS_KEPT + 1);
        assert!(state.known.contains("waiting"));
        assert!(!state.known.contains("e0") && !state.known.contains("e24"));
        assert!(state.known.contains("e25"));
        assert!(
            state.insert(request("e0", "c0", far)),
            "a forgotten id is tracked anew"
        );
    }
}
