//! `GET /v1/openapi.json` documents the sidecar API.

use super::Sidecar;

#[tokio::test]
async fn the_openapi_document_is_served_on_the_sidecar() {
    let sidecar = Sidecar::start().await;

    let response = sidecar
        .http
        .get(sidecar.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
}
