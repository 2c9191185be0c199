//! The sidecar API's routes as the connector serves them: every route exists from the start,
//! and those whose state is built later answer `503` with `Retry-After` until it is.
//!
//! With `ha.enabled`, a standby serves the partner → Salesforce writes (they need no
//! leadership) and the dead letters, but not routing decisions: those answer `503` saying the
//! replica stands by, so the partner retries and reaches the leader. This file knows which
//! routes are late-bound and what a standby says; the routes themselves are their modules'.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::conversation::{self, ConversationServices};
use crate::inbound::InboundSlot;
use crate::routing::{
    assign_response, decision_response, RoutingEngine, SIDECAR_ASSIGN_PATH, SIDECAR_DECISION_PATH,
};
use crate::store::{Store, StoreReleased};

/// The header a standby's sidecar `503` carries, with the value `standby`.
pub const ROLE_HEADER: &str = "x-byoc-role";

/// Whether this replica stands by for another one (`ha.enabled`); cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Role {
    standby: Arc<AtomicBool>,
}

impl Role {
    /// Marks this replica as standing by (`true`) or leading (`false`).
    pub(crate) fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::SeqCst);
    }

    fn is_standby(&self) -> bool {
        self.standby.load(Ordering::SeqCst)
    }
}

/// What the sidecar routes use once `run_pipeline` has built it.
#[derive(Default)]
pub(super) struct LateBound {
    /// The decision endpoint's engine.
    pub(super) routing: Arc<OnceLock<RoutingEngine>>,
    /// The inbound partner → Salesforce routes' state.
    pub(super) inbound: InboundSlot,
    /// The store the dead-letter routes read, once the pipeline opened it.
    pub(super) dead_letters: Arc<OnceLock<Store>>,
    /// Learns when that store is closed, without holding it open.
    pub(super) released: Arc<OnceLock<StoreReleased>>,
    /// The conversation routes' services.
    pub(super) conversations: Arc<OnceLock<ConversationServices>>,
    /// Whether routing decisions belong to another replica.
    pub(super) role: Role,
}

impl LateBound {
    /// Every sidecar route: the routing decision and assignment, the inbound partner →
    /// Salesforce routes, the conversation routes, the dead letters and the OpenAPI document.
    pub(super) fn routes(&self) -> axum::Router {
        late_bound_routing(self.routing.clone(), self.role.clone())
            .merge(crate::inbound::router(self.inbound.clone()))
            .merge(conversation::router(self.conversations.clone()))
            .merge(crate::dlq::router(self.dead_letters.clone()))
            .merge(crate::inbound::openapi::router())
    }
}

/// Serves the sidecar routing endpoints (decision and assignment), answering `503` until the
/// routing engine exists.
///
/// The engine is late-bound rather than its router: a router called from inside another
/// route's handler would see the outer route's path parameters as well as its own, and its
/// `Path` extractor would then refuse every call with a `500`.
fn late_bound_routing(engine: Arc<OnceLock<RoutingEngine>>, role: Role) -> axum::Router {
    let (assign_engine, assign_role) = (engine.clone(), role.clone());
    let decide = move |axum::extract::Path(event_id): axum::extract::Path<String>,
                       body: axum::body::Bytes| {
        let (engine, role) = (engine.clone(), role.clone());
        async move {
            match engine.get() {
                Some(engine) => decision_response(engine, event_id, &body).await,
                None => routing_unavailable(&role),
            }
        }
    };
    let assign = move |axum::extract::Path(event_id): axum::extract::Path<String>,
                       body: axum::body::Bytes| {
        let (engine, role) = (assign_engine.clone(), assign_role.clone());
        async move {
            match engine.get() {
                Some(engine) => assign_response(engine, event_id, &body).await,
                None => routing_unavailable(&role),
            }
        }
    };
    axum::Router::new()
        .route(SIDECAR_DECISION_PATH, axum::routing::post(decide))
        .route(SIDECAR_ASSIGN_PATH, axum::routing::post(assign))
}

/// The sidecar's answer while this replica has no routing engine: it is starting, or it stands
/// by for the leader.
fn routing_unavailable(role: &Role) -> axum::response::Response {
    let retry = [(header::RETRY_AFTER, HeaderValue::from_static("1"))];
    if role.is_standby() {
        let standby = [(
            header::HeaderName::from_static(ROLE_HEADER),
            HeaderValue::from_static("standby"),
        )];
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            retry,
            standby,
            "this replica is a standby; routing decisions go to the leader, retry",
        )
            .into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        retry,
        "routing is starting",
    )
        .into_response()
}

/// The sidecar of a process serving `[[tenants]]`: each tenant's routes under
/// `/v1/tenants/{tenant}/…` (`/v1/tenants/acme/messages` is acme's `/v1/messages`), and the
/// OpenAPI document once. With exactly one tenant its routes also answer unprefixed, as a
/// single channel's do.
pub(super) fn tenant_routes(routes: BTreeMap<String, axum::Router>) -> axum::Router {
    let only = (routes.len() == 1)
        .then(|| routes.values().next().cloned())
        .flatten();
    let by_tenant = Arc::new(routes);
    let prefixed = axum::Router::new()
        .route(TENANT_ROUTES_PATH, axum::routing::any(to_tenant))
        .with_state(by_tenant);
    match only {
        Some(routes) => prefixed.merge(routes),
        None => prefixed.merge(crate::inbound::openapi::router()),
    }
}

/// Where a tenant's routes live; `{*rest}` is the part after `/v1/` of its own route.
const TENANT_ROUTES_PATH: &str = "/v1/tenants/{tenant}/{*rest}";

/// Hands the request to `tenant`'s routes as `/v1/{rest}`; `404` naming an unknown tenant.
async fn to_tenant(
    axum::extract::State(by_tenant): axum::extract::State<Arc<BTreeMap<String, axum::Router>>>,
    axum::extract::Path((tenant, rest)): axum::extract::Path<(String, String)>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let Some(routes) = by_tenant.get(&tenant) else {
        let known: Vec<&str> = by_tenant.keys().map(String::as_str).collect();
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no tenant named `{tenant}`; this connector serves {}",
                known.join(", ")
            ),
        )
            .into_response();
    };
    let (mut parts, body) = request.into_parts();
    let query = parts
        .uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    let Ok(uri) = format!("/v1/{rest}{query}").parse() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    parts.uri = uri;
    // The outer route's path parameters live in the extensions; the tenant's routes must see
    // only their own (see `late_bound_routing`).
    parts.extensions = axum::http::Extensions::new();
    let request = axum::extract::Request::from_parts(parts, body);
    match tower::ServiceExt::oneshot(routes.clone(), request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
