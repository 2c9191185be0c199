//! The sidecar's routing endpoints (DESIGN §7): `POST /v1/routing/{eventId}/result` and
//! `POST /v1/routing/{eventId}/assign`.
//!
//! After answering a `routing.requested` delivery with `202`, the partner either sends its
//! decision `{"success": bool, "externallyRouted": bool, "errorMessage"?: str}` to `result`,
//! or names the rep it found, `{"userId": "005…"}`, to `assign`: the connector then creates
//! the AgentWork and posts the routingResult in the documented order. Answers: `200` posted to Salesforce,
//! `400` bad body, `404` unknown event id, `409` already decided, `410` past the decision
//! deadline, `502` Salesforce did not accept the routingResult, `503` the request is being
//! resumed (retry). The connector's server serves this route beside its own; this module knows
//! nothing about the server's other routes, Pub/Sub or the pipeline.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tracing::{error, info};

use super::engine::RoutingEngine;
use super::partner::PartnerDecision;
use super::views::SidecarOutcome;
use crate::json_body::{self, FieldError};

/// The decision endpoint's route, in axum's path syntax.
pub(crate) const SIDECAR_DECISION_PATH: &str = "/v1/routing/{event_id}/result";

/// The assignment endpoint's route, in axum's path syntax.
pub(crate) const SIDECAR_ASSIGN_PATH: &str = "/v1/routing/{event_id}/assign";

/// The key prefix of Salesforce User ids.
const USER_ID_PREFIX: &str = "005";

/// Seconds a `503` asks the partner to wait before retrying.
const RESUMING_RETRY_AFTER_SECS: u32 = 1;

impl RoutingEngine {
    /// The sidecar's routing routes (`result` and `assign`), with this engine as state.
    pub fn sidecar_router(&self) -> Router {
        Router::new()
            .route(SIDECAR_DECISION_PATH, post(decide))
            .route(SIDECAR_ASSIGN_PATH, post(assign))
            .with_state(self.clone())
    }
}

async fn assign(
    State(engine): State<RoutingEngine>,
    Path(event_id): Path<String>,
    body: Bytes,
) -> Response {
    assign_response(&engine, event_id, &body).await
}

/// A decision as the sidecar takes it. Unknown fields are refused: a misspelt
/// `externallyRouted` would otherwise be read as `false` and posted, and a decision cannot be
/// taken back.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SidecarDecision {
    success: bool,
    #[serde(default)]
    externally_routed: bool,
    #[serde(default)]
    error_message: Option<String>,
}

/// An assignment as the sidecar takes it; unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SidecarAssignment {
    user_id: Option<serde_json::Value>,
}

/// The partner's decision from a sidecar decision body, or the field and rule it breaks.
pub(crate) fn decision_from(body: &[u8]) -> Result<PartnerDecision, FieldError> {
    let SidecarDecision {
        success,
        externally_routed,
        error_message,
    } = json_body::parse(body)?;
    Ok(PartnerDecision {
        success,
        externally_routed,
        error_message,
    })
}

/// The rep's User id from an assignment body `{"userId": "005…"}`, in its 15-character form
/// (the form `workItemId` must take too; the YAML sets no length on `userId`).
pub(crate) fn user_id_from(body: &[u8]) -> Result<String, FieldError> {
    let rule = "userId must be a 15- or 18-character Salesforce User id starting with 005";
    let bad_user_id = |rule: String| FieldError {
        field: "userId".to_owned(),
        rule,
    };
    let SidecarAssignment { user_id } = json_body::parse(body)?;
    let Some(value) = user_id else {
        return Err(bad_user_id(format!("userId is required; {rule}")));
    };
    let user_id = value.as_str().unwrap_or_default();
    let well_formed = matches!(user_id.len(), 15 | 18)
        && user_id.starts_with(USER_ID_PREFIX)
        && user_id.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if !well_formed {
        return Err(bad_user_id(rule.to_owned()));
    }
    Ok(user_id[..15].to_owned())
}

/// Handles one assignment `body` for `event_id` and builds the endpoint's answer; for servers
/// that route [`SIDECAR_ASSIGN_PATH`] themselves.
pub(crate) async fn assign_response(
    engine: &RoutingEngine,
    event_id: String,
    body: &[u8],
) -> Response {
    let user_id = match user_id_from(body) {
        Ok(user_id) => user_id,
        Err(problem) => return bad_body(event_id, problem),
    };
    let outcome = engine.assign(&event_id, user_id).await;
    outcome_response(event_id, outcome, "assignment")
}

