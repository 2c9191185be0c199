//! Every Interaction Service endpoint sends a request the fake accepts, with the required headers.

use std::collections::HashSet;

use crate::support::salesforce::{
    open_conversation, sample_agent_work, sample_capabilities, sample_delete_route,
    sample_end_session, sample_interaction, sample_patch_agent_work, sample_route,
    sample_routing_result, KeyFile, Salesforce, CHANNEL_ADDRESS, CHANNEL_DEFINITION, END_USER,
    ORG_ID, ORG_ID_15,
};
use byoc_connector::auth::{AuthConfig, TokenProvider};
use byoc_connector::interaction::{Attachment, Interaction, InteractionClient, InteractionRequest};

/// Calls every endpoint once, in a realistic order.
async fn call_every_endpoint(client: &InteractionClient) {
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();
    let (conversation, work_item) = open_conversation(client).await;
    let route = client
        .post_route(&sample_route(&conversation))
        .await
        .unwrap();
    assert_eq!(route.work_item_id.as_deref(), Some(work_item.as_str()));
    assert!(route.psr_id.is_some());
    client
        .delete_route(&sample_delete_route(&conversation))
        .await
        .unwrap();
    let work = client
        .post_agent_work(&sample_agent_work(&conversation, &work_item))
        .await
        .unwrap();
    let work_id = work.work_id().unwrap().to_owned();
    client
        .patch_agent_work(&sample_patch_agent_work(&work_id))
        .await
        .unwrap();
    client
        .routing_result(&sample_routing_result(&conversation, &work_item))
        .await
        .unwrap();
    client
        .post_messaging_session(&sample_end_session(&conversation))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_endpoint_sends_a_request_the_fake_accepts_with_every_required_header() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let client = fake.client(fake.jwt_provider(&key_file));

    call_every_endpoint(&client).await;

    let calls = fake.interaction.calls();
    let seen: Vec<(String, String, u16)> = calls
        .iter()
        .map(|call| (call.method.clone(), call.path.clone(), call.status))
        .collect();
    let expected = [
        ("PATCH", "/api/v1/capabilities", 200),
        ("POST", "/api/v1/interactions", 202),
        ("POST", "/api/v1/route", 202),
        ("DELETE", "/api/v1/route", 202),
        ("POST", "/api/v1/agentWork", 202),
        ("PATCH", "/api/v1/agentWork", 202),
        ("POST", "/api/v1/routingResult", 202),
        ("POST", "/api/v1/messagingSession", 200),
    ];
    let expected: Vec<(String, String, u16)> = expected
        .iter()
        .map(|(method, path, status)| ((*method).to_owned(), (*path).to_owned(), *status))
        .collect();
    assert_eq!(seen, expected);
    let mut request_ids = HashSet::new();
    for call in &calls {
        assert_eq!(call.headers["authorization"], "Bearer [redacted]");
        assert_eq!(call.headers["orgid"], ORG_ID_15);
        assert_eq!(call.headers["authorizationcontext"], CHANNEL_DEFINITION);
        assert!(request_ids.insert(call.headers["requestid"].clone()));
        assert!(call.headers.contains_key("content-type"));
    }
    let patch_agent_work = &calls[5];
    assert_eq!(
        patch_agent_work.headers["authorizationcontexttype"],
        "ConversationChannelDefinition"
    );
}

#[tokio::test]
async fn an_18_character_org_id_goes_out_as_15_characters() {
    let fake = Salesforce::start().await;
    let mut config = fake.static_config();
    config.org_id = ORG_ID.parse().unwrap();
    let provider = TokenProvider::new(&AuthConfig::Static(config)).unwrap();
    assert_eq!(provider.grant().await.unwrap().org_id.as_str().len(), 18);
    let client = fake.client(provider);

    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();

    let call = &fake.interaction.calls()[0];
    assert_eq!(call.status, 200);
    assert_eq!(call.headers["orgid"], ORG_ID_15);
    assert_eq!(call.headers["orgid"].len(), 15);
}

#[tokio::test]
async fn an_interaction_with_a_file_goes_out_as_json_and_attachments_parts() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let file = bytes::Bytes::from_static(b"\x89PNG fake image bytes");
    let request = InteractionRequest {
        to: CHANNEL_ADDRESS.to_owned(),
        from: END_USER.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::AttachmentInteraction {
            timestamp: 1_700_000_000_000,
            id: uuid::Uuid::new_v4().to_string(),
            attachment_index: 0,
            content_length: file.len() as u64,
            text: Some("a picture".to_owned()),
        }],
    };
    let attachment = Attachment {
        file_name: "picture.png".to_owned(),
        mime_type: "image/png".to_owned(),
        bytes: file.clone(),
    };

    let response = client
        .post_interactions(&request, Some(attachment))
        .await
        .unwrap();

    assert_eq!(response.work_item_ids.len(), 1);
    let call = &fake.interaction.calls()[0];
    assert!(call.headers["content-type"].starts_with("multipart/form-data"));
    assert_eq!(
        call.body["json"]["interactions"][0]["interactionType"],
        "AttachmentInteraction"
    );
    assert_eq!(call.body["attachments"][0]["fileName"], "picture.png");
    assert_eq!(call.body["attachments"][0]["contentType"], "image/png");
    assert_eq!(call.body["attachments"][0]["size"], file.len());
}

/// The JSON body of `GET url`.
async fn get_json(url: &str) -> serde_json::Value {
    let response = crate::support::salesforce::raw_http()
        .get(url)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn recorded_calls_are_readable_over_the_control_plane_with_the_token_redacted() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();
    client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap();

    let all = get_json(&format!("{}/_harness/calls", fake.base_url)).await;
    let only_interactions = get_json(&format!(
        "{}/_harness/calls?path=interactions",
        fake.base_url
    ))
    .await;

    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["headers"]["authorization"], "Bearer [redacted]");
    assert!(all[0]["receivedAtMs"].as_u64().unwrap() > 0);
    assert_eq!(all[0]["body"]["capabilities"]["appType"], "custom");
    assert!(!serde_json::to_string(all)
        .unwrap()
        .contains(fake.registry.static_token()));
    assert_eq!(only_interactions.as_array().unwrap().len(), 1);
    assert_eq!(only_interactions[0]["path"], "/api/v1/interactions");
}
