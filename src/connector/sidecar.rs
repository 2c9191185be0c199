//! The sidecar API's routes as the connector serves them: every route exists from the start,
//! and those whose state is built later answer `503` with `Retry-After` until it is.
//!
//! With `ha.enabled`, a standby serves the partner → Salesforce writes (they need no
//! leadership) and the dead letters, but not routing decisions: those answer `503` saying the
//! replica stands by, so the partner retries and reaches the leader. This file knows which
//! routes are late-bound and what a standby says; the routes themselves are their modules'.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::conversation::{self, ConversationServices};
use crate::inbound::InboundSlot;
use crate::routing::{
    assign_response, decision_response, RoutingEngine, SIDECAR_ASSIGN_PATH, SIDECAR_DECISION_PATH,
};
use crate::store::Store;

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
