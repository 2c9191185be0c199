//! The OpenAPI 3 document of the sidecar API, served at `GET /v1/openapi.json`.
//!
//! Hand-written next to the routes; [`served_routes`] lists what the sidecar serves, and a
//! test checks that every served route is documented and every documented one is served. It
//! knows nothing about the handlers.

#[cfg(test)]
use axum::http::Method;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

#[cfg(test)]
use crate::conversation::CONVERSATION_PATH;
#[cfg(test)]
use crate::dlq::DEAD_LETTERS_PATH;
use crate::interaction::MESSAGING_ERROR_CODES;
#[cfg(test)]
use crate::routing::{SIDECAR_ASSIGN_PATH, SIDECAR_DECISION_PATH};

/// One dead letter, in axum's path syntax.
#[cfg(test)]
const DEAD_LETTER_PATH: &str = "/v1/dead-letters/{id}";

/// Where the document is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi.json";

/// The route serving the document.
pub(crate) fn router() -> Router {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document()) }))
}

/// Method and path of every route the sidecar listener serves (axum's path syntax).
#[cfg(test)]
pub(crate) fn served_routes() -> Vec<(Method, &'static str)> {
    let mut routes = super::served();
    routes.push((Method::POST, SIDECAR_DECISION_PATH));
    routes.push((Method::POST, SIDECAR_ASSIGN_PATH));
    routes.push((Method::GET, CONVERSATION_PATH));
    routes.push((Method::GET, DEAD_LETTERS_PATH));
    routes.push((Method::GET, DEAD_LETTER_PATH));
    routes.push((Method::GET, OPENAPI_PATH));
    routes
}

/// A write's common headers.
fn write_parameters() -> Value {
    json!([
        {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 255},
         "description": "The same on every retry of one call. The connector derives the Salesforce entry ids from it (and the conversation, or the channel address and end user), and replays the first final answer for 24 hours, also after a restart."},
        {"name": "Request-Timeout-Ms", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 60000, "default": 10000},
         "description": "How long the whole call may take, retries of 429 and 5xx (honouring Retry-After) included (default 10000; 60000 for attachments). Past it the answer is 504; retry with the same key."}
    ])
}

fn path_parameter(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "maxLength": 240}})
}

fn string(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// The answers every write may give besides its success.
fn write_responses(success: &str, description: &str) -> Value {
    let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let with = |text: &str| {
        let mut answer = error.clone();
        answer["description"] = text.into();
        answer
    };
    json!({
        success: {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}},
        "400": with("The request breaks a rule; `error.field` and `error.rule` say which. Nothing was sent to Salesforce."),
        "401": {"description": "A token is configured and the request's bearer token is missing or wrong. No body."},
        "422": with("Salesforce refused the call; `error.salesforce` has its status, code and message."),
        "502": with("Salesforce could not be reached or answered unreadably."),
        "503": with("The connector is starting, or Salesforce stayed unavailable (429/5xx) until the deadline. Retry with the same key."),
        "504": with("The deadline passed. Retry with the same key.")
    })
}

