//! Realistic BYOC payloads to publish on the fake, for
//! the `bench` and `demo` commands and for anyone driving the fake by hand.
//!
//! Payloads follow the shapes in spec/byoc-ccaas.md §2. This module knows nothing about how
//! the connector reads them.

use serde_json::json;

use super::topic::{wall_clock_ms, NewEvent};

/// A text message `Interaction` payload in `conversation`, with `sequence` in its ids.
///
/// Members come in the order Salesforce writes them (the official README's example,
/// spec/byoc-ccaas.md §2.4): each discriminator (`entryType`, `messageType`, `formatType`)
/// before the fields it selects. `json!` would sort them alphabetically, an order no org sends.
pub fn text_message_payload(conversation: &str, sequence: u64, text: &str, agent: bool) -> String {
    let id = format!("56e10dce-0000-4000-8000-{sequence:012}");
    let (sender, display_name) = if agent {
        (
            r#"{"appType":"agent","subject":"005xx0000012345","role":"Agent"}"#,
            "Agent Smith",
        )
    } else {
        (
            r#"{"appType":"custom","subject":"end-user-42","role":"EndUser"}"#,
            "John Dow",
        )
    };
    let mut payload = String::with_capacity(640 + conversation.len() + text.len());
    payload.push_str(r#"{"conversationIdentifier":"#);
    push_json_string(&mut payload, conversation);
    payload.push_str(concat!(
        r#","channelAddressIdentifier":"b0ffeafe-0d89-4338-b14a-172ad203f22a","#,
        r#""recipient":{"appType":"custom","subject":"end-user-42","role":"EndUser"},"#,
        r#""payload":{"senderDisplayName":"#,
    ));
    push_json_string(&mut payload, display_name);
    payload.push_str(r#","identifier":""#);
    payload.push_str(&id);
    payload.push_str(r#"","entryType":"Message","entryPayload":{"entryType":"Message","id":""#);
    payload.push_str(&id);
    payload.push_str(r#"","abstractMessage":{"messageType":"StaticContentMessage","id":""#);
    payload.push_str(&id);
    payload.push_str(r#"","staticContent":{"formatType":"Text","text":"#);
    push_json_string(&mut payload, text);
    payload.push_str(r#"}},"messageReason":null},"sender":"#);
    payload.push_str(sender);
    payload.push_str(concat!(
        r#","transcriptedTimestamp":1690344475508,"clientTimestamp":1690344475409,"#,
        r#""clientDuration":0}}"#,
    ));
    payload
}

/// Appends `value` as a JSON string.
fn push_json_string(out: &mut String, value: &str) {
    // A `&str` always serializes.
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload holds what the spec's example holds, with the text and conversation escaped.
    #[test]
    fn a_text_message_payload_has_the_spec_example_content() {
        let id = "56e10dce-0000-4000-8000-000000000007";
        let expected = json!({
            "conversationIdentifier": "conv \"1\"",
            "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
            "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
            "payload": {
                "senderDisplayName": "Agent Smith",
                "identifier": id,
                "entryType": "Message",
                "entryPayload": {
                    "entryType": "Message",
                    "id": id,
                    "abstractMessage": {
                        "messageType": "StaticContentMessage",
                        "id": id,
                        "staticContent": {"formatType": "Text", "text": "line\nwith \"quotes\""}
                    },
                    "messageReason": null
                },
                "sender": {"appType": "agent", "subject": "005xx0000012345", "role": "Agent"},
                "transcriptedTimestamp": 1_690_344_475_508_i64,
                "clientTimestamp": 1_690_344_475_409_i64,
                "clientDuration": 0
            }
        });
        let payload = text_message_payload("conv \"1\"", 7, "line\nwith \"quotes\"", true);
        let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(parsed, expected);
        let end_user = text_message_payload("c", 7, "hi", false);
        let parsed: serde_json::Value = serde_json::from_str(&end_user).unwrap();
        assert_eq!(parsed["payload"]["sender"]["role"], "EndUser");
        assert_eq!(parsed["payload"]["senderDisplayName"], "John Dow");
    }

    /// Each discriminator comes before the members it selects, as Salesforce writes them.
    #[test]
    fn discriminators_come_first_as_salesforce_writes_them() {
        let payload = text_message_payload("c", 1, "hi", true);
        let position = |member: &str| payload.find(&format!("\"{member}\"")).unwrap();
        assert!(position("conversationIdentifier") < position("recipient"));
        assert!(position("recipient") < position("payload"));
        let entry_payload = position("entryPayload");
        let inner_entry_type = payload[entry_payload..].find("\"entryType\"").unwrap();
        let inner_abstract = payload[entry_payload..]
            .find("\"abstractMessage\"")
            .unwrap();
        assert!(inner_entry_type < inner_abstract);
        assert!(position("messageType") < payload.rfind("\"id\"").unwrap());
        assert!(position("formatType") < position("text"));
    }
}