/// The `400` for a body that breaks a rule: `{"eventId", "error": rule, "field"}`.
fn bad_body(event_id: String, FieldError { field, rule }: FieldError) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"eventId": event_id, "error": rule, "field": field}),
    )
}

async fn decide(
    State(engine): State<RoutingEngine>,
    Path(event_id): Path<String>,
    body: Bytes,
) -> Response {
    decision_response(&engine, event_id, &body).await
}

/// Handles one decision `body` for `event_id` and builds the endpoint's answer; for servers
/// that route [`SIDECAR_DECISION_PATH`] themselves instead of merging the engine's own router.
pub(crate) async fn decision_response(
    engine: &RoutingEngine,
    event_id: String,
    body: &[u8],
) -> Response {
    let decision = match decision_from(body) {
        Ok(decision) => decision,
        Err(problem) => return bad_body(event_id, problem),
    };
    let outcome = engine.decide(&event_id, decision).await;
    outcome_response(event_id, outcome, "decision")
}

/// The endpoint's answer to what became of a decision or an assignment.
fn outcome_response(
    event_id: String,
    outcome: Result<SidecarOutcome, super::RoutingError>,
    kind: &'static str,
) -> Response {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(problem) => {
            error!(event_id, kind, error = %problem, "sidecar routing call could not be handled");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"eventId": event_id, "error": "the routing store failed"}),
            );
        }
    };
    info!(event_id, kind, outcome = ?outcome, "sidecar routing call handled");
    match outcome {
        SidecarOutcome::Posted {
            success,
            error_message,
        } => {
            let mut body = json!({"eventId": event_id, "status": "posted", "success": success});
            if let Some(error_message) = error_message {
                body["errorMessage"] = error_message.into();
            }
            answer(StatusCode::OK, body)
        }
        SidecarOutcome::NotPosted { reason } => answer(
            StatusCode::BAD_GATEWAY,
            json!({"eventId": event_id, "error": "the routing result was not accepted by salesforce", "reason": reason}),
        ),
        SidecarOutcome::Unknown => answer(
            StatusCode::NOT_FOUND,
            json!({"eventId": event_id, "error": "unknown routing request"}),
        ),
        SidecarOutcome::AlreadyDecided { state } => answer(
            StatusCode::CONFLICT,
            json!({"eventId": event_id, "error": "routing request already decided", "state": state}),
        ),
        SidecarOutcome::NotAccepted => answer(
            StatusCode::CONFLICT,
            json!({"eventId": event_id, "error": "the routing strategy does not take partner decisions"}),
        ),
        SidecarOutcome::PastDeadline => answer(
            StatusCode::GONE,
            json!({"eventId": event_id, "error": "routing request is past its decision deadline"}),
        ),
        SidecarOutcome::Resuming => {
            let mut response = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"eventId": event_id, "error": "routing request is being resumed, retry shortly"}),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(RESUMING_RETRY_AFTER_SECS),
            );
            response
        }
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_names_a_user_id_and_goes_out_in_its_short_form() {
        assert_eq!(
            user_id_from(br#"{"userId":"0055g00000REP01AAA"}"#),
            Ok("0055g00000REP01".to_owned())
        );
        assert_eq!(
            user_id_from(br#"{"userId":"0055g00000REP01"}"#),
            Ok("0055g00000REP01".to_owned())
        );
        for bad in [
            "{}",
            r#"{"userId":7}"#,
            r#"{"userId":"0055g00000REP0"}"#,
            r#"{"userId":"00G5g00000REP01"}"#,
            r#"{"userId":"0055g00000REP-1"}"#,
        ] {
            assert_eq!(
                user_id_from(bad.as_bytes()).unwrap_err().field,
                "userId",
                "{bad}"
            );
        }
        assert_eq!(user_id_from(b"nope").unwrap_err().field, "body");
        assert_eq!(
            user_id_from(br#"{"userId":"0055g00000REP01","user":"x"}"#)
                .unwrap_err()
                .field,
            "user"
        );
    }

    #[test]
    fn a_decision_with_an_unknown_field_is_refused_naming_it() {
        let decision = decision_from(br#"{"success":true,"externallyRouted":true}"#).unwrap();
        assert!(decision.success && decision.externally_routed);
        let misspelt = decision_from(br#"{"success":true,"externalyRouted":true}"#).unwrap_err();
        assert_eq!(misspelt.field, "externalyRouted");
        assert_eq!(
            decision_from(br#"{"success":"yes"}"#).unwrap_err().field,
            "success"
        );
        assert_eq!(decision_from(b"{}").unwrap_err().field, "success");
    }
}
