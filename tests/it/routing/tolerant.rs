//! Routing requests missing what the schema lets them miss: every field of the payload is
//! optional, and Salesforce waits for an answer to each. Without `channelData` a request is
//! keyed by its platform event's id (the envelope's `id`) and still answered through the fake.

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingStrategy, UNTYPED_ROUTING_MESSAGE};
use fake_salesforce::interaction_service::RecordedCall;
use serde_json::json;

const QUEUE_ID: &str = "00G5g000001abcd";
const REP_ID: &str = "0055g00000ABCDE";

async fn wait_for_status(
    engine: &byoc_connector::routing::RoutingEngine,
    key: &str,
    wanted: RequestStatus,
) {
    let mut last = None;
    for _ in 0..(WAIT_LIMIT.as_millis() / POLL_INTERVAL.as_millis()) {
        last = engine.request_status(key).await.unwrap();
        if last.as_ref() == Some(&wanted) {
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    panic!("request {key} is {last:?}, wanted {wanted:?}");
}

/// Hands `request` to a `salesforce`-strategy engine and waits for its routingResult; gives
/// the routingResult calls and every routing call, in order.
async fn routed_by_salesforce(request: &RequestSpec) -> (Vec<RecordedCall>, Vec<RecordedCall>) {
    let (salesforce, _store, engine) = salesforce_engine().await;
    engine
        .on_routing_requested(salesforce.input_for(request))
        .await
        .unwrap();
    let results = wait_for_calls(&salesforce, "routingResult", 1).await;
    let calls = salesforce.routing_calls();
    engine.shutdown().await;
    (results, calls)
}

/// An engine with strategy `salesforce` and no partner, over a fresh fake and store.
async fn salesforce_engine() -> (
    Salesforce,
    TempStore,
    byoc_connector::routing::RoutingEngine,
) {
    start_engine(
        None,
        settings(RoutingStrategy::Salesforce, WINDOW, DECISION_TIMEOUT),
    )
    .await
}

#[tokio::test]
async fn a_request_without_channel_data_is_routed_and_keyed_by_its_platform_event_id() {
    let (salesforce, _store, engine) = salesforce_engine().await;
    let request = RequestSpec::transfer()
        .with_parameters(json!({"queueId": QUEUE_ID}))
        .without_channel_data();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let results = wait_for_calls(&salesforce, "routingResult", 1).await;
    let calls: Vec<String> = salesforce
        .routing_calls()
        .iter()
        .map(|call| call.path.clone())
        .collect();
    assert_eq!(calls, ["/api/v1/route", "/api/v1/routingResult"]);
    assert_eq!(results[0].body["success"], true);
    assert_eq!(
        results[0].body["conversationIdentifier"],
        request.conversation
    );
    assert_eq!(results[0].body["routingType"], "Transfer");
    wait_for_status(
        &engine,
        request.key(),
        RequestStatus::Posted { success: true },
    )
    .await;
    assert_eq!(
        engine.request_status(&request.event_id).await.unwrap(),
        None
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_request_without_channel_data_is_not_answered_twice() {
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Reject, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().without_channel_data();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    wait_for_status(
        &engine,
        request.key(),
        RequestStatus::Posted { success: false },
    )
    .await;
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    tokio::time::sleep(QUIET_PERIOD).await;

    assert_eq!(salesforce.calls_to("routingResult").len(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_rep_transfer_without_channel_data_creates_agent_work_without_a_routing_context() {
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": REP_ID}))
        .without_channel_data();

    let (_results, calls) = routed_by_salesforce(&request).await;
    assert_eq!(calls[0].path, "/api/v1/agentWork");
    assert_eq!(calls[0].status, 202, "{}", calls[0].response);
    assert!(
        calls[0].body.get("routingContext").is_none(),
        "{}",
        calls[0].body
    );
    assert_eq!(calls[1].path, "/api/v1/routingResult");
    assert_eq!(calls[1].body["success"], true);
}

#[tokio::test]
async fn the_partner_decides_a_request_without_channel_data_through_the_sidecar_by_the_envelope_id()
{
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let request = RequestSpec::transfer().without_channel_data();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);
    let envelope_id = partner.requests()[0].body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(envelope_id, request.key());

    let (status, body) = sidecar_decide(
        &sidecar,
        &envelope_id,
        json!({"success": false, "errorMessage": "no rep available"}),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    let calls = salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["errorMessage"], "no rep available");
    engine.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_routing_parameter_does_not_cost_the_request_its_queue() {
    let request = RequestSpec::transfer()
        .with_parameters(json!({"queueId": QUEUE_ID, "skillsList": {}, "isTransfer": true}));

    let (results, calls) = routed_by_salesforce(&request).await;
    assert_eq!(calls[0].path, "/api/v1/route");
    assert_eq!(calls[0].body["routingInfo"]["queueId"], QUEUE_ID);
    assert_eq!(results[0].body["success"], true);
}

#[tokio::test]
async fn a_request_with_no_routing_type_that_is_not_a_transfer_is_refused_not_guessed() {
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": REP_ID, "isTransfer": false}))
        .without_routing_type();

    let (results, calls) = routed_by_salesforce(&request).await;
    assert_eq!(calls.len(), 1, "no agentWork is created: {calls:?}");
    assert_eq!(results[0].body["success"], false);
    assert_eq!(results[0].body["errorMessage"], UNTYPED_ROUTING_MESSAGE);
}

#[tokio::test]
async fn a_request_with_no_routing_type_that_says_it_is_a_transfer_is_routed_as_one() {
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": REP_ID, "isTransfer": true}))
        .without_routing_type();

    let (results, calls) = routed_by_salesforce(&request).await;
    assert_eq!(calls[0].path, "/api/v1/agentWork");
    assert_eq!(calls[0].status, 202, "{}", calls[0].response);
    assert_eq!(
        calls[0].body["routingContext"]["routingType"], "Transfer",
        "{}",
        calls[0].body
    );
    assert_eq!(results[0].body["success"], true);
}
