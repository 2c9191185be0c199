//! The sidecar's conversation state route: `GET /v1/conversations/{conversationIdentifier}`
//! answers what the connector knows (session id and status, participants, pending routing,
//! the last delivered entry, the last reported delivery failure); `404` when it knows nothing.
//!
//! Bad input gets a `400` whose `error` names the field and the rule; `503` while the
//! connector starts. The services are late-bound, because the server listens before they
//! exist. The partner's writes about a conversation, delivery failures included, are inbound
//! routes. It knows nothing about the server's other routes.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tracing::warn;

use super::ConversationTracker;
use crate::routing::RoutingEngine;

/// The state route, in axum's path syntax.
pub(crate) const CONVERSATION_PATH: &str = "/v1/conversations/{conversation_identifier}";

/// Longest conversation identifier and channel address (`maxLength` in the official API).
const MAX_IDENTIFIER_CHARS: usize = 240;
/// Seconds a `503` asks the caller to wait.
const STARTING_RETRY_AFTER_SECS: u32 = 1;

/// What the routes use; set once the connector has built it.
#[derive(Debug, Clone)]
pub(crate) struct ConversationServices {
    /// The conversation states.
    pub tracker: ConversationTracker,
    /// Pending routing requests, when routing runs.
    pub routing: Option<RoutingEngine>,
}

type Services = Arc<OnceLock<ConversationServices>>;

/// The routes over `services`, answering `503` until they are set.
pub(crate) fn router(services: Services) -> Router {
    Router::new()
        .route(CONVERSATION_PATH, get(show))
        .with_state(services)
}

/// A `400` naming `field` and the `rule` it breaks.
fn invalid(field: &str, rule: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"error": {"kind": "invalid_request", "field": field, "rule": rule,
                              "message": format!("{field}: {rule}")}}),
        ),
    )
        .into_response()
}

fn starting() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": {"kind": "starting", "message": "the connector is starting"}})),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(STARTING_RETRY_AFTER_SECS),
    );
    response
}

fn store_failed() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(
            json!({"error": {"kind": "store_failed", "message": "the conversation store failed"}}),
        ),
    )
        .into_response()
}

/// The `400` naming the path's conversation identifier unless it has 1..=240 characters.
fn identifier_problem(conversation: &str) -> Option<Response> {
    let length = conversation.trim().chars().count();
    (length == 0 || length > MAX_IDENTIFIER_CHARS).then(|| {
        invalid(
            "conversationIdentifier",
            &format!("required, 1..={MAX_IDENTIFIER_CHARS} characters (got {length})"),
        )
    })
}

async fn show(State(services): State<Services>, Path(conversation): Path<String>) -> Response {
    let Some(services) = services.get() else {
        return starting();
    };
    if let Some(problem) = identifier_problem(&conversation) {
        return problem;
    }
    let state = match services.tracker.get(&conversation) {
        Ok(state) => state,
        Err(error) => {
            warn!(conversation_id = %conversation, error = %error, "cannot read conversation state");
            return store_failed();
        }
    };
    let pending = services
        .routing
        .as_ref()
        .map(|routing| routing.pending_for(&conversation))
        .unwrap_or_default();
    let Some(state) = state
        .or_else(|| (!pending.is_empty()).then(|| super::ConversationState::new(&conversation)))
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"kind": "not_found", "conversationIdentifier": conversation,
                                  "message": "the connector knows no such conversation"}}),
            ),
        )
            .into_response();
    };
    let mut body = serde_json::to_value(&state).unwrap_or_else(|_| json!({}));
    body["pendingRouting"] = serde_json::to_value(&pending).unwrap_or_else(|_| json!([]));
    (StatusCode::OK, Json(body)).into_response()
}
