//! Cancellation through the real binary: a RoutingResult entry reporting the routing
//! cancelled, arriving on the stream while the partner has still to decide, ends the request
//! without any routingResult, tells the partner's routing webhook `routing.cancelled`, and
//! makes the sidecar answer a later decision `409` with the state `cancelled`.

use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::interaction_service::InteractionFault;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::topic::NewEvent;
use serde_json::json;

/// Longest a test waits for one thing it expects.
const WAIT: Duration = Duration::from_secs(20);
/// How long the test watches to prove that nothing more happens.
const GRACE: Duration = Duration::from_millis(500);

/// An `Interaction` event with a RoutingResult entry for `conversation` reporting
/// `failure_type`, transcribed now (after the request's `CreatedDate`).
fn routing_result_event(conversation: &str, failure_type: &str) -> NewEvent {
    let entry_id = uuid::Uuid::new_v4().to_string();
    let now = epoch_ms();
    let payload = json!({
        "conversationIdentifier": conversation,
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user-42", "role": "EndUser"},
        "payload": {
            "identifier": entry_id,
            "entryType": "RoutingResult",
            "entryPayload": {
                "entryType": "RoutingResult",
                "id": entry_id,
                "routingType": "Transfer",
                "failureType": failure_type,
                "errorMessages": ["routing failed"],
                "recordId": null
            },
            "sender": {"appType": "conversation", "subject": "routing", "role": "System"},
            "transcriptedTimestamp": now,
            "clientTimestamp": now,
            "clientDuration": 0
        }
    });
    NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some(payload.to_string()),
        ..NewEvent::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_entry_ends_a_pending_request_in_the_binary_and_tells_the_partner() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000301";
    const WORK_ITEM: &str = "0MwXX0000000301AAA";
    const EVENT_ID: &str = "e2e00003-0000-4000-8000-000000000301";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::start(Arc::new(|_| (StatusCode::ACCEPTED, Duration::ZERO))).await;
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-cancel");
    let routing = format!(
        "strategy = \"partner\"\nurl = \"{}\"\ndecision_timeout_secs = 30\nwindow_secs = 60",
        partner.url
    );
    let config = write_connector_config(&fake, dir.path(), &deliveries.url, &routing);
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("the partner is asked to route", WAIT, || {
        !partner.received().is_empty()
    })
    .await;

    fake.publish(&[routing_result_event(CONVERSATION, "Cancelled")])
        .unwrap();

    wait_until("the partner hears routing.cancelled", WAIT, || {
        partner
            .received()
            .iter()
            .any(|received| received.event_type == "routing.cancelled")
    })
    .await;
    let received = partner.received();
    let notice = received
        .iter()
        .find(|received| received.event_type == "routing.cancelled")
        .unwrap();
    assert_eq!(notice.body["eventId"], EVENT_ID);
    assert_eq!(notice.body["conversationIdentifier"], CONVERSATION);
    let (status, body) = connector.decide(EVENT_ID, &json!({"success": true})).await;
    assert_eq!(status, 409, "{body}\n{}", connector.log());
    assert_eq!(body["state"], "cancelled");
    tokio::time::sleep(GRACE).await;
    assert!(
        fake.interaction().calls_to("routingResult").is_empty(),
        "a cancelled request is never answered"
    );
    assert!(fake.interaction().calls_to("route").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_entry_while_the_routing_result_is_refused_deletes_the_route_the_binary_made() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000302";
    const WORK_ITEM: &str = "0MwXX0000000302AAA";
    const EVENT_ID: &str = "e2e00003-0000-4000-8000-000000000302";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let mut refused = InteractionFault::status("routingResult", 503, 100_000);
    refused.retry_after_secs = Some(0);
    fake.interaction().inject_fault(refused).unwrap();
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-cancel-route");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        "strategy = \"salesforce\"",
    );
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("the binary tries to post its routingResult", WAIT, || {
        !fake.interaction().calls_to("routingResult").is_empty()
    })
    .await;
    assert_eq!(fake.interaction().calls_to("route").len(), 1);

    fake.publish(&[routing_result_event(CONVERSATION, "Cancelled")])
        .unwrap();

    wait_until(
        "the binary deletes its pending service routing",
        WAIT,
        || {
            fake.interaction()
                .calls()
                .iter()
                .any(|call| call.path == "/api/v1/route" && call.method == "DELETE")
        },
    )
    .await;
    tokio::time::sleep(GRACE).await;
    let results = fake.interaction().calls_to("routingResult");
    let settled = results.len();
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        fake.interaction().calls_to("routingResult").len(),
        settled,
        "no routingResult after the cancellation\n{}",
        connector.log()
    );
    assert!(results.iter().all(|call| call.status == 503));
}
