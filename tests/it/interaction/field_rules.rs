//! The request field rules of `inbound-interaction-api.yaml` that the audit in
//! `docs/api-rules.md` found unchecked: the fake refuses each break with Salesforce's code, and
//! the client refuses to send it, naming the field.

use crate::support::salesforce::{
    sample_agent_work, sample_capabilities, sample_interaction, sample_routing_result, Salesforce,
};
use byoc_connector::interaction::{ErrorClass, InteractionError};
use reqwest::Method;
use serde_json::{json, Value};

/// The code of an error answer in either of Salesforce's shapes.
fn code_of(body: &Value) -> Option<i64> {
    body["code"]
        .as_i64()
        .or_else(|| body["errorDetail"]["code"].as_i64())
}

/// Sends a raw request with valid headers and `body` as JSON, or as the `json` part of a
/// multipart form; returns the status and the code.
async fn send(
    fake: &Salesforce,
    method: Method,
    path: &str,
    body: Value,
    multipart: bool,
) -> (u16, Option<i64>) {
    let request = fake
        .authorized_request(method, path)
        .header("AuthorizationContextType", "ConversationChannelDefinition");
    let request = if multipart {
        let part = reqwest::multipart::Part::bytes(body.to_string().into_bytes())
            .mime_str("application/json")
            .unwrap();
        request.multipart(reqwest::multipart::Form::new().part("json", part))
    } else {
        request.json(&body)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, code_of(&body))
}

/// `POST /interactions` with `body` as its `json` part.
pub async fn send_interactions_json(fake: &Salesforce, body: Value) -> (u16, Option<i64>) {
    send(fake, Method::POST, "interactions", body, true).await
}

