//! Interaction Service errors and their classification.
//!
//! Salesforce answers errors with `{message, code}` or `{success: false, errorDetail: {message,
//! code}}`; both are parsed here into [`InteractionError::Api`]. [`ErrorClass`] is the one place
//! that decides what is retried, what triggers a token refresh and what is final, so call sites
//! never match on strings. It knows nothing about Pub/Sub.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::auth::{AuthError, UrlPolicyError};

/// Salesforce codes that mean "try again later": org migration (10019), precondition failed
/// (10055), processing aborted (10056), downstream timeout (10094), and the internal error
/// (500), which the YAML also lets a 2xx `{success: false, errorDetail}` carry.
pub(crate) const RETRYABLE_CODES: [i64; 5] = [10019, 10055, 10056, 10094, 500];
/// `POST /messagingSession`'s `errorReason`s that mean the same as 500, 10055 and 10056.
const RETRYABLE_REASONS: [&str; 3] = [
    "INTERNAL_ERROR",
    "CONVERSATION_PRECONDITION_FAILED",
    "CONVERSATION_PROCESSING_ABORTED",
];
/// Salesforce codes that mean the token is missing a scope (10003) or invalid (10004): a fresh
/// token may cure them.
pub(crate) const AUTH_CODES: [i64; 2] = [10003, 10004];
/// Salesforce's code for "the AuthorizationContext isn't valid for this token": the configured
/// `interaction.authorization_context` names a channel definition the token's user may not act
/// for. A fresh token for the same user cannot help, so it is neither refreshed nor retried.
pub(crate) const AUTHORIZATION_CONTEXT_MISMATCH_CODE: i64 = 10005;
/// Longest body excerpt kept as the message when the body is not Salesforce's error JSON.
const MAX_RAW_MESSAGE_CHARS: usize = 200;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later, with backoff (429, 5xx, transport, 500, 10019, 10055, 10056, 10094).
    Retryable,
    /// Refresh the token once, then try again (401, 10003, 10004).
    Auth,
    /// Trying again will not help; report it (10005, a configuration error, among them).
    Permanent,
}

/// Classifies an HTTP status and optional Salesforce code.
pub(crate) fn classify(status: u16, code: Option<i64>) -> ErrorClass {
    let code_in = |codes: &[i64]| code.is_some_and(|code| codes.contains(&code));
    if code == Some(AUTHORIZATION_CONTEXT_MISMATCH_CODE) {
        ErrorClass::Permanent
    } else if status == 401 || code_in(&AUTH_CODES) {
        ErrorClass::Auth
    } else if status == 429 || (500..600).contains(&status) || code_in(&RETRYABLE_CODES) {
        ErrorClass::Retryable
    } else {
        ErrorClass::Permanent
    }
}

