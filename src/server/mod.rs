//! The sidecar HTTP server: `/livez`, `/readyz`, `/metrics`, plus the routes other modules
//! hand in (the routing decision endpoint, the Interaction Service pass-through).
//!
//! This module owns the listener's lifetime and the three operational endpoints. It takes its
//! listener, state and shutdown token as arguments, so tests start it on `127.0.0.1:0`. It
//! knows nothing about routing or Salesforce: those routes arrive ready-made in `extra`.

mod readiness;

use std::io;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

pub use readiness::Readiness;

use crate::telemetry::Telemetry;

/// The content type of `GET /metrics` (OpenMetrics text, which Prometheus scrapes natively).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the operational endpoints read.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// Answers `GET /readyz`.
    pub readiness: Readiness,
    /// Encoded by `GET /metrics`.
    pub telemetry: Telemetry,
}

impl ServerState {
    /// State for the operational endpoints.
    pub fn new(readiness: Readiness, telemetry: Telemetry) -> Self {
        Self {
            readiness,
            telemetry,
        }
    }
}

/// The `/livez`, `/readyz` and `/metrics` routes.
pub fn operational_router(state: ServerState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves the operational routes merged with `extra` on `listener` until `shutdown` is
/// cancelled, then lets in-flight requests finish.
///
/// Cancel `shutdown` only after the connector has drained, so `/metrics` and the routing
/// endpoint keep answering during the drain. `extra` must not define the operational paths
/// (axum refuses overlapping routes when merging).
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    extra: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    info!(%address, "sidecar server listening");
    let app = operational_router(state).merge(extra);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!(%address, "sidecar server stopped");
    Ok(())
}

/// Always 200 while the process runs.
async fn livez() -> &'static str {
    "ok\n"
}

/// 200 when ready, 503 otherwise.
async fn readyz(State(state): State<ServerState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// The Prometheus text exposition of every metric.
async fn metrics(State(state): State<ServerState>) -> Response {
    match state.telemetry.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(encode_error) => {
            error!(error = %encode_error, "metrics encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
