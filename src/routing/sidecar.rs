//! The sidecar's decision endpoint, `POST /v1/routing/{eventId}/result` (DESIGN §7).
//!
//! The partner sends `{"success": bool, "externallyRouted": bool, "errorMessage"?: str}` after
//! answering a `routing.requested` delivery with `202`. Answers: `200` posted to Salesforce,
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

/// The decision endpoint's route, in axum's path syntax.
pub const SIDECAR_DECISION_PATH: &str = "/v1/routing/{event_id}/result";

/// Seconds a `503` asks the partner to wait before retrying.
const RESUMING_RETRY_AFTER_SECS: u32 = 1;

/// What became of a partner decision sent to the sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarOutcome {
    /// Salesforce accepted the routingResult (`200`).
    Posted {
        /// Whether it reported success.
        success: bool,
    },
    /// The decision was taken but Salesforce did not accept it before the deadline (`502`).
    NotPosted {
        /// Why.
        reason: String,
    },
    /// No such routing request (`404`).
    Unknown,
    /// Someone decided first (`409`).
    AlreadyDecided {
        /// The request's state: `decided`, `posted`, `cancelled` or `missed`.
        state: String,
    },
    /// The partner's time to decide is over (`410`).
    PastDeadline,
    /// The routing strategy is not `partner`, so partner decisions are not taken (`409`).
    NotAccepted,
    /// The request is stored but not armed yet, e.g. during start-up (`503`).
    Resuming,
}

/// The router, with `engine` as its state.
pub(super) fn router(engine: RoutingEngine) -> Router {
    Router::new()
        .route(SIDECAR_DECISION_PATH, post(decide))
        .with_state(engine)
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
pub async fn decision_response(engine: &RoutingEngine, event_id: String, body: &[u8]) -> Response {
    let decision = match PartnerDecision::from_json(body) {
        Ok(decision) => decision,
        Err(problem) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"eventId": event_id, "error": problem}),
            )
        }
    };
    let outcome = match engine.decide(&event_id, decision).await {
        Ok(outcome) => outcome,
        Err(problem) => {
            error!(event_id, error = %problem, "sidecar routing decision could not be handled");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"eventId": event_id, "error": "the routing store failed"}),
            );
        }
    };
    info!(event_id, outcome = ?outcome, "sidecar routing decision handled");
    match outcome {
        SidecarOutcome::Posted { success } => answer(
            StatusCode::OK,
            json!({"eventId": event_id, "status": "posted", "success": success}),
        ),
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
