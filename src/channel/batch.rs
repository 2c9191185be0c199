//! The batched webhook: deliveries that wait at the same time share one POST, and each gets
//! its own fate from the partner's per-event results (docs/partner-webhook.md, "Batches").
//!
//! Every [`BatchedWebhook::deliver`] call queues its delivery and waits for its own result.
//! One task collects what is queued into batches of at most `max_events` and posts them: a
//! batch goes out at once when none is out, and while one is out new deliveries wait for it
//! (full batches excepted, up to [`BATCHES_IN_FLIGHT`] at once), so batches grow with load and
//! stay single under light load, with no added wait.
//! Order per conversation is the caller's: the pipeline delivers one event per conversation at
//! a time and waits for its result, so a batch never holds two events of one conversation.
//! This file owns the batch body and the reading of the batch response; the statuses mean what
//! they mean for one event (`retry::classify_status`). It knows nothing about the envelopes.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::json_text::write_json_string;

use super::retry::{classify_status, classify_transport_error, parse_retry_after};
use super::webhook::USER_AGENT_VALUE;
use super::{
    Delivery, DeliveryError, WebhookChannel, PERMANENT_FAILURE_BODY_PREFIX_BYTES,
    WEBHOOK_RESPONSE_BODY_LIMIT_BYTES,
};

/// Room allowed per event in a batch's response: a result with a long key and an
/// `errorMessage` fits many times over.
const BATCH_RESULT_BYTES: usize = 1024;

/// The header carrying the number of events in a batch request.
pub const BATCH_SIZE_HEADER: &str = "x-byoc-batch-size";

/// Batch requests open at once; more deliveries wait and join the next batch.
pub(crate) const BATCHES_IN_FLIGHT: usize = 4;

/// The largest `delivery.batch_max_events` accepted.
pub(crate) const BATCH_MAX_EVENTS_LIMIT: usize = 1_000;

/// One queued delivery and where its result goes.
struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<(), DeliveryError>>,
}

/// Delivers through a [`WebhookChannel`], many events per POST.
pub struct BatchedWebhook {
    channel: WebhookChannel,
    max_events: usize,
    // Started by the first delivery, so the channel can be built outside a runtime.
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl std::fmt::Debug for BatchedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWebhook")
            .field("channel", &self.channel)
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

impl BatchedWebhook {
    /// Batches of at most `max_events` (at least one) through `channel`.
    pub fn new(channel: WebhookChannel, max_events: usize) -> Self {
        Self {
            channel,
            max_events: max_events.clamp(1, BATCH_MAX_EVENTS_LIMIT),
            queue: OnceLock::new(),
        }
    }

    /// The single-event channel underneath, for calls that need the partner's own answer.
    pub fn single(&self) -> &WebhookChannel {
        &self.channel
    }

    /// Queues one delivery and waits for its own result.
    pub async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(collect(self.channel.clone(), self.max_events, receiver));
            sender
        });
        let (reply, result) = oneshot::channel();
        let pending = Pending {
            delivery: delivery.clone(),
            reply,
        };
        if queue.send(pending).is_err() {
            return Err(retryable("the batch sender has stopped".to_owned(), None));
        }
        result
            .await
            .unwrap_or_else(|_| Err(retryable("the batch was dropped".to_owned(), None)))
    }
}

