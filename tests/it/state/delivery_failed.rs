//! A message the partner's webhook refuses for good is dead-lettered and the rep is told with
//! MessageDeliveryFailed, carrying the code the partner's response names (or the configured
//! default); and the partner can report a failed delivery itself through the sidecar.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{config_text, delivery_failures, wait_for_delivery_failures, Embedded, GRACE};
use crate::support::pipeline::{message_event, wait_until, Partner, ScratchDir, REJECT_ROUTING};
use crate::support::salesforce::{CHANNEL_ADDRESS, END_USER};
use crate::support::start_fake;
use byoc_connector::store::Store;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

const CONVERSATION: &str = "9bc16b48-cd9b-4d8b-b7f2-00000000d001";

/// The URL of a partner webhook refusing every delivery with `status` and `body` (`Partner`
/// answers with a status only).
async fn refusing_partner(status: StatusCode, body: &'static str) -> String {
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move || async move { (status, body) }),
    );
    let (address, _server) = crate::support::serve_on_loopback(app).await;
    format!("http://{address}/webhook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_dead_lettered_and_reported_with_the_code_the_partner_names() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let url = refusing_partner(
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"{"errorCode": "2002", "errorMessage": "the recipient blocked the sender"}"#,
    )
    .await;
    let dir = ScratchDir::new("state-refused-named");
    let store_path = dir.path().join("state.redb");
    let config = config_text(&fake, &url, &store_path, REJECT_ROUTING, &[]);
    let connector = Embedded::ready(&config).await;
    fake.publish(&[message_event(CONVERSATION, 1)]).unwrap();
    wait_for_delivery_failures(&fake, 1).await;
    let sent = delivery_failures(&fake).remove(0);
    assert_eq!(sent["status"], 202, "{sent}");
    assert_eq!(sent["to"], CHANNEL_ADDRESS);
    assert_eq!(sent["from"], END_USER);
    let entry = &sent["interactions"][0]["payload"];
    assert_eq!(entry["errorCode"], "2002");
    assert_eq!(entry["errorMessage"], "the recipient blocked the sender");
    assert_eq!(
        entry["failedConversationEntryIdentifier"],
        "00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        entry["recipient"],
        json!({"appType": "custom", "role": "EndUser", "subject": END_USER})
    );
    let mut state = Value::Null;
    for _ in 0..100 {
        state = connector
            .get(&format!("/v1/conversations/{CONVERSATION}"))
            .await
            .1;
        if !state["lastDeliveryFailure"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["lastDeliveryFailure"]["errorCode"], "2002", "{state}");
    assert_eq!(
        state["lastDeliveryFailure"]["reportedBy"], "connector",
        "{state}"
    );
    connector.stop().await.unwrap();
    let store = Store::open_existing(&store_path).unwrap();
    assert_eq!(
        store.count_dead_letters().unwrap(),
        1,
        "dead-lettered as well"
    );
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_naming_no_code_gets_the_configured_default_and_reporting_can_be_off() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let url = refusing_partner(StatusCode::BAD_REQUEST, "no json here").await;
    let dir = ScratchDir::new("state-refused-default");
    let config = config_text(
        &fake,
        &url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
        &[("delivery.refusal_error_code", "\"0003\"")],
    );
    let connector = Embedded::ready(&config).await;
    fake.publish(&[message_event(CONVERSATION, 2)]).unwrap();
    wait_for_delivery_failures(&fake, 1).await;
    assert_eq!(
        delivery_failures(&fake)[0]["interactions"][0]["payload"]["errorCode"],
        "0003"
    );
    connector.stop().await.unwrap();

    let quiet_dir = ScratchDir::new("state-refused-off");
    let quiet = config_text(
        &fake,
        &url,
        &quiet_dir.path().join("state.redb"),
        REJECT_ROUTING,
        &[("delivery.report_refusals", "false")],
    );
    let connector = Embedded::ready(&quiet).await;
    fake.publish(&[message_event(CONVERSATION, 3)]).unwrap();
    tokio::time::sleep(GRACE * 2).await;
    assert_eq!(
        delivery_failures(&fake).len(),
        1,
        "nothing reported when off"
    );
    connector.stop().await.unwrap();
    fake.shutdown().await;
}

#[test]
fn an_unknown_default_code_is_a_config_error_naming_the_key() {
    let text = crate::support::config::minimal_with(&[(
        "delivery.refusal_error_code",
        crate::support::config::string("2003"),
    )]);
    let error = crate::support::config::error_text(&text, &[]);
    assert!(error.contains("delivery.refusal_error_code"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_reports_a_failed_delivery_through_the_sidecar() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("state-sidecar-failure");
    let config = config_text(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
        &[],
    );
    let connector = Embedded::ready(&config).await;
    // The connector has seen the conversation, so it knows the end user and the channel.
    fake.publish(&[message_event(CONVERSATION, 4)]).unwrap();
    wait_until("the partner receives the message", super::WAIT, || {
        !partner.received().is_empty()
    })
    .await;
    let path = format!("/v1/conversations/{CONVERSATION}/delivery-failures");
    let failed_entry = "00000000-0000-4000-8000-000000000004";
    let body = json!({"errorCode": "3005", "failedConversationEntryIdentifier": failed_entry});
    let mut accepted = (0, Value::Null);
    for _ in 0..50 {
        accepted = connector.post(&path, &body.to_string()).await;
        if accepted.0 != 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.0, 202, "{}", accepted.1);
    assert!(accepted.1["entryId"].as_str().is_some());
    let sent = delivery_failures(&fake).remove(0);
    assert_eq!(sent["from"], END_USER);
    assert_eq!(sent["interactions"][0]["payload"]["errorCode"], "3005");
    assert_eq!(
        sent["interactions"][0]["payload"]["failedConversationEntryIdentifier"],
        failed_entry
    );

    let refusals = [
        (json!({"errorCode": "9999"}), "errorCode"),
        (json!({"errorCode": 3005}), "errorCode"),
        (json!({}), "errorCode"),
        (json!({"errorCode": "3005", "colour": "red"}), "colour"),
        (
            json!({"errorCode": "3005", "endUserClientId": ""}),
            "endUserClientId",
        ),
        (
            json!({"errorCode": "3005", "endUserClientId": "x".repeat(256)}),
            "endUserClientId",
        ),
    ];
    for (body, field) in refusals {
        let (status, answer) = connector.post(&path, &body.to_string()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
        assert!(answer["error"]["rule"].as_str().is_some(), "{answer}");
    }
    let (status, answer) = connector
        .post(
            "/v1/conversations/never-seen/delivery-failures",
            r#"{"errorCode": "3005"}"#,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "endUserClientId");
    let (status, answer) = connector.post(&path, "not json").await;
    assert_eq!((status, &answer["error"]["field"]), (400, &json!("body")));
    assert_eq!(
        delivery_failures(&fake).len(),
        1,
        "nothing bad reached salesforce"
    );
    connector.stop().await.unwrap();
    fake.shutdown().await;
}
