//! The fake Interaction Service's refusals, its header checks and small body field checks.
//!
//! Header order: token, `OrgId`, `AuthorizationContext`, `AuthorizationContextType`,
//! `RequestId`, `Content-Type`. HTTP statuses are our choice (Salesforce documents only
//! "default"): 400 for validation, 401 for an invalid token, 403 for a context the token may not
//! use, 429 and 5xx when injected. It knows nothing about the connector's client.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::interaction_service::{Endpoint, InteractionFake};
use crate::tokens::TokenStatus;

/// Salesforce's message for 10016.
pub(super) const INVALID_HEADER: &str = "Enter a valid header.";
/// Salesforce's message for 10089, used for malformed or missing body fields without a code of their own.
pub(super) const INVALID_PARAMETERS: &str = "Invalid parameters passed to API.";

/// Which JSON shape an error answer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorShape {
    /// `{"message": …, "code": …}`.
    Flat,
    /// `{"success": false, "errorDetail": {"message": …, "code": …}}`.
    Detail,
    /// `POST /route`'s `{"success": false, "errors": {"errorMessage", "errorType",
    /// "apiErrorCode"}, "reasonForNotRouting"}` (`apiErrorCode` a string, as the YAML types it).
    Route,
    /// `POST /messagingSession`'s `{"success": false, "errorReason": …}`.
    Reason,
}

/// An error answer of the fake.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) code: i64,
    pub(super) message: String,
    pub(super) shape: ErrorShape,
    /// `Retry-After`, for injected faults.
    pub(super) retry_after: Option<RetryAfter>,
}

/// The two forms of `Retry-After` HTTP allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetryAfter {
    /// Delay seconds: `Retry-After: 2`.
    Seconds(u64),
    /// An HTTP date this far after the answer: `Retry-After: Sun, 06 Nov 1994 08:49:39 GMT`.
    DateIn(std::time::Duration),
}

impl RetryAfter {
    fn header_value(self) -> header::HeaderValue {
        match self {
            Self::Seconds(seconds) => header::HeaderValue::from(seconds),
            Self::DateIn(ahead) => {
                let date = httpdate::fmt_http_date(std::time::SystemTime::now() + ahead);
                header::HeaderValue::from_str(&date)
                    .unwrap_or_else(|_| header::HeaderValue::from_static("1"))
            }
        }
    }
}

impl Refusal {
    /// A 400 validation refusal.
    pub(super) fn bad_request(code: i64, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A refusal with any status.
    pub(super) fn new(status: StatusCode, code: i64, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            shape: ErrorShape::Flat,
            retry_after: None,
        }
    }

    /// The same refusal in the given shape.
    pub(super) fn shaped(mut self, shape: ErrorShape) -> Self {
        self.shape = shape;
        self
    }

    /// The answer body.
    pub(super) fn body(&self) -> Value {
        let error = json!({"message": self.message, "code": self.code});
        match self.shape {
            ErrorShape::Flat => error,
            ErrorShape::Detail => json!({"success": false, "errorDetail": error}),
            ErrorShape::Route => json!({
                "success": false,
                "errors": {
                    "errorMessage": self.message,
                    "errorType": "RoutingError",
                    "apiErrorCode": self.code.to_string(),
                },
                "reasonForNotRouting": self.message,
            }),
            ErrorShape::Reason => json!({"success": false, "errorReason": self.message}),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.header_value());
        }
        response
    }
}

/// The `AuthorizationContextType` values Salesforce knows.
const CONTEXT_TYPES: [&str; 3] = [
    "ConversationChannelDefinition",
    "EmbeddedMessagingChannel",
    "ExternalConversationParticipant",
];