/// Takes what is queued, up to `max_events` at a time, and posts it; ends with the queue.
///
/// A batch goes out at once when no batch is out, so under light load nothing waits. While
/// one is out, what is queued waits for it and shares the next request, unless it already
/// fills a batch: full batches go out side by side, up to [`BATCHES_IN_FLIGHT`]. A busy
/// connector so sends a few large requests instead of many small ones, and a partner fast
/// enough for more still gets them.
async fn collect(
    channel: WebhookChannel,
    max_events: usize,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    // Each posted batch reports here when it is answered; the collector keeps one sender, so
    // this never ends.
    let (answered_tx, mut answered) = mpsc::unbounded_channel::<()>();
    let mut in_flight = 0_usize;
    let mut batch: Vec<Pending> = Vec::new();
    let mut queue_open = true;
    loop {
        if !queue_open && in_flight == 0 && batch.is_empty() {
            return;
        }
        let room = batch.len() < max_events;
        tokio::select! {
            biased;
            Some(()) = answered.recv() => in_flight -= 1,
            pending = queue.recv(), if queue_open && room => match pending {
                Some(pending) => batch.push(pending),
                None => queue_open = false,
            },
            else => return,
        }
        while batch.len() < max_events {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let full = batch.len() >= max_events;
        if batch.is_empty() || !(in_flight == 0 || (full && in_flight < BATCHES_IN_FLIGHT)) {
            continue;
        }
        // A caller that gave up (shutdown) needs no request.
        batch.retain(|pending| !pending.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let posting = std::mem::replace(&mut batch, Vec::with_capacity(max_events.min(64)));
        in_flight += 1;
        let channel = channel.clone();
        let answered = Answered(answered_tx.clone());
        tokio::spawn(async move {
            let deliveries: Vec<&Delivery> =
                posting.iter().map(|pending| &pending.delivery).collect();
            let results = channel.post_batch(&deliveries).await;
            for (pending, result) in posting.into_iter().zip(results) {
                // The caller may have given up meanwhile; its event is delivered again later.
                let _ = pending.reply.send(result);
            }
            drop(answered);
        });
    }
}

/// Tells the collector a batch is answered when dropped, so a posting task that panics still
/// frees its place.
struct Answered(mpsc::UnboundedSender<()>);

impl Drop for Answered {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The batch body: `{"events":[{"idempotencyKey":…,"type":…,"event":<envelope>},…]}`, with
/// each envelope's bytes as they are (they are compact JSON already).
pub(crate) fn batch_body(deliveries: &[&Delivery]) -> Bytes {
    let size: usize = deliveries
        .iter()
        .map(|delivery| delivery.body.len() + delivery.idempotency_key.len() + 64)
        .sum();
    let mut body = Vec::with_capacity(size + 16);
    body.extend_from_slice(b"{\"events\":[");
    for (index, delivery) in deliveries.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"idempotencyKey\":");
        write_json_string(&mut body, &delivery.idempotency_key);
        body.extend_from_slice(b",\"type\":");
        write_json_string(&mut body, &delivery.event_type);
        body.extend_from_slice(b",\"event\":");
        body.extend_from_slice(&delivery.body);
        body.push(b'}');
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

impl WebhookChannel {
    /// Posts `deliveries` as one batch and returns each one's result, in the same order.
    pub(crate) async fn post_batch(
        &self,
        deliveries: &[&Delivery],
    ) -> Vec<Result<(), DeliveryError>> {
        let all = |error: DeliveryError| vec![Err(error); deliveries.len()];
        let body = batch_body(deliveries);
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert(BATCH_SIZE_HEADER, HeaderValue::from(deliveries.len()));
        if let Err(error) = self.sign_into(&mut headers, &body) {
            return all(error);
        }
        let response = match self.client().post(headers, body).await {
            Ok(response) => response,
            Err(error) => return all(classify_transport_error(error)),
        };
        let status = response.status;
        let retry_after = response
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        if !status.is_success() {
            // The whole batch failed: every event gets what a single event would get.
            let body_prefix = response
                .read_prefix(PERMANENT_FAILURE_BODY_PREFIX_BYTES)
                .await
                .unwrap_or_default();
            return match classify_status(status, retry_after, body_prefix) {
                Err(error) => all(error),
                Ok(()) => all(retryable(format!("partner answered {status}"), None)),
            };
        }
        // Room for every result: a response cut short would not parse, and every event of the
        // batch, the accepted ones too, would be sent again.
        let limit = WEBHOOK_RESPONSE_BODY_LIMIT_BYTES
            .max(deliveries.len().saturating_mul(BATCH_RESULT_BYTES));
        let body = match response.read_prefix(limit).await {
            Ok(body) => body,
            Err(error) => return all(classify_transport_error(error)),
        };
        match parse_results(&body) {
            Ok(results) => per_event(deliveries, &results, retry_after),
            Err(problem) => {
                warn!(
                    events = deliveries.len(),
                    %status,
                    problem = %problem,
                    "partner's batch response is malformed; retrying every event of the batch"
                );
                all(retryable(
                    format!("partner's batch response is malformed: {problem}"),
                    Some(status),
                ))
            }
        }
    }
}

/// One event's result as the partner wrote it. `status` and `retryAfter` are read as any
/// JSON value and judged per event: one oddly typed result must not make the whole response
/// unreadable and send again the events the partner accepted.
#[derive(Deserialize)]
struct EventResult<'a> {
    #[serde(rename = "idempotencyKey", borrow)]
    idempotency_key: std::borrow::Cow<'a, str>,
    status: serde_json::Value,
    #[serde(rename = "retryAfter", default)]
    retry_after: Option<serde_json::Value>,
}

/// A result with its raw JSON, kept for a dead letter (its `errorCode` names the refusal);
/// `None` when every result of the response was a success and no dead letter can follow.
struct ParsedResult<'a> {
    result: EventResult<'a>,
    raw: Option<&'a serde_json::value::RawValue>,
}

fn parse_results(body: &[u8]) -> Result<Vec<ParsedResult<'_>>, String> {
    #[derive(Deserialize)]
    struct Answer<T> {
        results: Vec<T>,
    }
    // Usually every event was accepted: then one pass reads the results and nothing is kept
    // of their text.
    if let Ok(answer) = serde_json::from_slice::<Answer<EventResult<'_>>>(body) {
        let accepted = |result: &EventResult<'_>| {
            result
                .status
                .as_u64()
                .is_some_and(|status| (200..300).contains(&status))
        };
        if answer.results.iter().all(accepted) {
            return Ok(answer
                .results
                .into_iter()
                .map(|result| ParsedResult { result, raw: None })
                .collect());
        }
    }
    let answer: Answer<&serde_json::value::RawValue> = serde_json::from_slice(body)
        .map_err(|error| format!("expected {{\"results\": [...]}}: {error}"))?;
    answer
        .results
        .into_iter()
        .map(|raw| {
            let result: EventResult<'_> = serde_json::from_str(raw.get()).map_err(|error| {
                format!("a result is not {{\"idempotencyKey\", \"status\"}}: {error}")
            })?;
            Ok(ParsedResult {
                result,
                raw: Some(raw),
            })
        })
        .collect()
}

