//! Realistic BYOC payloads to publish on the fake, for
//! the `bench` and `demo` commands and for anyone driving the fake by hand.
//!
//! Payloads follow the shapes in spec/byoc-ccaas.md §2. This module knows nothing about how
//! the connector reads them.

use serde_json::json;

use super::topic::{wall_clock_ms, NewEvent};

/// A text message `Interaction` payload in `conversation`, with `sequence` in its ids.
pub fn text_message_payload(conversation: &str, sequence: u64, text: &str, agent: bool) -> String {
    let id = format!("56e10dce-0000-4000-8000-{sequence:012}");
    let sender = if agent {
        json!({"appType": "agent", "subject": "005xx0000012345", "role": "Agent"})
    } else {
        json!({"appType": "custom", "subject": "end-user-42", "role": "EndUser"})
    };
    json!({
        "conversationIdentifier": conversation,
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
        "payload": {
            "senderDisplayName": if agent { "Agent Smith" } else { "John Dow" },
            "identifier": id,
            "entryType": "Message",
            "entryPayload": {
                "entryType": "Message",
                "id": id,
                "abstractMessage": {
                    "messageType": "StaticContentMessage",
                    "id": id,
                    "staticContent": {"formatType": "Text", "text": text}
                },
                "messageReason": null
            },
            "sender": sender,
            "transcriptedTimestamp": 1_690_344_475_508_i64,
            "clientTimestamp": 1_690_344_475_409_i64,
            "clientDuration": 0
        }
    })
    .to_string()
}

/// A queue transfer `RoutingRequested` for `conversation` with `channelData.eventId` =
/// `event_id`, created now.
pub fn routing_requested(conversation: &str, event_id: &str) -> NewEvent {
    let channel_data = json!({
        "eventId": event_id,
        "routerParticipantSubject": "cb1e4929-5a1b-4c7e-9d2f-0e1f2a3b4c5d",
        "routingType": "Transfer",
        "conversationId": conversation,
    })
    .to_string();
    let payload = json!({
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
        "payload": {
            "conversationIdentifier": conversation,
            "routingType": "Transfer",
            "workRecordId": null,
            "routingParameters": {
                "channelData": channel_data,
                "isTransfer": true,
                "flowId": null,
                "queueId": "00Gxx000000Qabc",
                "userId": null,
                "botId": null,
                "routingConfigId": null,
                "serviceChannelId": null,
                "skillsList": [],
                "isFallbackOnPsrNotCreated": null,
                "isEstimatedWaitTimeRequested": null,
                "isScrt2": true,
                "isUserRequired": null
            }
        }
    });
    NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(payload.to_string()),
        created_date: Some(wall_clock_ms()),
        ..NewEvent::default()
    }
}
