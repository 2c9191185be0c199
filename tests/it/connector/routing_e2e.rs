//! The routing paths end to end through the real `byoc-connector` binary (`run --config`)
//! against the in-process fake Salesforce: a partner that answers `202` and decides later
//! through the running binary's sidecar endpoint (200 and exactly one routingResult as decided,
//! then 409 for a second decision, 404 for an unknown event id, 400 for a bad body, 410 after
//! the decision timeout); the `salesforce` strategy making the right `/route`, `/agentWork` and
//! routingResult calls, in order, with the right bodies, once each, inside the window; and a
//! request left pending by a `SIGKILL`ed binary that the restarted binary on the same store
//! answers exactly once before the window closes, through its sidecar or at the decision
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::interaction_service::RecordedCall;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use serde_json::{json, Value};

/// Longest a test waits for one thing it expects.
const WAIT: Duration = Duration::from_secs(20);
/// How long a test watches to prove that nothing more happens (never the assertion itself).
const GRACE: Duration = Duration::from_millis(500);

/// A partner routing endpoint that takes every request with `202` and decides later (or never).
async fn partner_deciding_later() -> Partner {
    Partner::start(Arc::new(|_| (StatusCode::ACCEPTED, Duration::ZERO))).await
}

/// The `[routing]` body of the `partner` strategy.
fn partner_routing(url: &str, decision_timeout_secs: u64, window_secs: u64) -> String {
    format!(
        "strategy = \"partner\"\nurl = \"{url}\"\n\
         decision_timeout_secs = {decision_timeout_secs}\nwindow_secs = {window_secs}"
    )
}

/// The conversation a recorded `/route`, `/agentWork` or routingResult call is about.
fn conversation_of(call: &RecordedCall) -> &str {
    call.body["conversationIdentifier"]
        .as_str()
        .or_else(|| call.body["routingContext"]["conversationIdentifier"].as_str())
        .unwrap_or_default()
}

/// The routingResult calls the fake recorded, in arrival order.
fn routing_results(fake: &FakeSalesforce) -> Vec<RecordedCall> {
    fake.interaction().calls_to("routingResult")
}

/// Every `/route`, `/agentWork` and routingResult call the fake recorded, in arrival order.
fn routing_calls(fake: &FakeSalesforce) -> Vec<RecordedCall> {
    let routing_paths = [
        "/api/v1/route",
        "/api/v1/agentWork",
        "/api/v1/routingResult",
    ];
    fake.interaction()
        .calls()
        .into_iter()
        .filter(|call| routing_paths.contains(&call.path.as_str()))
        .collect()
}

/// The routingResult body of a successful transfer.
/// The 15-character form of a record id: the only one the Interaction Service takes in a
/// `workItemId`, whichever form the connector learned.
fn short_id(id: &str) -> &str {
    &id[..15]
}

fn success_result(conversation: &str, work_item: &str, externally_routed: bool) -> Value {
    json!({
        "conversationIdentifier": conversation,
        "workItemId": short_id(work_item),
        "success": true,
        "externallyRouted": externally_routed,
        "routingType": "Transfer",
    })
}

/// The routingResult body of a failed transfer.
fn failure_result(conversation: &str, work_item: &str, error_message: &str) -> Value {
    json!({
        "conversationIdentifier": conversation,
        "workItemId": short_id(work_item),
        "success": false,
        "externallyRouted": false,
        "errorMessage": error_message,
        "routingType": "Transfer",
    })
}

