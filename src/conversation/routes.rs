//! The sidecar's conversation routes.
//!
//! - `GET /v1/conversations/{conversationIdentifier}`: what the connector knows (session id and
//!   status, participants, pending routing, the last delivered entry, the last reported
//!   delivery failure); `404` when it knows nothing.
//! - `POST /v1/conversations/{conversationIdentifier}/delivery-failures`: the partner reports a
//!   message it could not deliver; the connector sends MessageDeliveryFailed to Salesforce and
//!   answers `202` with the entry id.
//!
//! Bad input gets a `400` whose `error` names the field and the rule; a refusal by Salesforce
//! gets a `422` with Salesforce's code and message; `503` while the connector starts. The
//! services are late-bound, because the server listens before they exist. It knows nothing
//! about the server's other routes.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tracing::warn;

use super::notice::{new_entry_id, DeliveryFailureNotifier, FailureNotice, ReportedBy};
use super::ConversationTracker;
use crate::interaction::{
    is_messaging_error_code, DeliveryFailure, ErrorClass, MESSAGING_ERROR_CODES,
};
use crate::routing::RoutingEngine;

/// The state route, in axum's path syntax.
pub const CONVERSATION_PATH: &str = "/v1/conversations/{conversation_identifier}";
/// The delivery-failure route, in axum's path syntax.
pub const DELIVERY_FAILURES_PATH: &str =
    "/v1/conversations/{conversation_identifier}/delivery-failures";

/// Longest conversation identifier and channel address (`maxLength` in the official API).
const MAX_IDENTIFIER_CHARS: usize = 240;
/// Longest end-user client id (`InteractionRequestJson.from`).
const MAX_END_USER_CHARS: usize = 255;
/// Seconds a `503` asks the caller to wait.
const STARTING_RETRY_AFTER_SECS: u32 = 1;

/// What the routes use; set once the connector has built it.
#[derive(Debug, Clone)]
pub struct ConversationServices {
    /// The conversation states.
    pub tracker: ConversationTracker,
    /// Sends MessageDeliveryFailed.
    pub notifier: DeliveryFailureNotifier,
    /// Pending routing requests, when routing runs.
    pub routing: Option<RoutingEngine>,
}

type Services = Arc<OnceLock<ConversationServices>>;

/// The routes over `services`, answering `503` until they are set.
pub fn router(services: Services) -> Router {
    Router::new()
        .route(CONVERSATION_PATH, get(show))
        .route(DELIVERY_FAILURES_PATH, post(report_failure))
        .with_state(services)
}

/// A `400` naming `field` and the `rule` it breaks.
fn invalid(field: &str, rule: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"error": {"kind": "invalid_request", "field": field, "rule": rule,
                              "message": format!("{field} {rule}")}}),
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

/// A field of the request and the rule it breaks; answered as a `400`.
#[derive(Debug)]
struct FieldError {
    field: &'static str,
    rule: String,
}

impl IntoResponse for FieldError {
    fn into_response(self) -> Response {
        invalid(self.field, &self.rule)
    }
}

/// Checks the path's conversation identifier.
fn checked_identifier(conversation: &str) -> Result<(), FieldError> {
    bounded("conversationIdentifier", conversation, MAX_IDENTIFIER_CHARS).map(drop)
}

async fn show(State(services): State<Services>, Path(conversation): Path<String>) -> Response {
    let Some(services) = services.get() else {
        return starting();
    };
    if let Err(problem) = checked_identifier(&conversation) {
        return problem.into_response();
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

/// The body of `POST …/delivery-failures`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DeliveryFailureBody {
    error_code: String,
    #[serde(default)]
    failed_conversation_entry_identifier: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    end_user_client_id: Option<String>,
    #[serde(default)]
    channel_address_identifier: Option<String>,
}

/// Parses a delivery-failure body and checks its error code, or the `400` naming the field.
pub(crate) fn parse_failure_body(body: &[u8]) -> Result<DeliveryFailureBody, Box<Response>> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let request: DeliveryFailureBody = match serde_path_to_error::deserialize(deserializer) {
        Ok(request) => request,
        Err(error) if error.inner().is_syntax() || error.inner().is_eof() => {
            return Err(Box::new(invalid("body", "must be a JSON object")))
        }
        Err(error) => return Err(Box::new(body_problem(&error))),
    };
    if !is_messaging_error_code(&request.error_code) {
        return Err(Box::new(invalid(
            "errorCode",
            &format!(
                "must be one of the messaging error codes {}",
                MESSAGING_ERROR_CODES.join(", ")
            ),
        )));
    }
    Ok(request)
}

