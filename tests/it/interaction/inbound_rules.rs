//! The fake Interaction Service refuses what Salesforce refuses on the inbound endpoints the
//! sidecar calls: acknowledgements (1 to 25, required fields, enums, the sender participant),
//! `/interactions` (field lengths, at most one file, the entry schemas, string routing
//! attributes) and reused client entry ids (10073).

use crate::support::salesforce::{
    open_conversation, sample_interaction, Salesforce, CHANNEL_ADDRESS, CHANNEL_DEFINITION,
    END_USER, ORG_ID_15,
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
    let response = fake
        .authorized_request(method, path)
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
    let response = fake
        .authorized_request(Method::POST, "interactions")
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

/// A status and the body's code.
type Outcome = (u16, Option<i64>);

/// A `/interactions` body carrying `interaction`, with `routingAttributes` when given.
fn interactions_body(interaction: Value, routing_attributes: Option<Value>) -> Value {
    let mut body = json!({"to": CHANNEL_ADDRESS, "from": END_USER, "interactions": [interaction]});
    if let Some(attributes) = routing_attributes {
        body["routingAttributes"] = attributes;
    }
    body
}

// Each refused case breaks one rule of the official definition's entry schemas; each
// accepted one is the nearest whole body.
#[tokio::test]
async fn interactions_refuse_entries_the_official_definition_does_not_allow() {
    let fake = Salesforce::start().await;
    let id = || uuid::Uuid::new_v4().to_string();
    let entry = |payload: Value| {
        json!({"interactionType": "EntryInteraction", "timestamp": 1_700_000_000_000_i64,
               "payload": payload})
    };
    // A text message, changed by `change`.
    let message = |change: &dyn Fn(&mut Value)| {
        let id = id();
        let mut message = json!({"messageType": "StaticContentMessage", "id": id,
                                 "staticContent": {"formatType": "Text", "text": "hi"}});
        change(&mut message);
        entry(json!({"entryType": "Message", "id": id, "abstractMessage": message}))
    };
    let attachment = |index: Value| {
        json!({"interactionType": "AttachmentInteraction", "timestamp": 1_700_000_000_000_i64,
               "id": id(), "attachmentIndex": index, "contentLength": 3})
    };
    let reference = json!({"id": "r1", "recordId": "068000000000001"});
    let typing = |timestamp: Option<i64>| {
        let mut payload = json!({"entryType": "TypingStoppedIndicator", "id": id()});
        if let Some(timestamp) = timestamp {
            payload["timestamp"] = json!(timestamp);
        }
        entry(payload)
    };
    let ok: Outcome = (202, None);
    let cases: Vec<(Value, usize, Outcome)> = vec![
        (interactions_body(message(&|_| {}), None), 0, ok),
        (
            interactions_body(entry(json!({"entryType": "Waved", "id": id()})), None),
            0,
            (400, Some(10045)),
        ),
        (interactions_body(typing(None), None), 0, (400, Some(10045))),
        (
            interactions_body(typing(Some(1_700_000_000_000)), None),
            0,
            ok,
        ),
        (
            interactions_body(message(&|m| m["staticContent"] = Value::Null), None),
            0,
            (400, Some(10045)),
        ),
        (
            interactions_body(
                message(&|m| m["staticContent"]["formatType"] = json!("Blink")),
                None,
            ),
            0,
            (400, Some(10048)),
        ),
        (
            interactions_body(message(&|m| m["staticContent"]["text"] = Value::Null), None),
            0,
            (400, Some(10045)),
        ),
        (
            interactions_body(message(&|m| m["references"] = json!([{"id": "r1"}])), None),
            0,
            (400, Some(10045)),
        ),
        (
            interactions_body(
                message(&|m| {
                    let mut extra = reference.clone();
                    extra["url"] = json!("x");
                    m["references"] = json!([extra]);
                }),
                None,
            ),
            0,
            (400, Some(10045)),
        ),
        (
            interactions_body(message(&|m| m["references"] = json!([reference])), None),
            0,
            ok,
        ),
        (
            interactions_body(message(&|_| {}), Some(json!({"tier": 3}))),
            0,
            (400, Some(10089)),
        ),
        (
            interactions_body(message(&|_| {}), Some(json!({"tier": "gold"}))),
            0,
            ok,
        ),
        (
            interactions_body(attachment(Value::Null), None),
            1,
            (400, Some(10029)),
        ),
        (interactions_body(attachment(json!(0)), None), 1, ok),
    ];
    for (body, files, expected) in cases {
        assert_eq!(
            send_multipart(&fake, &body, files).await,
            expected,
            "{body}"
        );
    }
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

#[tokio::test]
async fn messaging_session_refusals_carry_the_codes_salesforce_documents_for_them() {
    let fake = Salesforce::start().await;
    let body = |change: &dyn Fn(&mut Value)| {
        let mut body = json!({"channelAddressIdentifier": CHANNEL_ADDRESS,
                              "endUserClientId": END_USER,
                              "conversationIdentifier": uuid::Uuid::new_v4().to_string(),
                              "operation": "End", "operationBy": "EndUser"});
        change(&mut body);
        body
    };
    let cases: Vec<(Value, Outcome)> = vec![
        (body(&|_| {}), (200, None)),
        (
            body(&|b| b["operation"] = json!("Pause")),
            (400, Some(10102)),
        ),
        (
            body(&|b| b["operationBy"] = json!("Agent")),
            (400, Some(10103)),
        ),
        (
            body(&|b| b["operation"] = json!("Inactivate")),
            (400, Some(10106)),
        ),
        (
            body(&|b| {
                b["operation"] = json!("Inactivate");
                b["sessionId"] = json!("0MwXX0000000001");
            }),
            (200, None),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            send_json(&fake, Method::POST, "messagingSession", &body).await,
            expected,
            "{body}"
        );
    }
}
