//! The fake Interaction Service refuses what Salesforce refuses on the inbound endpoints the
//! sidecar calls: acknowledgements (1 to 25, required fields, enums, the sender participant),
//! `/interactions` (field lengths, at most one file) and reused client entry ids (10073).

use crate::support::salesforce::{
    open_conversation, raw_http, sample_interaction, Salesforce, CHANNEL_ADDRESS,
    CHANNEL_DEFINITION, END_USER, ORG_ID_15,
};
use reqwest::Method;
use serde_json::{json, Value};

/// Sends a raw JSON body with valid headers; returns the status and the body's code.
async fn send_json(
    fake: &Salesforce,
    method: Method,
    path: &str,
    body: &Value,
) -> (u16, Option<i64>) {
    let response = raw_http()
        .request(method, format!("{}/api/v1/{path}", fake.base_url))
        .bearer_auth(fake.registry.static_token())
        .header("OrgId", ORG_ID_15)
        .header("AuthorizationContext", CHANNEL_DEFINITION)
        .header("RequestId", uuid::Uuid::new_v4().to_string())
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].as_i64())
}

/// Sends `/interactions` with the `json` part `json` and `files` attachments parts.
async fn send_multipart(fake: &Salesforce, json: &Value, files: usize) -> (u16, Option<i64>) {
    let mut form = reqwest::multipart::Form::new().part(
        "json",
        reqwest::multipart::Part::text(json.to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    for n in 0..files {
        form = form.part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![7u8; 3]).file_name(format!("f{n}.bin")),
        );
    }
    let response = raw_http()
        .post(format!("{}/api/v1/interactions", fake.base_url))
        .bearer_auth(fake.registry.static_token())
        .header("OrgId", ORG_ID_15)
        .header("AuthorizationContext", CHANNEL_DEFINITION)
        .header("RequestId", uuid::Uuid::new_v4().to_string())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].as_i64())
}

fn acknowledgement(created: &str) -> Value {
    json!({"acknowledgementType": "Delivered", "acknowledgementTimestamp": "1700000000000",
           "acknowledgedConversationEntryIdentifier": uuid::Uuid::new_v4().to_string(),
           "acknowledgmentCreatedConversationEntryIdentifier": created})
}

fn acknowledgements(conversation: &str, items: Vec<Value>) -> Value {
    json!({"conversationIdentifier": conversation,
           "sender": {"appType": "custom", "role": "EndUser", "subject": END_USER},
           "acknowledgements": items})
}

fn fresh_acks(count: usize) -> Vec<Value> {
    (0..count)
        .map(|_| acknowledgement(&uuid::Uuid::new_v4().to_string()))
        .collect()
}

#[tokio::test]
async fn acknowledgement_takes_one_to_twenty_five_with_every_field_and_refuses_the_rest() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let (conversation, _) = open_conversation(&client).await;
    let long_conversation = "c".repeat(241);
    let edit = |path: &str, value: Value| {
        let mut body = acknowledgements(&conversation, fresh_acks(1));
        *body.pointer_mut(path).unwrap() = value;
        body
    };
    let cases = [
        (acknowledgements(&conversation, fresh_acks(1)), 200, None),
        (acknowledgements(&conversation, fresh_acks(25)), 200, None),
        (
            acknowledgements(&conversation, fresh_acks(26)),
            400,
            Some(10089),
        ),
        (acknowledgements(&conversation, vec![]), 400, Some(10089)),
        (
            acknowledgements(&long_conversation, fresh_acks(1)),
            400,
            Some(10089),
        ),
        (
            acknowledgements("not-a-uuid", fresh_acks(1)),
            400,
            Some(10018),
        ),
        (edit("/sender/role", json!("Robot")), 400, Some(10089)),
        (edit("/sender/appType", json!("sms")), 400, Some(10089)),
        (edit("/sender/subject", json!("")), 400, Some(10089)),
        (
            edit("/acknowledgements/0/acknowledgementType", json!("Seen")),
            400,
            Some(10089),
        ),
        (
            edit("/acknowledgements/0/acknowledgementTimestamp", Value::Null),
            400,
            Some(10089),
        ),
        (
            edit(
                "/acknowledgements/0/acknowledgedConversationEntryIdentifier",
                json!(""),
            ),
            400,
            Some(10089),
        ),
        (
            edit(
                "/acknowledgements/0/acknowledgmentCreatedConversationEntryIdentifier",
                Value::Null,
            ),
            400,
            Some(10089),
        ),
    ];
    for (body, status, code) in cases {
        let outcome = send_json(&fake, Method::POST, "acknowledgement", &body).await;
        assert_eq!(outcome, (status, code), "body: {body}");
    }
}

