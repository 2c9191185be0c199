//! The fake refuses what Salesforce refuses in the two bodies this area sends: a
//! `PATCH /capabilities` registration (the official `CapabilitiesRequest` schema) and a
//! MessageDeliveryFailed entry on `POST /interactions` (recipient and messaging error code).

use crate::support::salesforce::{
    sample_interaction, Salesforce, CHANNEL_ADDRESS, CHANNEL_DEFINITION, END_USER, ORG_ID_15,
};
use byoc_connector::interaction::{Interaction, InteractionRequest};
use reqwest::Method;
use serde_json::{json, Value};

/// A valid registration with one restricted attachment format and a progress indicator.
fn registration() -> Value {
    json!({"capabilities": {"appType": "custom", "channelCapabilities": [{
        "channelType": "custom",
        "customIntegration": {"customIntegrationType": "CustomChannelIntegration",
                              "integrationNamespace": ORG_ID_15,
                              "conversationChannelDefinitionDevName": CHANNEL_DEFINITION},
        "messageTypeCapabilities": [{"messageType": "StaticContentMessage", "formatTypeCapabilities": [
            {"formatType": "Text", "capabilityFieldRestriction": [{"fieldJsonPath": "$.staticContent.text",
                "restriction": {"fieldRestrictionType": "StringFieldRestriction", "encoding": "UTF8", "maxLength": 2000}}]},
            {"formatType": "Attachments", "capabilityFieldRestriction": [
                {"fieldJsonPath": "$.staticContent.attachments.mimeType",
                 "restriction": {"fieldRestrictionType": "MimeTypeRestriction", "mimeType": "image/png"}},
                {"fieldJsonPath": "$.staticContent.attachments",
                 "restriction": {"fieldRestrictionType": "FileSizeRestriction", "maxSizeInKb": 1024}}]}]}],
        "progressIndicatorTypeCapabilities": [{"progressIndicatorType": "ProgressUpdateIndicator",
                                               "formatTypeCapabilities": [{"formatType": "Text"}]}]
    }]}})
}

/// Sends `body` as `PATCH /capabilities` with valid headers; the status and the error code.
async fn patch(fake: &Salesforce, body: &Value) -> (u16, Option<i64>) {
    let response = fake
        .authorized_request(Method::PATCH, "capabilities")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["errorDetail"]["code"].as_i64())
}

/// `registration()` with the value at the JSON pointer `at` replaced (or removed for `None`).
fn edited(at: &str, value: Option<Value>) -> Value {
    let mut body = registration();
    let (parent, leaf) = at.rsplit_once('/').unwrap();
    let parent = body.pointer_mut(parent).unwrap();
    match (parent, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(leaf.to_owned(), value);
        }
        (Value::Object(map), None) => {
            map.remove(leaf);
        }
        (Value::Array(items), Some(value)) => items[leaf.parse::<usize>().unwrap()] = value,
        _ => panic!("cannot edit {at}"),
    }
    body
}

