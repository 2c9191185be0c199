//! Metrics that must not hide an outage: in-flight events, watermark lag and checkpoint age
//! move while the partner fails; every family exists at zero from the first scrape of a
//! running connector; build and process metrics are there.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use byoc_connector::telemetry::Telemetry;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

use crate::support::pipeline::*;
use crate::support::{metric_sample, start_fake};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_lag_and_checkpoint_age_are_non_zero_while_the_partner_answers_500() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::start(Arc::new(|_| {
        (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO)
    }))
    .await;
    let dir = ScratchDir::new("health-metrics");
    let pipeline = start_default_pipeline(&fake, &dir, &partner).await;
    fake.publish(&numbered_messages(20, 4)).unwrap();

    wait_until(
        "deliveries are being retried",
        Duration::from_secs(20),
        || pipeline.telemetry.snapshot().delivery_retries >= 4,
    )
    .await;
    let scrape = pipeline.telemetry.encode().unwrap();
    assert!(
        metric_sample(&scrape, "byoc_in_flight_events") >= 20.0,
        "{scrape}"
    );
    assert!(
        metric_sample(&scrape, "byoc_watermark_lag_events") >= 20.0,
        "{scrape}"
    );
    wait_until("the checkpoint age grows", Duration::from_secs(10), || {
        metric_sample(
            &pipeline.telemetry.encode().unwrap(),
            "byoc_checkpoint_age_seconds",
        ) >= 1.0
    })
    .await;
    pipeline.stop().await;
}

#[test]
fn the_family_list_names_the_families_an_outage_needs() {
    let families = Telemetry::family_names();
    for expected in [
        "byoc_delivery_retries_total",
        "byoc_subscriber_reconnects_total",
        "byoc_routing_results_posted_total",
        "byoc_in_flight_events",
        "byoc_watermark_lag_events",
        "byoc_dead_letters",
        "byoc_pubsub_stream_connected",
        "byoc_checkpoint_age_seconds",
        "byoc_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(
            families.iter().any(|name| name == expected),
            "{expected} in {families:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_right_after_start_shows_every_family_with_a_sample() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("metrics-at-start");
    let config = write_connector_config(&fake, dir.path(), &partner.url, REJECT_ROUTING);
    let connector = ConnectorProcess::start(&config).await;

    let scrape = reqwest::get(format!("http://{}/metrics", connector.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    connector.kill().await;

    for family in Telemetry::family_names() {
        let has_sample = scrape
            .lines()
            .filter(|line| !line.starts_with('#'))
            .any(|line| line.starts_with(&family));
        assert!(has_sample, "{family} has no sample at start:\n{scrape}");
    }
    assert!(
        scrape.contains(&format!(
            "byoc_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{scrape}"
    );
    assert!(metric_sample(&scrape, "process_resident_memory_bytes") > 0.0);
    assert!(metric_sample(&scrape, "process_open_fds") > 0.0);
    assert!(
        scrape.contains("byoc_subscriber_reconnects_total{reason=\"watchdog\"} 0"),
        "{scrape}"
    );
}

#[test]
fn the_metrics_page_documents_exactly_the_families_the_code_registers() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let documented: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let families = Telemetry::family_names();
    for family in &families {
        assert!(
            documented.contains(&family.as_str()),
            "{family} is not in docs/metrics.md"
        );
    }
    for name in &documented {
        assert!(
            families.iter().any(|family| family == name),
            "docs/metrics.md names {name}, which does not exist"
        );
    }
}
