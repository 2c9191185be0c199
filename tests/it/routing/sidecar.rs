//! The sidecar decision endpoint, `POST /v1/routing/{eventId}/result`: 200 posted, 400 bad
//! body, 404 unknown, 409 already decided, 410 past the decision deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingEngine, RoutingStrategy};
use fake_salesforce::interaction_service::InteractionFault;
use serde_json::json;

/// A partner-strategy engine with its sidecar served, handed one transfer the partner has
/// been asked about. The partner, store and server live as long as it does.
struct Asked {
    _partner: Partner,
    salesforce: Salesforce,
    _store: TempStore,
    engine: RoutingEngine,
    sidecar: String,
    _server: tokio::task::JoinHandle<()>,
    request: RequestSpec,
}

async fn asked(reply: PartnerReply) -> Asked {
    let partner = Partner::always(reply).await;
    let (salesforce, store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let (sidecar, server) = serve_sidecar(&engine).await;
    let request = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);
    Asked {
        _partner: partner,
        salesforce,
        _store: store,
        engine,
        sidecar,
        _server: server,
        request,
    }
}

#[tokio::test]
async fn a_decision_through_the_sidecar_is_posted_and_a_second_one_conflicts() {
    let asked = asked(PartnerReply::accept()).await;

    let (status, body) = sidecar_decide(
        &asked.sidecar,
        &asked.request.event_id,
        json!({"success": true, "externallyRouted": false}),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "posted");
    assert_eq!(body["success"], true);
    let calls = asked.salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1, "posted before the sidecar answered");
    assert_eq!(calls[0].body["success"], true);
    assert_eq!(
        calls[0].body["workItemId"],
        json!(asked.request.work_record_id)
    );
    assert_before_deadline(&calls[0], asked.request.created_date_ms, WINDOW);

    let (second_status, second_body) = sidecar_decide(
        &asked.sidecar,
        &asked.request.event_id,
        json!({"success": false, "errorMessage": "changed my mind"}),
    )
    .await;
    assert_eq!(second_status, 409, "{second_body}");
    assert_eq!(second_body["state"], "posted");
    assert_eq!(asked.salesforce.calls_to("routingResult").len(), 1);
    asked.engine.shutdown().await;
}

/// A decision cannot be taken back, so a misspelt field is refused naming it rather than
/// read as absent (`externallyRouted: false`) and posted; the corrected decision is then taken.
#[tokio::test]
async fn a_decision_with_a_misspelt_field_is_refused_naming_it_and_nothing_is_posted() {
    let asked = asked(PartnerReply::accept()).await;

    let (status, body) = sidecar_decide(
        &asked.sidecar,
        &asked.request.event_id,
        json!({"success": true, "externalyRouted": true}),
    )
    .await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "externalyRouted");
    assert!(asked.salesforce.calls_to("routingResult").is_empty());
    let (status, body) = sidecar_decide(
        &asked.sidecar,
        &asked.request.event_id,
        json!({"success": true, "externallyRouted": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let calls = asked.salesforce.calls_to("routingResult");
    assert_eq!(calls[0].body["externallyRouted"], true);
    asked.engine.shutdown().await;
}

#[tokio::test]
async fn the_sidecar_answers_410_after_the_deadline_404_for_unknown_requests_and_400_for_bad_bodies(
) {
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

    let (bad_status, bad_body) = sidecar_decide(
        &sidecar,
        &request.event_id,
        json!({"externallyRouted": true}),
    )
    .await;
    assert_eq!(bad_status, 400, "{bad_body}");

    wait_for_calls(&salesforce, "routingResult", 1).await;
    let deadline_ms = request.created_date_ms + window.as_millis() as i64;
    assert!(wait_until(WAIT_LIMIT, || now_ms() > deadline_ms).await);
    let (late_status, late_body) =
        sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;
    assert_eq!(late_status, 410, "{late_body}");

    let (unknown_status, _) =
        sidecar_decide(&sidecar, "no-such-event", json!({"success": true})).await;
    assert_eq!(unknown_status, 404);
    assert_eq!(salesforce.calls_to("routingResult").len(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_sidecar_decision_sent_before_the_partner_answers_is_taken() {
    // The partner decides through the sidecar while its webhook answer is still open.
    let sidecar_base: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let statuses: Arc<Mutex<Vec<u16>>> = Arc::new(Mutex::new(Vec::new()));
    let partner = {
        let sidecar_base = sidecar_base.clone();
        let statuses = statuses.clone();
        Partner::start(move |request, _| {
            let base = sidecar_base.lock().unwrap().clone().unwrap();
            let channel_data: serde_json::Value = serde_json::from_str(
                request.body["routing"]["routingParameters"]["channelData"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            let event_id = channel_data["eventId"].as_str().unwrap().to_owned();
            let statuses = statuses.clone();
            tokio::spawn(async move {
                let (status, _) = sidecar_decide(&base, &event_id, json!({"success": true})).await;
                statuses.lock().unwrap().push(status);
            });
            PartnerReply {
                delay: Duration::from_millis(500),
                ..PartnerReply::accept()
            }
        })
        .await
    };
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    *sidecar_base.lock().unwrap() = Some(sidecar);
    let request = RequestSpec::transfer();

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    assert!(wait_until(WAIT_LIMIT, || statuses.lock().unwrap().len() == 1).await);
    assert_eq!(*statuses.lock().unwrap(), vec![200]);
    let calls = salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["success"], true);
    assert_eq!(
        engine.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Posted { success: true })
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn the_sidecar_refuses_decisions_when_the_strategy_is_not_partner() {
    let (salesforce, _store, engine) = start_engine(
        None,
        settings(RoutingStrategy::Reject, WINDOW, DECISION_TIMEOUT),
    )
    .await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let request = RequestSpec::transfer();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    wait_for_calls(&salesforce, "routingResult", 1).await;

    let (status, body) =
        sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(salesforce.calls_to("routingResult").len(), 1);
    engine.shutdown().await;
}

/// A rep Salesforce will not take (15112: the rep's status is not linked to the channel) is
/// posted as a failure, and the partner's `assign` answer says why, so it can name another.
#[tokio::test]
async fn an_assignment_salesforce_refuses_is_posted_as_a_failure_and_the_answer_says_why() {
    let asked = asked(PartnerReply::status(202)).await;
    let refusal = "The agent's status is not associated with the channel for this work.";
    let mut fault = InteractionFault::status("agentWork", 400, 1);
    fault.code = Some(15112);
    fault.message = Some(refusal.to_owned());
    asked.salesforce.interaction.inject_fault(fault).unwrap();

    let (status, body) =
        sidecar_assign(&asked.sidecar, &asked.request.event_id, "0055g00000ABCDE").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], false, "{body}");
    let reason = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        reason.contains(refusal) && reason.contains("15112"),
        "{body}"
    );
    let results = asked.salesforce.calls_to("routingResult");
    assert_eq!(results[0].body["success"], false);
    assert_eq!(results[0].body["errorMessage"], body["errorMessage"]);
    asked.engine.shutdown().await;
}
