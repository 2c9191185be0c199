//! Writes about an existing conversation or end user: delivered/read receipts, ending or
//! inactivating the session, removing a rep, the end user's consent, and an AgentWork's
//! accept/decline/close.
//!
//! Consent is sent only when the channel's Consent Owner is the partner
//! (`channel.consent_owner`); otherwise the answer is a `409` naming that key, as Salesforce
//! would refuse the call (10022). It knows nothing about the server that serves the routes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::answer::Answer;
use super::request::{
    check_length, parse, AgentWorkChange, ConsentChange, OperationBy, Receipts, SessionChange,
    SessionOperation, WorkStatus, MAX_ADDRESS_CHARS, MAX_END_USER_CHARS,
};
use super::write::{now_ms, Write};
use super::InboundSlot;
use crate::interaction::rules;
use crate::interaction::{
    self, Acknowledgement, AcknowledgementRequest, AgentWorkStatus, ConsentRequest,
    MessagingSessionRequest, Participant, PatchAgentWorkRequest, RemoveParticipantRequest,
    WorkContextType,
};

pub(super) async fn receipts(
    State(slot): State<InboundSlot>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    let request: Receipts = parse(&body)?;
    request.check()?;
    let write = Write::begin(&slot, &headers)?;
    let key = write.key("receipts", conversation.clone())?;
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
    let body = json!({"conversationIdentifier": conversation, "receipts": created});
    let mut duplicate_body = body.clone();
    duplicate_body["alreadyCreated"] = json!(true);
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_acknowledgement(&call),
            |_| Answer::ok(StatusCode::OK, body),
            || Answer::ok(StatusCode::OK, duplicate_body),
        )
        .await)
}

pub(super) async fn session(
    State(slot): State<InboundSlot>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    let request: SessionChange = parse(&body)?;
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
    let write = Write::begin(&slot, &headers)?;
    let channel = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.key("session", conversation.clone())?;
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
    let done = Answer::ok(
        StatusCode::OK,
        json!({"conversationIdentifier": conversation}),
    );
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_messaging_session(&call),
            |_| done.clone(),
            || done.clone(),
        )
        .await)
}

pub(super) async fn remove_participant(
    State(slot): State<InboundSlot>,
    Path((conversation, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    if !rules::is_user_id(&user_id) {
        return Err(Answer::invalid(
            "userId",
            "a rep's User id: 005 and 12 or 15 more letters and digits (sent as 15 characters)",
        ));
    }
    let write = Write::begin(&slot, &headers)?;
    let key = write.key("participants", format!("{conversation}\u{1f}{user_id}"))?;
    let call = RemoveParticipantRequest::rep(conversation.clone(), &user_id);
    let done = Answer::ok(
        StatusCode::OK,
        json!({"conversationIdentifier": conversation, "removed": call.participants[0].subject}),
    );
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.remove_participant(&call),
            |_| done.clone(),
            || done.clone(),
        )
        .await)
}

pub(super) async fn consent(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: ConsentChange = parse(&body)?;
    check_length(
        "endUserClientId",
        &request.end_user_client_id,
        rules::MAX_CONSENT_FIELD_CHARS,
    )?;
    let write = Write::begin(&slot, &headers)?;
    if !write.inbound.partner_owns_consent {
        return Err(Answer::not_allowed(
            "channel.consent_owner",
            "consent is sent only when the channel's Consent Owner is the partner \
             (channel.consent_owner = \"partner\"); Salesforce refuses it otherwise (10022)",
        ));
    }
    let channel = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.end_user_key("consent", &channel, &request.end_user_client_id)?;
    let done = Answer::ok(
        StatusCode::OK,
        json!({"endUserClientId": request.end_user_client_id,
               "consentStatus": request.consent_status}),
    );
    let call = ConsentRequest {
        channel_address_identifier: channel,
        end_user_client_id: request.end_user_client_id,
        consent_status: request.consent_status,
    };
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.patch_consent(&call),
            |_| done.clone(),
            || done.clone(),
        )
        .await)
}

pub(super) async fn agent_work(
    State(slot): State<InboundSlot>,
    Path(work_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    check_length("workId", &work_id, MAX_ADDRESS_CHARS)?;
    let request: AgentWorkChange = parse(&body)?;
    let write = Write::begin(&slot, &headers)?;
    let key = write.key("agent-work", work_id.clone())?;
    let call = PatchAgentWorkRequest {
        work_id: work_id.clone(),
        context_type: WorkContextType::Agent,
        status: match request.status {
            WorkStatus::Accept => AgentWorkStatus::Accept,
            WorkStatus::Decline => AgentWorkStatus::Decline,
            WorkStatus::Close => AgentWorkStatus::Close,
        },
        work_item_id: None,
        bot_id: None,
    };
    let done = Answer::ok(StatusCode::OK, json!({"workId": work_id}));
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.patch_agent_work(&call),
            |_| done.clone(),
            || done.clone(),
        )
        .await)
}
