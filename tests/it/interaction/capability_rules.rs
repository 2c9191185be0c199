//! A library caller of the Rust Interaction client, which checks no capabilities itself, sends
//! an attachment of a type its channel did not register: the fake refuses it as it refuses any
//! attachment the registration does not allow, and takes the registered type.

use crate::support::salesforce::{sample_capabilities, Salesforce, CHANNEL_ADDRESS, END_USER};
use byoc_connector::interaction::{Attachment, Interaction, InteractionRequest};
use serde_json::json;

fn attachment_request(size: usize) -> InteractionRequest {
    InteractionRequest {
        to: CHANNEL_ADDRESS.to_owned(),
        from: END_USER.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::AttachmentInteraction {
            timestamp: 1_700_000_000_000,
            id: uuid::Uuid::new_v4().to_string(),
            attachment_index: 0,
            content_length: size as u64,
            text: None,
        }],
    }
}

fn file(mime_type: &str, size: usize) -> Attachment {
    Attachment {
        file_name: "file".to_owned(),
        mime_type: mime_type.to_owned(),
        bytes: bytes::Bytes::from(vec![7u8; size]),
    }
}

#[tokio::test]
async fn an_attachment_of_an_unregistered_type_sent_by_a_library_caller_is_refused_by_the_fake() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let mut capabilities = sample_capabilities();
    let formats = &mut capabilities.capabilities.channel_capabilities[0].message_type_capabilities
        [0]
    .format_type_capabilities;
    let attachments = formats
        .iter_mut()
        .find(|format| format.format_type == "Attachments")
        .expect("the sample registers attachments");
    attachments.capability_field_restriction = Some(vec![json!({
        "fieldJsonPath": "$.staticContent.attachments.mimeType",
        "restriction": {"fieldRestrictionType": "MimeTypeRestriction", "mimeType": "image/png"},
    })]);
    client.patch_capabilities(&capabilities).await.unwrap();

    let refused = client
        .post_interactions(&attachment_request(10), Some(file("application/pdf", 10)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(10089), "{refused}");
    let accepted = client
        .post_interactions(&attachment_request(10), Some(file("image/png", 10)))
        .await
        .unwrap();
    assert_eq!(accepted.work_item_ids.len(), 1);
    let statuses: Vec<u16> = fake
        .interaction
        .calls_to("interactions")
        .iter()
        .map(|call| call.status)
        .collect();
    assert_eq!(statuses, [400, 202], "refused once, not retried");
}
