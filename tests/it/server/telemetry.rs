//! `/metrics` over a real socket: every occurrence is counted under its `byoc_` name, and
//! labels never carry ids or secrets; the snapshot reads back the same counts.

use std::time::Duration;

use crate::support::server::{get, start};
use byoc_connector::pubsub::{CorruptedReplayPolicy, SubscriberOccurrence, SubscriberTelemetry};
use byoc_connector::server::METRICS_CONTENT_TYPE;
use byoc_connector::telemetry::{
    OutcomeCounts, ReconnectCounts, RoutingOutcome, Telemetry, TelemetrySnapshot,
};
use http::StatusCode;

/// Calls every telemetry method once (the delivery twice).
fn record_one_of_everything(telemetry: &Telemetry) {
    telemetry.event_received();
    telemetry.fetch_request_sent(100);
    telemetry.event_delivered("interaction.message", Duration::from_millis(12));
    telemetry.event_delivered("interaction.message", Duration::from_millis(30));
    telemetry.delivery_retried(
        Some(StatusCode::SERVICE_UNAVAILABLE),
        1,
        "partner answered 503",
    );
    telemetry.delivery_retried(None, 2, "connect timed out");
    telemetry.event_dead_lettered(
        "invalid_json",
        "00000000022c4e5b",
        Some("conversation-1"),
        "payload is not json",
    );
    telemetry.duplicate_skipped("idem-key-4711");
    telemetry.event_filtered("other-channel-address");
    telemetry.checkpoint_advanced(36_392_539);
    telemetry.emit(SubscriberOccurrence::StreamSilent {
        timeout: Duration::from_secs(300),
    });
    telemetry.emit(SubscriberOccurrence::ReplayIdRefused {
        lost_position: "00000000022c4e5c",
        policy: CorruptedReplayPolicy::Fail,
        rpc_id: "rpc-id-4712",
    });
    telemetry.routing_result_posted(
        RoutingOutcome::Success,
        "partner",
        "0Mw-event-id-secret",
        Duration::from_secs(3),
    );
    telemetry.routing_deadline_missed(
        "0Mw-missed-event",
        "conversation-2",
        "interaction service kept failing",
    );
    telemetry.routing_decision_timed_out("0Mw-timed-out-event");
    telemetry.routing_result_refused("0Mw-refused-event", "conversation-1", "15107");
    telemetry.routing_request_cancelled("0Mw-cancelled-event", "salesforce cancelled it");
    telemetry.routing_request_redelivered("0Mw-redelivered-event", "posted");
    telemetry.set_in_flight_events(7);
    telemetry.set_watermark_lag_events(42);
    telemetry.set_pending_routing_requests(3);
}

#[tokio::test]
async fn metrics_lists_every_byoc_metric_after_the_occurrences() {
    let server = start().await;
    record_one_of_everything(&server.telemetry);

    let response = get(server.address, "/metrics").await;

    assert_eq!(response.status, 200);
    assert!(response
        .headers
        .contains(&format!("content-type: {METRICS_CONTENT_TYPE}")));
    let body = response.body;
    for line in [
        "byoc_events_received_total 1",
        "byoc_events_delivered_total{event_type=\"interaction.message\"} 2",
        "byoc_delivery_latency_seconds_count 2",
        "byoc_delivery_retries_total{status=\"503\"} 1",
        "byoc_delivery_retries_total{status=\"transport\"} 1",
        "byoc_events_dead_lettered_total{reason=\"invalid_json\"} 1",
        "byoc_duplicates_skipped_total 1",
        "byoc_checkpoints_total 1",
        "byoc_pubsub_fetch_requests_total 1",
        "byoc_checkpoint_replay_id 36392539",
        "byoc_subscriber_reconnects_total{reason=\"watchdog\"} 1",
        "byoc_routing_results_posted_total{outcome=\"success\"} 1",
        "byoc_routing_result_age_seconds_count 1",
        // The refused result counts as missed too.
        "byoc_routing_deadlines_missed_total 2",
        "byoc_routing_decision_timeouts_total 1",
        "byoc_in_flight_events 7",
        "byoc_watermark_lag_events 42",
        "byoc_pending_routing_requests 3",
    ] {
        assert!(body.contains(line), "missing `{line}` in:\n{body}");
    }
    assert!(
        body.contains("byoc_subscriber_reconnects_total{reason=\"replay_reset\"} 0"),
        "a refused replay id with policy fail stops the subscriber, it is no reconnect:\n{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
}

#[tokio::test]
async fn metric_labels_never_carry_ids_keys_or_reasons() {
    let telemetry = Telemetry::new();
    record_one_of_everything(&telemetry);

    let text = telemetry.encode().unwrap();

    for unbounded in [
        "0Mw-event-id-secret",
        "0Mw-missed-event",
        "0Mw-timed-out-event",
        "0Mw-refused-event",
        "0Mw-cancelled-event",
        "0Mw-redelivered-event",
        "other-channel-address",
        "idem-key-4711",
        "00000000022c4e5b",
        "00000000022c4e5c",
        "rpc-id-4712",
        "payload is not json",
        "connect timed out",
    ] {
        assert!(
            !text.contains(unbounded),
            "{unbounded} leaked into:\n{text}"
        );
    }
}

#[tokio::test]
async fn every_metric_is_exposed_before_anything_happens() {
    let server = start().await;

    let body = get(server.address, "/metrics").await.body;

    for name in [
        "byoc_events_received",
        "byoc_delivery_latency_seconds",
        "byoc_routing_deadlines_missed",
        "byoc_in_flight_events",
        "byoc_watermark_lag_events",
        "byoc_pending_routing_requests",
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "missing {name} in:\n{body}"
        );
    }
}

#[test]
fn the_snapshot_reads_back_every_count() {
    let telemetry = Telemetry::new();
    record_one_of_everything(&telemetry);

    assert_eq!(
        telemetry.snapshot(),
        TelemetrySnapshot {
            events_received: 1,
            events_delivered: 2,
            delivery_retries: 2,
            events_dead_lettered: 1,
            duplicates_skipped: 1,
            events_filtered: 1,
            checkpoints: 1,
            pubsub_fetch_requests: 1,
            checkpoint_replay_id: 36_392_539,
            subscriber_reconnects: ReconnectCounts {
                watchdog: 1,
                ..ReconnectCounts::default()
            },
            routing_results_posted: OutcomeCounts {
                success: 1,
                failure: 0,
            },
            routing_deadlines_missed: 2,
            routing_decision_timeouts: 1,
            routing_results_refused: 1,
            routing_requests_cancelled: 1,
            routing_requests_redelivered: 1,
            in_flight_events: 7,
            watermark_lag_events: 42,
            pending_routing_requests: 3,
        }
    );
}

#[test]
fn clones_of_telemetry_count_into_the_same_registry() {
    let telemetry = Telemetry::new();
    let clone = telemetry.clone();

    clone.duplicate_skipped("k1");
    telemetry.duplicate_skipped("k2");

    assert!(telemetry
        .encode()
        .unwrap()
        .contains("byoc_duplicates_skipped_total 2"));
}
