//! The connector's two HTTP listeners (DESIGN §7): ops (`/livez`, `/readyz`, `/metrics`, safe
//! to expose to the cluster) and the sidecar API (the routes other modules hand in, behind a
//! bearer token when one is configured).
//!
//! This module owns both listeners' lifetimes, the three operational endpoints and the token
//! check. It takes listeners, state and shutdown tokens as arguments, so tests start it on
//! `127.0.0.1:0`. It knows nothing about routing or Salesforce: the sidecar's routes arrive
//! ready-made.

mod bearer;
mod plain_errors;
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

pub use bearer::SidecarAuth;
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
pub(crate) fn operational_router(state: ServerState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves the operational routes on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
///
/// Cancel `shutdown` only after the connector has drained, so `/metrics` keeps answering
/// during the drain.
pub async fn serve_ops(
    listener: TcpListener,
    state: ServerState,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    info!(%address, "ops server listening");
    axum::serve(listener, operational_router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!(%address, "ops server stopped");
    Ok(())
}

/// Serves the sidecar API `routes` on `listener`, each request checked by `auth`, until
/// `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve_sidecar(
    listener: TcpListener,
    routes: Router,
    auth: SidecarAuth,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    info!(%address, token_required = auth.is_required(), "sidecar server listening");
    // The fallback comes before the layer so unknown paths are behind the token too.
    let app = routes
        .fallback(not_found)
        .layer(axum::middleware::map_response(plain_errors::as_json))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            bearer::require_bearer,
        ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!(%address, "sidecar server stopped");
    Ok(())
}

/// `404` for a path the sidecar does not serve.
async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
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