fn end_user_address() -> Value {
    json!({"endUserClientId": string(255), "channelAddressIdentifier": string(240)})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

/// A write's answers plus the `409` of a call the configuration forbids.
fn with_conflict(mut responses: Value) -> Value {
    responses["409"] = json!({"description": "The connector's configuration forbids the call; `error.field` names the key and `error.rule` why. Nothing was sent to Salesforce.",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    responses
}

/// The body of the history import.
fn history_schema() -> Value {
    let epoch_ms =
        json!({"type": "integer", "format": "int64", "description": "Epoch milliseconds."});
    let participant = object(
        json!({"subject": string(255), "role": {"type": "string", "enum": ["EndUser", "Chatbot"]}, "displayName": {"type": "string"},
               "joinedTime": epoch_ms, "leftTime": {"type": "integer", "format": "int64", "description": "Required for a chatbot, absent for the end user; after joinedTime."}}),
        &["subject", "role", "joinedTime"],
    );
    let attachment = object(
        json!({"name": {"type": "string", "minLength": 1}, "mimeType": {"type": "string", "description": "Among the registered attachment types, when [capabilities] names any."},
               "url": {"type": "string", "description": "Absolute http(s) URL of the file, already uploaded to Salesforce."},
               "contentVersionId": {"type": "string", "description": "The uploaded file's ContentVersion id, when known."}}),
        &["name", "mimeType", "url"],
    );
    let entry = object(
        json!({"sender": {"type": "string", "description": "The subject of one of the participants."},
               "text": {"type": "string", "minLength": 1, "description": "Required without an attachment; its caption with one."},
               "attachment": attachment,
               "clientTimestamp": {"type": "integer", "format": "int64", "description": "Epoch ms within the last 24 hours, while the sender was in the conversation."}}),
        &["sender", "clientTimestamp"],
    );
    let session = object(
        json!({"type": {"type": "string", "enum": ["Establish", "Attach"]},
               "startTime": {"type": "integer", "format": "int64", "description": "Epoch ms, not in the future; required for Establish."},
               "sessionId": {"type": "string", "description": "Required for Attach."}}),
        &["type"],
    );
    object(
        json!({"channelAddressIdentifier": string(240),
               "participants": {"type": "array", "minItems": 1, "maxItems": 3, "items": participant, "description": "Exactly one EndUser."},
               "entries": {"type": "array", "minItems": 1, "maxItems": 25, "items": entry},
               "messagingSession": session}),
        &["participants", "entries"],
    )
}

/// The document.
pub(crate) fn document() -> Value {
    let mut message = end_user_address();
    message["text"] = json!({"type": "string", "minLength": 1});
    message["routingAttributes"] = json!({"type": "object", "additionalProperties": {"type": "string"},
                                          "description": "Only when Salesforce owns routing."});
    let mut typing = end_user_address();
    typing["state"] = json!({"type": "string", "enum": ["started", "stopped"]});
    let mut session = end_user_address();
    session["operation"] = json!({"type": "string", "enum": ["End", "Inactivate"]});
    session["operationBy"] = json!({"type": "string", "enum": ["EndUser", "System"]});
    session["sessionId"] =
        json!({"type": "string", "description": "Required when operation is Inactivate."});
    let receipt = object(
        json!({"type": {"type": "string", "enum": ["Delivered", "Read"]}, "entryId": string(240),
               "timestamp": {"type": "integer", "format": "int64", "description": "Epoch ms; default now."}}),
        &["type", "entryId"],
    );
    let conversation = path_parameter("conversationIdentifier");
    let with_path = |extra: Value| {
        let mut parameters = write_parameters();
        if let Some(list) = parameters.as_array_mut() {
            list.push(extra);
        }
        parameters
    };
    let mut attachment_parameters = write_parameters();
    if let Some(list) = attachment_parameters.as_array_mut() {
        for (name, required, max) in [
            ("endUserClientId", true, 255),
            ("fileName", true, 255),
            ("channelAddressIdentifier", false, 240),
        ] {
            list.push(json!({"name": name, "in": "query", "required": required, "schema": {"type": "string", "maxLength": max}}));
        }
        // The API sets no length on a caption; a registered text_max_length applies.
        list.push(
            json!({"name": "text", "in": "query", "required": false, "schema": {"type": "string"}}),
        );
        list.push(json!({"name": "Content-Length", "in": "header", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": 26_214_400}}));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "byoc-connector sidecar API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The partner app's gateway to Salesforce: JSON in, JSON out; the connector adds the Salesforce headers, tokens and multipart bodies. See docs/sidecar-api.md. A connector serving several tenants ([[tenants]]) serves every route below except this document under /v1/tenants/{tenant}/ as well: /v1/tenants/acme/messages is tenant acme's /v1/messages. The unprefixed routes answer only while exactly one tenant is configured; an unknown tenant is answered 404 naming it."
        },
        "x-tenant-routes": "/v1/tenants/{tenant}/{route after /v1/}",
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Required when server.sidecar_token is set (always when the sidecar listens beyond loopback)."}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["invalid_request", "not_allowed", "salesforce_refused", "salesforce_unavailable", "salesforce_unreachable", "salesforce_call_failed", "starting", "deadline_exceeded", "store_failed"]},
                "field": {"type": "string"}, "rule": {"type": "string"}, "message": {"type": "string"},
                "salesforce": {"type": "object", "properties": {"status": {"type": "integer"}, "code": {"type": "integer"}, "message": {"type": "string"}}}
            }}}}}
        },
        "security": [{"bearer": []}],
        "paths": {
            super::MESSAGES_PATH: {"post": {
                "summary": "Send the end user's text message (POST /interactions).",
                "parameters": write_parameters(),
                "requestBody": json_body(object(message, &["endUserClientId", "text"])),
                "responses": write_responses("202", "Accepted: entryId, conversationIdentifier, messagingSessionId (or alreadyCreated: true when Salesforce already has the entry).")
            }},
            super::ATTACHMENT_PATH: {"post": {
                "summary": "Send one file (up to 25 MB), streamed; the body is the file, its Content-Type is passed on.",
                "parameters": attachment_parameters,
                "requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": write_responses("202", "Accepted: entryId, conversationIdentifier, messagingSessionId.")
            }},
            super::CONVERSATIONS_PATH: {"post": {
                "summary": "Start a conversation with an end user (POST /conversation); an existing one is returned.",
                "parameters": write_parameters(),
                "requestBody": json_body(object(json!({"endUserClientId": string(255), "channelAddressIdentifier": string(240), "routingAttributes": {"type": "object", "additionalProperties": {"type": "string"}}}), &["endUserClientId"])),
                "responses": write_responses("202", "Accepted: conversationIdentifier, messagingSessionId.")
            }},
            super::TYPING_PATH: {"post": {
                "summary": "The end user started or stopped typing.",
                "parameters": write_parameters(),
                "requestBody": json_body(object(typing, &["endUserClientId", "state"])),
                "responses": write_responses("202", "Accepted: entryId, conversationIdentifier.")
            }},
            super::RECEIPTS_PATH: {"post": {
                "summary": "Delivered and read receipts, 1 to 25 per call, sent in one POST /acknowledgement.",
                "parameters": with_path(conversation.clone()),
                "requestBody": json_body(object(json!({"endUserClientId": string(255), "receipts": {"type": "array", "minItems": 1, "maxItems": 25, "items": receipt}}), &["endUserClientId", "receipts"])),
                "responses": write_responses("200", "Stored: receipts with each receipt's entry id.")
            }},
            super::SESSION_PATH: {"post": {
                "summary": "End or inactivate the conversation's messaging session (POST /messagingSession).",
                "parameters": with_path(conversation),
                "requestBody": json_body(object(session, &["endUserClientId", "operation"])),
                "responses": write_responses("200", "Done.")
            }},
            super::AGENT_WORK_PATH: {"patch": {
                "summary": "Accept, decline or close an AgentWork (PATCH /agentWork).",
                "parameters": with_path(path_parameter("workId")),
                "requestBody": json_body(object(json!({"status": {"type": "string", "enum": ["Accept", "Decline", "Close"]}}), &["status"])),
                "responses": write_responses("200", "Done.")
            }},
            "/v1/routing/{eventId}/result": {"post": {
                "summary": "The partner's routing decision for a routing.requested delivery answered 202.",
                "parameters": [path_parameter("eventId")],
                "requestBody": json_body(json!({"type": "object", "additionalProperties": false, "properties": {"success": {"type": "boolean"}, "externallyRouted": {"type": "boolean"}, "errorMessage": {"type": "string"}}, "required": ["success"]})),
                "responses": {"200": {"description": "Posted to Salesforce."}, "400": {"description": "Bad body: `field` and `error` say which rule."}, "404": {"description": "Unknown event id."}, "409": {"description": "Already decided."}, "410": {"description": "Past the decision deadline."}, "502": {"description": "Salesforce did not accept the routingResult."}, "503": {"description": "Starting or resuming; retry."}}
            }},
            "/v1/routing/{eventId}/assign": {"post": {
                "summary": "The rep the partner found for a routing.requested delivery answered 202: the connector makes the AgentWork, then posts the routingResult.",
                "parameters": [path_parameter("eventId")],
                "requestBody": json_body(object(json!({"userId": {"type": "string", "minLength": 15, "maxLength": 18, "pattern": "^005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"}}), &["userId"])),
                "responses": {"200": {"description": "AgentWork made and routingResult posted (`success`)."}, "400": {"description": "Bad body: `field` and `error` say which rule."}, "404": {"description": "Unknown event id."}, "409": {"description": "Already decided or assigned."}, "410": {"description": "Past the decision deadline."}, "502": {"description": "Salesforce did not accept the calls."}, "503": {"description": "Starting or resuming; retry."}}
            }},
            "/v1/conversations/{conversationIdentifier}": {"get": {
                "summary": "What the connector knows of a conversation: session id and status, participants, last delivered entry, last reported failure, pending routing.",
                "parameters": [path_parameter("conversationIdentifier")],
                "responses": {"200": {"description": "The conversation state.", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": {"description": "The identifier breaks a rule."}, "404": {"description": "Not seen by this connector."}, "503": {"description": "Starting; retry."}}
            }},
            super::DELIVERY_FAILURES_PATH: {"post": {
                "summary": "The partner's channel could not deliver an entry: a MessageDeliveryFailed entry tells the rep (POST /interactions).",
                "parameters": with_path(path_parameter("conversationIdentifier")),
                "requestBody": json_body(object(json!({"errorCode": {"type": "string", "enum": MESSAGING_ERROR_CODES, "description": "A messaging error code (docs/delivery-failures.md)."}, "failedConversationEntryIdentifier": string(240), "errorMessage": {"type": "string"}, "endUserClientId": string(255), "channelAddressIdentifier": string(240)}), &["errorCode"])),
                "responses": write_responses("202", "Accepted: conversationIdentifier, entryId, errorCode (or alreadyCreated: true).")
            }},
            super::PARTICIPANT_PATH: {"delete": {
                "summary": "Remove a rep from the conversation (POST /participant, operation Remove).",
                "parameters": with_path(path_parameter("conversationIdentifier")).as_array().cloned().unwrap_or_default().into_iter().chain([json!({"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"}, "description": "The rep's User id; sent in its 15-character form."})]).collect::<Vec<_>>(),
                "responses": write_responses("200", "Removed: conversationIdentifier, removed (the 15-character User id).")
            }},
            super::CONSENT_PATH: {"patch": {
                "summary": "Set the end user's messaging consent (PATCH /consent). Only when channel.consent_owner is \"partner\"; otherwise 409 naming that key.",
                "parameters": write_parameters(),
                "requestBody": json_body(object(json!({"endUserClientId": string(240), "channelAddressIdentifier": string(240), "consentStatus": {"type": "string", "enum": ["OptedOut", "ImplicitlyOptedIn", "ExplicitlyOptedIn", "DoublyOptedIn"]}}), &["endUserClientId", "consentStatus"])),
                "responses": with_conflict(write_responses("200", "Stored: endUserClientId, consentStatus."))
            }},
            super::HISTORY_PATH: {"post": {
                "summary": "Import up to 25 earlier entries (texts, or attachments already uploaded), none older than 24 hours, between the end user and up to two chatbots (POST /conversationHistory).",
                "parameters": write_parameters(),
                "requestBody": json_body(history_schema()),
                "responses": write_responses("202", "Accepted: conversationIdentifier, messagingSessionId, entryIds (or alreadyCreated: true).")
            }},
            "/v1/dead-letters": {"get": {
                "summary": "The running connector's dead letters, oldest first (summaries).",
                "responses": {"200": {"description": "A JSON array of summaries."}, "503": {"description": "Starting; retry."}}
            }},
            "/v1/dead-letters/{id}": {"get": {
                "summary": "One dead letter in full: reason, raw bytes and decoded event.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The letter."}, "404": {"description": "No such letter."}, "503": {"description": "Starting; retry."}}
            }},
            OPENAPI_PATH: {"get": {
                "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3 JSON."}}
            }}
        }
    })
}

/// A path with its parameter names blanked, so axum's and OpenAPI's spellings compare equal.
#[cfg(test)]
pub(crate) fn path_shape(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut in_parameter = false;
    for character in path.chars() {
        match character {
            '{' => {
                in_parameter = true;
                shape.push('{');
            }
            '}' => {
                in_parameter = false;
                shape.push('}');
            }
            _ if in_parameter => {}
            _ => shape.push(character),
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_served_route_is_documented_and_every_documented_route_is_served() {
        let served: BTreeSet<(String, String)> = served_routes()
            .into_iter()
            .map(|(method, path)| (method.as_str().to_ascii_lowercase(), path_shape(path)))
            .collect();
        let document = document();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path_shape(path)))
            })
            .collect();
        assert_eq!(served, documented);
    }
}
