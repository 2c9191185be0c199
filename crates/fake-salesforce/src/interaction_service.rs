//! Fake Salesforce Interaction Service: the `/api/v1/*` endpoints a BYOC CCaaS connector calls,
//! the calls it recorded, and injected faults.
//!
//! Each call (routes in `routes`, endpoints in `endpoint`) is checked like Salesforce would
//! (headers in `checks`, body rules in one `*_rules` module per area), answered, and recorded with its arrival time, headers
//! (`Authorization` redacted) and body. Tests read the recording through
//! [`InteractionFake::calls`] or `GET /_harness/calls`, and queue 429/5xx answers through
//! [`InteractionFake::inject_fault`] or `POST /_harness/interaction/faults`. Tokens are checked
//! against the shared [`TokenRegistry`]. It must not import `auth` or `interaction`: it is an
//! independent implementation that checks the connector's client.

mod ack_rules;
mod body;
mod capabilities_rules;
mod checks;
mod control;
mod conversation_rules;
mod endpoint;
mod entry_rules;
mod faults;
mod history_rules;
mod inbound_rules;
mod rate_rules;
mod routes;
mod routing_rules;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use tracing::debug;

use crate::tokens::TokenRegistry;
use body::{ParsedBody, UploadedFile};
use checks::Refusal;
use endpoint::Endpoint;
pub use faults::{FaultError, InteractionFault, ResponseHold};
pub use routes::router;

/// One call as the fake saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedCall {
    /// Arrival order, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path, e.g. `/api/v1/routingResult`.
    pub path: String,
    /// Arrival time in Unix epoch milliseconds (wall clock, comparable with event `CreatedDate`).
    pub received_at_ms: u64,
    /// Arrival time on tokio's clock, for tests with paused time.
    #[serde(skip)]
    pub received_at: Instant,
    /// Microseconds the fake spent on the call, from its handler's start (before the body is
    /// read) to its answer, held answers not included: the Interaction Service's own time,
    /// which benchmarks subtract from what a client of the connector sees.
    pub handling_micros: u64,
    /// Request headers, lower-case names; `Authorization` is `Bearer [redacted]`.
    pub headers: BTreeMap<String, String>,
    /// JSON body; for `/interactions`, `{"json": <json part>, "attachments": [{fileName, contentType, size}]}`.
    pub body: Value,
    /// Status the fake answered.
    pub status: u16,
    /// Body the fake answered.
    pub response: Value,
}

/// Everything the fake remembers between calls.
#[derive(Default)]
struct FakeState {
    next_seq: u64,
    /// The calls of the last second, for the rate limit.
    rate: rate_rules::RateWindow,
    calls: Vec<RecordedCall>,
    faults: Vec<InteractionFault>,
    holds: Vec<ResponseHold>,
    /// RequestIds already used: the fake refuses a reused one.
    request_ids: HashSet<String>,
    /// conversation → MessagingSession, and back.
    work_item_by_conversation: HashMap<String, String>,
    conversation_by_work_item: HashMap<String, String>,
    /// (channelAddressIdentifier, end user) → conversation.
    conversation_by_end_user: HashMap<(String, String), String>,
    /// Active AgentWork per (user, work item), and each work id's key.
    active_agent_work: HashMap<(String, String), String>,
    agent_work_key: HashMap<String, (String, String)>,
    /// The last accepted `PATCH /capabilities` body.
    capabilities: Option<Value>,
    /// Client-generated conversation entry ids already stored (10073 on reuse).
    entry_ids: HashSet<String>,
    /// Whether the channel's Consent Owner is the partner (`PATCH /consent` refused with
    /// 10022 otherwise); Salesforce owns consent unless a test says so.
    partner_owns_consent: bool,
}

/// The fake Interaction Service's state; share it as `Arc<InteractionFake>` with [`router`].
pub struct InteractionFake {
    registry: Arc<TokenRegistry>,
    /// How far ahead of the local clock (negative: behind) the `Date` of every answer is.
    date_skew_ms: std::sync::atomic::AtomicI64,
    /// The only `AuthorizationContext` accepted (the channel definition's developer name).
    authorization_context: String,
    state: Mutex<FakeState>,
}

