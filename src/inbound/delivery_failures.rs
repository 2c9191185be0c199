//! `POST /v1/conversations/{conversationIdentifier}/delivery-failures`: the partner's channel
//! could not deliver an entry, and a MessageDeliveryFailed entry tells the rep.
//!
//! Like every write it takes an `Idempotency-Key`: the entry id derives from it and the
//! conversation, and the first final answer is kept, so a retried report — also after a
//! restart — never creates a second entry. The end user and channel default to what the
//! connector knows of the conversation. It knows nothing about the server that serves it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::answer::Answer;
use super::messages::already_created;
use super::request::{check_length, parse, MAX_ADDRESS_CHARS, MAX_END_USER_CHARS};
use super::write::{settle, Write};
use super::InboundSlot;
use crate::conversation::{FailureNotice, ReportedBy};
use crate::interaction::{is_messaging_error_code, DeliveryFailure, MESSAGING_ERROR_CODES};

/// The body of the route.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeliveryFailureBody {
    error_code: String,
    #[serde(default)]
    failed_conversation_entry_identifier: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    end_user_client_id: Option<String>,
    #[serde(default)]
    channel_address_identifier: Option<String>,
}

pub(super) async fn report(
    State(slot): State<InboundSlot>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    check_length("conversationIdentifier", &conversation, MAX_ADDRESS_CHARS)?;
    let request: DeliveryFailureBody = parse(&body)?;
    if !is_messaging_error_code(&request.error_code) {
        return Err(Answer::invalid(
            "errorCode",
            format!(
                "one of the messaging error codes {}",
                MESSAGING_ERROR_CODES.join(", ")
            ),
        ));
    }
    if let Some(failed) = &request.failed_conversation_entry_identifier {
        check_length(
            "failedConversationEntryIdentifier",
            failed,
            MAX_ADDRESS_CHARS,
        )?;
    }
    let write = Write::begin(&slot, &headers)?;
    let Some((tracker, notifier)) = &write.inbound.conversations else {
        return Err(Answer::starting());
    };
    let known = tracker
        .get(&conversation)
        .map_err(|_| Answer::store_failed())?;
    let unseen = "required: the connector has not seen this conversation";
    let end_user = request
        .end_user_client_id
        .or_else(|| {
            known
                .as_ref()
                .and_then(|state| state.end_user_client_id.clone())
        })
        .ok_or_else(|| Answer::invalid("endUserClientId", unseen))?;
    check_length("endUserClientId", &end_user, MAX_END_USER_CHARS)?;
    let channel = request
        .channel_address_identifier
        .or_else(|| known.and_then(|state| state.channel_address_identifier))
        .ok_or_else(|| Answer::invalid("channelAddressIdentifier", unseen))?;
    check_length("channelAddressIdentifier", &channel, MAX_ADDRESS_CHARS)?;
    let key = write.key("delivery-failures", conversation.clone())?;
    let entry_id = key.entry_id(0);
    let error_code = request.error_code;
    let notice = FailureNotice {
        conversation: conversation.clone(),
        channel_address_identifier: channel,
        failure: DeliveryFailure {
            entry_id: entry_id.clone(),
            end_user_client_id: end_user,
            error_code: error_code.clone(),
            failed_entry_id: request.failed_conversation_entry_identifier,
            error_message: request.error_message,
        },
    };
    Ok(write
        .once_with(&key, |deadline| async move {
            let outcome = notifier
                .report_until(&notice, ReportedBy::Partner, deadline)
                .await;
            settle(
                outcome,
                |answer| {
                    Answer::ok(
                        StatusCode::ACCEPTED,
                        json!({"conversationIdentifier": answer.conversation_identifier.unwrap_or(conversation),
                               "entryId": entry_id, "errorCode": error_code}),
                    )
                },
                || already_created(&entry_id),
            )
        })
        .await)
}
