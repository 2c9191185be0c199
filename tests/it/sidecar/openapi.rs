//! `GET /v1/openapi.json` documents the sidecar API, and every documented route is served by
//! the running binary (the library's own test checks the other direction).

use super::Sidecar;

#[tokio::test]
async fn the_openapi_document_is_served_and_every_route_it_documents_is_served_on_the_sidecar() {
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
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 8, "{paths:?}");
    for (path, methods) in paths {
        let concrete = path
            .replace(
                "{conversationIdentifier}",
                "06f6c69b-0000-4000-8000-000000000001",
            )
            .replace("{workId}", "0Bz5g0000000001")
            .replace("{userId}", "005xx000001Abcd")
            .replace("{eventId}", "unknown-event");
        for method in methods.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = sidecar
                .http
                .request(method.clone(), sidecar.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !(status == 404 && body.is_empty()),
                "{method} {path} is not served"
            );
        }
    }
}