/// A failed Interaction Service call.
#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    /// Salesforce answered with an error (or a 2xx with `success: false`).
    #[error("interaction service answered http {status}{}: {message}", CodeSuffix(*.code))]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// Salesforce error code, e.g. 10016, when the body had one.
        code: Option<i64>,
        /// Salesforce's message, e.g. `Enter a valid header.`.
        message: String,
        /// The `Retry-After` delay, when the answer carried one (seconds or an HTTP date).
        retry_after: Option<Duration>,
    },
    /// No HTTP answer: connect, TLS or timeout failure.
    #[error("interaction service could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// A 2xx answer whose body we could not read.
    #[error("interaction service answer could not be read (http {status}): {problem}")]
    InvalidResponse {
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong with the body.
        problem: String,
    },
    /// No access token could be obtained or refreshed.
    #[error("no usable access token: {0}")]
    Auth(#[source] AuthError),
    /// The client was built with an unusable value.
    #[error("interaction client config: {problem}")]
    Config {
        /// What is wrong.
        problem: String,
    },
    /// The base URL breaks the TLS rule or does not parse.
    #[error(transparent)]
    Url(#[from] UrlPolicyError),
    /// The request breaks a field rule of the API definition; it was not sent.
    #[error("request field {field} breaks the interaction service's rule: it {rule}")]
    InvalidRequest {
        /// The field, as the API names it.
        field: &'static str,
        /// The rule it breaks.
        rule: String,
    },
    /// [`crate::interaction::retry_until`] was called after its deadline.
    #[error("the deadline passed before the call could be made")]
    DeadlineExceeded,
    /// A leader-only call (routingResult, route) was not sent: this replica no longer holds
    /// its channel's lease, so another one may act instead.
    #[error("not sent: this replica no longer leads its channel")]
    NotLeader,
}

impl InteractionError {
    /// What the caller should do about this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api {
                code: None,
                message,
                ..
            } if RETRYABLE_REASONS.contains(&message.as_str()) => ErrorClass::Retryable,
            Self::Api { status, code, .. } => classify(*status, *code),
            Self::Transport(err) if err.is_builder() => ErrorClass::Permanent,
            Self::Transport(_) => ErrorClass::Retryable,
            Self::Auth(err) if err.is_retryable() => ErrorClass::Retryable,
            Self::InvalidResponse { .. }
            | Self::Auth(_)
            | Self::Config { .. }
            | Self::InvalidRequest { .. }
            | Self::Url(_)
            | Self::DeadlineExceeded
            | Self::NotLeader => ErrorClass::Permanent,
        }
    }

    /// The HTTP status, when Salesforce answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Salesforce error code, when the answer had one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether Salesforce refused the configured `interaction.authorization_context` for this
    /// token (10005): an operator must fix the configuration.
    pub fn is_authorization_context_mismatch(&self) -> bool {
        self.code() == Some(AUTHORIZATION_CONTEXT_MISMATCH_CODE)
    }

    /// Salesforce's error message, when it answered with one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error for a non-2xx answer, from whichever of Salesforce's error shapes the body has.
    pub(crate) fn from_error_body(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let parsed = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|value| error_fields(&value));
        let (message, code) = match parsed {
            Some(fields) => fields,
            None => (raw_message(status, body), None),
        };
        Self::Api {
            status,
            code,
            message,
            retry_after,
        }
    }

    /// The error for a 2xx answer that says `success: false`.
    pub(crate) fn from_unsuccessful(status: u16, body: &Value) -> Self {
        let (message, code) = error_fields(body).unwrap_or_else(|| {
            (
                "request was not successful and gave no reason".to_owned(),
                None,
            )
        });
        Self::Api {
            status,
            code,
            message,
            retry_after: None,
        }
    }
}

/// `message` and `code` from `{message, code}`, `{success, errorDetail: {…}}`,
/// `{success, errorReason}`, `/route`'s `{success, errors: {errorMessage, apiErrorCode},
/// reasonForNotRouting}` or a one-element array of those.
fn error_fields(value: &Value) -> Option<(String, Option<i64>)> {
    if let Some(first) = value.as_array().and_then(|items| items.first()) {
        return error_fields(first);
    }
    for nested in ["errorDetail", "errors"] {
        let detail = value
            .get(nested)
            .filter(|detail| detail.is_object() || detail.is_array());
        if let Some(fields) = detail.and_then(error_fields) {
            return Some(fields);
        }
    }
    let code = ["code", "errorCode", "apiErrorCode"]
        .into_iter()
        .find_map(|key| value.get(key).and_then(code_of));
    let message = [
        "message",
        "errorMessage",
        "errorReason",
        "reasonForNotRouting",
    ]
    .into_iter()
    .find_map(|key| {
        value
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    })
    .map(str::to_owned);
    match (message, code) {
        (Some(message), code) => Some((message, code)),
        (None, Some(code)) => Some((format!("error code {code}"), Some(code))),
        (None, None) => None,
    }
}

/// A code given as a number or as a numeric string.
fn code_of(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
}

/// A short excerpt of a body that is not Salesforce's error JSON.
fn raw_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return format!("http {status} with an empty body");
    }
    trimmed.chars().take(MAX_RAW_MESSAGE_CHARS).collect()
}

/// Formats ` (code N)` when there is a code.
struct CodeSuffix(Option<i64>);

