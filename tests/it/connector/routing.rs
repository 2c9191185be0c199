//! Routing end to end through the real binary: a RoutingRequested published on the fake
//! topic reaches the partner's routing URL, the partner decides at once, and the fake
//! Interaction Service receives exactly one routingResult, inside the window, with the
//! workItemId found through the fake's SOQL endpoint.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::routing::{Partner as RoutingPartner, PartnerReply};
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::topic::NewEvent;

const CONVERSATION: &str = "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09";
const WORK_ITEM: &str = "0MwXX0000000001AAA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_request_is_answered_once_with_the_partners_decision() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let routing_partner = RoutingPartner::always(PartnerReply::decide(
        serde_json::json!({"success": true, "externallyRouted": false}),
    ))
    .await;
    let deliveries = Partner::accepting().await;

    let dir = scratch_dir("routing");
    let routing = format!(
        "strategy = \"partner\"\nurl = \"{}\"\ndecision_timeout_secs = 45",
        routing_partner.url
    );
    let config_path = write_connector_config(&fake, &dir, &deliveries.url, &routing);
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/events/routing-requested-queue.json").unwrap(),
    )
    .unwrap();
    fake.publish(&[NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(fixture["payload"].to_string()),
        ..NewEvent::default()
    }])
    .unwrap();

    let mut connector = spawn_quiet_connector(&config_path);
    let interaction = fake.interaction().clone();
    wait_until(
        "the routingResult is posted",
        Duration::from_secs(30),
        || !interaction.calls_to("routingResult").is_empty(),
    )
    .await;
    // The binary runs in its own process, so only watching a while longer can show that no
    // second routingResult follows the first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = interaction.calls_to("routingResult");
    assert_eq!(calls.len(), 1, "exactly one routingResult");
    let body = &calls[0].body;
    assert_eq!(
        calls[0].status, 202,
        "the fake accepted it: {:?}",
        calls[0].response
    );
    assert_eq!(body["success"], true);
    assert_eq!(body["externallyRouted"], false);
    // SOQL gave the 18-character id; the API takes only its 15-character form.
    assert_eq!(body["workItemId"], &WORK_ITEM[..15]);
    assert_eq!(body["conversationIdentifier"], CONVERSATION);
    assert_eq!(body["routingType"], "Transfer");
    let asked = routing_partner.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].body["type"], "routing.requested");
    assert!(asked[0].body["deadline"].is_string());
    let window = fake.routing_window().expect("the fake enforces the window");
    window.check();
    let report = window.report();
    assert!(report.late.is_empty(), "posted inside the window");
    assert_eq!(report.answered.len(), 1, "{report:?}");
    connector.kill().await.ok();
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
