//! Strategy `partner`: the partner decides in its answer to the `routing.requested` delivery,
//! or not at all; the connector answers Salesforce either way, inside the window.

use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::channel::signature;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingStrategy};
use byoc_connector::secret::SecretString;
use serde_json::json;

#[tokio::test]
async fn partner_decision_in_its_answer_is_posted_with_the_work_item_routing_type_and_headers() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
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

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    let call = &calls[0];
    assert_eq!(
        call.status, 202,
        "the fake accepted it: {:?}",
        call.response
    );
    assert_eq!(
        call.body,
        json!({
            "conversationIdentifier": request.conversation,
            "workItemId": request.work_record_id,
            "success": true,
            "externallyRouted": false,
            "routingType": "Transfer",
        })
    );
    assert_eq!(call.headers["orgid"], ORG_ID[..15]);
    assert_eq!(call.headers["authorizationcontext"], CHANNEL_DEFINITION);
    assert!(call.headers.contains_key("requestid"));
    assert_before_deadline(call, request.created_date_ms, WINDOW);

    let delivered = partner.requests();
    assert_eq!(delivered.len(), 1);
    let headers = &delivered[0].headers;
    assert_eq!(headers["idempotency-key"], request.idempotency_key.as_str());
    assert_eq!(headers["x-byoc-event-type"], "routing.requested");
    let signature_header = headers["x-byoc-signature"].to_str().unwrap();
    signature::verify(
        &SecretString::new(PARTNER_SECRET),
        signature_header,
        &delivered[0].raw_body,
        signature::SIGNATURE_TOLERANCE,
    )
    .unwrap();
    assert_eq!(delivered[0].body["type"], "routing.requested");
    assert_eq!(
        delivered[0].body["routing"]["routingParameters"]["channelData"]
            .as_str()
            .map(|text| text.contains(&request.event_id)),
        Some(true)
    );
    assert!(delivered[0].body["deadline"].is_string());

    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_results_posted
            .success
            == 1)
        .await,
        "{:?}",
        engine.telemetry().snapshot()
    );
    assert_eq!(
        engine.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Posted { success: true })
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn partner_failure_decision_is_posted_with_its_error_message() {
    let partner = Partner::always(PartnerReply::decide(
        json!({"success": false, "errorMessage": "no rep available"}),
    ))
    .await;
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

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["errorMessage"], "no rep available");
    assert_eq!(calls[0].body["externallyRouted"], false);
    assert_eq!(calls[0].status, 202);
    engine.shutdown().await;
}

#[tokio::test]
async fn partner_failure_to_route_outside_the_org_keeps_externally_routed() {
    let partner = Partner::always(PartnerReply::decide(json!({
        "success": false, "externallyRouted": true, "errorMessage": "the other contact center is closed",
    })))
    .await;
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

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["success"], false);
    assert_eq!(calls[0].body["externallyRouted"], true);
    assert_eq!(
        calls[0].body["errorMessage"],
        "the other contact center is closed"
    );
    assert_eq!(calls[0].status, 202);
    engine.shutdown().await;
}

