//! Strategies `salesforce` and `reject`: the right Interaction Service calls, in the right
//! order, with the right bodies, as the fake recorded them.

use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::interaction::{AgentWorkRequest, Capacity};
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{
    RequestStatus, RoutingEngine, RoutingSettings, RoutingStrategy, EXTERNAL_CONFERENCE_MESSAGE,
    NO_FALLBACK_QUEUE_MESSAGE, REJECT_MESSAGE,
};
use fake_salesforce::interaction_service::{InteractionFault, ResponseHold};
use serde_json::{json, Value};

const QUEUE_ID: &str = "00G5g000001abcd";
const FLOW_ID: &str = "300SG00000jJder";
const REP_ID: &str = "0055g00000ABCDE";

fn salesforce_settings() -> RoutingSettings {
    settings(RoutingStrategy::Salesforce, WINDOW, DECISION_TIMEOUT)
}

/// An engine over a fresh store, with `request` handed to it once the fake knows its session.
async fn hand_over(
    salesforce: &Salesforce,
    request: &RequestSpec,
    settings: RoutingSettings,
) -> (TempStore, RoutingEngine) {
    let store = TempStore::new();
    let engine = engine(salesforce, store.open().await, None, settings);
    engine
        .on_routing_requested(salesforce.input_for(request))
        .await
        .unwrap();
    (store, engine)
}

/// Runs one request with strategy `salesforce`; returns the routing calls the fake recorded.
async fn route(
    salesforce: &Salesforce,
    request: &RequestSpec,
    settings: RoutingSettings,
    expected_calls: usize,
) -> Vec<fake_salesforce::interaction_service::RecordedCall> {
    let (_store, engine) = hand_over(salesforce, request, settings).await;
    assert!(
        wait_until(WAIT_LIMIT, || salesforce.calls_to("routingResult").len()
            == 1)
        .await,
        "no routing result posted"
    );
    assert!(
        wait_until(WAIT_LIMIT, || salesforce.routing_calls().len()
            >= expected_calls)
        .await
    );
    engine.shutdown().await;
    let calls = salesforce.routing_calls();
    assert_eq!(
        calls.len(),
        expected_calls,
        "{:?}",
        calls.iter().map(|call| &call.path).collect::<Vec<_>>()
    );
    for call in &calls {
        assert!(
            (200..300).contains(&call.status),
            "{} answered {}: {}",
            call.path,
            call.status,
            call.response
        );
        assert_before_deadline(call, request.created_date_ms, WINDOW);
    }
    calls
}

fn paths(calls: &[fake_salesforce::interaction_service::RecordedCall]) -> Vec<String> {
    calls
        .iter()
        .map(|call| format!("{} {}", call.method, call.path))
        .collect()
}

fn success_result(request: &RequestSpec, externally_routed: bool) -> Value {
    json!({
        "conversationIdentifier": request.conversation,
        "workItemId": request.work_record_id,
        "success": true,
        "externallyRouted": externally_routed,
        "routingType": "Transfer",
    })
}

#[tokio::test]
async fn a_queue_transfer_posts_route_then_a_success_result() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": QUEUE_ID}));

    let calls = route(&salesforce, &request, salesforce_settings(), 2).await;

    assert_eq!(
        paths(&calls),
        ["POST /api/v1/route", "POST /api/v1/routingResult"]
    );
    assert_eq!(
        calls[0].body,
        json!({
            "conversationIdentifier": request.conversation,
            "routingType": "Transfer",
            "routingInfo": {"queueId": QUEUE_ID},
        })
    );
    assert_eq!(calls[1].body, success_result(&request, false));
}

#[tokio::test]
async fn a_flow_transfer_routes_through_the_flow_with_its_fallback_queue() {
    let salesforce = Salesforce::start().await;
    let request =
        RequestSpec::transfer().with_parameters(json!({"flowId": FLOW_ID, "queueId": QUEUE_ID}));

    let calls = route(&salesforce, &request, salesforce_settings(), 2).await;

    assert_eq!(
        paths(&calls),
        ["POST /api/v1/route", "POST /api/v1/routingResult"]
    );
    assert_eq!(
        calls[0].body["routingInfo"],
        json!({"flow": {"flowId": FLOW_ID, "queueId": QUEUE_ID}})
    );
    assert_eq!(calls[1].body, success_result(&request, false));
}

/// Salesforce's own RoutingRequested example: a flow with `"queueId": null`.
fn salesforce_example_flow_transfer() -> RequestSpec {
    RequestSpec::transfer().with_parameters(json!({
        "isTransfer": true, "flowId": FLOW_ID, "queueId": null, "userId": null, "botId": null,
        "routingConfigId": null, "serviceChannelId": null, "skillsList": [],
        "isFallbackOnPsrNotCreated": null, "isEstimatedWaitTimeRequested": null,
        "isScrt2": true, "isUserRequired": null,
    }))
}

