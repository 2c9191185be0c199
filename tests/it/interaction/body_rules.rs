//! The fake Interaction Service enforces Salesforce's body rules, and a permanent error reaches
//! the client's caller with its code and message.

use crate::support::salesforce::{
    open_conversation, sample_agent_work, sample_interaction, sample_routing_result, Salesforce,
};
use byoc_connector::auth::{AuthConfig, TokenProvider};
use byoc_connector::interaction::{
    Capacity, ErrorClass, InteractionError, PostRouteRequest, RoutingInfo, RoutingType,
};
use reqwest::Method;
use serde_json::{json, Value};

/// The code of an error answer in either of Salesforce's shapes.
fn code_of(body: &Value) -> Option<i64> {
    body["code"]
        .as_i64()
        .or_else(|| body["errorDetail"]["code"].as_i64())
}

/// Sends a raw JSON body with valid headers; returns the status and the code.
async fn send_json(
    fake: &Salesforce,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Option<i64>) {
    let response = fake
        .authorized_request(method, path)
        .header("AuthorizationContextType", "ConversationChannelDefinition")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, code_of(&body))
}

#[tokio::test]
async fn a_permanent_error_reaches_the_caller_with_its_code_and_message() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let conversation = uuid::Uuid::new_v4().to_string();
    fake.interaction
        .seed_conversation(&conversation, "0Mw5g0000000001");
    let other = uuid::Uuid::new_v4().to_string();
    fake.interaction
        .seed_conversation(&other, "0Mw5g0000000002");

    let err = client
        .routing_result(&sample_routing_result(&conversation, "0Mw5g0000000002"))
        .await
        .unwrap_err();

    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some(15107));
    assert_eq!(
        err.message().map(str::to_owned),
        Some(format!("Enter a conversationId that matches a conversation linked to workItemId 0Mw5g0000000002. conversationId {conversation} doesn't match."))
    );
    assert!(err.to_string().contains("15107"));
    assert_eq!(fake.interaction.calls().len(), 1);
}

