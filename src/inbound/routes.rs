//! The inbound routes' handlers: parse and check the body, recall a kept answer, call the
//! Interaction Service with retries inside the deadline, keep the final answer.
//!
//! Paths: `POST /v1/messages` (and `POST /v1/messages/attachment`, in `attachment`),
//! `POST /v1/typing`,
//! `POST /v1/conversations/{conversationIdentifier}/receipts`,
//! `POST /v1/conversations/{conversationIdentifier}/session`, `PATCH /v1/agent-work/{workId}`.
//! It knows nothing about the server that serves them.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{patch, post, MethodRouter};
use axum::Router;
use serde_json::json;
use tokio::time::Instant;

use super::answer::Answer;
use super::idempotency::{CallKey, DUPLICATE_ENTRY_CODE};
use super::request::{
    channel_address, check_length, parse, AgentWorkChange, OperationBy, Receipts, SendMessage,
    SessionChange, SessionOperation, StartConversation, Typing, TypingState, MAX_ADDRESS_CHARS,
    MAX_END_USER_CHARS,
};
use super::{deadline, Inbound, InboundSlot};
use crate::interaction::{
    self, retry_until, Acknowledgement, AcknowledgementRequest, AgentWorkStatus,
    ConversationRequest, Interaction, InteractionError, InteractionRequest,
    MessagingSessionRequest, Participant, PatchAgentWorkRequest, WorkContextType,
};

/// `POST /v1/messages`.
pub const MESSAGES_PATH: &str = "/v1/messages";
/// `POST /v1/conversations`.
pub const CONVERSATIONS_PATH: &str = "/v1/conversations";
/// `POST /v1/typing`.
pub const TYPING_PATH: &str = "/v1/typing";
/// `POST /v1/conversations/{conversationIdentifier}/receipts`.
pub const RECEIPTS_PATH: &str = "/v1/conversations/{conversationIdentifier}/receipts";
/// `POST /v1/conversations/{conversationIdentifier}/session`.
pub const SESSION_PATH: &str = "/v1/conversations/{conversationIdentifier}/session";
/// `PATCH /v1/agent-work/{workId}`.
pub const AGENT_WORK_PATH: &str = "/v1/agent-work/{workId}";

/// Every inbound route: method, path and handler; the router and [`served`] both read it.
fn table() -> Vec<(Method, &'static str, MethodRouter<InboundSlot>)> {
    vec![
        (Method::POST, MESSAGES_PATH, post(send_message)),
        (
            Method::POST,
            super::ATTACHMENT_PATH,
            post(super::attachment::send_attachment),
        ),
        (Method::POST, TYPING_PATH, post(typing)),
        (Method::POST, CONVERSATIONS_PATH, post(start_conversation)),
        (Method::POST, RECEIPTS_PATH, post(receipts)),
        (Method::POST, SESSION_PATH, post(session)),
        (Method::PATCH, AGENT_WORK_PATH, patch(agent_work)),
    ]
}

/// The inbound routes, answering `503` until `slot` is filled.
pub fn router(slot: InboundSlot) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .with_state(slot)
}

/// The method and path of every inbound route.
pub fn served() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// Wall-clock epoch milliseconds, the unit of the API's timestamps.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The running [`Inbound`], or `503`.
fn running(slot: &InboundSlot) -> Result<&Inbound, Answer> {
    slot.get().ok_or_else(Answer::starting)
}

/// Replays the answer kept for `key`, or runs `call` within `within` and keeps its answer.
async fn once<F, Fut>(inbound: &Inbound, key: &CallKey, within: Duration, call: F) -> Answer
where
    F: FnOnce(Instant) -> Fut,
    Fut: Future<Output = Answer>,
{
    match key.recall(&inbound.store).await {
        Ok(Some(kept)) => return kept,
        Ok(None) => {}
        Err(failed) => return failed,
    }
    let deadline = Instant::now() + within;
    let answer = tokio::time::timeout_at(deadline, call(deadline))
        .await
        .unwrap_or_else(|_| Answer::deadline_exceeded());
    key.remember(&inbound.store, answer).await
}

