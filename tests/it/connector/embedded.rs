//! The connector embedded in a harness's own process (`connector::run_on`), the third way it
//! is used: once `run_on` has returned, its store file is free, so the harness can inspect the
//! checkpoint and dead letters (or run `dlq`) at once.

use crate::support::pipeline::*;
use crate::support::start_fake;
use byoc_connector::config::Config;
use byoc_connector::dev::samples::connector_config_toml;
use byoc_connector::store::Store;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio_util::sync::CancellationToken;

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
    let config = Config::from_toml_str(&connector_config_toml(
        &fake,
        &partner.url,
        &store_path,
        "strategy = \"reject\"",
    ))
    .unwrap();
    let listeners = byoc_connector::connector::Listeners::loopback()
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let stopper = partner.cancel_after(20, shutdown.clone());
    byoc_connector::connector::run_on(config, listeners, shutdown)
        .await
        .unwrap();
    let store = match Store::open_existing(&store_path) {
        Ok(store) => store,
        Err(error) => panic!("the stopped connector still holds its store: {error}"),
    };
    let checkpoint = stored_checkpoint(&store, &fake);
    assert_eq!(checkpoint, Some(latest), "the final checkpoint was written");
    stopper.await.unwrap();
    fake.shutdown().await;
}
