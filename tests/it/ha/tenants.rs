//! Tenants' leases spread over replicas, through real processes on one PostgreSQL: two
//! replicas serving four tenants lead two each, and when one dies the other leads all four.

use std::time::Duration;

use crate::support::pipeline::{ConnectorProcess, Partner, ScratchDir};
use crate::support::tenants;
use fake_salesforce::FakeSalesforce;
use tokio::time::Instant;

use super::{fresh_namespace, postgres_url};

/// The replicas' takeover time. Replicas started together count each other only if both
/// announce themselves within one lease length (takeover minus a fifth) of the first; a
/// longer takeover than the shortest (3 s, a 2.4 s lease) leaves a loaded machine's process
/// start-up room.
const SPREAD_TAKEOVER_SECS: u64 = 6;

/// Longest a test waits for the leases to settle.
const WAIT: Duration = Duration::from_secs(30);

/// Four orgs, each its own fake.
async fn four_orgs() -> Vec<FakeSalesforce> {
    let mut fakes = Vec::new();
    for index in 1..=4 {
        fakes.push(tenants::start_org(&format!("00D00000000000{index}AAA")).await);
    }
    fakes
}

/// Replica `index`'s config: every tenant of `fakes`, in namespaces `<pool>-<n>`.
fn replica_config(
    fakes: &[FakeSalesforce],
    pool: &str,
    partner_url: &str,
    dir: &std::path::Path,
    index: usize,
) -> std::path::PathBuf {
    let mut text = format!(
        r#"{shared}
[delivery]
url = "{partner_url}"

[store]
kind = "postgres"
url = "{url}"

[ha]
enabled = true
replica_id = "replica-{index}"
takeover_secs = {SPREAD_TAKEOVER_SECS}

[server]
listen = "127.0.0.1:0"
sidecar_listen = "127.0.0.1:0"
"#,
        shared = tenants::SHARED_SECTIONS,
        url = postgres_url().expose(),
    );
    for (number, fake) in fakes.iter().enumerate() {
        let store = format!("store = {{ namespace = \"{pool}-{number}\" }}");
        text.push_str(&tenants::tenant_toml(
            &format!("t{number}"),
            fake.endpoints(),
            &tenants::static_auth(fake.endpoints()),
            &store,
        ));
    }
    let path = dir.join(format!("replica-{index}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// How many tenants a replica's `/metrics` says it leads.
fn tenants_led(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|line| line.starts_with("byoc_ha_leader{") && line.ends_with(" 1"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_lead_two_of_four_tenants_each_and_the_survivor_leads_all_four() {
    let fakes = four_orgs().await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("ha-tenants");
    let pool = fresh_namespace();
    let config_a = replica_config(&fakes, &pool, &partner.url, dir.path(), 0);
    let config_b = replica_config(&fakes, &pool, &partner.url, dir.path(), 1);
    // Started together: each counts the other before it takes its first lease.
    let (a, b) = tokio::join!(
        ConnectorProcess::start(&config_a),
        ConnectorProcess::start(&config_b)
    );

    let started = Instant::now();
    loop {
        let (led_by_a, led_by_b) = (
            tenants_led(&a.metrics().await),
            tenants_led(&b.metrics().await),
        );
        if (led_by_a, led_by_b) == (2, 2) {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "leases: a {led_by_a}, b {led_by_b}\na:\n{}\nb:\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    a.kill().await;
    let killed = Instant::now();
    loop {
        let led_by_b = tenants_led(&b.metrics().await);
        if led_by_b == 4 {
            break;
        }
        assert!(
            killed.elapsed() < WAIT,
            "the survivor leads {led_by_b}\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.terminate().await;
    for fake in fakes {
        fake.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_one_tenants_lease_releases_the_others_and_exits_naming_it() {
    let fakes = four_orgs().await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("ha-tenants-lost");
    let pool = fresh_namespace();
    let replica = ConnectorProcess::start(&replica_config(
        &fakes[..2],
        &pool,
        &partner.url,
        dir.path(),
        0,
    ))
    .await;
    let started = Instant::now();
    while tenants_led(&replica.metrics().await) != 2 {
        assert!(started.elapsed() < WAIT, "{}", replica.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (client, connection) =
        tokio_postgres::connect(postgres_url().expose(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let stolen = format!("{pool}-0");
    client
        .execute(
            "UPDATE byoc_leases SET holder = 'thief', token = token + 1 WHERE namespace = $1",
            &[&stolen],
        )
        .await
        .unwrap();
    let noticed = Instant::now();
    let stopped_line = loop {
        let log = replica.log();
        let line = log
            .lines()
            .find(|line| line.contains("tenant stopped"))
            .map(str::to_owned);
        if let Some(line) = line {
            break line;
        }
        assert!(noticed.elapsed() < WAIT, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = replica.exit_within(WAIT).await;

    assert!(stopped_line.contains("\"t0\""), "{stopped_line}");
    assert!(stopped_line.contains("taken_over"), "{stopped_line}");
    assert!(!status.success(), "fail-stop: {status:?}");
    let db = byoc_connector::ha::LeaseDb::connect(&postgres_url())
        .await
        .unwrap();
    let other = db.current(&format!("{pool}-1")).await.unwrap().unwrap();
    assert_eq!(other.holder, "replica-0");
    assert!(
        !other.is_held(),
        "the other tenant drained and released its lease: {other:?}"
    );
    let thief = db.current(&stolen).await.unwrap().unwrap();
    assert_eq!(thief.holder, "thief", "nothing took the stolen lease back");
    for fake in fakes {
        fake.shutdown().await;
    }
}
