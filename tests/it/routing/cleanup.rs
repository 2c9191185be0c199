//! A cancel or failure RoutingResult entry for a request whose routingResult Salesforce has not
//! accepted yet cleans up what the request left in Salesforce: `DELETE /route` when `/route`
//! created a PendingServiceRouting, `PATCH /agentWork` `Cancel` when an AgentWork was created,
//! and a `routing.cancelled` envelope to the partner's routing webhook. No routingResult is
//! posted after it.

use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingEngine, RoutingStrategy};
use fake_salesforce::interaction_service::InteractionFault;
use serde_json::json;

/// Every routingResult is refused with a retryable 503, so the request stays unposted.
fn refuse_routing_results(salesforce: &Salesforce) {
    let mut refused = InteractionFault::status("routingResult", 503, 100_000);
    refused.retry_after_secs = Some(0);
    salesforce.interaction.inject_fault(refused).unwrap();
}

/// Sends the cancel entry once the engine has tried to post, then waits until it is cancelled.
async fn cancel_while_posting(
    salesforce: &Salesforce,
    engine: &RoutingEngine,
    request: &RequestSpec,
) {
    wait_for_calls(salesforce, "routingResult", 1).await;
    engine.observe(&routing_result_entry(
        &request.conversation,
        "Cancelled",
        None,
    ));
    let cancelled = wait_until(WAIT_LIMIT, || {
        engine.telemetry().snapshot().routing_requests_cancelled == 1
    })
    .await;
    assert!(cancelled, "the request is cancelled");
    assert!(matches!(
        engine.request_status(request.key()).await.unwrap(),
        Some(RequestStatus::Cancelled { .. })
    ));
}

/// Asserts no routingResult arrives after the ones already recorded (one may be in flight).
async fn assert_posting_stopped(salesforce: &Salesforce) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let settled = salesforce.calls_to("routingResult").len();
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(
        salesforce.calls_to("routingResult").len(),
        settled,
        "no routingResult after the cancellation"
    );
    assert!(salesforce
        .calls_to("routingResult")
        .iter()
        .all(|call| call.status == 503));
}

#[tokio::test]
async fn a_cancel_entry_after_route_deletes_the_pending_service_routing() {
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Salesforce, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    refuse_routing_results(&salesforce);
    let request = RequestSpec::transfer()
        .with_parameters(json!({"queueId": "00G5g000000QUEU", "isTransfer": true}));
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    cancel_while_posting(&salesforce, &engine, &request).await;

    let deleted = wait_until(WAIT_LIMIT, || {
        salesforce
            .calls_to("route")
            .iter()
            .any(|call| call.method == "DELETE")
    })
    .await;
    assert!(deleted, "DELETE /route: {:?}", salesforce.routing_calls());
    let delete = salesforce
        .calls_to("route")
        .into_iter()
        .find(|call| call.method == "DELETE")
        .unwrap();
    assert_eq!(delete.status, 202, "{}", delete.response);
    assert_eq!(
        delete.body,
        json!({"conversationIdentifier": request.conversation})
    );
    assert!(salesforce
        .calls_to("agentWork")
        .iter()
        .all(|call| call.method != "PATCH"));
    assert_posting_stopped(&salesforce).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_cancel_entry_after_agent_work_cancels_the_agent_work() {
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Salesforce, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    refuse_routing_results(&salesforce);
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": "0055g00000REP01", "isTransfer": true}));
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    cancel_while_posting(&salesforce, &engine, &request).await;

    let patched = wait_until(WAIT_LIMIT, || {
        salesforce
            .calls_to("agentWork")
            .iter()
            .any(|call| call.method == "PATCH")
    })
    .await;
    assert!(
        patched,
        "PATCH /agentWork: {:?}",
        salesforce.routing_calls()
    );
    let calls = salesforce.calls_to("agentWork");
    let created = calls.iter().find(|call| call.method == "POST").unwrap();
    let work_id = created.response["agentWorkId"].as_str().unwrap();
    let patch = calls.iter().find(|call| call.method == "PATCH").unwrap();
    assert_eq!(patch.status, 202, "{}", patch.response);
    assert_eq!(
        patch.body,
        json!({"workId": work_id, "contextType": "Agent", "status": "Cancel"})
    );
    assert!(salesforce
        .calls_to("route")
        .iter()
        .all(|call| call.method != "DELETE"));
    assert_posting_stopped(&salesforce).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_cancel_entry_tells_the_partner_routing_cancelled_and_calls_nothing_in_salesforce() {
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);

    engine.observe(&routing_result_entry(
        &request.conversation,
        "RoutingError",
        None,
    ));

    assert!(
        wait_until(WAIT_LIMIT, || partner.requests().len() == 2).await,
        "the partner hears of the cancellation"
    );
    let notice = &partner.requests()[1];
    assert_eq!(notice.headers["x-byoc-event-type"], "routing.cancelled");
    assert_eq!(notice.body["type"], "routing.cancelled");
    assert_eq!(notice.body["eventId"], request.event_id);
    assert_eq!(notice.body["conversationIdentifier"], request.conversation);
    assert!(notice.body["reason"]
        .as_str()
        .is_some_and(|reason| !reason.is_empty()));
    let first_key = partner.requests()[0].headers["idempotency-key"].clone();
    assert_ne!(
        notice.headers["idempotency-key"], first_key,
        "the notice is a delivery of its own"
    );
    tokio::time::sleep(QUIET_PERIOD).await;
    assert!(
        salesforce.routing_calls().is_empty(),
        "nothing was created, so nothing is cleaned up: {:?}",
        salesforce.routing_calls()
    );
    engine.shutdown().await;
}