/// `Ok` as `success`, a duplicate entry id as `duplicate` (the first call reached Salesforce
/// but its answer was lost), anything else as the error's answer.
fn settle<T>(
    outcome: Result<T, InteractionError>,
    success: impl FnOnce(T) -> Answer,
    duplicate: impl FnOnce() -> Answer,
) -> Answer {
    match outcome {
        Ok(value) => success(value),
        Err(error) if error.code() == Some(DUPLICATE_ENTRY_CODE) => duplicate(),
        Err(error) => Answer::from_interaction(&error),
    }
}

/// Unwraps a step's `Result<Answer, Answer>`.
fn either(result: Result<Answer, Answer>) -> Answer {
    result.unwrap_or_else(|answer| answer)
}

async fn send_message(State(slot): State<InboundSlot>, headers: HeaderMap, body: Bytes) -> Answer {
    either(send_message_inner(&slot, &headers, &body).await)
}

async fn send_message_inner(
    slot: &InboundSlot,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    let request: SendMessage = parse(body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    if request.text.trim().is_empty() {
        return Err(Answer::invalid("text", "required, not blank"));
    }
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let to = channel_address(
        request.channel_address_identifier.as_deref(),
        &inbound.channel_addresses,
    )?;
    let key = CallKey::from_headers(
        headers,
        "messages",
        format!("{to}\u{1f}{}", request.end_user_client_id),
    )?;
    let entry_id = key.entry_id(0);
    let call = InteractionRequest {
        to,
        from: request.end_user_client_id,
        routing_attributes: request.routing_attributes,
        interactions: vec![Interaction::text_message(
            &entry_id,
            &request.text,
            now_ms(),
        )],
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.post_interactions(&call, None)).await;
        settle(
            outcome,
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id,
                           "conversationIdentifier": response.conversation_identifier,
                           "messagingSessionId": response.work_item_ids.first()}),
                )
            },
            || {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id, "alreadyCreated": true}),
                )
            },
        )
    })
    .await)
}

async fn start_conversation(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    either(start_conversation_inner(&slot, &headers, &body).await)
}

async fn start_conversation_inner(
    slot: &InboundSlot,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    let request: StartConversation = parse(body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let channel = channel_address(
        request.channel_address_identifier.as_deref(),
        &inbound.channel_addresses,
    )?;
    let key = CallKey::from_headers(
        headers,
        "conversations",
        format!("{channel}\u{1f}{}", request.end_user_client_id),
    )?;
    let call = ConversationRequest {
        channel_address_identifier: channel,
        participants: vec![Participant::end_user(request.end_user_client_id)],
        routing_attributes: request.routing_attributes,
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.post_conversation(&call)).await;
        settle(
            outcome,
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"conversationIdentifier": response.conversation_identifier,
                           "messagingSessionId": response.messaging_session_id}),
                )
            },
            || Answer::ok(StatusCode::ACCEPTED, json!({"alreadyCreated": true})),
        )
    })
    .await)
}

async fn typing(State(slot): State<InboundSlot>, headers: HeaderMap, body: Bytes) -> Answer {
    either(typing_inner(&slot, &headers, &body).await)
}

async fn typing_inner(
    slot: &InboundSlot,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    let request: Typing = parse(body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let to = channel_address(
        request.channel_address_identifier.as_deref(),
        &inbound.channel_addresses,
    )?;
    let key = CallKey::from_headers(
        headers,
        "typing",
        format!("{to}\u{1f}{}", request.end_user_client_id),
    )?;
    let entry_id = key.entry_id(0);
    let call = InteractionRequest {
        to,
        from: request.end_user_client_id,
        routing_attributes: None,
        interactions: vec![Interaction::typing(
            &entry_id,
            request.state == TypingState::Started,
            now_ms(),
        )],
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.post_interactions(&call, None)).await;
        settle(
            outcome,
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id,
                           "conversationIdentifier": response.conversation_identifier}),
                )
            },
            || {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id, "alreadyCreated": true}),
                )
            },
        )
    })
    .await)
}

async fn receipts(
    State(slot): State<InboundSlot>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    either(receipts_inner(&slot, conversation, &headers, &body).await)
}

