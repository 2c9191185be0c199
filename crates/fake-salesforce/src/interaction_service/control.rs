//! The fake Interaction Service's control plane for tests in any language:
//! `GET`/`DELETE /_harness/calls`, `POST`/`DELETE /_harness/interaction/faults`,
//! `POST /_harness/interaction/holds`, `POST /_harness/interaction/clock` and `POST /_harness/interaction/conversations`.
//!
//! It knows nothing about the connector's client.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::interaction_service::{InteractionFake, InteractionFault, RecordedCall, ResponseHold};

/// The control routes, to be merged into the fake's router before its state is attached.
pub(super) fn routes() -> Router<Arc<InteractionFake>> {
    Router::new()
        .route("/_harness/calls", get(list_calls).delete(clear_calls))
        .route(
            "/_harness/interaction/faults",
            post(add_fault).delete(clear_faults),
        )
        .route("/_harness/interaction/holds", post(add_hold))
        .route("/_harness/interaction/clock", post(set_clock))
        .route(
            "/_harness/interaction/conversations",
            post(seed_conversation),
        )
}

/// Query of `GET /_harness/calls`.
#[derive(Deserialize)]
struct CallsQuery {
    /// Only calls to this path (`routingResult` or `/api/v1/routingResult`).
    path: Option<String>,
}

async fn list_calls(
    State(fake): State<Arc<InteractionFake>>,
    Query(query): Query<CallsQuery>,
) -> Json<Vec<RecordedCall>> {
    match query.path {
        Some(path) => Json(fake.calls_to(&path)),
        None => Json(fake.calls()),
    }
}

async fn clear_calls(State(fake): State<Arc<InteractionFake>>) -> StatusCode {
    fake.clear_calls();
    StatusCode::NO_CONTENT
}

async fn add_fault(
    State(fake): State<Arc<InteractionFake>>,
    Json(fault): Json<InteractionFault>,
) -> Response {
    match fake.inject_fault(fault) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": err.to_string()})),
        )
            .into_response(),
    }
}

async fn add_hold(
    State(fake): State<Arc<InteractionFake>>,
    Json(hold): Json<ResponseHold>,
) -> StatusCode {
    fake.hold_responses(hold);
    StatusCode::NO_CONTENT
}

/// Body of `POST /_harness/interaction/clock`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockSkew {
    /// How far ahead of the local clock (negative: behind) every answer's `Date` is.
    date_skew_secs: i64,
}

async fn set_clock(
    State(fake): State<Arc<InteractionFake>>,
    Json(skew): Json<ClockSkew>,
) -> StatusCode {
    fake.set_date_skew(skew.date_skew_secs);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(fake): State<Arc<InteractionFake>>) -> StatusCode {
    fake.clear_faults();
    StatusCode::NO_CONTENT
}

/// Body of `POST /_harness/interaction/conversations`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedConversation {
    conversation_identifier: String,
    work_item_id: String,
}

async fn seed_conversation(
    State(fake): State<Arc<InteractionFake>>,
    Json(seed): Json<SeedConversation>,
) -> StatusCode {
    fake.seed_conversation(&seed.conversation_identifier, &seed.work_item_id);
    StatusCode::NO_CONTENT
}