#[tokio::test]
async fn a_flow_transfer_naming_no_queue_routes_with_the_configured_fallback_queue() {
    let salesforce = Salesforce::start().await;
    let request = salesforce_example_flow_transfer();
    let mut with_fallback = salesforce_settings();
    with_fallback.fallback_queue_id = Some(QUEUE_ID.to_owned());

    let calls = route(&salesforce, &request, with_fallback, 2).await;

    assert_eq!(
        paths(&calls),
        ["POST /api/v1/route", "POST /api/v1/routingResult"]
    );
    assert_eq!(
        calls[0].body["routingInfo"],
        json!({"flow": {"flowId": FLOW_ID, "queueId": QUEUE_ID}})
    );
    assert_eq!(calls[1].body, success_result(&request, false));
}

#[tokio::test]
async fn the_requests_own_queue_wins_over_the_configured_fallback_queue() {
    let salesforce = Salesforce::start().await;
    let own_queue = "00G5g000009wxyz";
    let request =
        RequestSpec::transfer().with_parameters(json!({"flowId": FLOW_ID, "queueId": own_queue}));
    let mut with_fallback = salesforce_settings();
    with_fallback.fallback_queue_id = Some(QUEUE_ID.to_owned());

    let calls = route(&salesforce, &request, with_fallback, 2).await;

    assert_eq!(calls[0].body["routingInfo"]["flow"]["queueId"], own_queue);
}

#[tokio::test]
async fn a_flow_transfer_without_any_fallback_queue_is_answered_as_a_failure_naming_the_key() {
    let salesforce = Salesforce::start().await;
    let request = salesforce_example_flow_transfer();

    let calls = route(&salesforce, &request, salesforce_settings(), 1).await;

    assert_eq!(paths(&calls), ["POST /api/v1/routingResult"]);
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["errorMessage"], NO_FALLBACK_QUEUE_MESSAGE);
    assert!(NO_FALLBACK_QUEUE_MESSAGE.contains("routing.fallback_queue_id"));
}

#[tokio::test]
async fn the_psr_and_correlation_id_from_route_are_kept_in_the_durable_record() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": QUEUE_ID}));
    let store_file = TempStore::new();
    let store = store_file.open().await;
    let engine = engine(&salesforce, store.clone(), None, salesforce_settings());

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    wait_for_calls(&salesforce, "routingResult", 1).await;
    let mut posted = false;
    for _ in 0..(WAIT_LIMIT.as_millis() / POLL_INTERVAL.as_millis()) {
        let status = engine.request_status(&request.event_id).await.unwrap();
        if matches!(status, Some(RequestStatus::Posted { success: true })) {
            posted = true;
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert!(posted, "the request was never recorded as posted");

    let answer = salesforce.calls_to("route")[0].response.clone();
    let record: Value = serde_json::from_slice(
        &store
            .get_pending_routing(&request.event_id)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["route"]["psrId"], answer["psrId"]);
    assert_eq!(
        record["route"]["routingCorrelationId"],
        answer["routingCorrelationId"]
    );
    assert!(answer["psrId"]
        .as_str()
        .is_some_and(|id| id.starts_with("0JR")));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_conference_with_an_external_contact_is_answered_as_not_supported() {
    let salesforce = Salesforce::start().await;
    let mut request =
        RequestSpec::transfer().with_parameters(json!({"externalContactId": "003ext0000001"}));
    request.routing_type = Some("Conference".to_owned());

    let calls = route(&salesforce, &request, salesforce_settings(), 1).await;

    assert_eq!(paths(&calls), ["POST /api/v1/routingResult"]);
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["externallyRouted"], false);
    assert_eq!(calls[0].body["routingType"], "Conference");
    assert_eq!(calls[0].body["errorMessage"], EXTERNAL_CONFERENCE_MESSAGE);
}

#[tokio::test]
async fn a_rep_transfer_creates_agent_work_then_posts_success() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"userId": REP_ID}));

    let calls = route(&salesforce, &request, salesforce_settings(), 2).await;

    assert_eq!(
        paths(&calls),
        ["POST /api/v1/agentWork", "POST /api/v1/routingResult"]
    );
    assert_eq!(
        calls[0].body,
        json!({
            "userId": REP_ID,
            "workItemId": request.work_record_id,
            "capacityWeight": 1.0,
            "routingContext": {
                "conversationIdentifier": request.conversation,
                "routingType": "Transfer",
                "routingCorrelationId": request.event_id,
            },
        })
    );
    assert_eq!(calls[1].body, success_result(&request, false));
}

