//! Routing requests and Interaction events for the `routing_*` tests, built from JSON the way
//! Salesforce sends them and decoded with the connector's own model.

use std::time::Duration;

use byoc_connector::events::{DecodedEvent, InteractionEvent, OutboundEvent};
use byoc_connector::routing::RoutingRequestInput;
use serde_json::{json, Value};

use super::{now_ms, CHANNEL_ADDRESS};

/// A routing request to build.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub event_id: String,
    pub conversation: String,
    /// `routingType`, in the payload and in `channelData`; absent when `None`.
    pub routing_type: Option<String>,
    pub work_record_id: Option<String>,
    /// `routingParameters` besides `channelData`.
    pub parameters: Value,
    pub created_date_ms: i64,
    pub idempotency_key: String,
    /// Send no `channelData` (every payload field is optional in the schema).
    pub without_channel_data: bool,
}

impl RequestSpec {
    /// A transfer created now, with a fresh event id, conversation and MessagingSession.
    pub fn transfer() -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            conversation: uuid::Uuid::new_v4().to_string(),
            routing_type: Some("Transfer".to_owned()),
            work_record_id: Some(session_id()),
            parameters: json!({"flowId": null, "queueId": null, "userId": null, "isTransfer": true}),
            created_date_ms: now_ms(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            without_channel_data: false,
        }
    }

    /// With these routing parameters.
    pub fn with_parameters(mut self, parameters: Value) -> Self {
        self.parameters = parameters;
        self
    }

    /// Created `age` ago.
    pub fn aged(mut self, age: Duration) -> Self {
        self.created_date_ms = now_ms() - age.as_millis() as i64;
        self
    }

    /// Without `routingParameters.channelData`: keyed by its platform event's id instead.
    pub fn without_channel_data(mut self) -> Self {
        self.without_channel_data = true;
        self
    }

    /// The key the engine records the request under.
    pub fn key(&self) -> &str {
        if self.without_channel_data {
            &self.idempotency_key
        } else {
            &self.event_id
        }
    }

    /// Without `routingType`, in the payload and in `channelData` alike.
    pub fn without_routing_type(mut self) -> Self {
        self.routing_type = None;
        self
    }

    /// Without `workRecordId`.
    pub fn without_work_record(mut self) -> Self {
        self.work_record_id = None;
        self
    }

    /// The payload field's JSON text.
    pub fn payload_json(&self) -> String {
        let mut channel_data = json!({
            "eventId": self.event_id,
            "routerParticipantSubject": "cb1e4929-6e0f-4b4a-9f4e-aaaaaaaaaaaa",
            "conversationId": self.conversation,
        });
        let mut payload = json!({
            "conversationIdentifier": self.conversation,
            "workRecordId": self.work_record_id,
        });
        if let Some(routing_type) = &self.routing_type {
            channel_data["routingType"] = Value::from(routing_type.as_str());
            payload["routingType"] = Value::from(routing_type.as_str());
        }
        let mut parameters = self.parameters.clone();
        if !self.without_channel_data {
            parameters["channelData"] = Value::String(channel_data.to_string());
        }
        payload["routingParameters"] = parameters;
        json!({
            "channelAddressIdentifier": CHANNEL_ADDRESS,
            "recipient": {"appType": "custom", "subject": "meu003", "role": "EndUser"},
            "payload": payload,
        })
        .to_string()
    }

    /// The decoded event as the pipeline would have it.
    pub fn decoded(&self) -> DecodedEvent {
        let replay_id = 1_000_042u64.to_be_bytes().to_vec();
        let event =
            OutboundEvent::from_json("RoutingRequested", &self.payload_json(), &replay_id).unwrap();
        DecodedEvent {
            event,
            created_date_ms: self.created_date_ms,
            idempotency_key: self.idempotency_key.clone(),
            replay_id,
        }
    }

    /// The engine's input.
    pub fn input(&self) -> RoutingRequestInput {
        RoutingRequestInput::from_decoded(self.decoded()).unwrap()
    }
}

/// A fresh MessagingSession id.
pub fn session_id() -> String {
    let digits: String = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    format!("0Mw{digits}")
}

/// An Interaction event with a RoutingResult entry for `conversation`.
pub fn routing_result_entry(
    conversation: &str,
    failure_type: &str,
    record_id: Option<&str>,
) -> InteractionEvent {
    let error_messages = if failure_type == "None" {
        json!([])
    } else {
        json!(["routing failed"])
    };
    let entry = json!({
        "routingType": "Transfer",
        "failureType": failure_type,
        "errorMessages": error_messages,
        "recordId": record_id,
    });
    interaction_event(conversation, "RoutingResult", entry, "routing")
}

/// An Interaction event with a SessionStatusChanged entry.
pub fn session_status_entry(conversation: &str, session: &str) -> InteractionEvent {
    let entry = json!({
        "conversationIdentifier": conversation,
        "channelAddressIdentifier": CHANNEL_ADDRESS,
        "sessionId": session,
        "sessionStatus": "Active",
        "sessionStartTime": now_ms(),
    });
    interaction_event(conversation, "SessionStatusChanged", entry, "system")
}

/// An Interaction event of `conversation` carrying `entry` (given its `entryType` and a fresh
/// `id`), sent now by the conversation's system participant `sender_subject`.
fn interaction_event(
    conversation: &str,
    entry_type: &str,
    mut entry: Value,
    sender_subject: &str,
) -> InteractionEvent {
    let entry_id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    entry["entryType"] = json!(entry_type);
    entry["id"] = json!(entry_id);
    let payload = json!({
        "conversationIdentifier": conversation,
        "channelAddressIdentifier": CHANNEL_ADDRESS,
        "recipient": {"appType": "custom", "subject": "meu003", "role": "EndUser"},
        "payload": {
            "identifier": entry_id,
            "entryType": entry_type,
            "entryPayload": entry,
            "sender": {"appType": "conversation", "subject": sender_subject, "role": "System"},
            "transcriptedTimestamp": now,
            "clientTimestamp": now,
            "clientDuration": 0,
        },
    });
    match OutboundEvent::from_json("Interaction", &payload.to_string(), &[0; 8]).unwrap() {
        OutboundEvent::Interaction(event) => event,
        other @ OutboundEvent::RoutingRequested(_) => {
            panic!("expected an interaction event, got {other:?}")
        }
    }
}
