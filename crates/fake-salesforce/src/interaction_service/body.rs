//! How the fake Interaction Service reads and records request bodies and headers.
//!
//! JSON bodies are parsed leniently (the rules refuse what is missing); multipart bodies are
//! split into the `json` part and file metadata. Recorded headers have the bearer token
//! replaced. It knows nothing about the connector's client.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap};
use serde_json::{json, Value};

/// A file received in the `attachments` part of `/interactions` (metadata only).
#[derive(Debug, Clone)]
pub(super) struct UploadedFile {
    pub(super) file_name: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) size: usize,
}

/// Headers for the recording, with the bearer token replaced.
pub(super) fn redacted_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if name == header::AUTHORIZATION {
                "Bearer [redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// A request body as the rules see it.
pub(super) enum ParsedBody {
    /// No body at all (or only whitespace), where a JSON one is expected.
    Empty,
    /// A JSON body; None when it is not JSON.
    Json(Option<Value>),
    /// A multipart body: the `json` part (None when missing or not JSON) and the files.
    Multipart {
        json: Option<Value>,
        files: Vec<UploadedFile>,
    },
}

impl ParsedBody {
    pub(super) fn recorded(&self) -> Value {
        match self {
            Self::Empty => Value::Null,
            Self::Json(json) => json.clone().unwrap_or(Value::Null),
            Self::Multipart { json, files } => json!({
                "json": json,
                "attachments": files.iter().map(|file| json!({
                    "fileName": file.file_name,
                    "contentType": file.content_type,
                    "size": file.size,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Reads a multipart body; malformed input yields whatever parts were readable.
pub(super) async fn parse_multipart(headers: &HeaderMap, body: Bytes) -> ParsedBody {
    let mut request = Request::new(Body::from(body));
    *request.headers_mut() = headers.clone();
    parse_multipart_request(request).await
}

/// [`parse_multipart`] on the request itself, within the body limit its route set.
pub(super) async fn parse_multipart_request(request: Request) -> ParsedBody {
    let mut json = None;
    let mut files = Vec::new();
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
        return ParsedBody::Multipart { json, files };
    };
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().map(str::to_owned);
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            break;
        };
        match name.as_deref() {
            Some("json") => json = serde_json::from_slice(&bytes).ok(),
            Some("attachments") => files.push(UploadedFile {
                file_name,
                content_type,
                size: bytes.len(),
            }),
            _ => {}
        }
    }
    ParsedBody::Multipart { json, files }
}