impl InteractionFake {
    /// A fake accepting tokens from `registry` for the channel definition `authorization_context`.
    pub fn new(registry: Arc<TokenRegistry>, authorization_context: impl Into<String>) -> Self {
        Self {
            registry,
            date_skew_ms: std::sync::atomic::AtomicI64::new(0),
            authorization_context: authorization_context.into(),
            state: Mutex::new(FakeState::default()),
        }
    }

    /// Every recorded call, in arrival order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Recorded calls to one path (`/api/v1/routingResult` or `routingResult`).
    pub fn calls_to(&self, path: &str) -> Vec<RecordedCall> {
        let wanted = format!("/api/v1/{}", path.trim_start_matches("/api/v1/"));
        self.lock()
            .calls
            .iter()
            .filter(|call| call.path == wanted)
            .cloned()
            .collect()
    }

    /// The recorded calls to `path` with a `seq` above `after_seq`, oldest first: what a
    /// watcher that already read up to `after_seq` has not seen. Calls are recorded in `seq`
    /// order, so the older ones are skipped without being looked at.
    pub fn calls_to_after(&self, path: &str, after_seq: u64) -> Vec<RecordedCall> {
        let wanted = format!("/api/v1/{}", path.trim_start_matches("/api/v1/"));
        let state = self.lock();
        let first_unseen = state.calls.partition_point(|call| call.seq <= after_seq);
        state.calls[first_unseen..]
            .iter()
            .filter(|call| call.path == wanted)
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Queues a fault; faults are used in the order queued.
    pub fn inject_fault(&self, fault: InteractionFault) -> Result<(), FaultError> {
        if !fault.status_is_valid() {
            return Err(FaultError::BadStatus(fault.status));
        }
        self.lock().faults.push(fault);
        Ok(())
    }

    /// Drops every queued fault and hold.
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        state.faults.clear();
        state.holds.clear();
    }

