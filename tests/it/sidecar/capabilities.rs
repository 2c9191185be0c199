//! Sends are checked against the registered `[capabilities]`: an attachment of a type or size
//! the registration does not allow, or a text longer than registered, is refused naming the
//! header or field and the rule, before anything reaches Salesforce.

use serde_json::{json, Value};

use super::{Sidecar, END_USER};

const REGISTERED: &str = "\n[capabilities]\nregister = true\n\
    formats = [\"StaticContentMessage:Text\", \"StaticContentMessage:Attachments\"]\n\
    text_max_length = 10\nattachment_mime_types = [\"image/png\"]\nattachment_max_size_kb = 1\n";

async fn upload(sidecar: &Sidecar, key: &str, mime_type: &str, size: usize) -> (u16, Value) {
    upload_with_query(sidecar, key, mime_type, size, "").await
}

/// [`upload`] with `extra` (`&text=…`) appended to the query.
async fn upload_with_query(
    sidecar: &Sidecar,
    key: &str,
    mime_type: &str,
    size: usize,
    extra: &str,
) -> (u16, Value) {
    let url = sidecar.url(&format!(
        "/v1/messages/attachment?endUserClientId={END_USER}&fileName=f{extra}"
    ));
    let response = sidecar
        .http
        .post(url)
        .header("idempotency-key", key)
        .header("content-type", mime_type)
        .body(vec![7u8; size])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_attachment_of_an_unregistered_type_or_over_the_registered_size_is_refused_before_salesforce(
) {
    let sidecar = Sidecar::start_configured("", REGISTERED).await;

    let (status, wrong_type) = upload(&sidecar, "a-1", "application/pdf", 10).await;
    assert_eq!(status, 400, "{wrong_type}");
    assert_eq!(wrong_type["error"]["field"], "Content-Type");
    assert!(wrong_type["error"]["rule"]
        .as_str()
        .unwrap()
        .contains("application/pdf"));
    let (status, too_big) = upload(&sidecar, "a-2", "image/png", 1025).await;
    assert_eq!(status, 400, "{too_big}");
    assert_eq!(too_big["error"]["field"], "Content-Length");
    assert!(too_big["error"]["rule"].as_str().unwrap().contains("1024"));
    let (status, long_text) = sidecar
        .post(
            "/v1/messages",
            "t-1",
            &json!({"endUserClientId": END_USER, "text": "eleven char"}),
        )
        .await;
    assert_eq!(
        (status, &long_text["error"]["field"]),
        (400, &json!("text"))
    );
    assert!(sidecar
        .fake
        .interaction()
        .calls_to("interactions")
        .is_empty());

    let (status, fits) = upload(&sidecar, "a-3", "image/png", 1024).await;
    assert_eq!(status, 202, "{fits}");
    assert_eq!(sidecar.fake.interaction().calls_to("interactions").len(), 1);
}

/// An attachment's caption is text like any other: longer than the registered
/// `text_max_length`, it is refused naming `text` before anything reaches Salesforce.
#[tokio::test]
async fn an_attachment_caption_longer_than_registered_is_refused_naming_text() {
    let sidecar = Sidecar::start_configured("", REGISTERED).await;

    let (status, long_caption) =
        upload_with_query(&sidecar, "c-1", "image/png", 10, "&text=eleven%20char").await;
    assert_eq!(status, 400, "{long_caption}");
    assert_eq!(long_caption["error"]["field"], "text");
    assert!(sidecar
        .fake
        .interaction()
        .calls_to("interactions")
        .is_empty());
    let (status, fits) =
        upload_with_query(&sidecar, "c-2", "image/png", 10, "&text=ten%20chars").await;
    assert_eq!(status, 202, "{fits}");
}

/// MIME types compare without regard to case, as Salesforce compares them: `image/PNG` is the
/// registered `image/png`.
#[tokio::test]
async fn a_registered_type_is_matched_whatever_its_case() {
    let sidecar = Sidecar::start_configured("", REGISTERED).await;
    let (status, answer) = upload(&sidecar, "p-1", "image/PNG", 10).await;
    assert_eq!(status, 202, "{answer}");
}
