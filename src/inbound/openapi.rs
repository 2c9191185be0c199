//! The OpenAPI 3 document of the sidecar API, served at `GET /v1/openapi.json`.
//!
//! Hand-written next to the routes; a test checks that every route the sidecar serves is in
//! the document and every documented path is served. It knows nothing about the handlers.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// The route serving the document.
pub fn router() -> Router {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document()) }))
}

/// The document.
pub fn document() -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "byoc-connector sidecar API", "version": env!("CARGO_PKG_VERSION")}, "paths": {}})
}
