//! `GET /v1/conversations/{conversationIdentifier}`: what the stream and the sidecar's calls
//! taught the connector about a conversation (session id and status, participants, pending
//! routing, the last delivered entry), kept in the store across a restart; `404` for a
//! conversation it never saw.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{config_text, fixture_event, Embedded, WAIT};
use crate::support::pipeline::{
    epoch_ms, message_event, routing_request_payload, routing_requested_event, Partner, ScratchDir,
};
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

const CONVERSATION: &str = "9bc16b48-cd9b-4d8b-b7f2-00000000c0de";

/// Polls the state of `CONVERSATION` until `done` holds; returns the last body.
async fn state_when(connector: &Embedded, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = connector
            .get(&format!("/v1/conversations/{CONVERSATION}"))
            .await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_is_built_from_the_stream_and_survives_a_restart() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    // The routing partner takes each request with 202 and decides later (not in this test).
    let router = Partner::start(Arc::new(|_| (StatusCode::ACCEPTED, Duration::ZERO))).await;
    let dir = ScratchDir::new("state-conversation");
    let routing = format!("strategy = \"partner\"\nurl = \"{}\"", router.url);
    let config = config_text(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        &routing,
        &[],
    );
    let connector = Embedded::ready(&config).await;
    let (status, body) = connector
        .get(&format!("/v1/conversations/{CONVERSATION}"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["kind"], "not_found");
    let (status, body) = connector
        .get(&format!("/v1/conversations/{}", "c".repeat(241)))
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("conversationIdentifier"))
    );

    fake.publish(&[
        fixture_event("participant-changed-add", CONVERSATION),
        fixture_event("session-status-changed", CONVERSATION),
        message_event(CONVERSATION, 7),
        routing_requested_event(
            &routing_request_payload("rep", CONVERSATION, "pending-event-1"),
            epoch_ms(),
        ),
    ])
    .unwrap();
    let expected_entry = "00000000-0000-4000-8000-000000000007";
    let state = state_when(&connector, |state| {
        state["lastDeliveredEntry"]["identifier"] == expected_entry
            && state["pendingRouting"]
                .as_array()
                .is_some_and(|pending| !pending.is_empty())
    })
    .await;
    assert_eq!(state["conversationIdentifier"], CONVERSATION);
    assert_eq!(
        state["session"],
        json!({"id": "0Mwxx0000004CqG", "status": "Ended"})
    );
    assert_eq!(
        state["participants"],
        json!([{"appType": "agent", "subject": "005xx0000012345", "role": "Agent",
                "displayName": "John Dow"}])
    );
    assert_eq!(
        state["lastDeliveredEntry"]["eventType"],
        "interaction.message"
    );
    assert_eq!(
        state["channelAddressIdentifier"],
        "b0ffeafe-0d89-4338-b14a-172ad203f22a"
    );
    assert_eq!(state["endUserClientId"], "end-user-42");
    assert_eq!(state["pendingRouting"][0]["eventId"], "pending-event-1");
    assert_eq!(state["pendingRouting"][0]["decided"], false);

    fake.publish(&[fixture_event("participant-changed-remove", CONVERSATION)])
        .unwrap();
    let state = state_when(&connector, |state| {
        state["participants"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    connector.stop().await.unwrap();

    let restarted = Embedded::ready(&config).await;
    let after = state_when(&restarted, |_| true).await;
    for field in [
        "session",
        "participants",
        "lastDeliveredEntry",
        "endUserClientId",
    ] {
        assert_eq!(
            after[field], state[field],
            "{field} after the restart: {after}"
        );
    }
    restarted.stop().await.unwrap();
    fake.shutdown().await;
}
