//! What the sidecar's inbound routes answer: a status and a JSON body, including the typed
//! error bodies (a refused request naming the field and the rule; Salesforce's own code and
//! message).
//!
//! An [`Answer`] serializes to the store, so a retried call replays it byte for byte. It knows
//! nothing about which route produced it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::interaction::{ErrorClass, InteractionError, AUTHORIZATION_CONTEXT_MISMATCH_CODE};

/// A route's answer: status and JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// A success answer.
    pub(crate) fn ok(status: StatusCode, body: Value) -> Self {
        Self {
            status: status.as_u16(),
            body,
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
        }
    }

    /// `503`: the connector is still starting; retry with the same idempotency key.
    pub(crate) fn starting() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            body: json!({"error": {"kind": "starting", "message": "the connector is starting, retry shortly"}}),
        }
    }

    /// `504`: the caller's deadline passed; retry with the same idempotency key.
    pub(crate) fn deadline_exceeded() -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT.as_u16(),
            body: json!({"error": {"kind": "deadline_exceeded", "message": "salesforce did not accept the call before the request's deadline; retry with the same Idempotency-Key"}}),
        }
    }

    /// `500`: the connector's own store failed.
    pub(crate) fn store_failed() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
            body: json!({"error": {"kind": "store_failed", "message": "the connector's store failed"}}),
        }
    }

    /// The answer for a failed Interaction Service call: Salesforce's refusal as `422` with
    /// its status, code and message; a transient failure that outlived the deadline as `503`;
    /// a refusal of the connector's own credentials (a token still refused after its refresh,
    /// an authorization context that does not fit the token) as `502`, since the request was
    /// not at fault and will pass once the setup is fixed; no usable answer as `502`.
    pub(crate) fn from_interaction(error: &InteractionError) -> Self {
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
        Self {
            status: status.as_u16(),
            body: json!({"error": {"kind": kind, "salesforce": salesforce}}),
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
        (status, Json(self.body)).into_response()
    }
}
