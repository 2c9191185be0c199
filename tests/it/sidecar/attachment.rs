//! `POST /v1/messages/attachment`: the file streams through to `/interactions` with its type
//! and size; a size beyond Salesforce's 25 MB is refused before anything is read or sent.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Sidecar, END_USER};

const LIMIT: usize = 25 * 1024 * 1024;

#[tokio::test]
async fn a_25_mb_file_streams_to_interactions_with_its_type_size_and_one_entry_id() {
    let sidecar = Sidecar::start().await;
    let url = sidecar.url(&format!(
        "/v1/messages/attachment?endUserClientId={END_USER}&fileName=scan.pdf&text=my%20scan"
    ));

    let response = sidecar
        .http
        .post(&url)
        .header("idempotency-key", "file-1")
        .header("content-type", "application/pdf")
        .body(vec![9u8; LIMIT])
        .send()
        .await
        .unwrap();

    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    let calls = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(calls.len(), 1);
    let file = &calls[0].body["attachments"][0];
    assert_eq!(file["size"], LIMIT);
    assert_eq!(file["contentType"], "application/pdf");
    assert_eq!(file["fileName"], "scan.pdf");
    assert!(
        calls[0].handling_micros > 0,
        "the fake times its own share of the call"
    );
    let item = &calls[0].body["json"]["interactions"][0];
    assert_eq!(item["interactionType"], "AttachmentInteraction");
    assert_eq!(item["contentLength"], LIMIT);
    assert_eq!(item["text"], "my scan");
    assert_eq!(item["id"], body["entryId"]);
}

#[tokio::test]
async fn a_file_over_25_mb_or_without_its_type_is_refused_naming_the_header_and_nothing_is_sent() {
    let sidecar = Sidecar::start().await;
    let path = format!("/v1/messages/attachment?endUserClientId={END_USER}&fileName=big.bin");
    // Only the head: the refusal must come before the body is read.
    let mut stream = tokio::net::TcpStream::connect(sidecar.connector.sidecar)
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: big\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        LIMIT + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut answer),
    )
    .await
    .expect("answered without the body")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"field\":\"Content-Length\""), "{answer}");

    let untyped = sidecar
        .http
        .post(sidecar.url(&path))
        .header("idempotency-key", "untyped")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(untyped.status(), 400);
    let body: Value = untyped.json().await.unwrap();
    assert_eq!(body["error"]["field"], "Content-Type");
    assert!(sidecar.fake.interaction().calls().is_empty());
}

/// A `Content-Type` that is not a MIME type (`image/png x`) is refused naming the header
/// before anything is sent, not found out when the upload is built and answered `502`.
#[tokio::test]
async fn a_content_type_that_is_not_a_mime_type_is_refused_naming_the_header() {
    let sidecar = Sidecar::start().await;
    let path = format!("/v1/messages/attachment?endUserClientId={END_USER}&fileName=scan.png");
    for content_type in ["image/png x", "a/b/c", "/png"] {
        let answer = sidecar
            .http
            .post(sidecar.url(&path))
            .header("idempotency-key", format!("typed-{content_type}"))
            .header("content-type", content_type)
            .body(vec![1u8; 10])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{content_type}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body["error"]["field"], "Content-Type",
            "{content_type}: {body}"
        );
    }
    assert!(sidecar.fake.interaction().calls().is_empty());
}

/// A query value that is not percent-encoded UTF-8 is refused naming it, not decoded lossily
/// into another end user id.
#[tokio::test]
async fn a_query_value_that_is_not_utf8_is_refused_naming_it() {
    let sidecar = Sidecar::start().await;
    let answer = sidecar
        .http
        .post(sidecar.url("/v1/messages/attachment?endUserClientId=%FF&fileName=scan.png"))
        .header("idempotency-key", "not-utf8")
        .header("content-type", "image/png")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "endUserClientId", "{body}");
    assert!(sidecar.fake.interaction().calls().is_empty());
}
