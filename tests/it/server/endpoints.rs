//! The sidecar server over real sockets: liveness, readiness, extra routes and shutdown.

use crate::support::server::{get, request, start, PATIENCE};
use axum::routing::post;
use axum::Router;

#[tokio::test]
async fn livez_answers_200_while_the_process_runs() {
    let server = start(Router::new()).await;

    let response = get(server.address, "/livez").await;

    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn readyz_follows_the_readiness_flag_on_and_off() {
    let server = start(Router::new()).await;

    assert_eq!(get(server.address, "/readyz").await.status, 503);

    server.readiness.set_ready(true);
    assert_eq!(get(server.address, "/readyz").await.status, 200);

    server.readiness.set_ready(false);
    assert_eq!(get(server.address, "/readyz").await.status, 503);
}

#[tokio::test]
async fn liveness_does_not_depend_on_readiness() {
    let server = start(Router::new()).await;
    server.readiness.set_ready(false);

    assert_eq!(get(server.address, "/livez").await.status, 200);
}

#[tokio::test]
async fn extra_routes_are_served_next_to_the_operational_ones() {
    let extra = Router::new().route(
        "/v1/routing/{event_id}/result",
        post(
            |axum::extract::Path(event_id): axum::extract::Path<String>| async move {
                format!("decided {event_id}")
            },
        ),
    );
    let server = start(extra).await;

    let response = request(server.address, "POST", "/v1/routing/0Mw42/result").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.body, "decided 0Mw42");
    assert_eq!(get(server.address, "/livez").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_answer_404() {
    let server = start(Router::new()).await;

    assert_eq!(get(server.address, "/v1/nothing-here").await.status, 404);
}

#[tokio::test]
async fn cancelling_the_shutdown_token_stops_the_server() {
    let server = start(Router::new()).await;
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
