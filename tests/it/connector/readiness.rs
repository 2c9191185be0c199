//! When `/readyz` turns on and off, for the connector embedded in process: ready once the
//! Subscribe stream is open, even on a quiet topic where Salesforce sends nothing for minutes,
//! and not ready from the first moment of shutdown, while in-flight work still drains.

use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use byoc_connector::config::Config;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio_util::sync::CancellationToken;

/// Longest the test waits for `/readyz` to change.
const READINESS_LIMIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_ready_on_a_quiet_topic_before_any_response_and_not_ready_on_shutdown() {
    // Headers with the first response and one keepalive an hour: on this quiet topic nothing
    // at all reaches the connector until an event is published.
    let fake = start_fake(
        false,
        PubSubFakeConfig {
            keepalive_interval: Duration::from_secs(3600),
            headers_with_first_response: true,
            ..PubSubFakeConfig::default()
        },
    )
    .await;
    // A partner slow to answer keeps the drain after shutdown going while /readyz is asked.
    let partner = Partner::start(Arc::new(|_| (StatusCode::OK, Duration::from_secs(3)))).await;
    let dir = ScratchDir::new("readiness");
    let config = Config::from_toml_str(&connector_config_toml(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
    ))
    .unwrap();
    let listeners = byoc_connector::connector::Listeners::loopback()
        .await
        .unwrap();
    let base = format!("http://{}", listeners.ops.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let connector = tokio::spawn(byoc_connector::connector::run_on(
        config,
        listeners,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();

    assert_eq!(readyz_once_it_is(&http, &base, 200).await, 200, "ready");
    // A busy machine can make the first Subscribe attempt fail and retry; what matters is that
    // a stream is open and that no stream has had a response yet.
    let sessions = fake.pubsub().sessions();
    assert!(
        sessions.iter().all(|session| session.responses.is_empty()),
        "ready before any response: {sessions:?}"
    );
    assert!(
        sessions.iter().any(|session| session.ended.is_none()),
        "ready while a stream is open: {sessions:?}"
    );

    fake.publish(&numbered_messages(1, 1)).unwrap();
    wait_until("the partner gets the event", READINESS_LIMIT, || {
        partner.received().len() == 1
    })
    .await;
    shutdown.cancel();
    assert_eq!(
        readyz_once_it_is(&http, &base, 503).await,
        503,
        "not ready from the first moment of shutdown"
    );
    assert!(
        !connector.is_finished(),
        "the connector was still draining when readiness went off"
    );
    tokio::time::timeout(Duration::from_secs(30), connector)
        .await
        .expect("the connector stops after the drain")
        .unwrap()
        .unwrap();
    fake.shutdown().await;
}

/// `/readyz`'s status once it answers `wanted`, or its last status after [`READINESS_LIMIT`].
async fn readyz_once_it_is(http: &reqwest::Client, base: &str, wanted: u16) -> u16 {
    let deadline = tokio::time::Instant::now() + READINESS_LIMIT;
    loop {
        let status = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == wanted || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
