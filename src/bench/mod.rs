//! Benchmark scenarios behind `byoc-connector bench`. Performance is measured here and
//! printed, never asserted by tests.

pub mod pipeline;
pub mod pubsub;

use crate::harness::FakeSalesforce;
use crate::pubsub::{
    EndpointConfig, PubSubCredentials, ReplayStart, StaticCredentials, SubscriberConfig,
};
use crate::secret::SecretString;

/// A plaintext subscription to `fake` from EARLIEST, with its static token.
pub fn earliest_subscription(fake: &FakeSalesforce) -> (SubscriberConfig, StaticCredentials) {
    let endpoints = fake.endpoints();
    let mut config = SubscriberConfig::new(endpoints.topic.clone());
    config.endpoint = EndpointConfig {
        url: endpoints.pubsub.clone(),
        insecure: true,
        ..EndpointConfig::default()
    };
    config.start = ReplayStart::Earliest;
    let credentials = StaticCredentials(PubSubCredentials {
        access_token: SecretString::new(endpoints.token.clone()),
        instance_url: endpoints.instance_url.clone(),
        tenant_id: endpoints.org_id.clone(),
    });
    (config, credentials)
}

/// A payload the size and shape of a real BYOC text message envelope.
pub fn sample_text_message_payload(sequence: u64) -> String {
    serde_json::json!({
        "conversationIdentifier": "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
        "payload": {
            "senderDisplayName": "John Dow",
            "identifier": format!("56e10dce-0000-4000-8000-{sequence:012}"),
            "entryType": "Message",
            "entryPayload": {
                "entryType": "Message",
                "id": format!("56e10dce-0000-4000-8000-{sequence:012}"),
                "abstractMessage": {
                    "messageType": "StaticContentMessage",
                    "id": format!("56e10dce-0000-4000-8000-{sequence:012}"),
                    "staticContent": {"formatType": "Text", "text": "Hi, how are you? This is a typical agent reply."}
                },
                "messageReason": null
            },
            "sender": {"appType": "agent", "subject": "005xx0000012345", "role": "Agent"},
            "transcriptedTimestamp": 1690344475508_i64,
            "clientTimestamp": 1690344475409_i64,
            "clientDuration": 0
        }
    })
    .to_string()
}
