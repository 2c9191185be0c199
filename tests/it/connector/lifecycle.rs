//! The real binary as an operator runs it: readiness turns on once subscribed, /metrics
//! counts deliveries, and SIGTERM turns readiness off, drains, checkpoints and exits 0.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_checkpoints_and_exits_zero_with_readiness_and_metrics_on_the_way() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = scratch_dir("lifecycle");
    let store_path = dir.join("state.redb");
    let config_path = write_connector_config(&fake, &dir, &partner.url, REJECT_ROUTING);
    fake.publish(&numbered_messages(20, 2)).unwrap();
    let connector = ConnectorProcess::start(&config_path).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", connector.ops);
    wait_until("all 20 are delivered", Duration::from_secs(30), || {
        partner.distinct_seqs().len() == 20
    })
    .await;
    let mut ready = false;
    for _ in 0..300 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "ready once subscribed");
    assert_eq!(
        http.get(format!("{base}/livez"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = scrape(&http, &base).await;
    assert!(metrics.contains("byoc_events_delivered_total"), "{metrics}");
    assert!(
        metrics.contains("byoc_events_received_total 20"),
        "{metrics}"
    );
    // The running binary counts the FetchRequests its subscriber sends (the first one at least).
    assert!(
        !metrics.contains("byoc_pubsub_fetch_requests_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("byoc_pubsub_fetch_requests_total"),
        "{metrics}"
    );
    // A stream that fails is subscribed again, and the reconnect is counted with its reason.
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(0),
        ..FaultRequest::default()
    });
    let mut counted = String::new();
    for _ in 0..300 {
        counted = scrape(&http, &base).await;
        if counted.contains("byoc_subscriber_reconnects_total{reason=\"stream_failed\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        counted.contains("byoc_subscriber_reconnects_total{reason=\"stream_failed\"} 1"),
        "{counted}"
    );

    let exit = connector.terminate().await;
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean exit");
    let store = byoc_connector::store::Store::open_existing(&store_path).unwrap();
    let checkpoint = store
        .load_checkpoint(&fake.endpoints().org_id, &fake.endpoints().topic)
        .unwrap()
        .expect("a final checkpoint");
    assert_eq!(
        u64::from_be_bytes(checkpoint.try_into().unwrap()),
        fake.pubsub().topic.latest_id()
    );
    fake.shutdown().await;
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

/// The binary's `/metrics` text.
async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}