/// Each delivery's fate from its own result, classified as the single-event contract says.
fn per_event(
    deliveries: &[&Delivery],
    results: &[ParsedResult<'_>],
    header_retry_after: Option<Duration>,
) -> Vec<Result<(), DeliveryError>> {
    let result_of = |index: usize, key: &str| {
        // Partners answer in the batch's order, so the result at the same index is tried first;
        // a search over all of them covers any other order.
        results
            .get(index)
            .filter(|parsed| parsed.result.idempotency_key == key)
            .or_else(|| {
                results
                    .iter()
                    .find(|parsed| parsed.result.idempotency_key == key)
            })
    };
    deliveries
        .iter()
        .enumerate()
        .map(|(index, delivery)| {
            let Some(parsed) = result_of(index, &delivery.idempotency_key) else {
                warn!(
                    idempotency_key = %delivery.idempotency_key,
                    "partner's batch response has no result for an event; retrying it"
                );
                return Err(retryable(
                    "partner's batch response has no result for this event".to_owned(),
                    None,
                ));
            };
            let status = parsed
                .result
                .status
                .as_u64()
                .and_then(|status| u16::try_from(status).ok())
                .and_then(|status| StatusCode::from_u16(status).ok());
            let Some(status) = status else {
                return Err(retryable(
                    format!(
                        "partner's batch result has an invalid status {}",
                        parsed.result.status
                    ),
                    None,
                ));
            };
            // Whole seconds, as the contract says; anything else is no wait of its own.
            let retry_after = parsed
                .result
                .retry_after
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .map(Duration::from_secs)
                .or(header_retry_after);
            // Kept only for a refusal: the dead letter shows the partner's result.
            let prefix = if status.is_success() {
                Bytes::new()
            } else {
                let raw = parsed.raw.map_or(&b""[..], |raw| raw.get().as_bytes());
                Bytes::copy_from_slice(&raw[..raw.len().min(PERMANENT_FAILURE_BODY_PREFIX_BYTES)])
            };
            classify_status(status, retry_after, prefix)
        })
        .collect()
}

fn retryable(reason: String, status: Option<StatusCode>) -> DeliveryError {
    DeliveryError::Retryable {
        reason,
        retry_after: None,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(key: &str, body: &str) -> Delivery {
        Delivery {
            idempotency_key: key.to_owned(),
            event_type: "interaction.message".into(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn the_batch_body_wraps_each_envelope_with_its_key_and_type() {
        let first = delivery("k\"1", r#"{"a":1}"#);
        let second = delivery("k2", r#"{"b":[2]}"#);
        let body = batch_body(&[&first, &second]);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"events": [
                {"idempotencyKey": "k\"1", "type": "interaction.message", "event": {"a": 1}},
                {"idempotencyKey": "k2", "type": "interaction.message", "event": {"b": [2]}},
            ]})
        );
    }

    #[test]
    fn results_map_to_fates_by_key_as_a_single_event_status_would() {
        let (ok, later, refused, missing) = (
            delivery("ok", "{}"),
            delivery("later", "{}"),
            delivery("refused", "{}"),
            delivery("missing", "{}"),
        );
        let body = br#"{"results":[
            {"idempotencyKey":"refused","status":422,"errorCode":"2002"},
            {"idempotencyKey":"later","status":503,"retryAfter":7},
            {"idempotencyKey":"ok","status":200}]}"#;
        let results = parse_results(body).unwrap();
        let fates = per_event(&[&ok, &later, &refused, &missing], &results, None);
        assert_eq!(fates[0], Ok(()));
        assert!(fates[1].as_ref().is_err_and(DeliveryError::is_retryable));
        assert_eq!(
            fates[1].as_ref().err().and_then(DeliveryError::retry_after),
            Some(Duration::from_secs(7))
        );
        let Err(DeliveryError::Permanent(failure)) = &fates[2] else {
            panic!("422 is permanent: {:?}", fates[2]);
        };
        assert!(std::str::from_utf8(&failure.body_prefix)
            .unwrap()
            .contains(r#""errorCode":"2002""#));
        assert!(fates[3].as_ref().is_err_and(DeliveryError::is_retryable));
    }

    /// A response where every event was accepted is read in one pass and keeps no result text;
    /// one refusal among them makes every result keep its own, for the refusal's dead letter.
    #[test]
    fn result_text_is_kept_only_when_a_result_is_not_a_success() {
        let accepted = br#"{"results":[{"idempotencyKey":"a","status":200},
            {"idempotencyKey":"b","status":202,"note":"queued"}]}"#;
        let results = parse_results(accepted).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|parsed| parsed.raw.is_none()));
        assert_eq!(results[1].result.idempotency_key, "b");

        let one_refused = br#"{"results":[{"idempotencyKey":"a","status":200},
            {"idempotencyKey":"b","status":409,"errorCode":"2002"}]}"#;
        let results = parse_results(one_refused).unwrap();
        let kept: Vec<&str> = results
            .iter()
            .map(|parsed| parsed.raw.map_or("", |raw| raw.get()))
            .collect();
        assert_eq!(
            kept,
            [
                r#"{"idempotencyKey":"a","status":200}"#,
                r#"{"idempotencyKey":"b","status":409,"errorCode":"2002"}"#
            ]
        );
    }

    /// One result typed oddly (a fractional `retryAfter`, a status as a string) concerns its
    /// own event only: the others' results still count, so nothing accepted is sent again.
    #[test]
    fn an_oddly_typed_result_concerns_its_own_event_only() {
        let (ok, later, odd) = (
            delivery("ok", "{}"),
            delivery("later", "{}"),
            delivery("odd", "{}"),
        );
        let body = br#"{"results":[
            {"idempotencyKey":"ok","status":200},
            {"idempotencyKey":"later","status":503,"retryAfter":1.5},
            {"idempotencyKey":"odd","status":"200"}]}"#;
        let results = parse_results(body).expect("the response is read");
        let fates = per_event(&[&ok, &later, &odd], &results, None);
        assert_eq!(fates[0], Ok(()));
        assert!(fates[1].as_ref().is_err_and(DeliveryError::is_retryable));
        assert!(fates[2].as_ref().is_err_and(DeliveryError::is_retryable));
    }

    #[test]
    fn a_response_without_results_is_malformed() {
        for body in [
            &b""[..],
            b"{}",
            b"[]",
            b"{\"results\":[{\"status\":200}]}",
            b"ok",
        ] {
            assert!(
                parse_results(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