#[tokio::test]
async fn routing_result_rules_on_error_message_and_ids_are_enforced() {
    let fake = Salesforce::start().await;
    let conversation = uuid::Uuid::new_v4().to_string();
    fake.interaction
        .seed_conversation(&conversation, "0Mw5g0000000001");
    let base = json!({"conversationIdentifier": conversation, "workItemId": "0Mw5g0000000001",
                      "externallyRouted": false, "routingType": "Transfer"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (with(json!({"success": true})), 202, None),
        (
            with(json!({"success": true, "errorMessage": "oops"})),
            400,
            Some(10033),
        ),
        (
            with(json!({"success": true, "errorMessage": ""})),
            400,
            Some(10033),
        ),
        (with(json!({"success": false})), 400, Some(10034)),
        (
            with(json!({"success": false, "errorMessage": " "})),
            400,
            Some(10034),
        ),
        (
            with(json!({"success": false, "errorMessage": "no rep available"})),
            202,
            None,
        ),
        (
            with(json!({"success": true, "conversationIdentifier": "not-a-uuid"})),
            400,
            Some(10018),
        ),
        (
            with(json!({"success": true, "workItemId": "005000000000001"})),
            400,
            Some(10012),
        ),
        // The API takes exactly 15 characters: the 18-character form SOQL returns is refused.
        (
            with(json!({"success": true, "workItemId": "0Mw5g0000000001AAA"})),
            400,
            Some(10012),
        ),
        (
            with(json!({"success": true, "externallyRouted": null})),
            400,
            Some(10089),
        ),
        // A MessagingSession Salesforce does not know.
        (
            with(json!({"success": true, "workItemId": "0Mw5g0000000009"})),
            400,
            Some(15111),
        ),
    ];
    for (body, status, code) in cases {
        let outcome = send_json(&fake, Method::POST, "routingResult", body.clone()).await;
        assert_eq!(outcome, (status, code), "body: {body}");
    }
}

#[tokio::test]
async fn agent_work_capacity_and_duplicates_are_enforced() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let (conversation, work_item) = open_conversation(&client).await;

    // The client refuses both before sending; the fake refuses them as Salesforce does.
    let mut too_much = sample_agent_work(&conversation, &work_item);
    too_much.capacity = Some(Capacity::Percentage(150.0));
    let err = client.post_agent_work(&too_much).await.unwrap_err();
    assert!(
        matches!(
            err,
            InteractionError::InvalidRequest {
                field: "capacityPercentage",
                ..
            }
        ),
        "{err:?}"
    );
    let mut negative = sample_agent_work(&conversation, &work_item);
    negative.capacity = Some(Capacity::Weight(-1.0));
    let err = client.post_agent_work(&negative).await.unwrap_err();
    assert!(
        matches!(
            err,
            InteractionError::InvalidRequest {
                field: "capacityWeight",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        fake.interaction.calls_to("agentWork").is_empty(),
        "nothing was sent"
    );
    let raw = |capacity: Value| {
        let mut body = json!({"userId": "0055g00000ABCDE", "workItemId": work_item});
        for (key, value) in capacity.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    assert_eq!(
        send_json(
            &fake,
            Method::POST,
            "agentWork",
            raw(json!({"capacityPercentage": 150}))
        )
        .await,
        (400, Some(10015))
    );
    assert_eq!(
        send_json(
            &fake,
            Method::POST,
            "agentWork",
            raw(json!({"capacityWeight": -1}))
        )
        .await,
        (400, Some(10014))
    );

    let mut without_user = raw(json!({"capacityWeight": 1}));
    without_user["userId"] = json!("");
    assert_eq!(
        send_json(&fake, Method::POST, "agentWork", without_user).await,
        (400, Some(15106)),
        "Salesforce's code for an invalid User Id parameter"
    );

    let both = json!({"userId": "0055g00000ABCDE", "workItemId": work_item,
                      "capacityWeight": 1, "capacityPercentage": 10});
    assert_eq!(
        send_json(&fake, Method::POST, "agentWork", both).await,
        (400, Some(10013))
    );

    client
        .post_agent_work(&sample_agent_work(&conversation, &work_item))
        .await
        .unwrap();
    let duplicate = client
        .post_agent_work(&sample_agent_work(&conversation, &work_item))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Some(15109));
    assert_eq!(duplicate.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn route_needs_a_fallback_queue_for_a_flow_and_a_target_when_routing_info_is_given() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let conversation = uuid::Uuid::new_v4().to_string();

    let no_target = PostRouteRequest {
        conversation_identifier: conversation.clone(),
        routing_type: RoutingType::Transfer,
        routing_info: Some(RoutingInfo::default()),
    };
    assert_eq!(
        client.post_route(&no_target).await.unwrap_err().code(),
        Some(10030)
    );

    let flow_without_queue = json!({"conversationIdentifier": conversation, "routingType": "Transfer",
                                    "routingInfo": {"flow": {"flowId": "300SG00000jJder"}}});
    assert_eq!(
        send_json(&fake, Method::POST, "route", flow_without_queue).await,
        (400, Some(10024))
    );

    let bad_queue = PostRouteRequest {
        routing_info: Some(RoutingInfo {
            queue_id: Some("not-a-queue".to_owned()),
            ..RoutingInfo::default()
        }),
        ..no_target.clone()
    };
    assert_eq!(
        client.post_route(&bad_queue).await.unwrap_err().code(),
        Some(10032)
    );

    let channel_routing = PostRouteRequest {
        routing_info: None,
        ..no_target
    };
    assert!(client.post_route(&channel_routing).await.is_ok());
}

#[tokio::test]
async fn interactions_ids_must_match_and_attachments_must_be_counted() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let mut mismatched = sample_interaction();
    if let byoc_connector::interaction::Interaction::EntryInteraction { payload, .. } =
        &mut mismatched.interactions[0]
    {
        payload["abstractMessage"]["id"] = json!("another-id");
    }
    assert_eq!(
        client
            .post_interactions(&mismatched, None)
            .await
            .unwrap_err()
            .code(),
        Some(10060)
    );

    // Two interactions: the client refuses before sending, the fake answers 10029.
    let mut two = sample_interaction();
    two.interactions.push(two.interactions[0].clone());
    let err = client.post_interactions(&two, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            InteractionError::InvalidRequest {
                field: "interactions",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        crate::interaction::field_rules::send_interactions_json(
            &fake,
            serde_json::to_value(&two).unwrap()
        )
        .await,
        (400, Some(10029))
    );

    let file = byoc_connector::interaction::Attachment {
        file_name: "a.txt".to_owned(),
        mime_type: "text/plain".to_owned(),
        bytes: bytes::Bytes::from_static(b"abc"),
    };
    let err = client
        .post_interactions(&sample_interaction(), Some(file))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(10011));
}

#[tokio::test]
async fn the_same_end_user_keeps_one_conversation_and_work_item() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();

    let first = client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap();
    let second = client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap();

    assert_eq!(
        first.conversation_identifier,
        second.conversation_identifier
    );
    assert_eq!(first.work_item_ids, second.work_item_ids);
    let conversation = first.conversation_identifier.unwrap();
    assert_eq!(
        fake.interaction.work_item_for(&conversation),
        Some(first.work_item_ids[0].clone())
    );
}

#[tokio::test]
async fn a_rejected_static_token_reports_an_auth_error_without_refreshing() {
    let fake = Salesforce::start().await;
    let mut config = fake.static_config();
    config.token = byoc_connector::secret::SecretString::new(format!(
        "{}!revoked",
        crate::support::salesforce::ORG_ID
    ));
    let client = fake.client(TokenProvider::new(&AuthConfig::Static(config)).unwrap());

    let err = client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap_err();

    assert!(matches!(err, InteractionError::Auth(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(fake.interaction.calls().len(), 1);
    assert_eq!(fake.oauth.token_requests(), 0);
}

#[tokio::test]
async fn agent_work_takes_the_work_item_id_in_its_fifteen_character_form_only() {
    let fake = Salesforce::start().await;
    fake.interaction
        .seed_conversation(&uuid::Uuid::new_v4().to_string(), "0Mw5g0000000007");
    let body = |work_item: &str| json!({"userId": "0055g00000ABCDE", "workItemId": work_item, "capacityWeight": 1});

    let long = send_json(&fake, Method::POST, "agentWork", body("0Mw5g0000000007AAA")).await;
    let short = send_json(&fake, Method::POST, "agentWork", body("0Mw5g0000000007")).await;
    let unknown = send_json(&fake, Method::POST, "agentWork", body("0Mw5g0000000008")).await;

    assert_eq!(long, (400, Some(10012)));
    assert_eq!(short, (202, None));
    assert_eq!(
        unknown,
        (400, Some(15111)),
        "a MessagingSession Salesforce does not know"
    );
}

#[tokio::test]
async fn an_empty_body_is_refused_with_10100_and_one_that_is_not_json_with_10089() {
    let fake = Salesforce::start().await;
    for (body, code) in [("", 10100), ("  \n", 10100), ("{not json", 10089)] {
        let response = fake
            .authorized_request(Method::POST, "routingResult")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!((status, code_of(&answer)), (400, Some(code)), "{body:?}");
    }
}