#[tokio::test]
async fn the_fake_keeps_a_valid_registration_and_refuses_what_the_schema_forbids() {
    let fake = Salesforce::start().await;
    assert_eq!(patch(&fake, &registration()).await, (200, None));
    assert_eq!(fake.interaction.capabilities(), Some(registration()));

    let channel = "/capabilities/channelCapabilities/0";
    let text_format = format!("{channel}/messageTypeCapabilities/0/formatTypeCapabilities/0");
    let restriction = format!("{text_format}/capabilityFieldRestriction/0/restriction");
    let flow = edited(&format!("{text_format}/formatType"), Some(json!("Flow")));
    assert_eq!(
        patch(&fake, &flow).await,
        (200, None),
        "Flow is one of the official definition's format types"
    );
    assert_eq!(patch(&fake, &registration()).await, (200, None));
    let cases: Vec<(String, Option<Value>, i64)> = vec![
        ("/capabilities/appType".into(), Some(json!("agent")), 10037),
        ("/capabilities/appType".into(), Some(json!("pigeon")), 10089),
        (
            "/capabilities/channelCapabilities".into(),
            Some(json!([])),
            10089,
        ),
        (format!("{channel}/channelType"), Some(json!("sms")), 10089),
        (
            format!("{channel}/customIntegration/integrationNamespace"),
            None,
            10050,
        ),
        (
            format!("{channel}/messageTypeCapabilities"),
            Some(json!([])),
            10047,
        ),
        (
            format!("{channel}/messageTypeCapabilities/0/messageType"),
            Some(json!("Carrier")),
            10047,
        ),
        (
            format!("{text_format}/formatType"),
            Some(json!("Hologram")),
            10048,
        ),
        (
            format!("{channel}/messageTypeCapabilities/0/formatTypeCapabilities"),
            Some(json!([])),
            10048,
        ),
        (
            format!("{text_format}/capabilityFieldRestriction/0/fieldJsonPath"),
            None,
            10089,
        ),
        (
            format!("{restriction}/fieldRestrictionType"),
            Some(json!("ColourRestriction")),
            10089,
        ),
        (
            format!("{restriction}/encoding"),
            Some(json!("ASCII")),
            10089,
        ),
        (format!("{restriction}/maxLength"), None, 10089),
        (
            format!("{channel}/progressIndicatorTypeCapabilities"),
            Some(json!([])),
            10098,
        ),
        (
            format!("{channel}/progressIndicatorTypeCapabilities/0/progressIndicatorType"),
            Some(json!("Spinner")),
            10089,
        ),
    ];
    for (at, value, code) in cases {
        let (status, refused_with) = patch(&fake, &edited(&at, value.clone())).await;
        assert_eq!(
            (status, refused_with),
            (400, Some(code)),
            "{at} = {value:?} must be refused with {code}"
        );
    }
    assert_eq!(
        fake.interaction.capabilities(),
        Some(registration()),
        "a refused registration replaces nothing"
    );
}

/// A MessageDeliveryFailed interaction from `END_USER` with `entry` merged into a valid entry.
fn delivery_failed(entry: Value) -> InteractionRequest {
    let mut payload = json!({
        "entryType": "MessageDeliveryFailed",
        "id": uuid::Uuid::new_v4().to_string(),
        "recipient": {"appType": "custom", "role": "EndUser", "subject": END_USER},
        "errorCode": "2002",
        "failedConversationEntryIdentifier": uuid::Uuid::new_v4().to_string(),
    });
    for (key, value) in entry.as_object().unwrap() {
        payload[key] = value.clone();
    }
    InteractionRequest {
        to: CHANNEL_ADDRESS.to_owned(),
        from: END_USER.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::EntryInteraction {
            timestamp: 1_700_000_000_000,
            payload,
        }],
    }
}

#[tokio::test]
async fn the_fake_takes_a_delivery_failure_only_with_a_messaging_error_code_for_the_end_user() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap();
    let accepted = client
        .post_interactions(&delivery_failed(json!({})), None)
        .await
        .unwrap();
    assert!(accepted.conversation_identifier.is_some());
    for code in ["0001", "1004", "2004", "3007"] {
        client
            .post_interactions(&delivery_failed(json!({"errorCode": code})), None)
            .await
            .unwrap_or_else(|error| panic!("code {code} is a messaging error code: {error}"));
    }
    let refused = [
        json!({"errorCode": "9999"}),
        json!({"errorCode": "2003"}),
        json!({"errorCode": 2002}),
        json!({"errorCode": null}),
        json!({"recipient": null}),
        json!({"recipient": {"appType": "custom", "role": "Agent", "subject": END_USER}}),
        json!({"recipient": {"appType": "custom", "role": "EndUser", "subject": "someone-else"}}),
        json!({"failedConversationEntryIdentifier": 7}),
    ];
    for entry in refused {
        let error = client
            .post_interactions(&delivery_failed(entry.clone()), None)
            .await
            .expect_err("the fake refuses it");
        assert_eq!(error.code(), Some(10089), "{entry}");
    }
}