#[tokio::test]
async fn a_reused_client_entry_id_is_refused_with_10073_on_interactions_and_acknowledgements() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let request = sample_interaction();
    client.post_interactions(&request, None).await.unwrap();

    let again = client.post_interactions(&request, None).await.unwrap_err();
    assert_eq!(again.code(), Some(10073));
    assert_eq!(
        again.message(),
        Some("Invalid message ID. Provide a unique ID for each message entry.")
    );

    let (conversation, _) = open_conversation(&client).await;
    let created = uuid::Uuid::new_v4().to_string();
    let body = acknowledgements(&conversation, vec![acknowledgement(&created)]);
    assert_eq!(
        send_json(&fake, Method::POST, "acknowledgement", &body).await,
        (200, None)
    );
    assert_eq!(
        send_json(&fake, Method::POST, "acknowledgement", &body).await,
        (400, Some(10073))
    );
    let twice_in_one = acknowledgements(
        &conversation,
        vec![acknowledgement("dup-1"), acknowledgement("dup-1")],
    );
    assert_eq!(
        send_json(&fake, Method::POST, "acknowledgement", &twice_in_one).await,
        (400, Some(10073))
    );
}

#[tokio::test]
async fn interactions_refuse_long_addresses_and_more_than_one_file() {
    let fake = Salesforce::start().await;
    let entry = |id: &str| {
        json!({"interactionType": "EntryInteraction", "timestamp": 1_700_000_000_000_i64,
               "payload": {"entryType": "Message", "id": id, "abstractMessage": {
                   "messageType": "StaticContentMessage", "id": id,
                   "staticContent": {"formatType": "Text", "text": "hi"}}}})
    };
    let attachment = |id: &str| {
        json!({"interactionType": "AttachmentInteraction", "timestamp": 1_700_000_000_000_i64,
               "id": id, "attachmentIndex": 0, "contentLength": 3})
    };
    let body = |from: &str, item: Value| json!({"to": CHANNEL_ADDRESS, "from": from, "interactions": [item]});
    let id = || uuid::Uuid::new_v4().to_string();
    assert_eq!(
        send_multipart(&fake, &body(END_USER, entry(&id())), 0).await,
        (202, None)
    );
    assert_eq!(
        send_multipart(&fake, &body(&"u".repeat(256), entry(&id())), 0).await,
        (400, Some(10028))
    );
    assert_eq!(
        send_multipart(&fake, &body(END_USER, attachment(&id())), 1).await,
        (202, None)
    );
    assert_eq!(
        send_multipart(&fake, &body(END_USER, attachment(&id())), 2).await,
        (400, Some(10011))
    );
    assert_eq!(
        send_multipart(&fake, &body(END_USER, attachment(&id())), 0).await,
        (400, Some(10009))
    );
}

#[tokio::test]
async fn an_attachment_of_25_mb_is_taken_and_one_byte_more_is_refused_with_10008() {
    let fake = Salesforce::start().await;
    let limit = 25 * 1024 * 1024;
    for (size, expected) in [(limit, (202, None)), (limit + 1, (400, Some(10008)))] {
        let json = json!({"to": CHANNEL_ADDRESS, "from": END_USER, "interactions": [
            {"interactionType": "AttachmentInteraction", "timestamp": 1_700_000_000_000_i64,
             "id": uuid::Uuid::new_v4().to_string(), "attachmentIndex": 0, "contentLength": size}]});
        let form = reqwest::multipart::Form::new()
            .part(
                "json",
                reqwest::multipart::Part::text(json.to_string())
                    .mime_str("application/json")
                    .unwrap(),
            )
            .part(
                "attachments",
                reqwest::multipart::Part::bytes(vec![1u8; size]).file_name("big.bin"),
            );
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/interactions", fake.base_url))
            .bearer_auth(fake.registry.static_token())
            .header("OrgId", ORG_ID_15)
            .header("AuthorizationContext", CHANNEL_DEFINITION)
            .header("RequestId", uuid::Uuid::new_v4().to_string())
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!((status, body["code"].as_i64()), expected, "{size} bytes");
    }
}

#[tokio::test]
async fn conversation_needs_a_channel_and_exactly_one_custom_end_user_with_a_subject() {
    let fake = Salesforce::start().await;
    let end_user = json!({"appType": "custom", "role": "EndUser", "subject": END_USER});
    let cases = [
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS, "participants": [end_user]}),
            202,
            None,
        ),
        (json!({"participants": [end_user]}), 400, Some(10052)),
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS, "participants": []}),
            400,
            Some(10053),
        ),
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS, "participants": [end_user, end_user]}),
            400,
            Some(10053),
        ),
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS,
                   "participants": [{"appType": "agent", "role": "Agent", "subject": "005"}]}),
            400,
            Some(10053),
        ),
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS,
                   "participants": [{"appType": "custom", "role": "EndUser", "subject": ""}]}),
            400,
            Some(10054),
        ),
        (
            json!({"channelAddressIdentifier": CHANNEL_ADDRESS, "participants": [end_user],
                   "routingAttributes": {"tier": 3}}),
            400,
            Some(10089),
        ),
    ];
    for (body, status, code) in cases {
        let outcome = send_json(&fake, Method::POST, "conversation", &body).await;
        assert_eq!(outcome, (status, code), "body: {body}");
    }
}
