//! The `dlq` commands on the store a stopped connector used: a refused event is
//! listed, shown, replayed with its original key (and then gone), and purged; and `list` and
//! `show` while a connector runs and holds the store, through its HTTP API.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

fn dlq(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .arg("dlq")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("the dlq command runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_lists_shows_and_replays_a_refused_event_with_its_original_key() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let refusals = Arc::new(AtomicU32::new(0));
    let refusals_seen = refusals.clone();
    let partner = Partner::answering_when(
        move |received| {
            received.seq == Some(4) && refusals_seen.fetch_add(1, Ordering::SeqCst) == 0
        },
        (StatusCode::UNPROCESSABLE_ENTITY, Duration::ZERO),
    )
    .await;
    let dir = scratch_dir("dlq");
    let store_path = dir.join("state.redb");
    let config_path = write_connector_config(&fake, &dir, &partner.url, REJECT_ROUTING);
    fake.publish(&numbered_messages(8, 1)).unwrap();
    let pipeline = start_pipeline(&fake, &store_path, &partner.url, None, |_| {}).await;
    wait_until(
        "the refusal is dead-lettered and the rest delivered",
        Duration::from_secs(20),
        || {
            pipeline.telemetry.snapshot().events_dead_lettered == 1
                && partner.distinct_seqs().len() == 8
        },
    )
    .await;
    pipeline.stop().await;
    let original_key = partner
        .received()
        .iter()
        .find(|d| d.seq == Some(4))
        .unwrap()
        .idempotency_key
        .clone();

    let listed = dlq(&config_path, &["list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // Not a terminal: JSON.
    let listing: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listing.as_array().unwrap().len(), 1, "{listing}");
    let id = listing[0]["id"].to_string();
    assert!(
        listing[0]["reason"].as_str().unwrap().contains("422"),
        "the reason names the status: {listing}"
    );
    assert!(
        listing[0]["lastAttemptAt"].as_str().unwrap().ends_with('Z'),
        "{listing}"
    );

    let shown = dlq(&config_path, &["show", &id]);
    assert!(shown.status.success());
    let letter: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(letter["attributes"]["idempotency_key"], original_key);
    assert!(!letter["rawHex"].as_str().unwrap().is_empty());
    assert!(
        letter["decoded"].is_object(),
        "the event as JSON, not as a string: {letter}"
    );

    let replayed = dlq(&config_path, &["replay", &id]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replays: Vec<_> = partner
        .received()
        .into_iter()
        .filter(|d| d.seq == Some(4))
        .collect();
    assert_eq!(replays.len(), 2, "refused once, then replayed");
    assert_eq!(
        replays[1].idempotency_key, original_key,
        "the replay carries the original key"
    );
    assert_eq!(
        replays[1].body, replays[0].body,
        "the replay carries the original envelope"
    );
    let after = dlq(&config_path, &["list"]);
    assert_eq!(
        String::from_utf8(after.stdout).unwrap().trim(),
        "[]",
        "a replayed letter is removed"
    );

    let missing = dlq(&config_path, &["purge", &id]);
    assert!(!missing.status.success(), "purging an unknown id fails");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains(&format!("no dead letter has id {id}"))
    );
    let all = dlq(&config_path, &["purge", "--all"]);
    assert!(all.status.success());
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_config_exits_64_naming_the_key() {
    let dir = scratch_dir("bad-config");
    let config_path = dir.join("connector.toml");
    std::fs::write(
        &config_path,
        "[pubsub]\ntopic = \"/event/X__e\"\ncredit_window = 0\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .arg("run")
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("pubsub.credit_window"), "{message}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_show_work_while_the_connector_holds_the_store() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::answering_when(
        |received| received.seq == Some(1),
        (StatusCode::UNPROCESSABLE_ENTITY, Duration::ZERO),
    )
    .await;
    let dir = ScratchDir::new("dlq-running");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config_path = write_connector_config(&fake, dir.path(), &partner.url, REJECT_ROUTING);
    let text = std::fs::read_to_string(&config_path).unwrap().replace(
        "sidecar_listen = \"127.0.0.1:0\"",
        &format!("sidecar_listen = \"127.0.0.1:{port}\""),
    );
    assert!(text.contains(&format!("sidecar_listen = \"127.0.0.1:{port}\"")));
    std::fs::write(&config_path, text).unwrap();
    let connector = ConnectorProcess::start(&config_path).await;
    fake.publish(&numbered_messages(3, 1)).unwrap();
    wait_until(
        "the refusal is dead-lettered",
        Duration::from_secs(20),
        || partner.distinct_seqs().len() == 3,
    )
    .await;

    let mut listing = serde_json::Value::Null;
    for _ in 0..100 {
        let listed = dlq(&config_path, &["list", "--json"]);
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        listing = serde_json::from_slice(&listed.stdout).unwrap();
        if listing
            .as_array()
            .is_some_and(|letters| !letters.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listing.as_array().unwrap().len(), 1, "{listing}");
    let id = listing[0]["id"].to_string();
    let shown = dlq(&config_path, &["show", &id]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let letter: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(letter["id"].to_string(), id);
    assert!(letter["decoded"].is_object(), "{letter}");
    let purge = dlq(&config_path, &["purge", &id]);
    assert!(!purge.status.success(), "purging needs the store to itself");
    assert!(String::from_utf8_lossy(&purge.stderr).contains("in use by a running connector"));
    connector.kill().await;
}