async fn receipts_inner(
    slot: &InboundSlot,
    conversation: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    let request: Receipts = parse(body)?;
    request.check()?;
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let key = CallKey::from_headers(headers, "receipts", conversation.clone())?;
    let now = now_ms();
    // At most 25 receipts per call and at most 25 per Salesforce request: one request.
    let acknowledgements: Vec<Acknowledgement> = request
        .receipts
        .iter()
        .enumerate()
        .map(|(index, receipt)| Acknowledgement {
            acknowledgement_timestamp: receipt.timestamp.unwrap_or(now).to_string(),
            acknowledgement_type: receipt.kind,
            acknowledged_conversation_entry_identifier: receipt.entry_id.clone(),
            acknowledgment_created_conversation_entry_identifier: key.entry_id(index),
        })
        .collect();
    let created: Vec<_> = acknowledgements
        .iter()
        .map(|item| {
            json!({"entryId": item.acknowledged_conversation_entry_identifier,
                   "receiptEntryId": item.acknowledgment_created_conversation_entry_identifier})
        })
        .collect();
    let call = AcknowledgementRequest {
        conversation_identifier: conversation.clone(),
        sender: Participant::end_user(request.end_user_client_id),
        acknowledgements,
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.post_acknowledgement(&call)).await;
        let body = json!({"conversationIdentifier": conversation, "receipts": created});
        let duplicate_body = json!({"conversationIdentifier": conversation, "receipts": created, "alreadyCreated": true});
        settle(
            outcome,
            |_| Answer::ok(StatusCode::OK, body),
            || Answer::ok(StatusCode::OK, duplicate_body),
        )
    })
    .await)
}

async fn session(
    State(slot): State<InboundSlot>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    either(session_inner(&slot, conversation, &headers, &body).await)
}

async fn session_inner(
    slot: &InboundSlot,
    conversation: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    let request: SessionChange = parse(body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    match (&request.session_id, request.operation) {
        (None, SessionOperation::Inactivate) => {
            return Err(Answer::invalid(
                "sessionId",
                "required when operation is Inactivate",
            ))
        }
        (Some(id), _) => check_length("sessionId", id, MAX_ADDRESS_CHARS)?,
        (None, SessionOperation::End) => {}
    }
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let channel = channel_address(
        request.channel_address_identifier.as_deref(),
        &inbound.channel_addresses,
    )?;
    let key = CallKey::from_headers(headers, "session", conversation.clone())?;
    let call = MessagingSessionRequest {
        channel_address_identifier: channel,
        end_user_client_id: request.end_user_client_id,
        conversation_identifier: conversation.clone(),
        operation: match request.operation {
            SessionOperation::End => interaction::SessionOperation::End,
            SessionOperation::Inactivate => interaction::SessionOperation::Inactivate,
        },
        operation_by: request.operation_by.map(|by| match by {
            OperationBy::EndUser => interaction::OperationBy::EndUser,
            OperationBy::System => interaction::OperationBy::System,
        }),
        session_id: request.session_id,
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.post_messaging_session(&call)).await;
        settle(
            outcome,
            |_| {
                Answer::ok(
                    StatusCode::OK,
                    json!({"conversationIdentifier": conversation}),
                )
            },
            || {
                Answer::ok(
                    StatusCode::OK,
                    json!({"conversationIdentifier": conversation}),
                )
            },
        )
    })
    .await)
}

async fn agent_work(
    State(slot): State<InboundSlot>,
    Path(work_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    either(agent_work_inner(&slot, work_id, &headers, &body).await)
}

async fn agent_work_inner(
    slot: &InboundSlot,
    work_id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, Answer> {
    check_length("workId", &work_id, MAX_ADDRESS_CHARS)?;
    let request: AgentWorkChange = parse(body)?;
    let within = deadline(headers)?;
    let inbound = running(slot)?;
    let key = CallKey::from_headers(headers, "agent-work", work_id.clone())?;
    let call = PatchAgentWorkRequest {
        work_id: work_id.clone(),
        context_type: WorkContextType::Agent,
        status: match request.status {
            super::request::WorkStatus::Accept => AgentWorkStatus::Accept,
            super::request::WorkStatus::Decline => AgentWorkStatus::Decline,
            super::request::WorkStatus::Close => AgentWorkStatus::Close,
        },
        work_item_id: None,
        bot_id: None,
    };
    let client = inbound.client.clone();
    Ok(once(inbound, &key, within, |deadline| async move {
        let outcome = retry_until(deadline, || client.patch_agent_work(&call)).await;
        settle(
            outcome,
            |_| Answer::ok(StatusCode::OK, json!({"workId": work_id})),
            || Answer::ok(StatusCode::OK, json!({"workId": work_id})),
        )
    })
    .await)
}
