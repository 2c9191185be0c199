//! The ops and sidecar servers over real sockets: liveness, readiness, the sidecar's routes
//! and bearer token, and shutdown.

use crate::support::server::{get, request, start, start_sidecar, PATIENCE};
use axum::routing::post;
use axum::Router;
use byoc_connector::server::SidecarAuth;

#[tokio::test]
async fn livez_answers_200_while_the_process_runs() {
    let server = start().await;

    let response = get(server.address, "/livez").await;

    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn readyz_follows_the_readiness_flag_on_and_off() {
    let server = start().await;

    assert_eq!(get(server.address, "/readyz").await.status, 503);

    server.readiness.set_ready(true);
    assert_eq!(get(server.address, "/readyz").await.status, 200);

    server.readiness.set_ready(false);
    assert_eq!(get(server.address, "/readyz").await.status, 503);
}

#[tokio::test]
async fn liveness_does_not_depend_on_readiness() {
    let server = start().await;
    server.readiness.set_ready(false);

    assert_eq!(get(server.address, "/livez").await.status, 200);
}

fn decision_route() -> Router {
    Router::new().route(
        "/v1/routing/{event_id}/result",
        post(
            |axum::extract::Path(event_id): axum::extract::Path<String>| async move {
                format!("decided {event_id}")
            },
        ),
    )
}

#[tokio::test]
async fn the_sidecar_serves_its_routes_and_not_the_operational_ones() {
    let server = start_sidecar(decision_route(), SidecarAuth::new(None)).await;

    let response = request(server.address, "POST", "/v1/routing/0Mw42/result").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.body, "decided 0Mw42");
    assert_eq!(get(server.address, "/metrics").await.status, 404);
}

#[tokio::test]
async fn the_ops_listener_does_not_serve_sidecar_routes() {
    let server = start().await;

    let response = request(server.address, "POST", "/v1/routing/0Mw42/result").await;

    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn with_a_token_the_sidecar_answers_a_bare_401_to_a_missing_or_wrong_bearer_even_on_loopback()
{
    let token = "a-long-random-sidecar-token";
    let server = start_sidecar(decision_route(), SidecarAuth::new(Some(token.into()))).await;
    let url = format!("http://{}/v1/routing/0Mw42/result", server.address);
    let http = reqwest::Client::new();

    for authorization in [
        None,
        Some("Bearer wrong".to_owned()),
        Some(format!("Bearer {token}x")),
        Some(format!("Basic {token}")),
    ] {
        let mut call = http.post(&url);
        if let Some(value) = &authorization {
            call = call.header("authorization", value);
        }
        let response = call.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(
            response.text().await.unwrap(),
            "",
            "a 401 says nothing more"
        );
    }
    let unknown = http
        .get(format!("http://{}/v1/nothing-here", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        401,
        "unknown paths are behind the token too"
    );

    let admitted = http.post(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(admitted.status(), 200);
    assert_eq!(admitted.text().await.unwrap(), "decided 0Mw42");
}

#[tokio::test]
async fn unknown_paths_answer_404() {
    let server = start().await;

    assert_eq!(get(server.address, "/v1/nothing-here").await.status, 404);
}

#[tokio::test]
async fn cancelling_the_shutdown_token_stops_the_server() {
    let server = start().await;
    assert_eq!(get(server.address, "/livez").await.status, 200);

    server.shutdown.cancel();
    let result = tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("the server should stop after shutdown")
        .unwrap();

    result.unwrap();
    assert!(tokio::net::TcpStream::connect(server.address)
        .await
        .is_err());
}
