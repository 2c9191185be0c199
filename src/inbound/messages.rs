//! The end user's side of a conversation: `POST /v1/messages` (text), `POST /v1/typing` and
//! `POST /v1/conversations` (starting one proactively).
//!
//! A message's text is checked against the registered capabilities before it is sent. The
//! entry ids derive from the `Idempotency-Key`, scoped by channel address and end user. It
//! knows nothing about the server that serves the routes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::answer::Answer;
use super::request::{
    check_length, parse, SendMessage, StartConversation, Typing, TypingState, MAX_END_USER_CHARS,
};
use super::write::{now_ms, Write};
use super::InboundSlot;
use crate::interaction::{ConversationRequest, Interaction, InteractionRequest, Participant};

/// The answer of an `/interactions` entry Salesforce already has.
pub(super) fn already_created(entry_id: &str) -> Answer {
    Answer::ok(
        StatusCode::ACCEPTED,
        json!({"entryId": entry_id, "alreadyCreated": true}),
    )
}

pub(super) async fn send_message(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: SendMessage = parse(&body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    if request.text.trim().is_empty() {
        return Err(Answer::invalid("text", "required, not blank"));
    }
    let write = Write::begin(&slot, &headers)?;
    if let Some(registered) = &write.inbound.capabilities {
        registered
            .check_text(&request.text)
            .map_err(|violation| Answer::invalid("text", violation.to_string()))?;
    }
    let to = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.end_user_key("messages", &to, &request.end_user_client_id)?;
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
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_interactions(&call, None),
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id,
                           "conversationIdentifier": response.conversation_identifier,
                           "messagingSessionId": response.work_item_ids.first()}),
                )
            },
            || already_created(&entry_id),
        )
        .await)
}

pub(super) async fn start_conversation(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: StartConversation = parse(&body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    let write = Write::begin(&slot, &headers)?;
    let channel = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.end_user_key("conversations", &channel, &request.end_user_client_id)?;
    let call = ConversationRequest {
        channel_address_identifier: channel,
        participants: vec![Participant::end_user(request.end_user_client_id)],
        routing_attributes: request.routing_attributes,
    };
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_conversation(&call),
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"conversationIdentifier": response.conversation_identifier,
                           "messagingSessionId": response.messaging_session_id}),
                )
            },
            || Answer::ok(StatusCode::ACCEPTED, json!({"alreadyCreated": true})),
        )
        .await)
}

pub(super) async fn typing(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: Typing = parse(&body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_END_USER_CHARS,
    )?;
    let write = Write::begin(&slot, &headers)?;
    let to = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.end_user_key("typing", &to, &request.end_user_client_id)?;
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
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_interactions(&call, None),
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryId": entry_id,
                           "conversationIdentifier": response.conversation_identifier}),
                )
            },
            || already_created(&entry_id),
        )
        .await)
}
