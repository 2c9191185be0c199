//! `POST /v1/routing/{eventId}/assign {"userId"}` through the real binary: the partner answers
//! `202`, finds a rep, and names it; the connector creates the AgentWork (15-character ids,
//! `routingCorrelationId` = the event id for a direct transfer) and then posts routingResult,
//! in the documented order. Bad input gets a 400 naming the field; an unknown event 404; a
//! decided one 409; one past its decision deadline 410.

use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// `POST /v1/routing/{event_id}/assign` on the running binary; a `503` is retried briefly.
async fn assign(connector: &ConnectorProcess, event_id: &str, body: &Value) -> (u16, Value) {
    let url = format!("http://{}/v1/routing/{event_id}/assign", connector.sidecar);
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let response = http.post(&url).json(body).send().await.unwrap();
        let status = response.status().as_u16();
        if status != 503 {
            return (status, response.json().await.unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sidecar kept answering 503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_assigns_a_rep_and_the_binary_makes_agent_work_then_routing_result() {
    const ASSIGNED: (&str, &str, &str) = (
        "2a0c6c2e-1f43-4d1e-9f61-000000000801",
        "0MwXX0000000801AAA",
        "e2e00008-0000-4000-8000-000000000801",
    );
    const UNDECIDED: (&str, &str, &str) = (
        "2a0c6c2e-1f43-4d1e-9f61-000000000802",
        "0MwXX0000000802AAA",
        "e2e00008-0000-4000-8000-000000000802",
    );
    const REP: &str = "0055g00000REP01AAA";
    const DECISION_TIMEOUT_SECS: u64 = 4;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::start(Arc::new(|_| (StatusCode::ACCEPTED, Duration::ZERO))).await;
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-assign");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        &format!(
            "strategy = \"partner\"\nurl = \"{}\"\ndecision_timeout_secs = {DECISION_TIMEOUT_SECS}\nwindow_secs = 60",
            partner.url
        ),
    );
    let created_ms = epoch_ms();
    let events: Vec<_> = [ASSIGNED, UNDECIDED]
        .iter()
        .map(|(conversation, work_item, event_id)| {
            fake.interaction()
                .seed_conversation(conversation, work_item);
            let payload = routing_request_payload("queue", conversation, event_id);
            routing_requested_event(&payload, created_ms)
        })
        .collect();
    fake.publish(&events).unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("the partner is asked about both", WAIT, || {
        partner.received().len() >= 2
    })
    .await;

    for bad in [
        json!({}),
        json!({"userId": "00G5g00000REP01"}),
        json!({"userId": 5}),
    ] {
        let (status, body) = assign(&connector, ASSIGNED.2, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["field"], "userId", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("User id"),
            "{body}"
        );
    }
    let (status, _) = assign(&connector, "no-such-event", &json!({"userId": REP})).await;
    assert_eq!(status, 404);
    assert!(
        fake.interaction().calls_to("agentWork").is_empty(),
        "bad assignments call nothing"
    );

    let (status, body) = assign(&connector, ASSIGNED.2, &json!({"userId": REP})).await;

    assert_eq!(status, 200, "{body}\n{}", connector.log());
    assert_eq!(
        body,
        json!({"eventId": ASSIGNED.2, "status": "posted", "success": true})
    );
    let calls: Vec<_> = fake
        .interaction()
        .calls()
        .into_iter()
        .filter(|call| {
            call.body["conversationIdentifier"] == ASSIGNED.0
                || call.body["routingContext"]["conversationIdentifier"] == ASSIGNED.0
        })
        .collect();
    let order: Vec<(&str, &str)> = calls
        .iter()
        .map(|call| (call.method.as_str(), call.path.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("POST", "/api/v1/agentWork"),
            ("POST", "/api/v1/routingResult")
        ]
    );
    assert_eq!(
        calls[0].body,
        json!({
            "userId": &REP[..15],
            "workItemId": &ASSIGNED.1[..15],
            "capacityWeight": 1.0,
            "routingContext": {
                "conversationIdentifier": ASSIGNED.0,
                "routingType": "Transfer",
                "routingCorrelationId": ASSIGNED.2,
            },
        })
    );
    assert!(
        (200..300).contains(&calls[0].status),
        "{}",
        calls[0].response
    );
    assert_eq!(
        calls[1].body,
        json!({
            "conversationIdentifier": ASSIGNED.0,
            "workItemId": &ASSIGNED.1[..15],
            "success": true,
            "externallyRouted": false,
            "routingType": "Transfer",
        })
    );
    assert_eq!(calls[1].status, 202);

    let (status, body) = assign(&connector, ASSIGNED.2, &json!({"userId": REP})).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = connector
        .decide(ASSIGNED.2, &json!({"success": false, "errorMessage": "x"}))
        .await;
    assert_eq!(status, 409, "{body}");

    wait_until("the undecided request times out", WAIT, || {
        fake.interaction()
            .calls_to("routingResult")
            .iter()
            .any(|call| call.body["conversationIdentifier"] == UNDECIDED.0)
    })
    .await;
    let (status, body) = assign(&connector, UNDECIDED.2, &json!({"userId": REP})).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(
        fake.interaction().calls_to("agentWork").len(),
        1,
        "only the assigned request made an AgentWork"
    );
    connector.kill().await;
    fake.shutdown().await;
}