/// Checks every header rule for `endpoint`; records a valid `RequestId` as used.
pub(super) fn check_headers(
    fake: &InteractionFake,
    endpoint: Endpoint,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let token =
        text(header::AUTHORIZATION.as_str()).and_then(|value| value.strip_prefix("Bearer "));
    match token.map(|token| fake.registry.status(token)) {
        Some(TokenStatus::Valid) => {}
        _ => {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                10004,
                "The supplied Authorization access token is not valid.",
            ))
        }
    }
    // Exactly the 15-character form; the 18-character id is refused as Salesforce does.
    let expected_org = fake.registry.org_id().get(..15).unwrap_or_default();
    if text("orgid") != Some(expected_org) {
        return Err(Refusal::bad_request(10016, INVALID_HEADER));
    }
    match text("authorizationcontext") {
        None | Some("") => return Err(Refusal::bad_request(10016, INVALID_HEADER)),
        Some(context) if context != fake.authorization_context => {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                10005,
                "The AuthorizationContext for the request isn't valid based on the supplied Authorization access token.",
            ))
        }
        Some(_) => {}
    }
    match text("authorizationcontexttype") {
        Some(context_type) if !CONTEXT_TYPES.contains(&context_type) => {
            return Err(Refusal::bad_request(
                10093,
                "Invalid authorization context type.",
            ))
        }
        None if endpoint.requires_context_type() => {
            return Err(Refusal::bad_request(10016, INVALID_HEADER))
        }
        _ => {}
    }
    let request_id = text("requestid").filter(|id| uuid::Uuid::parse_str(id).is_ok());
    let Some(request_id) = request_id else {
        return Err(Refusal::bad_request(10016, INVALID_HEADER));
    };
    // Whether Salesforce refuses a reused RequestId is unknown [gap]; the fake does, so a
    // client that reuses one is caught here.
    if !fake.remember_request_id(request_id) {
        return Err(Refusal::bad_request(10016, INVALID_HEADER));
    }
    let content_type = text(header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let wanted = if endpoint.is_multipart() {
        "multipart/form-data"
    } else {
        "application/json"
    };
    if !content_type.to_ascii_lowercase().starts_with(wanted) {
        return Err(Refusal::bad_request(10016, INVALID_HEADER));
    }
    Ok(())
}

/// The body as a JSON object, or 10089.
pub(super) fn object(body: &Value) -> Result<&Map<String, Value>, Refusal> {
    body.as_object()
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))
}

/// A non-empty string field, or the given refusal.
pub(super) fn required_str<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    code: i64,
    message: &str,
) -> Result<&'a str, Refusal> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| Refusal::bad_request(code, message))
}

/// A boolean field, or 10089.
pub(super) fn required_bool(body: &Map<String, Value>, field: &str) -> Result<bool, Refusal> {
    body.get(field)
        .and_then(Value::as_bool)
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))
}

/// A field that must be one of `allowed` when present (or always, when `required`), or 10089.
pub(super) fn enum_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    allowed: &[&str],
    required: bool,
) -> Result<Option<&'a str>, Refusal> {
    match body.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(value)) if allowed.contains(&value.as_str()) => Ok(Some(value)),
        _ => Err(Refusal::bad_request(10089, INVALID_PARAMETERS)),
    }
}

/// A conversation identifier: a UUID, else 10018.
pub(super) fn conversation_id(body: &Map<String, Value>) -> Result<&str, Refusal> {
    let message = "The conversation identifier is not valid.";
    let id = required_str(body, "conversationIdentifier", 10018, message)?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Refusal::bad_request(10018, message));
    }
    Ok(id)
}

/// The 10012 message.
const INVALID_WORK_ITEM: &str = "Enter a valid workItemId for the MessagingSession ID.";

/// A MessagingSession id (`0Mw`, 15 or 18 alphanumerics) in `field`, else 10012.
pub(super) fn work_item_id<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, Refusal> {
    let id = required_str(body, field, 10012, INVALID_WORK_ITEM)?;
    if !is_record_id(id, "0Mw") {
        return Err(Refusal::bad_request(10012, INVALID_WORK_ITEM));
    }
    Ok(id)
}

/// A MessagingSession id in its 15-character form in `field`, else 10012.
///
/// `RoutingResultRequest.workItemId` and `AgentWorkRequest.workItemId` are `minLength: 15,
/// maxLength: 15` in the official API definition, so the 18-character id that SOQL returns is
/// refused here as Salesforce refuses it.
pub(super) fn short_work_item_id<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, Refusal> {
    let id = work_item_id(body, field)?;
    if id.len() != crate::record_id::SHORT_ID_LEN {
        return Err(Refusal::bad_request(10012, INVALID_WORK_ITEM));
    }
    Ok(id)
}

/// Whether `id` looks like a Salesforce record id with the given key prefix.
pub(super) fn is_record_id(id: &str, prefix: &str) -> bool {
    (id.len() == 15 || id.len() == 18)
        && id.starts_with(prefix)
        && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Routing types Salesforce knows.
pub(super) const ROUTING_TYPES: [&str; 3] = ["Initial", "Transfer", "Conference"];
