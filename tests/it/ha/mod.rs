//! High availability: the lease on a real PostgreSQL (`BYOC_TEST_POSTGRES_URL`, set by
//! `scripts/test`), the `[ha]` configuration, and the leader gate of running connectors.

mod chaos;
mod config;
mod gate;
mod lease;
mod send_gate;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use byoc_connector::ha::{KeeperSettings, Leadership, LeaseGuard, LeaseKeeper, LeaseTimings};
use byoc_connector::secret::SecretString;
use byoc_connector::telemetry::Telemetry;
use fake_salesforce::FakeSalesforce;

use crate::support::pipeline::connector_config_toml;

/// The takeover time of tests (the shortest accepted).
const FAST_TAKEOVER_SECS: u64 = 3;

/// The throwaway database's URL; a test needing it fails (never skips) without it.
pub fn postgres_url() -> SecretString {
    let url = std::env::var("BYOC_TEST_POSTGRES_URL").expect(
        "BYOC_TEST_POSTGRES_URL is not set: run scripts/test (it starts a throwaway PostgreSQL)",
    );
    SecretString::new(url)
}

/// A namespace no other test uses.
pub fn fresh_namespace() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Fast timings for tests: a 3 s takeover (2.4 s lease, renewed and polled every 0.6 s).
pub fn fast_timings() -> LeaseTimings {
    LeaseTimings::from_takeover(Duration::from_secs(FAST_TAKEOVER_SECS))
}

/// Keeper settings for `holder` in `namespace` with the fast timings.
pub fn settings(namespace: &str, holder: &str) -> KeeperSettings {
    KeeperSettings {
        url: postgres_url(),
        namespace: namespace.to_owned(),
        holder: holder.to_owned(),
        timings: fast_timings(),
        share: None,
    }
}

/// Starts a keeper for `holder` in `namespace`.
pub fn keeper(namespace: &str, holder: &str, telemetry: &Telemetry) -> LeaseKeeper {
    LeaseKeeper::spawn(settings(namespace, holder), telemetry.clone())
}

/// The keeper's guard once it leads; panics after `within`.
pub async fn leads_within(keeper: &LeaseKeeper, within: Duration) -> LeaseGuard {
    tokio::time::timeout(within, keeper.wait_for_leadership())
        .await
        .expect("the keeper did not lead in time")
        .expect("the keeper lost the lease instead of leading")
}

/// Whether the keeper leads now.
pub fn is_leader(keeper: &LeaseKeeper) -> bool {
    matches!(&*keeper.leadership().borrow(), Leadership::Leader(_))
}

/// Writes replica `index`'s config: the shared fake, partner, database and namespace.
pub fn replica_config(
    fake: &FakeSalesforce,
    dir: &Path,
    delivery_url: &str,
    routing_url: &str,
    namespace: &str,
    index: usize,
) -> PathBuf {
    let routing = format!(
        "strategy = \"partner\"\nurl = \"{routing_url}\"\ndecision_timeout_secs = 45\nwindow_secs = 60"
    );
    let text = connector_config_toml(fake, delivery_url, &dir.join("unused.redb"), &routing);
    let mut config: toml::Table = text.parse().unwrap();
    let store = config["store"].as_table_mut().unwrap();
    store.remove("path");
    store.insert("kind".into(), "postgres".into());
    store.insert("url".into(), postgres_url().expose().into());
    store.insert("namespace".into(), namespace.into());
    let mut ha = toml::Table::new();
    ha.insert("enabled".into(), true.into());
    ha.insert("replica_id".into(), format!("replica-{index}").into());
    ha.insert(
        "takeover_secs".into(),
        i64::try_from(FAST_TAKEOVER_SECS).unwrap().into(),
    );
    config.insert("ha".into(), ha.into());
    let path = dir.join(format!("replica-{index}.toml"));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// Whether a replica's `/metrics` says it leads.
pub fn leads(metrics: &str) -> bool {
    metrics.lines().any(|line| line == "byoc_ha_leader 1")
}
