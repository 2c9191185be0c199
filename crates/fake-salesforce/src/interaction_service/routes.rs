//! The fake Interaction Service's HTTP routes: one handler per endpoint, each handing the
//! headers and parsed body to [`InteractionFake`], plus the control plane. It knows nothing
//! about the rules themselves.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;

use crate::interaction_service::body::{self, ParsedBody};
use crate::interaction_service::{control, Endpoint, InteractionFake};

/// Largest `/interactions` body the fake reads: Salesforce's 25 MB file limit plus 1 MB for
/// the `json` part and the multipart framing.
const MAX_INTERACTIONS_BODY_BYTES: usize = 26 * 1024 * 1024;

async fn api_call(
    fake: Arc<InteractionFake>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The body was read before the handler started; a JSON body is small.
    let started = std::time::Instant::now();
    let parsed = if endpoint.is_multipart() {
        body::parse_multipart(&headers, body).await
    } else if body.iter().all(u8::is_ascii_whitespace) {
        ParsedBody::Empty
    } else {
        ParsedBody::Json(serde_json::from_slice(&body).ok())
    };
    let (response, hold) = fake.handle(endpoint, &headers, &parsed, started);
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    response
}

/// `POST /interactions`: the multipart body is read from the request itself, so the route's
/// body limit applies to its parts.
async fn interactions_call(
    State(fake): State<Arc<InteractionFake>>,
    request: axum::extract::Request,
) -> Response {
    let started = std::time::Instant::now();
    let headers = request.headers().clone();
    let parsed = body::parse_multipart_request(request).await;
    let (response, hold) = fake.handle(Endpoint::PostInteractions, &headers, &parsed, started);
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    response
}

/// Builds an axum handler for one endpoint.
macro_rules! endpoint_handler {
    ($endpoint:expr) => {
        |State(fake): State<Arc<InteractionFake>>, headers: HeaderMap, body: Bytes| async move {
            api_call(fake, $endpoint, headers, body).await
        }
    };
}

/// The fake's routes: `/api/v1/*`, `GET`/`DELETE /_harness/calls`, and
/// `POST`/`DELETE /_harness/interaction/faults`, `POST /_harness/interaction/conversations`.
pub fn router(state: Arc<InteractionFake>) -> Router {
    Router::new()
        .route(
            "/api/v1/routingResult",
            post(endpoint_handler!(Endpoint::RoutingResult)),
        )
        .route(
            "/api/v1/route",
            post(endpoint_handler!(Endpoint::PostRoute))
                .delete(endpoint_handler!(Endpoint::DeleteRoute)),
        )
        .route(
            "/api/v1/agentWork",
            post(endpoint_handler!(Endpoint::PostAgentWork))
                .patch(endpoint_handler!(Endpoint::PatchAgentWork)),
        )
        .route(
            "/api/v1/interactions",
            // Room for a 25 MB file and the rest of the form, so a larger file meets the
            // 10008 rule rather than the HTTP server's default limit.
            post(interactions_call).layer(axum::extract::DefaultBodyLimit::max(
                MAX_INTERACTIONS_BODY_BYTES,
            )),
        )
        .route(
            "/api/v1/capabilities",
            patch(endpoint_handler!(Endpoint::PatchCapabilities)),
        )
        .route(
            "/api/v1/messagingSession",
            post(endpoint_handler!(Endpoint::PostMessagingSession)),
        )
        .route(
            "/api/v1/acknowledgement",
            post(endpoint_handler!(Endpoint::PostAcknowledgement)),
        )
        .route(
            "/api/v1/conversation",
            post(endpoint_handler!(Endpoint::PostConversation)),
        )
        .route(
            "/api/v1/consent",
            patch(endpoint_handler!(Endpoint::PatchConsent)),
        )
        .route(
            "/api/v1/participant",
            post(endpoint_handler!(Endpoint::PostParticipant)),
        )
        .route(
            "/api/v1/conversationHistory",
            post(endpoint_handler!(Endpoint::PostConversationHistory)),
        )
        .merge(control::routes())
        .with_state(state)
}
