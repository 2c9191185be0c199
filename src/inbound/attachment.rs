//! `POST /v1/messages/attachment`: one file per call, up to Salesforce's 25 MB, streamed from
//! the partner's request body into the multipart body of `POST /interactions`.
//!
//! The file's type and size are checked against the registered capabilities (its
//! `MimeTypeRestriction`s and `FileSizeRestriction`) before anything is read or sent.
//!
//! The file is the raw request body; its `Content-Type` and `Content-Length` (required, so the
//! size is checked before anything is sent) are passed on, and the rest comes in the query:
//! `endUserClientId`, `fileName`, optional `text` and `channelAddressIdentifier`. A stream can
//! be sent once, so a 429 or 5xx is not retried here: the partner retries with the same
//! `Idempotency-Key`, which carries the same entry id. It knows nothing about the other routes.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::json;

use super::answer::Answer;
use super::idempotency::CallKey;
use super::messages::already_created;
use super::request::{check_length, MAX_END_USER_CHARS};
use super::write::{now_ms, settle, Write};
use super::{InboundSlot, DEFAULT_ATTACHMENT_DEADLINE};
use crate::interaction::{
    CapabilityViolation, Interaction, InteractionRequest, StreamedFile, MAX_ATTACHMENT_BYTES,
};

/// `POST /v1/messages/attachment`.
pub(crate) const ATTACHMENT_PATH: &str = "/v1/messages/attachment";
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
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let query = match query_fields(raw_query.as_deref()) {
        Ok(query) => query,
        Err(answer) => return answer,
    };
    let write = match Write::begin_within(&slot, &headers, DEFAULT_ATTACHMENT_DEADLINE) {
        Ok(write) => write,
        Err(answer) => return answer,
    };
    match prepare(&write, &query, &headers) {
        Ok(prepared) => prepared.send(&write, body).await,
        Err(answer) => answer,
    }
}

/// The query's parameters, percent-decoded (`+` is a space). A value that does not decode to
/// UTF-8, or a parameter given twice, is refused naming it: a lossy decode would send Salesforce
/// an end user id or file name other than the one given.
fn query_fields(raw: Option<&str>) -> Result<HashMap<String, String>, Answer> {
    let mut fields = HashMap::new();
    for pair in raw
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decoded(name)
            .ok_or_else(|| Answer::invalid("query", "parameter names must be UTF-8"))?;
        let value = percent_decoded(value)
            .ok_or_else(|| Answer::invalid(&name, "must be percent-encoded UTF-8"))?;
        if fields.insert(name.clone(), value).is_some() {
            return Err(Answer::invalid(&name, "given more than once"));
        }
    }
    Ok(fields)
}

/// `text` with `+` read as a space and `%XX` as a byte, if the bytes are UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    // A literal `+` arrives as `%2B`, so spaces can be put back before decoding.
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A MIME type without its parameters (`text/plain; charset=utf-8` → `text/plain`), as
/// registrations name types.
fn mime_essence(mime_type: &str) -> &str {
    mime_type.split(';').next().unwrap_or_default().trim()
}

/// A checked upload, ready to stream.
struct Prepared {
    key: CallKey,
    request: InteractionRequest,
    entry_id: String,
    file_name: String,
    mime_type: String,
    length: u64,
}

fn prepare(
    write: &Write<'_>,
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
        // Parsed as the multipart upload will parse it, so it cannot fail there.
        .filter(|value| value.parse::<mime::Mime>().is_ok())
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
    let caption = field("text");
    if let Some(registered) = &write.inbound.capabilities {
        registered
            .check_attachment(mime_essence(&mime_type), length)
            .map_err(|violation| match violation {
                CapabilityViolation::AttachmentTooLarge { .. } => {
                    Answer::invalid("Content-Length", violation.to_string())
                }
                _ => Answer::invalid("Content-Type", violation.to_string()),
            })?;
        if let Some(caption) = caption {
            registered
                .check_text(caption)
                .map_err(|violation| Answer::invalid("text", violation.to_string()))?;
        }
    }
    let to = write.channel(field("channelAddressIdentifier"))?;
    let key = write.end_user_key("attachment", &to, end_user)?;
    let entry_id = key.entry_id(0);
    let request = InteractionRequest {
        to,
        from: end_user.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::AttachmentInteraction {
            timestamp: now_ms(),
            id: entry_id.clone(),
            attachment_index: 0,
            content_length: length,
            text: caption.map(str::to_owned),
        }],
    };
    Ok(Prepared {
        key,
        request,
        entry_id,
        file_name: file_name.to_owned(),
        mime_type,
        length,
    })
}

impl Prepared {
    /// Streams the file once; a stream cannot be replayed, so nothing is retried here.
    async fn send(self, write: &Write<'_>, body: Body) -> Answer {
        let file = StreamedFile {
            file_name: self.file_name,
            mime_type: self.mime_type,
            length: self.length,
            body,
        };
        let (request, entry_id) = (self.request, self.entry_id);
        let client = &write.inbound.client;
        write
            .once_with(&self.key, |_| async {
                settle(
                    client.post_interactions_streamed(&request, file).await,
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
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_decode_strictly_and_once() {
        let fields = query_fields(Some(
            "endUserClientId=%2B1555+0123&fileName=r%C3%A9sum%C3%A9.pdf&text=50%",
        ))
        .unwrap();
        assert_eq!(fields["endUserClientId"], "+1555 0123");
        assert_eq!(fields["fileName"], "résumé.pdf");
        assert_eq!(fields["text"], "50%");
        assert!(query_fields(None).unwrap().is_empty());

        let refused =
            |raw: &str| query_fields(Some(raw)).unwrap_err().body["error"]["field"].clone();
        assert_eq!(refused("endUserClientId=%FF"), "endUserClientId");
        assert_eq!(refused("fileName=a&fileName=b"), "fileName");
        assert_eq!(
            percent_decoded("%+1"),
            Some("% 1".to_owned()),
            "not the byte 0x01"
        );
    }
}
