//! The fake Salesforce's routing window: a routingResult after the window is recorded as late,
//! and a request left unanswered gets a RoutingResult failure entry published on the topic.

use std::sync::Arc;
use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::{decode_avro, FieldNames};
use byoc_connector::interaction::{RoutingOutcome, RoutingResultRequest, RoutingType};
use byoc_connector::routing::RoutingStrategy;
use fake_salesforce::avro::EventSchemaSpec;
use fake_salesforce::routing_window::{Publisher, RoutingWindow, ROUTING_TIMEOUT_MESSAGE};
use fake_salesforce::topic::{NewEvent, TopicLog, FIRST_REPLAY_ID};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// A topic, a window over `salesforce` publishing to it, and the watcher.
fn window_over(
    salesforce: &Salesforce,
    window: Duration,
) -> (Arc<TopicLog>, Arc<RoutingWindow>, CancellationToken) {
    let topic =
        Arc::new(TopicLog::new(EventSchemaSpec::default(), Duration::from_secs(3600)).unwrap());
    let publish: Publisher = {
        let topic = topic.clone();
        Arc::new(move |events: &[NewEvent]| topic.publish(events))
    };
    let routing_window = Arc::new(RoutingWindow::new(
        window,
        salesforce.interaction.clone(),
        publish,
    ));
    let shutdown = CancellationToken::new();
    routing_window.spawn(shutdown.clone());
    (topic, routing_window, shutdown)
}

fn published(request: &RequestSpec) -> NewEvent {
    NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(request.payload_json()),
        created_date: Some(request.created_date_ms),
        ..NewEvent::default()
    }
}

/// The event type and payload of every event on `topic`, decoded with the connector's decoder.
fn topic_events(topic: &TopicLog) -> Vec<(String, Value)> {
    topic
        .read_from(FIRST_REPLAY_ID, 100)
        .into_iter()
        .map(|consumer| {
            let event = consumer.event.unwrap();
            let schema: serde_avro_fast::Schema = topic
                .schema_json(&event.schema_id)
                .unwrap()
                .parse()
                .unwrap();
            let record = decode_avro(&event.payload, &schema, &FieldNames::default()).unwrap();
            let payload = serde_json::from_str(&record.payload.unwrap()).unwrap();
            (record.event_type.unwrap(), payload)
        })
        .collect()
}

/// A request for another conversation, created just after `request`, that nobody answers:
/// its window closes after `request`'s, so the failure entry published for it shows that the
/// window has checked `request`'s deadline too.
fn unanswered_after(request: &RequestSpec) -> RequestSpec {
    let mut unanswered = RequestSpec::transfer();
    unanswered.created_date_ms = request.created_date_ms + 50;
    unanswered
}

fn routing_result(request: &RequestSpec) -> RoutingResultRequest {
    RoutingResultRequest {
        conversation_identifier: request.conversation.clone(),
        work_item_id: request.work_record_id.clone().unwrap(),
        outcome: RoutingOutcome::Routed {
            externally_routed: false,
        },
        routing_type: Some(RoutingType::Transfer),
    }
}

