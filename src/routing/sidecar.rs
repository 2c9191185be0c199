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
use serde_json::json;
use tracing::{error, info};

use super::engine::RoutingEngine;
use super::partner::PartnerDecision;
use super::views::SidecarOutcome;

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

/// Why an assignment body is refused: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadField {
    /// The field, `body` when the body is not a JSON object.
    pub(crate) field: &'static str,
    /// The rule it breaks.
    pub(crate) rule: String,
}

/// The rep's User id from an assignment body `{"userId": "005…"}`, in its 15-character form
/// (the form `workItemId` must take too; the YAML sets no length on `userId`).
pub(crate) fn user_id_from(body: &[u8]) -> Result<String, BadField> {
    let rule = "userId must be a 15- or 18-character Salesforce User id starting with 005";
    let body: serde_json::Value = serde_json::from_slice(body).map_err(|problem| BadField {
        field: "body",
        rule: format!("the body must be a JSON object: {problem}"),
    })?;
    let Some(value) = body.get("userId") else {
        return Err(BadField {
            field: "userId",
            rule: format!("userId is required; {rule}"),
        });
    };
    let user_id = value.as_str().unwrap_or_default();
    let well_formed = matches!(user_id.len(), 15 | 18)
        && user_id.starts_with(USER_ID_PREFIX)
        && user_id.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if !well_formed {
        return Err(BadField {
            field: "userId",
            rule: rule.to_owned(),
        });
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
        Err(BadField { field, rule }) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"eventId": event_id, "error": rule, "field": field}),
            )
        }
    };
    let outcome = engine.assign(&event_id, user_id).await;
    outcome_response(event_id, outcome, "assignment")
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
    let decision = match PartnerDecision::from_json(body) {
        Ok(decision) => decision,
        Err(problem) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"eventId": event_id, "error": problem}),
            )
        }
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
    }
}
