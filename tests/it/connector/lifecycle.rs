//! The real binary as an operator runs it: readiness turns on once subscribed, /metrics
//! counts deliveries, and SIGTERM turns readiness off, drains, checkpoints and exits 0.

use std::process::Stdio;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_checkpoints_and_exits_zero_with_readiness_and_metrics_on_the_way() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = scratch_dir("lifecycle");
    let store_path = dir.join("state.redb");
    let config_path = dir.join("connector.toml");
    std::fs::write(
        &config_path,
        connector_config_toml(&fake, &partner.url, &store_path),
    )
    .unwrap();
    fake.publish(&numbered_messages(20, 2)).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The JSON log names the address the sidecar server bound.
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = logs.next_line().await.unwrap() {
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["fields"]["message"] == "sidecar server listening" {
                return entry["fields"]["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("the log ended before the server listened");
    })
    .await
    .expect("the server listens in time");
    tokio::spawn(async move { while let Ok(Some(_)) = logs.next_line().await {} });
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
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

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
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