/// The field serde stopped at and why, as a `400`.
fn body_problem(error: &serde_path_to_error::Error<serde_json::Error>) -> Response {
    let inner = error.inner();
    let message = inner.to_string();
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return invalid(field, "is required");
    }
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        return invalid(field, "is not a field of this request");
    }
    let path = error.path().to_string();
    if path.is_empty() || path == "." {
        return invalid("body", "must be a JSON object");
    }
    invalid(&path, "must be a string")
}

/// `value` trimmed, unless it is empty or longer than `max_chars`.
fn bounded<'a>(
    field: &'static str,
    value: &'a str,
    max_chars: usize,
) -> Result<&'a str, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError {
            field,
            rule: "must not be empty".to_owned(),
        });
    }
    if value.chars().count() > max_chars {
        return Err(FieldError {
            field,
            rule: format!("must be at most {max_chars} characters"),
        });
    }
    Ok(value)
}

async fn report_failure(
    State(services): State<Services>,
    Path(conversation): Path<String>,
    body: Bytes,
) -> Response {
    let Some(services) = services.get() else {
        return starting();
    };
    if let Err(problem) = checked_identifier(&conversation) {
        return problem.into_response();
    }
    let request = match parse_failure_body(&body) {
        Ok(request) => request,
        Err(problem) => return *problem,
    };
    let Ok(known) = services.tracker.get(&conversation) else {
        return store_failed();
    };
    let end_user = request.end_user_client_id.clone().or_else(|| {
        known
            .as_ref()
            .and_then(|state| state.end_user_client_id.clone())
    });
    let channel = request.channel_address_identifier.clone().or_else(|| {
        known
            .as_ref()
            .and_then(|state| state.channel_address_identifier.clone())
    });
    let unseen = "is required: the connector has not seen this conversation";
    let Some(end_user) = end_user else {
        return invalid("endUserClientId", unseen);
    };
    let Some(channel) = channel else {
        return invalid("channelAddressIdentifier", unseen);
    };
    let checked = bounded("endUserClientId", &end_user, MAX_END_USER_CHARS).and_then(|end_user| {
        bounded("channelAddressIdentifier", &channel, MAX_IDENTIFIER_CHARS)
            .map(|channel| (end_user.to_owned(), channel.to_owned()))
    });
    let (end_user, channel) = match checked {
        Ok(checked) => checked,
        Err(problem) => return problem.into_response(),
    };
    if let Some(failed) = &request.failed_conversation_entry_identifier {
        if let Err(problem) = bounded(
            "failedConversationEntryIdentifier",
            failed,
            MAX_IDENTIFIER_CHARS,
        ) {
            return problem.into_response();
        }
    }
    let entry_id = new_entry_id();
    let notice = FailureNotice {
        conversation: conversation.clone(),
        channel_address_identifier: channel,
        failure: DeliveryFailure {
            entry_id: entry_id.clone(),
            end_user_client_id: end_user,
            error_code: request.error_code.clone(),
            failed_entry_id: request.failed_conversation_entry_identifier,
            error_message: request.error_message,
        },
    };
    match services.notifier.report(&notice, ReportedBy::Partner).await {
        Ok(answer) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "conversationIdentifier": answer.conversation_identifier.unwrap_or(conversation),
                "entryId": entry_id,
                "errorCode": request.error_code,
            })),
        )
            .into_response(),
        Err(error) => salesforce_refused(&error),
    }
}

/// Salesforce's refusal as the sidecar answers it: its code and message in a typed body.
fn salesforce_refused(error: &crate::interaction::InteractionError) -> Response {
    let status = match error.class() {
        ErrorClass::Retryable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Auth => StatusCode::BAD_GATEWAY,
        ErrorClass::Permanent => StatusCode::UNPROCESSABLE_ENTITY,
    };
    // The same shape as the inbound routes' errors: Salesforce's own answer under `salesforce`.
    let error_body = json!({
        "kind": "salesforce_refused",
        "message": error.to_string(),
        "salesforce": {"status": error.status(), "code": error.code(), "message": error.message()},
    });
    (status, Json(json!({"error": error_body}))).into_response()
}
