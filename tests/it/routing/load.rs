//! 200 routing requests at once: every one is answered exactly once, before its deadline.

use std::collections::HashMap;

use crate::support::metric_sample;
use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RoutingEngine, RoutingStrategy};
use futures::future::join_all;
use serde_json::json;

const REQUESTS: usize = 200;

/// An engine with the partner strategy, the default window and decision timeout, asking
/// `partner`.
async fn start_partner_engine(partner: &Partner) -> (Salesforce, TempStore, RoutingEngine) {
    start_engine(
        Some(partner),
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
    )
    .await
}

/// `count` transfer requests, each in a conversation of its own.
fn transfers(count: usize) -> Vec<RequestSpec> {
    (0..count).map(|_| RequestSpec::transfer()).collect()
}

/// Hands every request to the engine at once; each must be accepted (recorded).
async fn accept_all(salesforce: &Salesforce, engine: &RoutingEngine, requests: &[RequestSpec]) {
    let accepted = join_all(
        requests
            .iter()
            .map(|request| engine.on_routing_requested(salesforce.input_for(request))),
    )
    .await;
    assert!(accepted.iter().all(Result::is_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_requests_are_all_answered_once_before_their_deadlines() {
    // Half the requests are decided in the partner's answer, half later through the sidecar.
    let partner = Partner::start(|request, _| {
        let conversation = request.body["conversationIdentifier"]
            .as_str()
            .unwrap_or_default();
        if conversation.ends_with(['0', '2', '4', '6', '8', 'a', 'c', 'e']) {
            PartnerReply::decide(json!({"success": true}))
        } else {
            PartnerReply::accept()
        }
    })
    .await;
    let (salesforce, _store, engine) = start_partner_engine(&partner).await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let requests = transfers(REQUESTS);

    accept_all(&salesforce, &engine, &requests).await;

    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == REQUESTS).await);
    let waiting: Vec<&RequestSpec> = requests
        .iter()
        .filter(|request| {
            !request
                .conversation
                .ends_with(['0', '2', '4', '6', '8', 'a', 'c', 'e'])
        })
        .collect();
    let decisions = join_all(
        waiting
            .iter()
            .map(|request| sidecar_decide(&sidecar, &request.event_id, json!({"success": true}))),
    )
    .await;
    assert!(
        decisions.iter().all(|(status, _)| *status == 200),
        "{decisions:?}"
    );

    let calls = wait_for_calls(&salesforce, "routingResult", REQUESTS).await;
    assert_eq!(calls.len(), REQUESTS);
    let created_by_conversation: HashMap<&str, i64> = requests
        .iter()
        .map(|request| (request.conversation.as_str(), request.created_date_ms))
        .collect();
    let mut answered: HashMap<&str, usize> = HashMap::new();
    for call in &calls {
        assert_eq!(call.status, 202);
        let conversation = call.body["conversationIdentifier"].as_str().unwrap();
        let created_ms = created_by_conversation[conversation];
        assert_before_deadline(call, created_ms, WINDOW);
        *answered.entry(conversation).or_default() += 1;
    }
    assert_eq!(answered.len(), REQUESTS);
    assert!(answered.values().all(|count| *count == 1));
    assert!(
        wait_until(WAIT_LIMIT, || engine
            .telemetry()
            .snapshot()
            .routing_results_posted
            .success
            == REQUESTS as u64)
        .await
    );
    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_look_ups_shares_batched_in_queries_and_every_request_gets_its_session() {
    let partner = Partner::always(PartnerReply::decide(json!({"success": true}))).await;
    let (salesforce, _store, engine) = start_partner_engine(&partner).await;
    let requests: Vec<RequestSpec> = (0..REQUESTS)
        .map(|_| RequestSpec::transfer().without_work_record())
        .collect();
    let mut sessions = HashMap::new();
    for request in &requests {
        let session = session_id();
        salesforce
            .interaction
            .seed_conversation(&request.conversation, &session);
        sessions.insert(request.conversation.clone(), session);
    }

    accept_all(&salesforce, &engine, &requests).await;
    // Accepted means recorded: the pipeline checkpoints the event on this answer, so each
    // record must already be committed (group commit answers only after the commit).
    for request in &requests {
        let status = engine.request_status(&request.event_id).await.unwrap();
        assert!(
            status.is_some(),
            "{} accepted but not recorded",
            request.event_id
        );
    }

    let calls = wait_for_calls(&salesforce, "routingResult", REQUESTS).await;
    assert_eq!(calls.len(), REQUESTS);
    for call in &calls {
        assert_eq!(call.status, 202, "{:?}", call.body);
        let conversation = call.body["conversationIdentifier"].as_str().unwrap();
        // The fake answers SOQL with 18-character ids; the body carries the 15-character form.
        assert_eq!(call.body["workItemId"], sessions[conversation]);
    }
    let queries = salesforce.soql.queries();
    assert!(
        queries.len() < REQUESTS / 4,
        "{} queries for {REQUESTS} look-ups",
        queries.len()
    );
    assert!(queries.iter().any(|query| query.contains(" IN (")));
    engine.shutdown().await;
}

/// How many asks the partner gets before any comes back: the ask limit starts at four.
const FIRST_WAVE: usize = 4;

/// A partner that answers every ask `success: true` after `delay`.
async fn partner_answering_after(delay: std::time::Duration) -> Partner {
    let mut reply = PartnerReply::decide(json!({"success": true}));
    reply.delay = delay;
    Partner::always(reply).await
}

/// `asks` transfer requests handed at once to an engine whose partner answers each after
/// `delay`.
async fn burst_behind_partner_answering_after(
    delay: std::time::Duration,
    asks: usize,
) -> (Partner, Salesforce, TempStore, RoutingEngine) {
    let partner = partner_answering_after(delay).await;
    let (salesforce, store, engine) = start_partner_engine(&partner).await;
    accept_all(&salesforce, &engine, &transfers(asks)).await;
    (partner, salesforce, store, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_past_the_limit_wait_for_an_answer_and_every_request_is_still_decided() {
    // Each answer takes a second, so no ask can come back while the first ones are counted.
    const ASKS: usize = 40;
    let (partner, salesforce, _store, engine) =
        burst_behind_partner_answering_after(std::time::Duration::from_secs(1), ASKS).await;

    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() >= FIRST_WAVE).await);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        partner.requests().len(),
        FIRST_WAVE,
        "asks went out past the limit before any came back"
    );

    let calls = wait_for_calls(&salesforce, "routingResult", ASKS).await;
    assert_eq!(calls.len(), ASKS);
    assert!(calls.iter().all(|call| call.status == 202));
    assert_eq!(partner.requests().len(), ASKS);
    assert_eq!(engine.telemetry().snapshot().routing_deadlines_missed, 0);
    // Answers as fast as the first, while asks waited: the limit opened.
    let metrics = engine.telemetry().encode().unwrap();
    let limit = metric_sample(&metrics, "byoc_routing_partner_ask_limit");
    assert!(limit > FIRST_WAVE as f64, "{limit}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_slow_to_answer_is_asked_about_the_whole_burst_before_its_first_answer() {
    // Asks that wait a second for a place go out over the limit, and these answers take four.
    const ASKS: usize = 12;
    let (partner, salesforce, _store, engine) =
        burst_behind_partner_answering_after(std::time::Duration::from_secs(4), ASKS).await;

    let all_asked = wait_until(std::time::Duration::from_secs(3), || {
        partner.requests().len() == ASKS
    })
    .await;
    assert!(
        all_asked,
        "{} of {ASKS} asked before the first answer",
        partner.requests().len()
    );
    assert!(salesforce.calls_to("routingResult").is_empty());
    let metrics = engine.telemetry().encode().unwrap();
    let over = metric_sample(&metrics, "byoc_routing_partner_asks_over_limit_total");
    assert!(
        (over - (ASKS - FIRST_WAVE) as f64).abs() < 0.5,
        "{over} asks over the limit"
    );

    let calls = wait_for_calls(&salesforce, "routingResult", ASKS).await;
    assert!(calls.iter().all(|call| call.status == 202));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_place_to_ask_is_decided_through_the_sidecar_meanwhile() {
    // The partner never answers its asks, so the first wave holds every place.
    let partner = Partner::always(PartnerReply::hang()).await;
    let (salesforce, _store, engine) = start_partner_engine(&partner).await;
    let (sidecar, _server) = serve_sidecar(&engine).await;
    let requests = transfers(FIRST_WAVE + 1);
    accept_all(&salesforce, &engine, &requests).await;
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() >= FIRST_WAVE).await);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let asked: Vec<String> = partner
        .requests()
        .iter()
        .map(|request| {
            request.body["conversationIdentifier"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(asked.len(), FIRST_WAVE, "asks went out past the limit");
    let waiting = requests
        .iter()
        .find(|request| !asked.contains(&request.conversation))
        .unwrap();

    let (status, body) =
        sidecar_decide(&sidecar, &waiting.event_id, json!({"success": true})).await;
    assert_eq!(status, 200, "{body}");
    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    assert_eq!(
        calls[0].body["conversationIdentifier"].as_str(),
        Some(waiting.conversation.as_str())
    );
    assert_eq!(calls[0].status, 202);
    engine.shutdown().await;
}