#[tokio::test]
async fn a_rep_transfer_whose_agent_work_exists_already_counts_it_done() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"userId": REP_ID}));
    let work_item = request.work_record_id.clone().unwrap();
    salesforce.knows(&request);
    salesforce
        .client()
        .post_agent_work(&AgentWorkRequest {
            user_id: REP_ID.to_owned(),
            work_item_id: work_item,
            capacity: Some(Capacity::Weight(1.0)),
            routing_context: None,
            agent_action_visibilities: None,
        })
        .await
        .unwrap();
    salesforce.interaction.clear_calls();
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    wait_for_calls(&salesforce, "routingResult", 1).await;
    let calls = salesforce.routing_calls();
    assert_eq!(
        paths(&calls),
        ["POST /api/v1/agentWork", "POST /api/v1/routingResult"]
    );
    assert_eq!(
        calls[0].response["errorDetail"]["code"]
            .as_i64()
            .or(calls[0].response["code"].as_i64()),
        Some(15109)
    );
    assert_eq!(calls[1].body, success_result(&request, false));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_rep_transfer_short_of_time_posts_the_result_before_agent_work() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": REP_ID}))
        .aged(Duration::from_secs(55));

    let calls = route(&salesforce, &request, salesforce_settings(), 2).await;

    assert_eq!(
        paths(&calls),
        ["POST /api/v1/routingResult", "POST /api/v1/agentWork"]
    );
    assert_eq!(calls[0].body, success_result(&request, false));
    assert_eq!(
        calls[1].body["routingContext"]["routingCorrelationId"],
        json!(request.event_id)
    );
}

/// An `/agentWork` still unanswered when its time runs out may have created the AgentWork, so
/// the rep is not told the transfer failed: success is posted first and `/agentWork` repeated,
/// where Salesforce's "exists already" (15109) counts as done.
#[tokio::test]
async fn an_agent_work_cut_off_at_its_time_limit_posts_success_then_repeats_the_call() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer()
        .with_parameters(json!({"userId": REP_ID}))
        .aged(Duration::from_secs(47));
    salesforce.interaction.hold_responses(ResponseHold::new(
        "agentWork",
        Duration::from_secs(30),
        1,
    ));
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    wait_for_calls(&salesforce, "agentWork", 2).await;
    let calls = salesforce.routing_calls();
    assert_eq!(
        paths(&calls),
        [
            "POST /api/v1/agentWork",
            "POST /api/v1/routingResult",
            "POST /api/v1/agentWork"
        ]
    );
    assert_eq!(calls[1].body, success_result(&request, false));
    assert_eq!(
        calls[2].response["errorDetail"]["code"]
            .as_i64()
            .or(calls[2].response["code"].as_i64()),
        Some(15109)
    );
    engine.shutdown().await;
}

/// A `/route` still unanswered when its time runs out may have created a PendingServiceRouting
/// that would offer the conversation to a rep after routingResult said routing failed: the
/// failure is posted first (the window is nearly over), then the route is withdrawn with
/// `DELETE /route`.
#[tokio::test]
async fn a_route_cut_off_at_its_time_limit_posts_the_failure_then_withdraws_the_route() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer()
        .with_parameters(json!({"queueId": QUEUE_ID}))
        .aged(Duration::from_secs(47));
    salesforce
        .interaction
        .hold_responses(ResponseHold::new("route", Duration::from_secs(30), 1));
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    wait_for_calls(&salesforce, "route", 2).await;
    let calls = salesforce.routing_calls();
    assert_eq!(
        paths(&calls),
        [
            "POST /api/v1/route",
            "POST /api/v1/routingResult",
            "DELETE /api/v1/route"
        ]
    );
    assert_eq!(calls[1].body["success"], false);
    assert_eq!(
        calls[2].body,
        json!({"conversationIdentifier": request.conversation})
    );
    assert_eq!(calls[2].status, 202, "{}", calls[2].response);
    engine.shutdown().await;
}

/// A `/route` Salesforce refused created nothing, so nothing is withdrawn.
#[tokio::test]
async fn a_route_refused_is_not_withdrawn() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": "not-a-queue"}));
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    wait_for_calls(&salesforce, "routingResult", 1).await;
    // Shutdown waits for the request's task, which would withdraw after posting.
    engine.shutdown().await;
    assert_eq!(
        paths(&salesforce.routing_calls()),
        ["POST /api/v1/route", "POST /api/v1/routingResult"]
    );
}

#[tokio::test]
async fn an_external_transfer_is_posted_as_externally_routed() {
    let salesforce = Salesforce::start().await;
    let request =
        RequestSpec::transfer().with_parameters(json!({"externalContactId": "003ext0000001"}));

    let calls = route(&salesforce, &request, salesforce_settings(), 1).await;

    assert_eq!(paths(&calls), ["POST /api/v1/routingResult"]);
    assert_eq!(calls[0].body, success_result(&request, true));
}