    /// Makes every answer's `Date` header `skew_secs` ahead of the local clock (negative:
    /// behind), as from a Salesforce whose clock differs from the client's.
    pub fn set_date_skew(&self, skew_secs: i64) {
        self.date_skew_ms.store(
            skew_secs.saturating_mul(1000),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The `Date` header of an answer sent now.
    fn date_header(&self) -> Option<axum::http::HeaderValue> {
        let skew_ms = self.date_skew_ms.load(std::sync::atomic::Ordering::SeqCst);
        let skew = std::time::Duration::from_millis(skew_ms.unsigned_abs());
        let now = SystemTime::now();
        let date = if skew_ms >= 0 {
            now.checked_add(skew)
        } else {
            now.checked_sub(skew)
        }?;
        axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(date)).ok()
    }

    /// Queues a hold: matching calls are answered and recorded at once, their responses sent late.
    pub fn hold_responses(&self, hold: ResponseHold) {
        self.lock().holds.push(hold);
    }

    /// Takes one use of the first queued hold matching `endpoint`.
    fn take_hold(&self, endpoint: Endpoint) -> Option<std::time::Duration> {
        let mut state = self.lock();
        let index = state.holds.iter().position(|hold| hold.matches(endpoint))?;
        let queued = &mut state.holds[index];
        queued.count -= 1;
        let delay = std::time::Duration::from_millis(queued.hold_ms);
        if queued.count == 0 {
            state.holds.remove(index);
        }
        Some(delay)
    }

    /// Tells the fake that `conversation` belongs to MessagingSession `work_item`: routingResult
    /// and `/agentWork` refuse a work item the fake does not know (15111) or that belongs to
    /// another conversation (15107).
    /// Either form of the id may be given; the fake keeps the 15-character one.
    pub fn seed_conversation(&self, conversation: &str, work_item: &str) {
        let work_item = crate::record_id::short_form(work_item);
        let mut state = self.lock();
        state
            .work_item_by_conversation
            .insert(conversation.to_owned(), work_item.to_owned());
        state
            .conversation_by_work_item
            .insert(work_item.to_owned(), conversation.to_owned());
    }

    /// Learns the MessagingSession of every routing request among `events` that names one
    /// (`payload.workRecordId`): Salesforce publishes a RoutingRequested only for a session that
    /// exists. A conversation the fake knows already keeps its session.
    pub fn learn_sessions(&self, events: &[crate::topic::NewEvent]) {
        for event in events {
            if event.event_type.as_deref() != Some("RoutingRequested") {
                continue;
            }
            let Some(payload) = event
                .payload
                .as_deref()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
            else {
                continue;
            };
            let request = &payload["payload"];
            let (Some(conversation), Some(work_item)) = (
                request["conversationIdentifier"].as_str(),
                request["workRecordId"].as_str(),
            ) else {
                continue;
            };
            if self.work_item_for(conversation).is_none() {
                self.seed_conversation(conversation, work_item);
            }
        }
    }

    /// The MessagingSession the fake knows for `conversation`, in its 15-character form.
    pub fn work_item_for(&self, conversation: &str) -> Option<String> {
        self.lock()
            .work_item_by_conversation
            .get(conversation)
            .cloned()
    }

    /// Sets whether the channel's Consent Owner is the partner, as in the channel's setup.
    pub fn set_partner_owns_consent(&self, partner: bool) {
        self.lock().partner_owns_consent = partner;
    }

    /// Whether the channel's Consent Owner is the partner.
    fn partner_owns_consent(&self) -> bool {
        self.lock().partner_owns_consent
    }

    /// The last accepted `PATCH /capabilities` body.
    pub fn capabilities(&self) -> Option<Value> {
        self.lock().capabilities.clone()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // Each critical section is a few map operations that cannot panic halfway, so a
        // poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `request_id` used; false when it already was.
    fn remember_request_id(&self, request_id: &str) -> bool {
        self.lock().request_ids.insert(request_id.to_owned())
    }

    /// Takes one use of the first queued fault matching `endpoint`.
    fn take_fault(&self, endpoint: Endpoint) -> Option<Refusal> {
        let mut state = self.lock();
        let index = state
            .faults
            .iter()
            .position(|fault| fault.matches(endpoint))?;
        let fault = &mut state.faults[index];
        fault.count -= 1;
        let refusal = fault.refusal(endpoint);
        if fault.count == 0 {
            state.faults.remove(index);
        }
        Some(refusal)
    }

    /// The conversation and MessagingSession of an end user on a channel, created on first contact.
    fn conversation_of(&self, channel: &str, end_user: &str) -> (String, String) {
        let key = (channel.to_owned(), end_user.to_owned());
        let existing = {
            let state = self.lock();
            state
                .conversation_by_end_user
                .get(&key)
                .and_then(|conversation| {
                    let work_item = state.work_item_by_conversation.get(conversation)?;
                    Some((conversation.clone(), work_item.clone()))
                })
        };
        if let Some(pair) = existing {
            return pair;
        }
        let conversation = uuid::Uuid::new_v4().to_string();
        let work_item = random_record_id("0Mw");
        self.seed_conversation(&conversation, &work_item);
        self.lock()
            .conversation_by_end_user
            .insert(key, conversation.clone());
        (conversation, work_item)
    }

    /// The conversation of a MessagingSession (15-character id) the fake knows.
    fn conversation_of_session(&self, work_item: &str) -> Option<String> {
        self.lock()
            .conversation_by_work_item
            .get(work_item)
            .cloned()
    }

    /// A new AgentWork id, or None when one is active for the pair (15109).
    fn start_agent_work(&self, user: &str, work_item: &str) -> Option<String> {
        let mut state = self.lock();
        let key = (user.to_owned(), work_item.to_owned());
        if state.active_agent_work.contains_key(&key) {
            return None;
        }
        let work_id = random_record_id("0Bz");
        state.active_agent_work.insert(key.clone(), work_id.clone());
        state.agent_work_key.insert(work_id.clone(), key);
        Some(work_id)
    }

    /// Ends an AgentWork, so a new one may be created for its pair.
    fn finish_agent_work(&self, work_id: &str) {
        let mut state = self.lock();
        if let Some(key) = state.agent_work_key.remove(work_id) {
            state.active_agent_work.remove(&key);
        }
    }

    /// Stores `ids` as used entry ids, all or none; false when any was already used.
    fn claim_entry_ids(&self, ids: &[&str]) -> bool {
        let mut state = self.lock();
        if ids.iter().any(|id| state.entry_ids.contains(*id)) {
            return false;
        }
        state
            .entry_ids
            .extend(ids.iter().map(|id| (*id).to_owned()));
        true
    }

    fn store_capabilities(&self, body: Value) {
        self.lock().capabilities = Some(body);
    }

    /// Checks, answers and records one API call; also says how long to hold the answer.
    /// `started` is when the call's handler started, on the local clock.
    fn handle(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: &ParsedBody,
        started: std::time::Instant,
    ) -> (Response, Option<std::time::Duration>) {
        let received_at = Instant::now();
        let received_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let outcome = checks::check_headers(self, endpoint, headers)
            .and_then(|()| self.lock().rate.admit(received_at))
            .and_then(|()| self.take_fault(endpoint).map_or(Ok(()), Err))
            .and_then(|()| self.apply_rules(endpoint, body));
        let (status, response_body, mut response) = match outcome {
            Ok((status, value)) => (status, value.clone(), (status, Json(value)).into_response()),
            Err(refusal) => (refusal.status, refusal.body(), refusal.into_response()),
        };
        if let Some(date) = self.date_header() {
            response
                .headers_mut()
                .insert(axum::http::header::DATE, date);
        }
        debug!(
            path = endpoint.path(),
            status = status.as_u16(),
            "fake interaction service answered"
        );
        let mut state = self.lock();
        state.next_seq += 1;
        let call = RecordedCall {
            seq: state.next_seq,
            method: endpoint.method().to_string(),
            path: endpoint.path().to_owned(),
            received_at_ms,
            received_at,
            headers: body::redacted_headers(headers),
            body: body.recorded(),
            status: status.as_u16(),
            response: response_body,
            handling_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        state.calls.push(call);
        drop(state);
        (response, self.take_hold(endpoint))
    }

    fn apply_rules(
        &self,
        endpoint: Endpoint,
        body: &ParsedBody,
    ) -> Result<(StatusCode, Value), Refusal> {
        if let ParsedBody::Multipart { json, files } = body {
            return inbound_rules::post_interactions(self, json.as_ref(), files);
        }
        if let ParsedBody::Empty = body {
            return Err(Refusal::bad_request(
                10100,
                "A request body is required and can't be empty. Provide a valid payload and ensure data is included and correctly formatted.",
            ));
        }
        let ParsedBody::Json(Some(json)) = body else {
            return Err(Refusal::bad_request(10089, checks::INVALID_PARAMETERS));
        };
        match endpoint {
            Endpoint::RoutingResult => routing_rules::routing_result(self, json),
            Endpoint::PostRoute => routing_rules::post_route(self, json),
            Endpoint::DeleteRoute => routing_rules::delete_route(json),
            Endpoint::PostAgentWork => routing_rules::post_agent_work(self, json),
            Endpoint::PatchAgentWork => routing_rules::patch_agent_work(self, json),
            Endpoint::PatchCapabilities => capabilities_rules::patch_capabilities(self, json),
            Endpoint::PostMessagingSession => inbound_rules::post_messaging_session(json),
            Endpoint::PostAcknowledgement => ack_rules::post_acknowledgement(self, json),
            Endpoint::PostConversation => conversation_rules::post_conversation(self, json),
            Endpoint::PatchConsent => conversation_rules::patch_consent(self, json),
            Endpoint::PostParticipant => conversation_rules::post_participant(self, json),
            Endpoint::PostConversationHistory => {
                history_rules::post_conversation_history(self, json)
            }
            Endpoint::PostInteractions => Err(Refusal::bad_request(10016, checks::INVALID_HEADER)),
        }
    }
}

/// A random record id: the 3-character key prefix and 12 alphanumerics (15 characters).
fn random_record_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 12)
    )
}

impl std::fmt::Debug for InteractionFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionFake")
            .field("authorization_context", &self.authorization_context)
            .finish_non_exhaustive()
    }
}
