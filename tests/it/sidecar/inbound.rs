//! Each inbound route makes its Salesforce call, refuses what the API forbids before calling,
//! passes Salesforce's refusals on, and is idempotent across a restart.

use std::time::{Duration, Instant};

use fake_salesforce::interaction_service::InteractionFault;
use reqwest::Method;
use serde_json::{json, Value};

use super::{Sidecar, CHANNEL, END_USER};

fn message(text: &str) -> Value {
    json!({"endUserClientId": END_USER, "text": text})
}

#[tokio::test]
async fn a_text_message_becomes_one_interactions_call_and_answers_the_conversation_and_session() {
    let sidecar = Sidecar::start().await;

    let (status, body) = sidecar
        .post("/v1/messages", "key-1", &message("hello"))
        .await;

    assert_eq!(status, 202, "{body}");
    let calls = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(calls.len(), 1);
    let sent = &calls[0].body["json"];
    assert_eq!(sent["to"], CHANNEL);
    assert_eq!(sent["from"], END_USER);
    let payload = &sent["interactions"][0]["payload"];
    assert_eq!(payload["abstractMessage"]["staticContent"]["text"], "hello");
    assert_eq!(body["entryId"], payload["id"]);
    assert_eq!(
        calls[0].response["conversationIdentifier"],
        body["conversationIdentifier"]
    );
    assert_eq!(
        calls[0].response["workItemIds"][0],
        body["messagingSessionId"]
    );
}

#[tokio::test]
async fn a_write_without_an_idempotency_key_is_refused_naming_the_header_and_nothing_is_sent() {
    let sidecar = Sidecar::start().await;

    let (status, body) = sidecar
        .send(Method::POST, "/v1/messages", &[], &message("hello"))
        .await;

    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "Idempotency-Key");
    assert!(body["error"]["rule"].as_str().unwrap().contains("required"));
    assert!(sidecar.fake.interaction().calls().is_empty());
}

/// A body is one JSON value: a second one after it (a client that concatenated two messages)
/// is refused, not half-read.
#[tokio::test]
async fn a_body_with_anything_after_its_json_is_refused_and_nothing_is_sent() {
    let sidecar = Sidecar::start().await;
    let body = format!(
        "{}{}",
        json!({"endUserClientId": END_USER, "text": "first"}),
        json!({"endUserClientId": END_USER, "text": "second"})
    );
    let response = sidecar
        .http
        .post(sidecar.url("/v1/messages"))
        .header("idempotency-key", "key-two-values")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["field"], "body", "{answer}");
    assert!(sidecar.fake.interaction().calls().is_empty());
}

