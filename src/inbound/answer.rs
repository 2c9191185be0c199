//! What the sidecar's inbound routes answer: a status and a JSON body, including the typed
//! error bodies (a refused request naming the field and the rule; Salesforce's own code and
//! message).
//!
//! An [`Answer`] serializes to the store, so a retried call replays it byte for byte. It knows
//! nothing about which route produced it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::interaction::{ErrorClass, InteractionError, AUTHORIZATION_CONTEXT_MISMATCH_CODE};

/// What a `503` for a connector still starting asks the caller to wait, in seconds.
const STARTING_RETRY_AFTER_SECS: u64 = 1;

/// A route's answer: status and JSON body, and for a `503` the seconds to wait before a retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// Sent as `Retry-After`: Salesforce's own, or a second while the connector starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after_secs: Option<u64>,
}

impl Answer {
    /// A success answer.
    pub(crate) fn ok(status: StatusCode, body: Value) -> Self {
        Self {
            status: status.as_u16(),
            body,
            retry_after_secs: None,
        }
    }

    /// `400`: the request breaks `rule` on `field`; nothing was sent to Salesforce.
    pub(crate) fn invalid(field: &str, rule: impl Into<String>) -> Self {
        Self::refused(StatusCode::BAD_REQUEST, "invalid_request", field, rule)
    }

    /// `409`: the connector's configuration `field` forbids the call (`rule` says why);
    /// nothing was sent to Salesforce, which would refuse it too.
    pub(crate) fn not_allowed(field: &str, rule: impl Into<String>) -> Self {
        Self::refused(StatusCode::CONFLICT, "not_allowed", field, rule)
    }

    fn refused(status: StatusCode, kind: &str, field: &str, rule: impl Into<String>) -> Self {
        let rule = rule.into();
        let message = format!("{field}: {rule}");
        Self {
            status: status.as_u16(),
            body: json!({"error": {"kind": kind, "field": field, "rule": rule, "message": message}}),
            retry_after_secs: None,
        }
    }

    /// `503`: the connector is still starting; retry with the same idempotency key.
    pub(crate) fn starting() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            body: json!({"error": {"kind": "starting", "message": "the connector is starting, retry shortly"}}),
            retry_after_secs: Some(STARTING_RETRY_AFTER_SECS),
        }
    }

    /// `504`: the caller's deadline passed; retry with the same idempotency key.
    pub(crate) fn deadline_exceeded() -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT.as_u16(),
            body: json!({"error": {"kind": "deadline_exceeded", "message": "salesforce did not accept the call before the request's deadline; retry with the same Idempotency-Key"}}),
            retry_after_secs: None,
        }
    }

    /// `500`: the connector's own store failed.
    pub(crate) fn store_failed() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
            body: json!({"error": {"kind": "store_failed", "message": "the connector's store failed"}}),
            retry_after_secs: None,
        }
    }

    /// The answer for a failed Interaction Service call: Salesforce's refusal as `422` with
    /// its status, code and message; a transient failure that outlived the deadline as `503`;
    /// a refusal of the connector's own credentials (a token still refused after its refresh,
    /// an authorization context that does not fit the token) as `502`, since the request was
    /// not at fault and will pass once the setup is fixed; a request the client's own rules
    /// refused, before sending, as `400` naming the field; no usable answer as `502`.
    pub(crate) fn from_interaction(error: &InteractionError) -> Self {
        // The client's own check of the API's rules refused the request: nothing was sent,
        // and the request (or what it was completed with) is at fault.
        if let InteractionError::InvalidRequest { field, rule } = error {
            return Self::invalid(field, rule.clone());
        }
        let salesforce = json!({
            "status": error.status(),
            "code": error.code(),
            "message": error.message().map_or_else(|| error.to_string(), str::to_owned),
        });
        let (status, kind) = match (error, error.class()) {
            (InteractionError::Api { .. }, ErrorClass::Retryable) => {
                (StatusCode::SERVICE_UNAVAILABLE, "salesforce_unavailable")
            }
            (InteractionError::Api { .. }, ErrorClass::Auth) => {
                (StatusCode::BAD_GATEWAY, "salesforce_auth_failed")
            }
            (InteractionError::Api { code, .. }, _)
                if *code == Some(AUTHORIZATION_CONTEXT_MISMATCH_CODE) =>
            {
                (StatusCode::BAD_GATEWAY, "salesforce_auth_failed")
            }
            (InteractionError::Api { .. }, _) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "salesforce_refused")
            }
            (_, ErrorClass::Retryable) => (StatusCode::BAD_GATEWAY, "salesforce_unreachable"),
            (InteractionError::Auth(_), _) => (StatusCode::BAD_GATEWAY, "salesforce_auth_failed"),
            _ => (StatusCode::BAD_GATEWAY, "salesforce_call_failed"),
        };
        // Salesforce's wait, rounded up to whole seconds, for the partner's next try.
        let retry_after_secs = match status {
            StatusCode::SERVICE_UNAVAILABLE => error
                .retry_after()
                .map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            _ => None,
        };
        Self {
            status: status.as_u16(),
            body: json!({"error": {"kind": kind, "salesforce": salesforce}}),
            retry_after_secs,
        }
    }

    /// Whether a retry with the same key must get this answer again: a success, or a
    /// Salesforce refusal that a repeat would not change.
    pub(crate) fn is_final(&self) -> bool {
        (200..300).contains(&self.status)
            || self.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16()
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_still_starting_asks_for_a_retry_after_one_second() {
        let response = Answer::starting().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn a_request_the_clients_own_rules_refused_is_a_400_naming_the_field() {
        let refused = InteractionError::InvalidRequest {
            field: "to",
            rule: "must have 1..=240 characters".to_owned(),
        };
        let answer = Answer::from_interaction(&refused);
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body["error"]["kind"], "invalid_request");
        assert_eq!(answer.body["error"]["field"], "to");
    }

    #[test]
    fn a_kept_answer_without_a_wait_reads_back_as_it_was_stored_before_the_field_existed() {
        let stored = r#"{"status":202,"body":{"entryId":"e-1"}}"#;
        let answer: Answer = serde_json::from_str(stored).unwrap();
        assert_eq!(answer.retry_after_secs, None);
        assert_eq!(serde_json::to_string(&answer).unwrap(), stored);
    }
}