fn assert_refused_locally(err: &InteractionError, expected_field: &str) {
    match err {
        InteractionError::InvalidRequest { field, .. } => assert_eq!(*field, expected_field),
        other => panic!("expected the client to refuse {expected_field}, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains(expected_field), "{err}");
}

#[tokio::test]
async fn agent_action_visibilities_need_a_known_action_and_a_visible_flag() {
    let fake = Salesforce::start().await;
    fake.interaction
        .seed_conversation(&uuid::Uuid::new_v4().to_string(), "0Mw5g0000000009");
    let body = |items: Value| {
        json!({"userId": "0055g00000ABCDE", "workItemId": "0Mw5g0000000009",
               "capacityWeight": 1, "agentActionVisibilities": items})
    };
    let cases = [
        (
            json!([{"agentAction": "Hold", "visible": true}]),
            (400, Some(10089)),
        ),
        (json!([{"agentAction": "Transfer"}]), (400, Some(10089))),
        (json!([{"visible": false}]), (400, Some(10089))),
        (
            json!({"agentAction": "Transfer", "visible": true}),
            (400, Some(10089)),
        ),
        (
            json!([{"agentAction": "Conference", "visible": false}]),
            (202, None),
        ),
    ];
    for (items, expected) in cases {
        let outcome = send(&fake, Method::POST, "agentWork", body(items.clone()), false).await;
        assert_eq!(outcome, expected, "agentActionVisibilities: {items}");
    }
}

#[tokio::test]
async fn interactions_from_is_at_most_255_characters() {
    let fake = Salesforce::start().await;
    let mut body = serde_json::to_value(sample_interaction()).unwrap();
    body["from"] = json!("u".repeat(256));
    assert_eq!(
        send_interactions_json(&fake, body.clone()).await,
        (400, Some(10028))
    );
    body["from"] = json!("u".repeat(255));
    assert_eq!(send_interactions_json(&fake, body).await.0, 202);

    let mut too_long = sample_interaction();
    too_long.from = "u".repeat(256);
    let err = fake
        .static_client()
        .post_interactions(&too_long, None)
        .await
        .unwrap_err();
    assert_refused_locally(&err, "from");
}

#[tokio::test]
async fn capability_integration_names_are_at_most_240_characters() {
    let fake = Salesforce::start().await;
    let long = "n".repeat(241);
    for field in [
        "integrationNamespace",
        "conversationChannelDefinitionDevName",
    ] {
        let mut body = serde_json::to_value(sample_capabilities()).unwrap();
        body["capabilities"]["channelCapabilities"][0]["customIntegration"][field] = json!(long);
        assert_eq!(
            send(&fake, Method::PATCH, "capabilities", body, false).await,
            (400, Some(10050)),
            "{field}"
        );
    }

    let sent_before = fake.interaction.calls_to("capabilities").len();
    let mut request = sample_capabilities();
    request.capabilities.channel_capabilities[0]
        .custom_integration
        .integration_namespace = long;
    let err = fake
        .static_client()
        .patch_capabilities(&request)
        .await
        .unwrap_err();
    assert_refused_locally(&err, "customIntegration.integrationNamespace");
    assert_eq!(
        fake.interaction.calls_to("capabilities").len(),
        sent_before,
        "nothing was sent"
    );
}

#[tokio::test]
async fn the_client_never_sends_a_routing_result_breaking_a_length_rule() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let long_conversation = "c".repeat(241);
    let err = client
        .routing_result(&sample_routing_result(
            &long_conversation,
            "0Mw5g0000000001",
        ))
        .await
        .unwrap_err();
    assert_refused_locally(&err, "conversationIdentifier");
    let conversation = uuid::Uuid::new_v4().to_string();
    let err = client
        .routing_result(&sample_routing_result(&conversation, "0Mw5g00000001"))
        .await
        .unwrap_err();
    assert_refused_locally(&err, "workItemId");
    let err = client
        .post_agent_work(&sample_agent_work(&conversation, "0Mw5g0000000001AAAB"))
        .await
        .unwrap_err();
    assert_refused_locally(&err, "workItemId");
    assert!(fake.interaction.calls().is_empty(), "nothing was sent");

    // The fake refuses the same breaks with Salesforce's codes.
    let body = |conversation: &str, work_item: &str| {
        json!({"conversationIdentifier": conversation, "workItemId": work_item,
               "success": true, "externallyRouted": false})
    };
    assert_eq!(
        send(
            &fake,
            Method::POST,
            "routingResult",
            body(&long_conversation, "0Mw5g0000000001"),
            false
        )
        .await,
        (400, Some(10018))
    );
    assert_eq!(
        send(
            &fake,
            Method::POST,
            "routingResult",
            body(&conversation, "0Mw5g00000001"),
            false
        )
        .await,
        (400, Some(10012))
    );
}

/// A history import of `entries` text entries from one end user, written a minute ago.
fn history_import(entries: usize) -> byoc_connector::interaction::ConversationHistoryRequest {
    use byoc_connector::interaction::{HistoryEntry, HistoryParticipant, Participant};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end_user = Participant::end_user("end-user-history");
    byoc_connector::interaction::ConversationHistoryRequest {
        channel_address_identifier: crate::support::salesforce::CHANNEL_ADDRESS.to_owned(),
        conversation_participants: vec![HistoryParticipant {
            participant: end_user.clone(),
            display_name: None,
            joined_time: now - 3_600_000,
            left_time: None,
        }],
        conversation_entries: (0..entries)
            .map(|_| {
                let id = uuid::Uuid::new_v4().to_string();
                HistoryEntry::text(&id, end_user.clone(), "earlier", now - 60_000)
            })
            .collect(),
        messaging_session: None,
    }
}

#[tokio::test]
async fn a_history_session_to_establish_needs_its_start_time_at_the_fake_and_in_the_client() {
    use byoc_connector::interaction::HistorySession;
    let fake = Salesforce::start().await;
    let mut import = history_import(1);
    import.messaging_session = Some(HistorySession::EstablishMessagingSession { start_time: None });
    let body = serde_json::to_value(&import).unwrap();
    assert_eq!(
        send(&fake, Method::POST, "conversationHistory", body, false).await,
        (400, Some(10061)),
        "the fake refuses a session without its startTime itself"
    );
    let client = fake.static_client();
    let err = client.post_conversation_history(&import).await.unwrap_err();
    assert_refused_locally(&err, "messagingSession.payload.startTime");
    let an_hour_ago = import.conversation_participants[0].joined_time;
    import.messaging_session = Some(HistorySession::EstablishMessagingSession {
        start_time: Some(an_hour_ago),
    });
    client.post_conversation_history(&import).await.unwrap();
}

#[tokio::test]
async fn history_consent_and_participant_calls_breaking_a_rule_are_not_sent_by_the_client() {
    let fake = Salesforce::start().await;
    let body = serde_json::to_value(history_import(26)).unwrap();
    assert_eq!(
        send(&fake, Method::POST, "conversationHistory", body, false).await,
        (400, Some(10078)),
        "the fake refuses 26 entries itself"
    );
    let client = fake.static_client();
    let err = client
        .post_conversation_history(&history_import(26))
        .await
        .unwrap_err();
    assert_refused_locally(&err, "conversationEntries");
    client
        .post_conversation_history(&history_import(25))
        .await
        .unwrap();

    let consent = byoc_connector::interaction::ConsentRequest {
        channel_address_identifier: crate::support::salesforce::CHANNEL_ADDRESS.to_owned(),
        end_user_client_id: "u".repeat(241),
        consent_status: byoc_connector::interaction::ConsentStatus::OptedOut,
    };
    let err = client.patch_consent(&consent).await.unwrap_err();
    assert_refused_locally(&err, "endUserClientId");
    let mut removal = byoc_connector::interaction::RemoveParticipantRequest::rep(
        uuid::Uuid::new_v4().to_string(),
        "0055g00000ABCDE",
    );
    removal.participants[0].subject = "0055g00000ABCDEAAA".to_owned();
    let err = client.remove_participant(&removal).await.unwrap_err();
    assert_refused_locally(&err, "participants.subject");

    let sent: Vec<(String, u16)> = fake
        .interaction
        .calls()
        .iter()
        .map(|call| (call.path.clone(), call.status))
        .collect();
    assert_eq!(
        sent,
        [
            ("/api/v1/conversationHistory".to_owned(), 400),
            ("/api/v1/conversationHistory".to_owned(), 202)
        ],
        "only the raw 26-entry call and the valid import reached the fake"
    );
}
