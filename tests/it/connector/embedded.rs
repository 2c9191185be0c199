//! The connector embedded in a harness's own process (`connector::run_on`), the third way it
//! is used: once `run_on` has returned, its store file is free, so the harness can inspect the
//! checkpoint and dead letters (or run `dlq`) at once.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use byoc_connector::config::Config;
use byoc_connector::dev::samples::connector_config_toml;
use byoc_connector::store::Store;
use fake_salesforce::interaction_service::ResponseHold;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio_util::sync::CancellationToken;

/// Longest the test waits for one thing it expects.
const WAIT: Duration = Duration::from_secs(20);

/// The connector's config for `fake` and `partner`, routing with the `reject` strategy, its
/// store at `store_path`, with the TOML `extra` appended.
fn reject_routing_config(
    fake: &fake_salesforce::FakeSalesforce,
    partner: &Partner,
    store_path: &std::path::Path,
    extra: &str,
) -> Config {
    let config = connector_config_toml(fake, &partner.url, store_path, "strategy = \"reject\"");
    Config::from_toml_str(&format!("{config}\n{extra}")).unwrap()
}

/// Opens the store a stopped connector left, failing the test if it is still held.
fn reopen(store_path: &std::path::Path) -> Store {
    match Store::open_existing(store_path) {
        Ok(store) => store,
        Err(error) => panic!("the stopped connector still holds its store: {error}"),
    }
}

// Current-thread runtime on purpose: nothing else runs between `run_on` returning and the open
// below, so a store handle that only a not-yet-scheduled task would drop is caught every time.
#[tokio::test]
async fn an_embedded_connector_releases_its_store_as_soon_as_it_returns() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("embedded-release");
    let store_path = dir.path().join("state.redb");
    fake.publish(&numbered_messages(20, 4)).unwrap();
    let latest = fake.pubsub().topic.latest_id();
    let config = reject_routing_config(&fake, &partner, &store_path, "");
    let listeners = byoc_connector::connector::Listeners::loopback()
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let stopper = partner.cancel_after(20, shutdown.clone());
    byoc_connector::connector::run_on(config, listeners, shutdown)
        .await
        .unwrap();
    let store = reopen(&store_path);
    let checkpoint = stored_checkpoint(&store, &fake);
    assert_eq!(checkpoint, Some(latest), "the final checkpoint was written");
    stopper.await.unwrap();
    fake.shutdown().await;
}

// A routingResult whose answer the fake holds past the shutdown grace: `run_on` gives up on it
// at the grace (its decision is stored, so a restart posts the same answer again) and returns
// only once nothing holds the store, so the harness can open the file at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_post_outliving_the_grace_is_left_to_the_restart_and_the_store_is_released() {
    let conversation = "2a0c6c2e-1f43-4d1e-9f61-000000000e01";
    let event_id = "e2e0000e-0000-4000-8000-000000000e01";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.interaction()
        .seed_conversation(conversation, "0MwXX0000000E01AAA");
    fake.interaction().hold_responses(ResponseHold::new(
        "routingResult",
        Duration::from_secs(60),
        1,
    ));
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("embedded-routing-grace");
    let store_path = dir.path().join("state.redb");
    let config =
        reject_routing_config(&fake, &partner, &store_path, "[pipeline]\ngrace_secs = 1\n");
    let payload = routing_request_payload("queue", conversation, event_id);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let listeners = byoc_connector::connector::Listeners::loopback()
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let connector = tokio::spawn(byoc_connector::connector::run_on(
        config,
        listeners,
        shutdown.clone(),
    ));
    wait_until("the fake records the routingResult", WAIT, || {
        !fake.interaction().calls_to("routingResult").is_empty()
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(WAIT, connector)
        .await
        .expect("run_on returns soon after the grace, not when the held answer comes")
        .unwrap()
        .unwrap();
    let store = reopen(&store_path);
    assert!(
        store.get_pending_routing(event_id).unwrap().is_some(),
        "the unconfirmed request stays for the restart"
    );
    fake.shutdown().await;
}
