//! What the engine learns from Interaction events: a RoutingResult failure or cancel entry
//! cancels the pending request of its conversation, and session ids feed `workItemId`
//! resolution (event, then learned map, then the MessagingSession query).

use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingStrategy};
use serde_json::json;

#[tokio::test]
async fn a_failed_routing_result_entry_cancels_the_pending_request_and_nothing_is_posted() {
    let window = Duration::from_secs(2);
    let decision_timeout = Duration::from_secs(1);
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, window, decision_timeout),
    )
    .await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let request = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);

    engine.observe(&routing_result_entry(
        &request.conversation,
        "Cancelled",
        None,
    ));

    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_requests_cancelled
            == 1)
        .await
    );
    assert!(matches!(
        engine.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Cancelled { .. })
    ));
    let (status, body) =
        sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["state"], "cancelled");
    // Another conversation's request, left undecided, is answered at its decision timeout
    // while the test watches: the engine does post to this fake in that time.
    let undecided = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&undecided))
        .await
        .unwrap();
    // Past the decision timeout and the window: nothing posted for the cancelled request.
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    assert_only_routing_result_is_for(&salesforce, &undecided);
    assert_eq!(
        engine.telemetry().snapshot().routing_decision_timeouts,
        1,
        "the undecided one's only"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn routing_result_entries_that_succeeded_or_concern_other_conversations_cancel_nothing() {
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let request = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    engine.observe(&routing_result_entry(&request.conversation, "None", None));
    engine.observe(&routing_result_entry(
        "another-conversation",
        "RoutingError",
        None,
    ));

    let (status, body) =
        sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(engine.telemetry().snapshot().routing_requests_cancelled, 0);
    engine.shutdown().await;
}

#[tokio::test]
async fn the_work_item_is_learned_from_a_session_status_change_when_the_event_has_none() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().without_work_record();
    let session = session_id();
    engine.observe(&session_status_entry(&request.conversation, &session));

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["workItemId"], session);
    assert!(salesforce.soql.queries().is_empty(), "no query needed");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_work_item_is_learned_from_a_routing_result_record_id() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().without_work_record();
    let session = session_id();
    engine.observe(&routing_result_entry(
        &request.conversation,
        "None",
        Some("0BzNotASession"),
    ));
    engine.observe(&routing_result_entry(
        &request.conversation,
        "None",
        Some(&session),
    ));

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["workItemId"], session);
    engine.shutdown().await;
}

#[tokio::test]
async fn the_work_item_is_queried_when_neither_the_event_nor_the_learned_map_has_it() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().without_work_record();
    let session = session_id();
    salesforce
        .interaction
        .seed_conversation(&request.conversation, &session);

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["workItemId"], session);
    assert_eq!(calls[0].status, 202);
    assert_eq!(
        salesforce.soql.queries(),
        vec![format!(
            "SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier = '{}' \
             ORDER BY CreatedDate DESC LIMIT 1",
            request.conversation
        )]
    );
    // The answer is remembered: a second request of the conversation needs no query.
    let again = RequestSpec {
        event_id: uuid::Uuid::new_v4().to_string(),
        ..request.clone()
    };
    engine
        .on_routing_requested(salesforce.input_for(&again))
        .await
        .unwrap();
    wait_for_calls(&salesforce, "routingResult", 2).await;
    assert_eq!(salesforce.soql.queries().len(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn without_any_work_item_the_request_is_missed_and_nothing_is_posted() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().without_work_record();

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
        .await
    );
    let Some(RequestStatus::Missed { reason }) =
        engine.request_status(&request.event_id).await.unwrap()
    else {
        panic!("expected a missed request");
    };
    assert!(reason.contains("no messaging session found"), "{reason}");
    assert!(salesforce.calls_to("routingResult").is_empty());
    assert_eq!(salesforce.soql.queries().len(), 1);
    engine.shutdown().await;
}