impl fmt::Display for CodeSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, " (code {code})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_status_then_code() {
        assert_eq!(classify(401, None), ErrorClass::Auth);
        assert_eq!(classify(403, Some(10003)), ErrorClass::Auth);
        assert_eq!(classify(403, Some(10005)), ErrorClass::Permanent);
        assert_eq!(classify(401, Some(10005)), ErrorClass::Permanent);
        assert_eq!(classify(429, None), ErrorClass::Retryable);
        assert_eq!(classify(503, Some(500)), ErrorClass::Retryable);
        assert_eq!(classify(400, Some(10094)), ErrorClass::Retryable);
        assert_eq!(classify(400, Some(10016)), ErrorClass::Permanent);
        assert_eq!(classify(404, None), ErrorClass::Permanent);
    }

    #[test]
    fn both_error_shapes_are_parsed() {
        let flat = InteractionError::from_error_body(
            400,
            br#"{"message":"Enter a valid header.","code":10016}"#,
            None,
        );
        assert_eq!(flat.code(), Some(10016));
        assert_eq!(flat.message(), Some("Enter a valid header."));
        let nested = InteractionError::from_error_body(
            400,
            br#"{"success":false,"errorDetail":{"message":"Error message missing when routing result false.","code":"10034"}}"#,
            None,
        );
        assert_eq!(nested.code(), Some(10034));
        assert_eq!(nested.class(), ErrorClass::Permanent);
    }

    #[test]
    fn an_unsuccessful_2xx_with_code_500_is_retried() {
        let body = serde_json::json!({"success": false, "errorDetail": {"message": "An internal server error occurred. Please contact Salesforce Support.", "code": 500}});
        let error = InteractionError::from_unsuccessful(202, &body);
        assert_eq!(error.code(), Some(500));
        assert_eq!(error.class(), ErrorClass::Retryable);
    }

    #[test]
    fn a_route_refusal_gives_its_errors_object_or_its_reason_for_not_routing() {
        let with_errors = serde_json::json!({"success": false, "reasonForNotRouting": "No agents", "errors": {"errorMessage": "Queue not found", "errorType": "INVALID_ID", "apiErrorCode": "10030"}});
        let error = InteractionError::from_unsuccessful(200, &with_errors);
        assert_eq!(error.message(), Some("Queue not found"));
        assert_eq!(error.code(), Some(10030));
        let retry_worthy = serde_json::json!({"success": false, "errors": {"errorMessage": "Downstream timed out", "apiErrorCode": "10094"}});
        assert_eq!(
            InteractionError::from_unsuccessful(200, &retry_worthy).class(),
            ErrorClass::Retryable
        );
        let reason_only =
            serde_json::json!({"success": false, "reasonForNotRouting": "No agents available"});
        let error = InteractionError::from_unsuccessful(200, &reason_only);
        assert_eq!(error.message(), Some("No agents available"));
        assert_eq!(error.class(), ErrorClass::Permanent);
    }

    #[test]
    fn messaging_session_reasons_that_mean_try_again_are_retried() {
        for (reason, class) in [
            ("INTERNAL_ERROR", ErrorClass::Retryable),
            ("CONVERSATION_PRECONDITION_FAILED", ErrorClass::Retryable),
            ("CONVERSATION_PROCESSING_ABORTED", ErrorClass::Retryable),
            ("SESSION_NOT_FOUND", ErrorClass::Permanent),
            ("PERMISSION_DENIED", ErrorClass::Permanent),
        ] {
            let body = serde_json::json!({"success": false, "errorReason": reason});
            let error = InteractionError::from_unsuccessful(200, &body);
            assert_eq!(error.message(), Some(reason));
            assert_eq!(error.class(), class, "{reason}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_becomes_the_message() {
        let err = InteractionError::from_error_body(502, b"<html>bad gateway</html>", None);
        assert_eq!(err.message(), Some("<html>bad gateway</html>"));
        assert_eq!(err.class(), ErrorClass::Retryable);
        assert_eq!(
            err.to_string(),
            "interaction service answered http 502: <html>bad gateway</html>"
        );
    }
}
