//! The one shape every inbound write has: the caller's deadline, the running connector, the
//! call's `Idempotency-Key`, then one Salesforce call made at most once per key.
//!
//! A handler parses and checks its body, begins a [`Write`], builds its Salesforce request and
//! hands the call to [`Write::once`]: a kept answer is replayed; otherwise the call is made
//! (429 and 5xx retried, `Retry-After` honoured, inside the deadline) and its final answer
//! kept. It knows nothing about any route's body.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use tokio::time::Instant;

use super::answer::Answer;
use super::idempotency::{CallKey, DUPLICATE_ENTRY_CODE};
use super::request::channel_address;
use super::{deadline_or, Inbound, InboundSlot, DEFAULT_DEADLINE};
use crate::interaction::{retry_until, InteractionError};

/// One write in progress: what every route needs before its Salesforce call.
pub(super) struct Write<'a> {
    /// The running connector.
    pub(super) inbound: &'a Inbound,
    headers: &'a HeaderMap,
    within: Duration,
}

impl<'a> Write<'a> {
    /// Begins a write with the caller's deadline (default [`DEFAULT_DEADLINE`]); `503` while
    /// the connector starts.
    pub(super) fn begin(slot: &'a InboundSlot, headers: &'a HeaderMap) -> Result<Self, Answer> {
        Self::begin_within(slot, headers, DEFAULT_DEADLINE)
    }

    /// [`Write::begin`] with `default` when the caller gives no deadline.
    pub(super) fn begin_within(
        slot: &'a InboundSlot,
        headers: &'a HeaderMap,
        default: Duration,
    ) -> Result<Self, Answer> {
        let within = deadline_or(headers, default)?;
        let inbound = slot.get().ok_or_else(Answer::starting)?;
        Ok(Self {
            inbound,
            headers,
            within,
        })
    }

    /// The channel address the call is for: `given`, or the only configured one.
    pub(super) fn channel(&self, given: Option<&str>) -> Result<String, Answer> {
        channel_address(given, &self.inbound.channel_addresses)
    }

    /// The call's key: the caller's `Idempotency-Key` within `route` and `scope`.
    pub(super) fn key(
        &self,
        route: &'static str,
        scope: impl Into<String>,
    ) -> Result<CallKey, Answer> {
        CallKey::from_headers(self.headers, route, scope)
    }

    /// The key of a write on behalf of `end_user` on `channel`: the scope most routes use.
    pub(super) fn end_user_key(
        &self,
        route: &'static str,
        channel: &str,
        end_user: &str,
    ) -> Result<CallKey, Answer> {
        self.key(route, format!("{channel}\u{1f}{end_user}"))
    }

    /// Replays the answer kept for `key`, or runs `call` (given the deadline) once and keeps
    /// its final answer.
    pub(super) async fn once_with<F, Fut>(&self, key: &CallKey, call: F) -> Answer
    where
        F: FnOnce(Instant) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let store = &self.inbound.store;
        match key.recall(store).await {
            Ok(Some(kept)) => return kept,
            Ok(None) => {}
            Err(failed) => return failed,
        }
        let deadline = Instant::now() + self.within;
        let answer = tokio::time::timeout_at(deadline, call(deadline))
            .await
            .unwrap_or_else(|_| Answer::deadline_exceeded());
        key.remember(&self.inbound.answers, answer).await
    }

    /// [`Write::once_with`] for one Interaction Service call, retried inside the deadline:
    /// `ok` answers its success, `duplicate` an entry id Salesforce already has (the first
    /// call got through but its answer was lost).
    pub(super) async fn once<T, F, Fut>(
        &self,
        key: &CallKey,
        call: F,
        ok: impl FnOnce(T) -> Answer,
        duplicate: impl FnOnce() -> Answer,
    ) -> Answer
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, InteractionError>>,
    {
        self.once_with(key, |deadline| async move {
            settle(retry_until(deadline, call).await, ok, duplicate)
        })
        .await
    }
}

/// `Ok` as `ok`, a duplicate entry id as `duplicate`, anything else as the error's answer.
pub(super) fn settle<T>(
    outcome: Result<T, InteractionError>,
    ok: impl FnOnce(T) -> Answer,
    duplicate: impl FnOnce() -> Answer,
) -> Answer {
    match outcome {
        Ok(value) => ok(value),
        Err(error) if error.code() == Some(DUPLICATE_ENTRY_CODE) => duplicate(),
        Err(error) => Answer::from_interaction(&error),
    }
}

/// Wall-clock epoch milliseconds, the unit of the API's timestamps.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
