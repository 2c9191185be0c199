//! The inbound routes' table: every partner → Salesforce route with its method, path and
//! handler, read both by the router and by the OpenAPI check ([`served`]).
//!
//! Handlers live by area: `messages` (the end user's messages, typing, starting a
//! conversation), `attachment`, `conversation_writes` (receipts, session, participants,
//! consent, agentWork), `history` and `delivery_failures`. It knows nothing about the server
//! that serves them.

use axum::http::Method;
use axum::routing::{delete, patch, post, MethodRouter};
use axum::Router;

use super::{conversation_writes, delivery_failures, history, messages, InboundSlot};

/// `POST /v1/messages`.
pub(crate) const MESSAGES_PATH: &str = "/v1/messages";
/// `POST /v1/conversations`.
pub(crate) const CONVERSATIONS_PATH: &str = "/v1/conversations";
/// `POST /v1/typing`.
pub(crate) const TYPING_PATH: &str = "/v1/typing";
/// `POST /v1/conversations/{conversationIdentifier}/receipts`.
pub(crate) const RECEIPTS_PATH: &str = "/v1/conversations/{conversationIdentifier}/receipts";
/// `POST /v1/conversations/{conversationIdentifier}/session`.
pub(crate) const SESSION_PATH: &str = "/v1/conversations/{conversationIdentifier}/session";
/// `DELETE /v1/conversations/{conversationIdentifier}/participants/{userId}`.
pub(crate) const PARTICIPANT_PATH: &str =
    "/v1/conversations/{conversationIdentifier}/participants/{userId}";
/// `POST /v1/conversations/{conversationIdentifier}/delivery-failures`.
pub(crate) const DELIVERY_FAILURES_PATH: &str =
    "/v1/conversations/{conversationIdentifier}/delivery-failures";
/// `PATCH /v1/consent`.
pub(crate) const CONSENT_PATH: &str = "/v1/consent";
/// `POST /v1/conversation-history`.
pub(crate) const HISTORY_PATH: &str = "/v1/conversation-history";
/// `PATCH /v1/agent-work/{workId}`.
pub(crate) const AGENT_WORK_PATH: &str = "/v1/agent-work/{workId}";

/// Every inbound route: method, path and handler; the router and [`served`] both read it.
fn table() -> Vec<(Method, &'static str, MethodRouter<InboundSlot>)> {
    vec![
        (Method::POST, MESSAGES_PATH, post(messages::send_message)),
        (
            Method::POST,
            super::ATTACHMENT_PATH,
            post(super::attachment::send_attachment),
        ),
        (Method::POST, TYPING_PATH, post(messages::typing)),
        (
            Method::POST,
            CONVERSATIONS_PATH,
            post(messages::start_conversation),
        ),
        (
            Method::POST,
            RECEIPTS_PATH,
            post(conversation_writes::receipts),
        ),
        (
            Method::POST,
            SESSION_PATH,
            post(conversation_writes::session),
        ),
        (
            Method::DELETE,
            PARTICIPANT_PATH,
            delete(conversation_writes::remove_participant),
        ),
        (
            Method::POST,
            DELIVERY_FAILURES_PATH,
            post(delivery_failures::report),
        ),
        (
            Method::PATCH,
            CONSENT_PATH,
            patch(conversation_writes::consent),
        ),
        (Method::POST, HISTORY_PATH, post(history::import)),
        (
            Method::PATCH,
            AGENT_WORK_PATH,
            patch(conversation_writes::agent_work),
        ),
    ]
}

/// The inbound routes, answering `503` until `slot` is filled.
pub(crate) fn router(slot: InboundSlot) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .with_state(slot)
}

/// The method and path of every inbound route.
#[cfg(test)]
pub(crate) fn served() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}