#[tokio::test]
async fn bot_and_unknown_targets_are_answered_with_a_failure() {
    let salesforce = Salesforce::start().await;
    let bot = RequestSpec::transfer().with_parameters(json!({"botId": "0Xx5g0000000001"}));
    let calls = route(&salesforce, &bot, salesforce_settings(), 1).await;
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(
        calls[0].body["errorMessage"],
        "transfers to bots are not supported by this channel"
    );

    let salesforce = Salesforce::start().await;
    let unknown = RequestSpec::transfer();
    let calls = route(&salesforce, &unknown, salesforce_settings(), 1).await;
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(
        calls[0].body["errorMessage"],
        "the routing request names no rep, queue, flow or external contact"
    );
}

/// `/route` may answer `2xx {success: false, errors: {errorMessage, apiErrorCode},
/// reasonForNotRouting}`: the rep is told Salesforce's reason, and a code that means "try again"
/// (10094, a downstream timeout) is retried.
#[tokio::test]
async fn a_route_answered_success_false_is_retried_when_its_code_says_so_and_reported_when_not() {
    let salesforce = Salesforce::start().await;
    salesforce
        .interaction
        .inject_fault(InteractionFault::unsuccessful(
            "route",
            200,
            10094,
            "Downstream request timed out.",
            1,
        ))
        .unwrap();
    salesforce
        .interaction
        .inject_fault(InteractionFault::unsuccessful(
            "route",
            200,
            10030,
            "Specify either a flow or a queue to Route API.",
            1,
        ))
        .unwrap();
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": QUEUE_ID}));
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    let results = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(
        salesforce.calls_to("route").len(),
        2,
        "10094 is retried, 10030 is not"
    );
    assert_eq!(results[0].body["success"], false);
    assert_eq!(
        results[0].body["errorMessage"],
        "queue routing failed: Specify either a flow or a queue to Route API. (code 10030)"
    );
    engine.shutdown().await;
}

/// routingResult may answer `2xx {success: false, errorDetail: {code: 500}}`; Salesforce's
/// table lists 500 as "an internal server error", so the post is retried.
#[tokio::test]
async fn a_routing_result_answered_success_false_with_code_500_is_retried() {
    let salesforce = Salesforce::start().await;
    salesforce
        .interaction
        .inject_fault(InteractionFault::unsuccessful(
            "routingResult",
            202,
            500,
            "An internal server error occurred. Please contact Salesforce Support.",
            1,
        ))
        .unwrap();
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": QUEUE_ID}));

    let calls = route(&salesforce, &request, salesforce_settings(), 3).await;

    assert_eq!(
        paths(&calls),
        [
            "POST /api/v1/route",
            "POST /api/v1/routingResult",
            "POST /api/v1/routingResult"
        ]
    );
    assert_eq!(calls[1].response["success"], false);
    assert_eq!(calls[2].response["success"], true);
    assert_eq!(calls[2].body, success_result(&request, false));
}

#[tokio::test]
async fn a_queue_salesforce_refuses_is_answered_with_the_reason() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": "not-a-queue"}));
    let (_store, engine) = hand_over(&salesforce, &request, salesforce_settings()).await;

    let results = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(results[0].body["success"], false);
    assert_eq!(
        results[0].body["errorMessage"],
        "queue routing failed: Specified Queue ID is invalid. (code 10032)"
    );
    assert_eq!(
        salesforce.calls_to("route").len(),
        1,
        "a refusal is not retried"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn the_rep_user_field_setting_reads_the_rep_from_another_parameter() {
    let salesforce = Salesforce::start().await;
    let request =
        RequestSpec::transfer().with_parameters(json!({"userId": null, "agentId": REP_ID}));
    let mut custom = salesforce_settings();
    custom.rep_user_field = "agentId".to_owned();

    let calls = route(&salesforce, &request, custom, 2).await;

    assert_eq!(calls[0].path, "/api/v1/agentWork");
    assert_eq!(calls[0].body["userId"], REP_ID);
}

#[tokio::test]
async fn the_reject_strategy_answers_every_request_with_a_failure_at_once() {
    let salesforce = Salesforce::start().await;
    let request = RequestSpec::transfer().with_parameters(json!({"queueId": QUEUE_ID}));

    let calls = route(
        &salesforce,
        &request,
        settings(RoutingStrategy::Reject, WINDOW, DECISION_TIMEOUT),
        1,
    )
    .await;

    assert_eq!(paths(&calls), ["POST /api/v1/routingResult"]);
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["errorMessage"], REJECT_MESSAGE);
    assert!((calls[0].received_at_ms as i64) < request.created_date_ms + 5_000);
}
