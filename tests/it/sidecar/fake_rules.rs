//! The fake refuses what Salesforce refuses on the three endpoints behind the consent,
//! participant and history routes, with the official error codes, called directly.

use crate::support::salesforce::{Salesforce, CHANNEL_ADDRESS};
use reqwest::Method;
use serde_json::{json, Value};

const HOUR_MS: i64 = 3_600_000;

/// Calls `method path` on the fake with valid headers; the status and Salesforce's code.
async fn call(fake: &Salesforce, method: Method, path: &str, body: &Value) -> (u16, Option<i64>) {
    let response = fake
        .authorized_request(method, path)
        .header("AuthorizationContextType", "ConversationChannelDefinition")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let code = body["code"]
        .as_i64()
        .or(body["errorDetail"]["code"].as_i64());
    (status, code)
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn history(entries: usize, at: i64) -> Value {
    let items: Vec<Value> = (0..entries)
        .map(|n| {
            let id = uuid::Uuid::new_v4().to_string();
            json!({"clientTimestamp": at, "sender": {"appType": "custom", "role": "EndUser", "subject": "u-1"},
                   "entryPayload": {"entryType": "Message", "id": id, "abstractMessage": {
                       "messageType": "StaticContentMessage", "id": id,
                       "staticContent": {"formatType": "Text", "text": format!("line {n}")}}}})
        })
        .collect();
    json!({"channelAddressIdentifier": CHANNEL_ADDRESS,
           "conversationParticipants": [{"participant": {"appType": "custom", "role": "EndUser", "subject": "u-1"},
                                         "joinedTime": at - HOUR_MS}],
           "conversationEntries": items})
}

#[tokio::test]
async fn the_fake_refuses_consent_participant_and_history_bodies_as_salesforce_does() {
    let fake = Salesforce::start().await;
    let consent = |status: &str| json!({"channelAddressIdentifier": CHANNEL_ADDRESS, "endUserClientId": "u-1", "consentStatus": status});
    assert_eq!(
        call(&fake, Method::PATCH, "consent", &consent("OptedOut")).await,
        (400, Some(10022))
    );
    fake.interaction.set_partner_owns_consent(true);
    assert_eq!(
        call(&fake, Method::PATCH, "consent", &consent("OptedOut")).await,
        (200, None)
    );
    assert_eq!(
        call(&fake, Method::PATCH, "consent", &consent("OptIn")).await,
        (400, Some(10021))
    );

    let conversation = uuid::Uuid::new_v4().to_string();
    let removal = |operation: &str, subject: &str| {
        json!({"conversationIdentifier": conversation, "operation": operation,
               "participants": [{"appType": "agent", "role": "Agent", "subject": subject}]})
    };
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "participant",
            &removal("Remove", "005xx000001Abcd")
        )
        .await,
        (200, None)
    );
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "participant",
            &removal("Add", "005xx000001Abcd")
        )
        .await,
        (400, Some(10097))
    );
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "participant",
            &removal("Remove", "005xx000001AbcdAAA")
        )
        .await,
        (400, Some(10036))
    );

    let now = now_ms();
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "conversationHistory",
            &history(25, now - HOUR_MS)
        )
        .await,
        (202, None)
    );
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "conversationHistory",
            &history(26, now - HOUR_MS)
        )
        .await,
        (400, Some(10078))
    );
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "conversationHistory",
            &history(1, now - 25 * HOUR_MS)
        )
        .await,
        (400, Some(10046))
    );
    let mut stranger = history(1, now - HOUR_MS);
    stranger["conversationEntries"][0]["sender"]["subject"] = json!("u-2");
    assert_eq!(
        call(&fake, Method::POST, "conversationHistory", &stranger).await,
        (400, Some(10068))
    );
    let mut bot = history(1, now - HOUR_MS);
    bot["conversationParticipants"].as_array_mut().unwrap().push(
        json!({"participant": {"appType": "chatbot", "role": "Chatbot", "subject": "b"}, "joinedTime": now - HOUR_MS}),
    );
    assert_eq!(
        call(&fake, Method::POST, "conversationHistory", &bot).await,
        (400, Some(10066))
    );
    // An attachment entry names each file with an id, name, MIME type and URL (10045).
    let with_file = |file: Value| {
        let mut body = history(1, now - HOUR_MS);
        let message = &mut body["conversationEntries"][0]["entryPayload"]["abstractMessage"];
        message["staticContent"] = json!({"formatType": "Attachments", "attachments": [file]});
        body
    };
    let file = json!({"id": uuid::Uuid::new_v4().to_string(), "name": "a.pdf",
                      "mimeType": "application/pdf", "url": "https://files.example/a.pdf"});
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "conversationHistory",
            &with_file(file.clone())
        )
        .await,
        (202, None)
    );
    let mut no_url = file;
    no_url.as_object_mut().unwrap().remove("url");
    assert_eq!(
        call(
            &fake,
            Method::POST,
            "conversationHistory",
            &with_file(no_url)
        )
        .await,
        (400, Some(10045))
    );
}
