//! `POST /v1/messages/attachment`: one file per call, up to Salesforce's 25 MB, streamed from
//! the partner's request body into the multipart body of `POST /interactions`.
//!
//! The file is the raw request body; its `Content-Type` and `Content-Length` (required, so the
//! size is checked before anything is sent) are passed on, and the rest comes in the query:
//! `endUserClientId`, `fileName`, optional `text` and `channelAddressIdentifier`. A stream can
//! be sent once, so a 429 or 5xx is not retried here: the partner retries with the same
//! `Idempotency-Key`, which carries the same entry id. It knows nothing about the other routes.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::json;

use super::answer::Answer;
use super::idempotency::{CallKey, DUPLICATE_ENTRY_CODE};
use super::request::{channel_address, check_length, MAX_END_USER_CHARS};
use super::{deadline_or, InboundSlot, DEFAULT_ATTACHMENT_DEADLINE};
use crate::interaction::{Interaction, InteractionRequest, StreamedFile, MAX_ATTACHMENT_BYTES};

/// `POST /v1/messages/attachment`.
pub const ATTACHMENT_PATH: &str = "/v1/messages/attachment";
/// Longest file name passed on.
const MAX_FILE_NAME_CHARS: usize = 255;
/// The query parameters the route takes.
const QUERY_FIELDS: [&str; 4] = [
    "endUserClientId",
    "fileName",
    "text",
    "channelAddressIdentifier",
];

/// Handles one upload.
pub(super) async fn send_attachment(
    State(slot): State<InboundSlot>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    match prepare(&slot, &query, &headers) {
        Ok(prepared) => prepared.send(&slot, body).await,
        Err(answer) => answer,
    }
}

/// A checked upload, ready to stream.
struct Prepared {
    key: CallKey,
    within: std::time::Duration,
    request: InteractionRequest,
    entry_id: String,
    file_name: String,
    mime_type: String,
    length: u64,
}

fn prepare(
    slot: &InboundSlot,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Prepared, Answer> {
    if let Some(unknown) = query
        .keys()
        .find(|key| !QUERY_FIELDS.contains(&key.as_str()))
    {
        return Err(Answer::invalid(
            unknown,
            format!("unknown query parameter, expected one of {QUERY_FIELDS:?}"),
        ));
    }
    let field = |name: &str| query.get(name).map(String::as_str);
    let end_user = field("endUserClientId").unwrap_or_default();
    check_length("endUserClientId", end_user, MAX_END_USER_CHARS)?;
    let file_name = field("fileName").unwrap_or_default();
    check_length("fileName", file_name, MAX_FILE_NAME_CHARS)?;
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.contains('/'))
        .ok_or_else(|| {
            Answer::invalid(
                "Content-Type",
                "required: the file's MIME type, e.g. image/png",
            )
        })?
        .to_owned();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .filter(|length| (1..=MAX_ATTACHMENT_BYTES).contains(length))
        .ok_or_else(|| {
            Answer::invalid(
                "Content-Length",
                format!("required: the file's size, 1..={MAX_ATTACHMENT_BYTES} bytes (Salesforce's 25 MB)"),
            )
        })?;
    let within = deadline_or(headers, DEFAULT_ATTACHMENT_DEADLINE)?;
    let inbound = slot.get().ok_or_else(Answer::starting)?;
    let to = channel_address(
        field("channelAddressIdentifier"),
        &inbound.channel_addresses,
    )?;
    let key = CallKey::from_headers(headers, "attachment", format!("{to}\u{1f}{end_user}"))?;
    let entry_id = key.entry_id(0);
    let request = InteractionRequest {
        to,
        from: end_user.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::AttachmentInteraction {
            timestamp: super::routes::now_ms(),
            id: entry_id.clone(),
            attachment_index: 0,
            content_length: length,
            text: field("text").map(str::to_owned),
        }],
    };
    Ok(Prepared {
        key,
        within,
        request,
        entry_id,
        file_name: file_name.to_owned(),
        mime_type,
        length,
    })
}

impl Prepared {
    async fn send(self, slot: &InboundSlot, body: Body) -> Answer {
        let Some(inbound) = slot.get() else {
            return Answer::starting();
        };
        match self.key.recall(&inbound.store).await {
            Ok(Some(kept)) => return kept,
            Ok(None) => {}
            Err(failed) => return failed,
        }
        let file = StreamedFile {
            file_name: self.file_name,
            mime_type: self.mime_type,
            length: self.length,
            body,
        };
        let call = inbound
            .client
            .post_interactions_streamed(&self.request, file);
        let entry_id = self.entry_id;
        let answer = match tokio::time::timeout(self.within, call).await {
            Err(_) => Answer::deadline_exceeded(),
            Ok(Ok(response)) => Answer::ok(
                StatusCode::ACCEPTED,
                json!({"entryId": entry_id,
                       "conversationIdentifier": response.conversation_identifier,
                       "messagingSessionId": response.work_item_ids.first()}),
            ),
            Ok(Err(error)) if error.code() == Some(DUPLICATE_ENTRY_CODE) => Answer::ok(
                StatusCode::ACCEPTED,
                json!({"entryId": entry_id, "alreadyCreated": true}),
            ),
            Ok(Err(error)) => Answer::from_interaction(&error),
        };
        self.key.remember(&inbound.store, answer).await
    }
}