/// Asserts the fake's routing window saw exactly `event_ids` answered, none late or timed out.
fn assert_answered_in_window(fake: &FakeSalesforce, event_ids: &[&str]) {
    let report = fake
        .routing_window()
        .expect("the fake enforces the window")
        .report();
    assert!(report.late.is_empty(), "late routingResults: {report:?}");
    assert!(report.timed_out.is_empty(), "windows closed: {report:?}");
    let mut answered = report.answered.clone();
    answered.sort();
    let mut expected: Vec<String> = event_ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(answered, expected, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_answering_202_decides_through_the_sidecar_of_the_running_binary() {
    const DECIDED: (&str, &str, &str) = (
        "2a0c6c2e-1f43-4d1e-9f61-000000000101",
        "0MwXX0000000101AAA",
        "e2e00001-0000-4000-8000-000000000101",
    );
    // Never decided by the partner: the binary answers it at the decision timeout, and a
    // decision after that is refused with 410.
    const UNDECIDED: (&str, &str, &str) = (
        "2a0c6c2e-1f43-4d1e-9f61-000000000102",
        "0MwXX0000000102AAA",
        "e2e00001-0000-4000-8000-000000000102",
    );
    const DECISION_TIMEOUT_SECS: u64 = 6;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = partner_deciding_later().await;
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-sidecar");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        &partner_routing(&partner.url, DECISION_TIMEOUT_SECS, 60),
    );
    let created_ms = epoch_ms();
    let payloads: Vec<Value> = [DECIDED, UNDECIDED]
        .iter()
        .map(|(conversation, work_item, event_id)| {
            fake.interaction()
                .seed_conversation(conversation, work_item);
            routing_request_payload("queue", conversation, event_id)
        })
        .collect();
    let events: Vec<_> = payloads
        .iter()
        .map(|payload| routing_requested_event(payload, created_ms))
        .collect();
    fake.publish(&events).unwrap();

    let connector = ConnectorProcess::start(&config).await;

    wait_until("the partner receives both routing requests", WAIT, || {
        partner.received().len() >= 2
    })
    .await;
    let asked = partner.received();
    assert_eq!(asked.len(), 2);
    let asked_decided = asked
        .iter()
        .find(|received| received.body["conversationIdentifier"] == DECIDED.0)
        .expect("the partner was asked about the first conversation");
    assert_eq!(asked_decided.event_type, "routing.requested");
    assert!(!asked_decided.idempotency_key.is_empty());
    assert_eq!(asked_decided.body["type"], "routing.requested");
    assert_eq!(asked_decided.body["routing"], payloads[0]["payload"]);
    assert!(
        routing_results(&fake).is_empty(),
        "a 202 is no decision: nothing is posted yet"
    );

    let (status, body) = connector
        .decide(DECIDED.2, &json!({"externallyRouted": true}))
        .await;
    assert_eq!(status, 400, "a body without success is no decision: {body}");

    let (status, body) = connector
        .decide(
            DECIDED.2,
            &json!({"success": true, "externallyRouted": true}),
        )
        .await;

    assert_eq!(status, 200, "{body}\n{}", connector.log());
    assert_eq!(
        body,
        json!({"eventId": DECIDED.2, "status": "posted", "success": true})
    );
    let results = routing_results(&fake);
    assert_eq!(results.len(), 1, "posted before the sidecar answered");
    assert_eq!(results[0].status, 202, "{}", results[0].response);
    assert_eq!(results[0].body, success_result(DECIDED.0, DECIDED.1, true));

    let (status, body) = connector
        .decide(
            DECIDED.2,
            &json!({"success": false, "errorMessage": "changed my mind"}),
        )
        .await;
    assert_eq!(status, 409, "only the first decision counts: {body}");
    assert!(
        ["posted", "decided"].contains(&body["state"].as_str().unwrap_or_default()),
        "{body}"
    );

    let (status, body) = connector
        .decide(
            "e2e00001-0000-4000-8000-0000000001ff",
            &json!({"success": true}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "unknown routing request");

    wait_until(
        "the undecided request is answered at its decision timeout",
        WAIT,
        || routing_results(&fake).len() >= 2,
    )
    .await;
    let timed_out = &routing_results(&fake)[1];
    assert_eq!(
        timed_out.body,
        failure_result(
            UNDECIDED.0,
            UNDECIDED.1,
            &format!("the partner made no routing decision within {DECISION_TIMEOUT_SECS} s"),
        )
    );
    assert!(
        i64::try_from(timed_out.received_at_ms).unwrap()
            >= created_ms + 1_000 * DECISION_TIMEOUT_SECS as i64,
        "not before the decision timeout"
    );
    let (status, body) = connector
        .decide(UNDECIDED.2, &json!({"success": true}))
        .await;
    assert_eq!(status, 410, "the partner's time is over: {body}");

    tokio::time::sleep(GRACE).await;
    assert_eq!(routing_results(&fake).len(), 2);
    assert_eq!(
        partner.received().len(),
        2,
        "the partner is asked once each"
    );
    assert_answered_in_window(&fake, &[DECIDED.2, UNDECIDED.2]);
    connector.kill().await;
    fake.shutdown().await;
}

/// One routing request of the `salesforce` strategy test and the calls it must cause.
struct SalesforceCase {
    name: &'static str,
    conversation: String,
    work_item: String,
    event_id: String,
    payload: Value,
    /// `(path, body)` of each call, in order.
    expected: Vec<(&'static str, Value)>,
}

impl SalesforceCase {
    fn new(index: u32, name: &'static str, fixture: &str) -> Self {
        let conversation = format!("2a0c6c2e-1f43-4d1e-9f61-0000000002{index:02}");
        let event_id = format!("e2e00002-0000-4000-8000-0000000002{index:02}");
        Self {
            name,
            payload: routing_request_payload(fixture, &conversation, &event_id),
            work_item: format!("0MwXX00000002{index:02}AAA"),
            conversation,
            event_id,
            expected: Vec::new(),
        }
    }
}

/// The binary with strategy `salesforce` on `fake`, delivering to a partner that accepts
/// everything; keep the partner and the scratch directory as long as the binary runs.
async fn run_salesforce_strategy(
    fake: &FakeSalesforce,
    name: &str,
) -> (Partner, ScratchDir, ConnectorProcess) {
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new(name);
    let config = write_connector_config(
        fake,
        dir.path(),
        &deliveries.url,
        "strategy = \"salesforce\"",
    );
    let connector = ConnectorProcess::start(&config).await;
    (deliveries, dir, connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_salesforce_strategy_makes_the_right_calls_in_order_once_each_inside_the_window() {
    const QUEUE_ID: &str = "00Gxx000000Qabc";
    const FALLBACK_QUEUE_ID: &str = "00Gxx000000Qflw";
    const FLOW_ID: &str = "300SG00000jJder";
    const REP_ID: &str = "005xx0000067890";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;

    let mut queue = SalesforceCase::new(1, "queue", "queue");
    queue.expected = vec![
        (
            "/api/v1/route",
            json!({
                "conversationIdentifier": queue.conversation,
                "routingType": "Transfer",
                "routingInfo": {"queueId": QUEUE_ID},
            }),
        ),
        (
            "/api/v1/routingResult",
            success_result(&queue.conversation, &queue.work_item, false),
        ),
    ];
    // The flow fixture names no fallback queue; Salesforce requires one for flow routing, so
    // this request adds one to go through `/route`…
    let mut flow = SalesforceCase::new(2, "flow", "flow");
    flow.payload["payload"]["routingParameters"]["queueId"] = json!(FALLBACK_QUEUE_ID);
    flow.expected = vec![
        (
            "/api/v1/route",
            json!({
                "conversationIdentifier": flow.conversation,
                "routingType": "Transfer",
                "routingInfo": {"flow": {"flowId": FLOW_ID, "queueId": FALLBACK_QUEUE_ID}},
            }),
        ),
        (
            "/api/v1/routingResult",
            success_result(&flow.conversation, &flow.work_item, false),
        ),
    ];
    // …and the fixture as it is gets success=false without any `/route`.
    let mut flow_without_fallback = SalesforceCase::new(3, "flow without fallback queue", "flow");
    flow_without_fallback.expected = vec![(
        "/api/v1/routingResult",
        failure_result(
            &flow_without_fallback.conversation,
            &flow_without_fallback.work_item,
            "flow transfer needs a fallback queue: the request names none and routing.fallback_queue_id is not set",
        ),
    )];
    let mut rep = SalesforceCase::new(4, "rep", "rep");
    rep.expected = vec![
        (
            "/api/v1/agentWork",
            json!({
                "userId": REP_ID,
                "workItemId": short_id(&rep.work_item),
                "capacityWeight": 1.0,
                "routingContext": {
                    "conversationIdentifier": rep.conversation,
                    "routingType": "Transfer",
                    "routingCorrelationId": rep.event_id,
                },
            }),
        ),
        (
            "/api/v1/routingResult",
            success_result(&rep.conversation, &rep.work_item, false),
        ),
    ];
    let mut external = SalesforceCase::new(5, "external", "external");
    external.expected = vec![(
        "/api/v1/routingResult",
        success_result(&external.conversation, &external.work_item, true),
    )];
    let cases = [queue, flow, flow_without_fallback, rep, external];

    let created_ms = epoch_ms();
    for case in &cases {
        fake.interaction()
            .seed_conversation(&case.conversation, &case.work_item);
    }
    let events: Vec<_> = cases
        .iter()
        .map(|case| routing_requested_event(&case.payload, created_ms))
        .collect();
    fake.publish(&events).unwrap();
    let (deliveries, _dir, connector) = run_salesforce_strategy(&fake, "e2e-salesforce").await;

    wait_until("every request has its routingResult", WAIT, || {
        routing_results(&fake).len() >= cases.len()
    })
    .await;
    tokio::time::sleep(GRACE).await;
    let calls = routing_calls(&fake);
    let expected_total: usize = cases.iter().map(|case| case.expected.len()).sum();
    assert_eq!(
        calls.len(),
        expected_total,
        "each call exactly once, nothing more: {:?}\n{}",
        calls
            .iter()
            .map(|call| (call.path.as_str(), conversation_of(call)))
            .collect::<Vec<_>>(),
        connector.log()
    );
    for case in &cases {
        let made: Vec<&RecordedCall> = calls
            .iter()
            .filter(|call| conversation_of(call) == case.conversation)
            .collect();
        let paths: Vec<&str> = made.iter().map(|call| call.path.as_str()).collect();
        let expected_paths: Vec<&str> = case.expected.iter().map(|(path, _)| *path).collect();
        assert_eq!(paths, expected_paths, "{}: calls in order", case.name);
        for (call, (_, expected_body)) in made.iter().zip(&case.expected) {
            assert_eq!(
                &call.body, expected_body,
                "{}: body of {}",
                case.name, call.path
            );
            assert!(
                (200..300).contains(&call.status),
                "{}: {} answered {}: {}",
                case.name,
                call.path,
                call.status,
                call.response
            );
            assert_eq!(call.method, "POST", "{}", case.name);
        }
    }
    let event_ids: Vec<&str> = cases.iter().map(|case| case.event_id.as_str()).collect();
    assert_answered_in_window(&fake, &event_ids);
    assert!(
        deliveries.received().is_empty(),
        "routing requests are not partner deliveries"
    );
    connector.kill().await;
    fake.shutdown().await;
}

/// Every field of a RoutingRequested is optional in the YAML: one without `channelData` is
/// still answered inside the window by the running binary, and the fake's window, which keys
/// it by its `EventUuid` as the connector does, sees it answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_channel_data_is_answered_inside_the_window_by_the_running_binary() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let case = SalesforceCase::new(6, "queue without channelData", "queue");
    let mut payload = case.payload.clone();
    payload["payload"]["routingParameters"]
        .as_object_mut()
        .unwrap()
        .remove("channelData");
    fake.interaction()
        .seed_conversation(&case.conversation, &case.work_item);
    let mut event = routing_requested_event(&payload, epoch_ms());
    event.event_uuid = Some(case.event_id.clone());
    fake.publish(&[event]).unwrap();
    let (_deliveries, _dir, connector) =
        run_salesforce_strategy(&fake, "e2e-no-channel-data").await;

    wait_until("the request has its routingResult", WAIT, || {
        !routing_results(&fake).is_empty()
    })
    .await;
    let results = routing_results(&fake);
    assert_eq!(
        results[0].body,
        success_result(&case.conversation, &case.work_item, false),
        "{}",
        connector.log()
    );
    assert_answered_in_window(&fake, &[case.event_id.as_str()]);
    connector.kill().await;
    fake.shutdown().await;
}

/// A request pending in a binary that is then `SIGKILL`ed: publishes it, starts the binary,
/// waits until the partner has the request (so it is durably recorded), checks nothing was
/// posted, kills the binary, restarts it on the same config and store, and waits until the
/// partner is asked again with the same Idempotency-Key. Returns the restarted binary.
async fn kill_while_pending_and_restart(
    fake: &FakeSalesforce,
    partner: &Partner,
    config: &std::path::Path,
) -> ConnectorProcess {
    let first = ConnectorProcess::start(config).await;
    wait_until("the partner receives the routing request", WAIT, || {
        !partner.received().is_empty()
    })
    .await;
    assert!(
        routing_results(fake).is_empty(),
        "nothing is posted while the partner decides"
    );
    first.kill().await;
    assert!(
        routing_results(fake).is_empty(),
        "the killed binary posted nothing"
    );

    let second = ConnectorProcess::start(config).await;
    wait_until("the restarted binary asks the partner again", WAIT, || {
        partner.received().len() >= 2
    })
    .await;
    let asked = partner.received();
    assert_eq!(asked.len(), 2, "asked once per run");
    assert_eq!(
        asked[0].idempotency_key, asked[1].idempotency_key,
        "the resumed request carries the same Idempotency-Key"
    );
    second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_pending_when_the_binary_is_killed_is_decided_through_the_restarted_sidecar() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000301";
    const WORK_ITEM: &str = "0MwXX0000000301AAA";
    const EVENT_ID: &str = "e2e00003-0000-4000-8000-000000000301";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let partner = partner_deciding_later().await;
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-restart-sidecar");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        &partner_routing(&partner.url, 45, 60),
    );
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();

    let restarted = kill_while_pending_and_restart(&fake, &partner, &config).await;
    let (status, body) = restarted.decide(EVENT_ID, &json!({"success": true})).await;

    assert_eq!(status, 200, "{body}\n{}", restarted.log());
    assert_eq!(body["status"], "posted");
    tokio::time::sleep(GRACE).await;
    let results = routing_results(&fake);
    assert_eq!(results.len(), 1, "exactly one routingResult over both runs");
    assert_eq!(
        results[0].body,
        success_result(CONVERSATION, WORK_ITEM, false)
    );
    assert_eq!(partner.received().len(), 2);
    assert_answered_in_window(&fake, &[EVENT_ID]);
    restarted.kill().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_pending_when_the_binary_is_killed_times_out_in_the_restarted_binary_in_time() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000401";
    const WORK_ITEM: &str = "0MwXX0000000401AAA";
    const EVENT_ID: &str = "e2e00004-0000-4000-8000-000000000401";
    // A shrunken window keeps the test short; the fake enforces the same one.
    const WINDOW_SECS: u64 = 20;
    const DECISION_TIMEOUT_SECS: u64 = 8;
    let fake = start_fake_with_routing_window(Duration::from_secs(WINDOW_SECS)).await;
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let partner = partner_deciding_later().await;
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-restart-timeout");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        &partner_routing(&partner.url, DECISION_TIMEOUT_SECS, WINDOW_SECS),
    );
    let created_ms = epoch_ms();
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, created_ms)])
        .unwrap();

    let restarted = kill_while_pending_and_restart(&fake, &partner, &config).await;
    wait_until(
        "the restarted binary answers at the decision timeout",
        Duration::from_secs(WINDOW_SECS + 5),
        || !routing_results(&fake).is_empty(),
    )
    .await;

    let results = routing_results(&fake);
    assert_eq!(
        results[0].body,
        failure_result(
            CONVERSATION,
            WORK_ITEM,
            &format!("the partner made no routing decision within {DECISION_TIMEOUT_SECS} s"),
        ),
        "{}",
        restarted.log()
    );
    let posted_ms = i64::try_from(results[0].received_at_ms).unwrap();
    let decision_ms = created_ms + 1_000 * DECISION_TIMEOUT_SECS as i64;
    let deadline_ms = created_ms + 1_000 * WINDOW_SECS as i64;
    assert!(
        (decision_ms..deadline_ms).contains(&posted_ms),
        "posted {} ms after CreatedDate, between the decision timeout and the window's end",
        posted_ms - created_ms
    );
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        routing_results(&fake).len(),
        1,
        "exactly one routingResult over both runs"
    );
    assert_answered_in_window(&fake, &[EVENT_ID]);
    restarted.kill().await;
    fake.shutdown().await;
}
