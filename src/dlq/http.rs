//! Reading dead letters from a running connector: the store is held by the daemon, so
//! `dlq list` and `dlq show` ask it over HTTP.
//!
//! [`router`] serves `GET /v1/dead-letters` (summaries, oldest first) and
//! `GET /v1/dead-letters/{id}` (one letter in full). It holds message text, so it belongs on
//! the authenticated sidecar listener, never on the operations port. The store is late-bound:
//! the routes exist from the start and answer `503` until the connector has opened it. This
//! file knows nothing about how the listener is protected.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{list, show, summary, DlqError};
use crate::store::Store;

/// Where the dead letters are listed; one letter is at `{DEAD_LETTERS_PATH}/{id}`.
pub const DEAD_LETTERS_PATH: &str = "/v1/dead-letters";

/// The dead-letter routes over the store the connector will open into `store`.
pub fn router(store: Arc<OnceLock<Store>>) -> axum::Router {
    axum::Router::new()
        .route(DEAD_LETTERS_PATH, axum::routing::get(list_letters))
        .route(
            &format!("{DEAD_LETTERS_PATH}/{{id}}"),
            axum::routing::get(show_letter),
        )
        .with_state(store)
}

async fn list_letters(State(store): State<Arc<OnceLock<Store>>>) -> Response {
    let Some(store) = store.get().cloned() else {
        return starting();
    };
    let listed = tokio::task::spawn_blocking(move || list(&store)).await;
    match listed {
        Ok(Ok(letters)) => Json(letters.iter().map(summary).collect::<Vec<_>>()).into_response(),
        Ok(Err(error)) => failed(&error),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the store task failed").into_response(),
    }
}

async fn show_letter(State(store): State<Arc<OnceLock<Store>>>, Path(id): Path<u64>) -> Response {
    let Some(store) = store.get().cloned() else {
        return starting();
    };
    match tokio::task::spawn_blocking(move || show(&store, id)).await {
        Ok(Ok(letter)) => Json(letter).into_response(),
        Ok(Err(error)) => failed(&error),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the store task failed").into_response(),
    }
}

/// `503` with a retry hint while the store is not open yet.
fn starting() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "the connector is starting",
    )
        .into_response()
}

fn failed(error: &DlqError) -> Response {
    let status = match error {
        DlqError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, error.to_string()).into_response()
}
