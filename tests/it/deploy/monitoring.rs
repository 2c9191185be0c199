//! `deploy/monitoring/`: the Prometheus alert rules and the Grafana dashboard parse, and every
//! metric they name is a family the connector registers (histograms through their
//! `_bucket`, `_sum` and `_count` series), so neither can drift into watching nothing.

use byoc_connector::telemetry::Telemetry;
use yaml_rust2::YamlLoader;

use super::read_deploy_file;

/// Every `byoc_…` or `process_…` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = ["byoc_", "process_"]
        .iter()
        .filter_map(|prefix| rest.find(prefix))
        .min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Whether `name` is a registered family or a histogram series of one.
fn exists(name: &str, families: &[String]) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    families
        .iter()
        .any(|family| family == name || family == base)
}

#[test]
fn every_alert_rule_uses_metrics_the_connector_exports() {
    let text = read_deploy_file("monitoring/alerts.yaml");
    let documents = YamlLoader::load_from_str(&text).unwrap();
    let families = Telemetry::family_names();
    let mut alerts = Vec::new();
    for group in documents[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            let alert = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "{alert} watches no connector metric: {expr}"
            );
            for name in names {
                assert!(
                    exists(&name, &families),
                    "{alert} uses {name}, which the connector does not export"
                );
            }
            assert!(
                rule["annotations"]["summary"].as_str().is_some(),
                "{alert} has no summary"
            );
            alerts.push(alert.to_owned());
        }
    }
    for needed in [
        "ByocRoutingDeadlineMissed",
        "ByocDeadLettersRising",
        "ByocStreamDown",
        "ByocCheckpointStuck",
        "ByocPartnerFailing",
    ] {
        assert!(
            alerts.iter().any(|alert| alert == needed),
            "no {needed} alert"
        );
    }
}

#[test]
fn every_dashboard_panel_uses_metrics_the_connector_exports() {
    let text = read_deploy_file("monitoring/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let families = Telemetry::family_names();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    let mut used = std::collections::BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                assert!(
                    exists(&name, &families),
                    "panel {} uses {name}, which the connector does not export",
                    panel["title"]
                );
                used.insert(name);
            }
        }
    }
    for outage_metric in [
        "byoc_in_flight_events",
        "byoc_watermark_lag_events",
        "byoc_checkpoint_age_seconds",
        "byoc_pubsub_stream_connected",
        "byoc_dead_letters",
    ] {
        assert!(
            used.contains(outage_metric),
            "the dashboard does not show {outage_metric}"
        );
    }
}

#[test]
fn the_name_extraction_finds_histogram_series_and_ignores_labels() {
    assert_eq!(
        metric_names("histogram_quantile(0.99, sum by (le) (rate(byoc_delivery_latency_seconds_bucket[5m])))"),
        ["byoc_delivery_latency_seconds_bucket"]
    );
    assert!(!exists("byoc_no_such_metric", &Telemetry::family_names()));
}
