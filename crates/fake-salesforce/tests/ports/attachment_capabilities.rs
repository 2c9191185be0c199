//! The fake checks an `/interactions` attachment against the capabilities registered with
//! `PATCH /capabilities` (type and size), over its real HTTP port with a plain client.

use fake_salesforce::{FakeConfig, FakeSalesforce};
use serde_json::{json, Value};

/// A request to `path` on the fake with every header Salesforce requires.
fn api(fake: &FakeSalesforce, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let endpoints = fake.endpoints();
    reqwest::Client::new()
        .request(method, format!("{}/api/v1/{path}", endpoints.interaction))
        .bearer_auth(&endpoints.token)
        .header("OrgId", &endpoints.org_id[..15])
        .header("AuthorizationContext", &endpoints.authorization_context)
        .header("AuthorizationContextType", "ConversationChannelDefinition")
        .header("RequestId", uuid::Uuid::new_v4().to_string())
}

/// Registers `StaticContentMessage` with `Text` and `Attachments`, the latter restricted to
/// `restrictions`.
async fn register(fake: &FakeSalesforce, restrictions: &[Value]) {
    let body = json!({"capabilities": {"appType": "custom", "channelCapabilities": [{
        "channelType": "custom",
        "customIntegration": {
            "customIntegrationType": "CustomChannelIntegration",
            "integrationNamespace": &fake.endpoints().org_id[..15],
            "conversationChannelDefinitionDevName": fake.endpoints().authorization_context,
        },
        "messageTypeCapabilities": [{"messageType": "StaticContentMessage", "formatTypeCapabilities": [
            {"formatType": "Text"},
            {"formatType": "Attachments", "capabilityFieldRestriction": restrictions},
        ]}],
    }]}});
    let response = api(fake, reqwest::Method::PATCH, "capabilities")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

fn mime_type(mime_type: &str) -> Value {
    json!({"fieldJsonPath": "$.staticContent.attachments.mimeType",
           "restriction": {"fieldRestrictionType": "MimeTypeRestriction", "mimeType": mime_type}})
}

/// Sends one attachment of `size` bytes typed `content_type`; the status and the error code.
async fn send_attachment(fake: &FakeSalesforce, content_type: &str, size: usize) -> (u16, Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let json_part = json!({
        "to": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "from": "end-user-1",
        "interactions": [{"interactionType": "AttachmentInteraction", "timestamp": 1_700_000_000_000_i64,
                          "id": id, "attachmentIndex": 0, "contentLength": size}],
    });
    let form = reqwest::multipart::Form::new()
        .part(
            "json",
            reqwest::multipart::Part::text(json_part.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![7u8; size])
                .file_name("file")
                .mime_str(content_type)
                .unwrap(),
        );
    let response = api(fake, reqwest::Method::POST, "interactions")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["code"].clone())
}

#[tokio::test]
async fn an_attachment_of_a_type_or_size_the_registration_does_not_allow_is_refused() {
    let fake = FakeSalesforce::start(FakeConfig::default()).await.unwrap();
    // Before any registration, any type passes.
    assert_eq!(send_attachment(&fake, "application/pdf", 10).await.0, 202);

    let size_kb = json!({"fieldJsonPath": "$.staticContent.attachments",
                         "restriction": {"fieldRestrictionType": "FileSizeRestriction", "maxSizeInKb": 1}});
    register(
        &fake,
        &[mime_type("image/png"), mime_type("image/jpeg"), size_kb],
    )
    .await;
    assert_eq!(
        send_attachment(&fake, "application/pdf", 10).await,
        (400, json!(10089)),
        "a type the registration does not name"
    );
    assert_eq!(
        send_attachment(&fake, "image/png", 1025).await,
        (400, json!(10089)),
        "larger than the registered 1 KB"
    );
    assert_eq!(send_attachment(&fake, "image/png", 1024).await.0, 202);
    assert_eq!(
        send_attachment(&fake, "IMAGE/JPEG; name=x", 10).await.0,
        202,
        "the type compares without parameters or case"
    );
    let refused = fake
        .interaction()
        .calls_to("interactions")
        .into_iter()
        .filter(|call| call.status == 400)
        .count();
    assert_eq!(refused, 2);

    // A registration without restrictions on attachments allows any type again.
    register(&fake, &[]).await;
    assert_eq!(send_attachment(&fake, "application/pdf", 2000).await.0, 202);
    fake.shutdown().await;
}
