//! Every accepted `/interactions` answer teaches the connector which MessagingSession serves
//! the conversation, in memory and in the store, so routing that conversation needs no SOQL,
//! not even after a restart.

use super::{config_text, Embedded, WAIT};
use crate::support::pipeline::{
    epoch_ms, routing_request_payload, routing_requested_event, wait_until, Partner, ScratchDir,
    REJECT_ROUTING,
};
use crate::support::salesforce::{CHANNEL_ADDRESS, END_USER};
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use serde_json::json;

/// Waits for the routingResult of `conversation` number `count` and returns its workItemId.
async fn routing_result_work_item(
    fake: &FakeSalesforce,
    conversation: &str,
    count: usize,
) -> String {
    let of_conversation = || {
        fake.interaction()
            .calls_to("routingResult")
            .into_iter()
            .filter(|call| call.body["conversationIdentifier"] == conversation)
            .collect::<Vec<_>>()
    };
    wait_until("the routing request is answered", WAIT, || {
        of_conversation().len() >= count
    })
    .await;
    let call = of_conversation().pop().unwrap();
    assert_eq!(call.status, 202, "{:?}", call.response);
    call.body["workItemId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_inbound_call_routing_the_conversation_makes_no_soql_query_even_after_a_restart() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("state-learning");
    let config = config_text(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
        &[],
    );
    let connector = Embedded::ready(&config).await;

    // An inbound call through the connector: Salesforce answers with the conversation and
    // its MessagingSession.
    let body = json!({"errorCode": "0005", "endUserClientId": END_USER,
                      "channelAddressIdentifier": CHANNEL_ADDRESS});
    let (status, answer) = connector
        .post(
            "/v1/conversations/not-yet-known/delivery-failures",
            &body.to_string(),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let conversation = answer["conversationIdentifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = fake.interaction().work_item_for(&conversation).unwrap();

    let first = routing_request_payload("rep", &conversation, "learned-event-1");
    fake.publish(&[routing_requested_event(&first, epoch_ms())])
        .unwrap();
    assert_eq!(
        routing_result_work_item(&fake, &conversation, 1).await,
        session[..15]
    );
    assert!(
        fake.soql().queries().is_empty(),
        "routing queried: {:?}",
        fake.soql().queries()
    );
    connector.stop().await.unwrap();

    let restarted = Embedded::ready(&config).await;
    let second = routing_request_payload("rep", &conversation, "learned-event-2");
    fake.publish(&[routing_requested_event(&second, epoch_ms())])
        .unwrap();
    assert_eq!(
        routing_result_work_item(&fake, &conversation, 2).await,
        session[..15]
    );
    assert!(
        fake.soql().queries().is_empty(),
        "the restarted connector queried: {:?}",
        fake.soql().queries()
    );
    restarted.stop().await.unwrap();
    fake.shutdown().await;
}