#[tokio::test]
async fn malformed_requests_get_a_400_naming_the_field_and_the_rule_and_reach_no_salesforce() {
    let sidecar = Sidecar::start().await;
    let conversation = uuid::Uuid::new_v4().to_string();
    let receipts = |count: usize| {
        let items: Vec<Value> = (0..count)
            .map(|n| json!({"type": "Read", "entryId": format!("e-{n}")}))
            .collect();
        json!({"endUserClientId": END_USER, "receipts": items})
    };
    let receipts_path = format!("/v1/conversations/{conversation}/receipts");
    let session_path = format!("/v1/conversations/{conversation}/session");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/v1/messages", json!({"endUserClientId": END_USER}), "text"),
        (
            "/v1/messages",
            json!({"endUserClientId": "u".repeat(256), "text": "hi"}),
            "endUserClientId",
        ),
        (
            "/v1/messages",
            json!({"endUserClientId": END_USER, "text": "  "}),
            "text",
        ),
        (
            "/v1/messages",
            json!({"endUserClientId": END_USER, "text": "hi", "colour": 1}),
            "colour",
        ),
        (
            "/v1/messages",
            json!({"endUserClientId": END_USER, "text": "hi", "channelAddressIdentifier": "c".repeat(241)}),
            "channelAddressIdentifier",
        ),
        (
            "/v1/messages",
            json!({"endUserClientId": END_USER, "text": "hi", "routingAttributes": {"tier": 3}}),
            "routingAttributes.tier",
        ),
        (
            "/v1/typing",
            json!({"endUserClientId": END_USER, "state": "paused"}),
            "state",
        ),
        (&receipts_path, receipts(26), "receipts"),
        (&receipts_path, receipts(0), "receipts"),
        (
            &receipts_path,
            json!({"endUserClientId": END_USER, "receipts": [{"type": "Seen", "entryId": "e"}]}),
            "receipts[0].type",
        ),
        (
            &session_path,
            json!({"endUserClientId": END_USER, "operation": "Inactivate"}),
            "sessionId",
        ),
        (
            &session_path,
            json!({"endUserClientId": END_USER, "operation": "Pause"}),
            "operation",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = sidecar.post(path, "key-bad", &body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        let named = answer["error"]["field"].as_str().unwrap_or_default();
        assert_eq!(named, field, "{path} {body}: {answer}");
        assert!(answer["error"]["rule"].is_string(), "{answer}");
    }
    let (status, answer) = sidecar
        .send(
            Method::POST,
            "/v1/messages",
            &[("idempotency-key", "k"), ("request-timeout-ms", "0")],
            &message("hi"),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("Request-Timeout-Ms"))
    );
    assert!(sidecar.fake.interaction().calls().is_empty());
}