#[tokio::test]
async fn an_unanswered_request_gets_a_routing_error_entry_published_at_the_end_of_its_window() {
    let window = Duration::from_millis(500);
    let salesforce = Salesforce::start().await;
    let (topic, routing_window, shutdown) = window_over(&salesforce, window);
    let request = RequestSpec::transfer();

    assert!(routing_window.track(&published(&request)));
    assert!(!routing_window.track(&published(&request)), "tracked once");

    assert!(wait_until(WAIT_LIMIT, || topic.latest_id() >= FIRST_REPLAY_ID).await);
    let published_at = now_ms();
    assert!(published_at >= request.created_date_ms + window.as_millis() as i64);
    let events = topic_events(&topic);
    assert_eq!(events.len(), 1);
    let (event_type, payload) = &events[0];
    assert_eq!(event_type, "Interaction");
    assert_eq!(
        payload["conversationIdentifier"],
        json!(request.conversation)
    );
    assert_eq!(payload["channelAddressIdentifier"], CHANNEL_ADDRESS);
    assert_eq!(
        payload["recipient"],
        json!({"appType": "custom", "subject": "meu003", "role": "EndUser"})
    );
    let entry = &payload["payload"]["entryPayload"];
    assert_eq!(payload["payload"]["entryType"], "RoutingResult");
    assert_eq!(entry["entryType"], "RoutingResult");
    assert_eq!(entry["routingType"], "Transfer");
    assert_eq!(entry["failureType"], "RoutingError");
    assert_eq!(entry["errorMessages"], json!([ROUTING_TIMEOUT_MESSAGE]));
    // The entry is a valid Interaction event for the connector's decoder.
    byoc_connector::events::OutboundEvent::from_json("Interaction", &payload.to_string(), &[0; 8])
        .unwrap();
    let report = routing_window.report();
    assert_eq!(report.timed_out, vec![request.event_id.clone()]);
    assert!(report.answered.is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn a_routing_result_after_the_window_is_recorded_as_late() {
    let window = Duration::from_millis(300);
    let salesforce = Salesforce::start().await;
    let (topic, routing_window, shutdown) = window_over(&salesforce, window);
    let request = RequestSpec::transfer();
    routing_window.track(&published(&request));
    salesforce.knows(&request);
    assert!(wait_until(WAIT_LIMIT, || topic.latest_id() >= FIRST_REPLAY_ID).await);

    salesforce
        .client()
        .routing_result(&routing_result(&request))
        .await
        .unwrap();

    let report = routing_window.report();
    assert_eq!(report.late.len(), 1, "{report:?}");
    assert_eq!(report.late[0].event_id, request.event_id);
    assert!(report.late[0].late_by_ms > 0);
    assert_eq!(report.timed_out, vec![request.event_id.clone()]);
    assert!(report.answered.is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn a_timely_routing_result_publishes_nothing_and_is_not_late() {
    let window = Duration::from_millis(800);
    let salesforce = Salesforce::start().await;
    let (topic, routing_window, shutdown) = window_over(&salesforce, window);
    let request = RequestSpec::transfer();
    let unanswered = unanswered_after(&request);
    routing_window.track(&published(&request));
    salesforce.knows(&request);
    routing_window.track(&published(&unanswered));

    salesforce
        .client()
        .routing_result(&routing_result(&request))
        .await
        .unwrap();
    assert!(wait_until(WAIT_LIMIT, || topic.latest_id() >= FIRST_REPLAY_ID).await);

    let report = routing_window.report();
    assert_eq!(report.answered, vec![request.event_id.clone()]);
    assert!(report.late.is_empty());
    assert_eq!(report.timed_out, vec![unanswered.event_id.clone()]);
    assert_eq!(
        topic.latest_id(),
        FIRST_REPLAY_ID,
        "nothing published for the answered request"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_connectors_timeout_answer_lands_inside_the_fakes_window() {
    let window = Duration::from_secs(2);
    let partner = Partner::always(PartnerReply::accept()).await;
    let (salesforce, _store, engine) = start_engine(
        Some(&partner),
        settings(RoutingStrategy::Partner, window, Duration::from_secs(1)),
    )
    .await;
    let (topic, routing_window, shutdown) = window_over(&salesforce, window);
    let request = RequestSpec::transfer();
    let unanswered = unanswered_after(&request);
    routing_window.track(&published(&request));
    salesforce.knows(&request);
    routing_window.track(&published(&unanswered));

    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    wait_for_calls(&salesforce, "routingResult", 1).await;
    assert!(wait_until(WAIT_LIMIT, || topic.latest_id() >= FIRST_REPLAY_ID).await);

    let report = routing_window.report();
    assert_eq!(report.answered, vec![request.event_id.clone()]);
    assert!(report.late.is_empty());
    assert_eq!(report.timed_out, vec![unanswered.event_id.clone()]);
    assert_eq!(
        topic.latest_id(),
        FIRST_REPLAY_ID,
        "nothing published for the answered request"
    );
    engine.shutdown().await;
    shutdown.cancel();
}
