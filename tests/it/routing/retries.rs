//! Retries against the Interaction Service stop at the deadline: transient failures are
//! retried and the result still lands in time; failures until the deadline are a counted miss;
//! a refusal is not retried.

use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingStrategy};
use fake_salesforce::interaction_service::InteractionFault;
use serde_json::json;

#[tokio::test]
async fn rate_limited_then_failing_interaction_service_is_retried_and_the_result_lands_before_the_deadline(
) {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    salesforce
        .interaction
        .inject_fault(InteractionFault::rate_limit("routingResult", 1))
        .unwrap();
    salesforce
        .interaction
        .inject_fault(InteractionFault::status("routingResult", 500, 1))
        .unwrap();
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 3).await;
    let statuses: Vec<u16> = calls.iter().map(|call| call.status).collect();
    assert_eq!(statuses, vec![429, 500, 202]);
    assert!(calls.iter().all(|call| call.body == calls[0].body));
    assert_before_deadline(&calls[2], request.created_date_ms, WINDOW);
    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_results_posted
            .success
            == 1)
        .await
    );
    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 0);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_interaction_service_failing_until_the_deadline_is_a_counted_miss_with_nothing_late() {
    let window = Duration::from_secs(2);
    let decision_timeout = Duration::from_secs(1);
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Reject, window, decision_timeout),
    )
    .await;
    salesforce
        .interaction
        .inject_fault(InteractionFault::status("routingResult", 503, 10_000))
        .unwrap();
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_deadlines_missed
            == 1)
        .await,
        "{:?}",
        engine.telemetry().snapshot()
    );
    let calls = salesforce.calls_to("routingResult");
    assert!(calls.len() >= 2, "retried: {} calls", calls.len());
    assert!(calls.iter().all(|call| call.status == 503));
    for call in &calls {
        assert_before_deadline(call, request.created_date_ms, window);
    }
    assert!(matches!(
        engine.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Missed { .. })
    ));
    let snapshot = engine.telemetry().snapshot();
    assert_eq!(
        snapshot.routing_results_posted.failure + snapshot.routing_results_posted.success,
        0
    );
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(
        salesforce.calls_to("routingResult").len(),
        calls.len(),
        "nothing after the deadline"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_routing_result_salesforce_refuses_is_counted_refused_and_not_retried() {
    let request = RequestSpec::transfer();
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Reject, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    // The fake knows another session for this conversation: 15107 on the post.
    salesforce
        .interaction
        .seed_conversation(&request.conversation, &session_id());

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_results_refused
            == 1)
        .await
    );
    let calls = salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 400);
    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 1);
    engine.shutdown().await;
}