#[tokio::test]
async fn typing_receipts_session_and_agent_work_each_make_their_salesforce_call() {
    let sidecar = Sidecar::start().await;
    let (_, sent) = sidecar.post("/v1/messages", "m-1", &message("hi")).await;
    let conversation = sent["conversationIdentifier"].as_str().unwrap().to_owned();

    let (status, _) = sidecar
        .post(
            "/v1/typing",
            "t-1",
            &json!({"endUserClientId": END_USER, "state": "started"}),
        )
        .await;
    assert_eq!(status, 202);
    let typing = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(
        typing[1].body["json"]["interactions"][0]["payload"]["entryType"],
        "TypingStartedIndicator"
    );

    let items: Vec<Value> = (0..25)
        .map(|n| json!({"type": if n % 2 == 0 {"Delivered"} else {"Read"}, "entryId": format!("entry-{n}")}))
        .collect();
    let (status, body) = sidecar
        .post(
            &format!("/v1/conversations/{conversation}/receipts"),
            "r-1",
            &json!({"endUserClientId": END_USER, "receipts": items}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let acks = sidecar.fake.interaction().calls_to("acknowledgement");
    assert_eq!(acks.len(), 1, "25 receipts go in one call");
    assert_eq!(
        acks[0].body["acknowledgements"].as_array().unwrap().len(),
        25
    );
    assert_eq!(acks[0].body["sender"]["subject"], END_USER);

    let (status, body) = sidecar
        .post(
            &format!("/v1/conversations/{conversation}/session"),
            "s-1",
            &json!({"endUserClientId": END_USER, "operation": "End", "operationBy": "EndUser"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ended = sidecar.fake.interaction().calls_to("messagingSession");
    assert_eq!(ended[0].body["operation"], "End");
    assert_eq!(ended[0].body["channelAddressIdentifier"], CHANNEL);

    let (status, body) = sidecar
        .send(
            Method::PATCH,
            "/v1/agent-work/0Bz5g0000000001",
            &[("idempotency-key", "w-1")],
            &json!({"status": "Accept"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let work = sidecar.fake.interaction().calls_to("agentWork");
    assert_eq!(work[0].body["status"], "Accept");
    assert_eq!(
        work[0].headers["authorizationcontexttype"],
        "ConversationChannelDefinition"
    );
}

#[tokio::test]
async fn a_salesforce_refusal_comes_back_as_422_with_salesforces_code_and_message() {
    let sidecar = Sidecar::start().await;

    let (status, body) = sidecar
        .send(
            Method::PATCH,
            "/v1/agent-work/not-a-work-id",
            &[("idempotency-key", "w-bad")],
            &json!({"status": "Close"}),
        )
        .await;

    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["kind"], "salesforce_refused");
    assert_eq!(body["error"]["salesforce"]["code"], 10082);
    assert_eq!(
        body["error"]["salesforce"]["message"],
        "Invalid workId: Please provide a valid workId."
    );
}

/// A refusal of the connector's own credentials (a token still refused after its refresh, or
/// an authorization context that does not fit the token) is not the partner's mistake: a 502
/// that is not kept, so the same key goes through once the operator has fixed the setup.
#[tokio::test]
async fn a_refusal_of_the_connectors_credentials_is_a_502_that_a_retry_gets_past() {
    let sidecar = Sidecar::start().await;
    let context_text = "The AuthorizationContext for the request isn't valid based on the \
                        supplied Authorization access token.";
    let mut context_mismatch = InteractionFault::status("interactions", 403, 1);
    context_mismatch.code = Some(10005);
    context_mismatch.message = Some(context_text.to_owned());
    let mut token_refused = InteractionFault::status("interactions", 401, 1);
    token_refused.code = Some(10004);
    token_refused.message =
        Some("The supplied Authorization access token is not valid.".to_owned());
    for (key, fault) in [("k-ctx", context_mismatch), ("k-token", token_refused)] {
        sidecar.fake.interaction().inject_fault(fault).unwrap();

        let (answer, body) = sidecar.post("/v1/messages", key, &message("hi")).await;

        assert_eq!(answer, 502, "{body}");
        assert_eq!(body["error"]["kind"], "salesforce_auth_failed", "{body}");
        if key == "k-ctx" {
            assert_eq!(body["error"]["salesforce"]["code"], 10005, "{body}");
        }
        let (answer, body) = sidecar.post("/v1/messages", key, &message("hi")).await;
        assert_eq!(
            answer, 202,
            "{key}: the retry reaches Salesforce again: {body}"
        );
    }
    let calls = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(
        calls[0].response["code"]
            .as_i64()
            .or(calls[0].response["errorDetail"]["code"].as_i64()),
        Some(10005)
    );
}

/// `/messagingSession` answers `200 {success: false, errorReason}`; `INTERNAL_ERROR` means try
/// again, while `SESSION_NOT_FOUND` is Salesforce's final word, passed on with its reason.
#[tokio::test]
async fn a_session_call_answered_success_false_is_retried_or_refused_by_its_reason() {
    let sidecar = Sidecar::start().await;
    let conversation = uuid::Uuid::new_v4().to_string();
    let end = json!({"endUserClientId": END_USER, "operation": "End", "operationBy": "EndUser"});
    let path = format!("/v1/conversations/{conversation}/session");
    for (key, reason, expected) in [
        ("end-1", "INTERNAL_ERROR", 200),
        ("end-2", "SESSION_NOT_FOUND", 422),
    ] {
        sidecar
            .fake
            .interaction()
            .inject_fault(InteractionFault::unsuccessful(
                "messagingSession",
                200,
                500,
                reason,
                1,
            ))
            .unwrap();
        let (status, body) = sidecar.post(&path, key, &end).await;
        assert_eq!(status, expected, "{reason}: {body}");
        if expected == 422 {
            assert_eq!(body["error"]["salesforce"]["message"], reason);
        }
    }
    let statuses: Vec<(u16, Value)> = sidecar
        .fake
        .interaction()
        .calls_to("messagingSession")
        .iter()
        .map(|call| (call.status, call.response["success"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [(200, json!(false)), (200, json!(true)), (200, json!(false))]
    );
}

#[tokio::test]
async fn a_retried_send_across_a_connector_restart_gets_the_first_answer_and_one_entry() {
    let sidecar = Sidecar::start().await;
    let (status, first) = sidecar
        .post("/v1/messages", "retry-me", &message("once"))
        .await;
    assert_eq!(status, 202, "{first}");

    let sidecar = sidecar.restart().await;
    let (status, again) = sidecar
        .post("/v1/messages", "retry-me", &message("once"))
        .await;

    assert_eq!(status, 202);
    assert_eq!(again, first, "the first answer, replayed");
    assert_eq!(sidecar.fake.interaction().calls_to("interactions").len(), 1);
    let (_, other) = sidecar
        .post("/v1/messages", "another-key", &message("twice"))
        .await;
    assert_ne!(other["entryId"], first["entryId"]);
}

#[tokio::test]
async fn a_retry_the_store_no_longer_remembers_is_refused_as_a_duplicate_and_creates_no_second_entry(
) {
    let sidecar = Sidecar::start().await;
    let (status, first) = sidecar
        .post("/v1/messages", "forgotten", &message("hi"))
        .await;
    assert_eq!(status, 202);
    // As if the answer was lost and the store with it: the retry carries the same entry id.
    let store = sidecar.dir.path().join("state.redb");
    let sidecar = sidecar
        .restart_after(|| std::fs::remove_file(&store).unwrap())
        .await;

    let (status, again) = sidecar
        .post("/v1/messages", "forgotten", &message("hi"))
        .await;

    assert_eq!(status, 202, "{again}");
    assert_eq!(again["entryId"], first["entryId"]);
    assert_eq!(again["alreadyCreated"], true);
    let calls = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(
        calls.iter().map(|call| call.status).collect::<Vec<_>>(),
        [202, 400]
    );
    assert_eq!(calls[1].response["code"], 10073);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_inside_the_deadline() {
    let sidecar = Sidecar::start().await;
    let mut fault = InteractionFault::rate_limit("interactions", 1);
    fault.retry_after_secs = Some(1);
    sidecar.fake.interaction().inject_fault(fault).unwrap();

    let started = Instant::now();
    let (status, body) = sidecar.post("/v1/messages", "k-429", &message("hi")).await;

    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let calls = sidecar.fake.interaction().calls_to("interactions");
    assert_eq!(
        calls.iter().map(|call| call.status).collect::<Vec<_>>(),
        [429, 202]
    );
    assert_eq!(
        calls[0].body["json"]["interactions"][0]["payload"]["id"],
        calls[1].body["json"]["interactions"][0]["payload"]["id"],
        "the retry carries the same entry id"
    );
}

/// A `503` passes Salesforce's `Retry-After` on, so the partner waits as long as Salesforce asked
/// instead of hammering it; the retry with the same key then goes through once.
#[tokio::test]
async fn a_503_carries_salesforces_retry_after_to_the_partner() {
    let sidecar = Sidecar::start().await;
    let mut fault = InteractionFault::rate_limit("interactions", 1);
    fault.retry_after_secs = Some(30);
    sidecar.fake.interaction().inject_fault(fault).unwrap();

    let response = sidecar
        .http
        .post(sidecar.url("/v1/messages"))
        .header("idempotency-key", "k-wait")
        .header("request-timeout-ms", "1000")
        .json(&message("hi"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("30")
    );
    let (status, body) = sidecar.post("/v1/messages", "k-wait", &message("hi")).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_caller_deadline_bounds_the_retries_and_a_retry_after_it_succeeds_once() {
    let sidecar = Sidecar::start().await;
    sidecar
        .fake
        .interaction()
        .inject_fault(InteractionFault::status("interactions", 503, 1000))
        .unwrap();

    let started = Instant::now();
    let (status, body) = sidecar
        .send(
            Method::POST,
            "/v1/messages",
            &[("idempotency-key", "k-503"), ("request-timeout-ms", "800")],
            &message("hi"),
        )
        .await;

    assert!(matches!(status, 503 | 504), "{status} {body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!sidecar
        .fake
        .interaction()
        .calls_to("interactions")
        .is_empty());
    sidecar.fake.interaction().clear_faults();
    let (status, body) = sidecar.post("/v1/messages", "k-503", &message("hi")).await;
    assert_eq!(status, 202, "{body}");
    let accepted = sidecar
        .fake
        .interaction()
        .calls_to("interactions")
        .iter()
        .filter(|call| call.status == 202)
        .count();
    assert_eq!(accepted, 1);
}

#[tokio::test]
async fn with_a_token_every_sidecar_route_requires_the_bearer_and_a_401_says_nothing_more() {
    let sidecar = Sidecar::start_with("sidecar_token = \"t0k3n-for-the-sidecar\"\n").await;

    let (status, body) = sidecar.post("/v1/messages", "k", &message("hi")).await;
    assert_eq!((status, body), (401, Value::Null));
    let (status, _) = sidecar
        .send(
            Method::POST,
            "/v1/messages",
            &[
                ("idempotency-key", "k"),
                ("authorization", "Bearer t0k3n-for-the-sidecar"),
            ],
            &message("hi"),
        )
        .await;
    assert_eq!(status, 202);
    assert!(!sidecar.connector.log().contains("t0k3n-for-the-sidecar"));
}

#[tokio::test]
async fn starting_a_conversation_makes_one_conversation_call_and_a_retry_replays_its_answer() {
    let sidecar = Sidecar::start().await;
    let body = json!({"endUserClientId": END_USER, "routingAttributes": {"tier": "gold"}});

    let (status, first) = sidecar.post("/v1/conversations", "start-1", &body).await;
    let (_, again) = sidecar.post("/v1/conversations", "start-1", &body).await;

    assert_eq!(status, 202, "{first}");
    assert_eq!(again, first);
    let calls = sidecar.fake.interaction().calls_to("conversation");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["channelAddressIdentifier"], CHANNEL);
    assert_eq!(
        calls[0].body["participants"],
        json!([{"appType": "custom", "role": "EndUser", "subject": END_USER}])
    );
    assert_eq!(calls[0].body["routingAttributes"]["tier"], "gold");
    assert_eq!(
        first["conversationIdentifier"],
        calls[0].response["conversationIdentifier"]
    );
    assert_eq!(
        first["messagingSessionId"],
        calls[0].response["messagingSessionId"]
    );
    let (status, refused) = sidecar
        .post(
            "/v1/conversations",
            "start-2",
            &json!({"endUserClientId": END_USER, "routingAttributes": {"tier": 3}}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["field"].clone()),
        (400, json!("routingAttributes.tier"))
    );
}

/// The answers the HTTP layer gives before any route runs are in the sidecar's JSON error
/// shape too: a body over the limit names `body`, a path that is not UTF-8 names its
/// parameter, an unknown route says so.
#[tokio::test]
async fn answers_given_before_any_route_runs_are_json_naming_what_is_wrong() {
    let sidecar = Sidecar::start().await;
    let read = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        (status, content_type, body)
    };
    let huge = json!({"endUserClientId": END_USER, "text": "x".repeat(3 << 20)});
    // A client of its own: the server answers before reading the whole body and closes the
    // connection, which a pooled connection would then be reused over.
    let (status, content_type, body) = read(
        reqwest::Client::new()
            .post(sidecar.url("/v1/messages"))
            .header("idempotency-key", "huge")
            .json(&huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (413, "application/json"));
    assert_eq!(body["error"]["field"], "body", "{body}");

    let get = |path: &'static str| {
        let request = sidecar.http.get(sidecar.url(path));
        async move { read(request.send().await.unwrap()).await }
    };

    let (status, _, body) = get("/v1/conversations/%FF").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "conversationIdentifier", "{body}");

    let (status, _, body) = get("/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["kind"], "not_found");
    assert!(sidecar.fake.interaction().calls().is_empty());
}
