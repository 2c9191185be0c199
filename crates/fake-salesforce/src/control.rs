//! The fake's loopback HTTP control plane, for tests in any language.
//!
//! `POST /_harness/publish` publishes events in order and answers with their replay ids;
//! `POST /_harness/faults` changes the fault plan; `POST /_harness/schema` changes the
//! topic's schema; `GET /_harness/subscriptions` shows every Subscribe stream's credit log.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::avro::EventSchemaSpec;
use super::faults::FaultRequest;
use super::interaction_service::InteractionFake;
use super::pubsub_fake::PubSubFake;
use super::routing_window::RoutingWindow;
use super::topic::NewEvent;

/// One event in a publish request; `payload` may be any JSON value or a JSON string.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishItem {
    /// Value of the event-type field.
    pub event_type: Option<String>,
    /// The payload: a JSON string is sent as it is, any other value is serialized.
    pub payload: Option<Value>,
    /// Epoch ms for `CreatedDate`; now when absent.
    pub created_date: Option<i64>,
    /// `EventUuid`; generated when absent.
    pub event_uuid: Option<String>,
}

impl PublishItem {
    /// The event to encode.
    pub fn into_new_event(self) -> NewEvent {
        let payload = self.payload.map(|payload| match payload {
            Value::String(text) => text,
            other => other.to_string(),
        });
        NewEvent {
            event_type: self.event_type,
            payload,
            created_date: self.created_date,
            event_uuid: self.event_uuid,
            created_by_id: None,
        }
    }
}

/// Body of `POST /_harness/publish`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Events, published in order.
    pub events: Vec<PublishItem>,
}

/// Body of `POST /_harness/schema`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaBody {
    /// New event-type field name.
    pub event_type_field: Option<String>,
    /// New payload field name.
    pub payload_field: Option<String>,
}

/// What the control-plane handlers share.
#[derive(Clone)]
struct ControlState {
    fake: Arc<PubSubFake>,
    /// Routing requests published here start their routing window.
    window: Option<Arc<RoutingWindow>>,
    /// Learns the MessagingSession each published routing request names.
    interaction: Arc<InteractionFake>,
}

/// The largest publish body the control plane takes: room for a benchmark's worth of events in
/// one request (axum's 2 MB default held about 2,000).
pub const MAX_PUBLISH_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The control-plane routes over `fake`.
pub fn router(
    fake: Arc<PubSubFake>,
    window: Option<Arc<RoutingWindow>>,
    interaction: Arc<InteractionFake>,
) -> Router {
    Router::new()
        .route(
            "/_harness/publish",
            post(publish).layer(axum::extract::DefaultBodyLimit::max(MAX_PUBLISH_BODY_BYTES)),
        )
        .route("/_harness/faults", post(faults))
        .route("/_harness/schema", post(schema))
        .route("/_harness/subscriptions", get(subscriptions))
        .with_state(ControlState {
            fake,
            window,
            interaction,
        })
}

type Reply = (StatusCode, Json<Value>);

fn bad_request(message: &str) -> Reply {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
}

async fn publish(
    State(state): State<ControlState>,
    body: Result<Json<PublishBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let events: Vec<NewEvent> = body
        .events
        .into_iter()
        .map(PublishItem::into_new_event)
        .collect();
    // Salesforce knows a session before it publishes a request naming it.
    state.interaction.learn_sessions(&events);
    match state.fake.topic.publish(&events) {
        Ok(replay_ids) => {
            if let Some(window) = &state.window {
                window.track_all(&events);
            }
            (StatusCode::OK, Json(json!({ "replayIds": replay_ids })))
        }
        Err(err) => bad_request(&err.to_string()),
    }
}

async fn faults(
    State(state): State<ControlState>,
    body: Result<Json<FaultRequest>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    match body {
        Ok(Json(request)) => {
            state.fake.apply_faults(&request);
            (StatusCode::OK, Json(json!({ "applied": request })))
        }
        Err(rejection) => bad_request(&rejection.body_text()),
    }
}

async fn schema(
    State(state): State<ControlState>,
    body: Result<Json<SchemaBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let current = state.fake.topic.current_spec();
    let spec = EventSchemaSpec {
        event_type_field: body.event_type_field.unwrap_or(current.event_type_field),
        payload_field: body.payload_field.unwrap_or(current.payload_field),
        ..current
    };
    match state.fake.topic.change_schema(spec) {
        Ok(schema_id) => (StatusCode::OK, Json(json!({ "schemaId": schema_id }))),
        Err(err) => bad_request(&err.to_string()),
    }
}

async fn subscriptions(State(state): State<ControlState>) -> Json<Value> {
    Json(json!({ "subscriptions": state.fake.sessions() }))
}