#[tokio::test]
async fn silent_partner_gets_a_failure_posted_at_the_decision_timeout_before_the_window_ends() {
    let window = Duration::from_secs(3);
    let decision_timeout = Duration::from_millis(1_500);
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, window, decision_timeout),
    )
    .await;
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    let call = &calls[0];
    assert_eq!(call.body["success"], false);
    assert_eq!(
        call.body["errorMessage"],
        "the partner made no routing decision within 1.5 s"
    );
    let decision_ms = request.created_date_ms + decision_timeout.as_millis() as i64;
    assert!(
        call.received_at_ms as i64 >= decision_ms,
        "posted {} ms before the decision timeout",
        decision_ms - call.received_at_ms as i64
    );
    assert_before_deadline(call, request.created_date_ms, window);
    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_results_posted
            .failure
            == 1)
        .await
    );
    assert_eq!(engine.telemetry().snapshot().routing_decision_timeouts, 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn partner_that_never_answers_is_cut_off_at_the_decision_timeout() {
    let window = Duration::from_secs(3);
    let decision_timeout = Duration::from_secs(1);
    let partner = Partner::always(PartnerReply::hang()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, window, decision_timeout),
    )
    .await;
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["success"], false);
    assert_before_deadline(&calls[0], request.created_date_ms, window);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_forty_second_old_event_is_answered_within_the_time_it_has_left() {
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().aged(Duration::from_secs(40));

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    // The partner stays silent: the connector answers at CreatedDate + 45 s, 5 s from now.
    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    let call = &calls[0];
    assert_eq!(call.body["success"], false);
    let decision_ms = request.created_date_ms + DECISION_TIMEOUT.as_millis() as i64;
    assert!(call.received_at_ms as i64 >= decision_ms);
    assert!(
        (call.received_at_ms as i64) < decision_ms + 2_000,
        "answered {} ms after the decision timeout",
        call.received_at_ms as i64 - decision_ms
    );
    assert_before_deadline(call, request.created_date_ms, WINDOW);
    let delivered = partner.requests();
    assert_eq!(delivered.len(), 1, "the partner was still asked");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_request_past_its_deadline_on_arrival_is_never_posted_and_counted_missed() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let request = RequestSpec::transfer().aged(Duration::from_secs(61));

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 1);
    assert!(matches!(
        engine.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Missed { .. })
    ));
    // A fresh request on the same engine is asked and posted, so the late one's silence is not
    // a setup that posts nothing.
    let fresh = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&fresh))
        .await
        .unwrap();
    wait_for_calls(&salesforce, "routingResult", 1).await;
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_only_routing_result_is_for(&salesforce, &fresh);
    assert_eq!(
        partner.requests().len(),
        1,
        "only the fresh request is asked"
    );
    // A redelivery is recognised and not counted twice.
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 1);
    assert_eq!(
        engine.telemetry().snapshot().routing_requests_redelivered,
        1
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn an_unavailable_partner_is_retried_until_it_decides() {
    let partner = Partner::start(|_, attempt| {
        if attempt < 2 {
            PartnerReply::status(503)
        } else {
            PartnerReply::decide(json!({"success": true, "externallyRouted": true}))
        }
    })
    .await;
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

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["success"], true);
    assert_eq!(calls[0].body["externallyRouted"], true);
    let delivered = partner.requests();
    assert_eq!(delivered.len(), 3);
    let keys: Vec<_> = delivered
        .iter()
        .map(|request| request.headers["idempotency-key"].clone())
        .collect();
    assert!(
        keys.iter().all(|key| *key == keys[0]),
        "one idempotency key for every attempt"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_partner_refusal_is_answered_with_a_failure_at_once() {
    let partner = Partner::always(PartnerReply::status(400)).await;
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

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(calls[0].body["success"], false);
    let message = calls[0].body["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("the partner refused the routing request"),
        "{message}"
    );
    assert!(
        (calls[0].received_at_ms as i64) < request.created_date_ms + 5_000,
        "not held until the decision timeout"
    );
    assert_eq!(partner.requests().len(), 1, "a refusal is not retried");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_partner_built_from_routing_settings_signs_with_routing_secret() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let mut routing = settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT);
    routing.url = Some(partner.url.clone());
    routing.secret = Some(SecretString::new(PARTNER_SECRET));
    // No partner channel handed in: the engine builds it from `routing.url` and `routing.secret`.
    let (salesforce, _store, engine) = start_engine(None, routing).await;
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    wait_for_calls(&salesforce, "routingResult", 1).await;
    let delivered = partner.requests();
    assert_eq!(delivered.len(), 1);
    let signature_header = delivered[0]
        .headers
        .get("x-byoc-signature")
        .expect("the routing request is signed with routing.secret")
        .to_str()
        .unwrap();
    signature::verify(
        &SecretString::new(PARTNER_SECRET),
        signature_header,
        &delivered[0].raw_body,
        signature::SIGNATURE_TOLERANCE,
    )
    .unwrap();
}
