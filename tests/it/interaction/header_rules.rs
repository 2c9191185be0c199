//! The fake Interaction Service enforces every header rule; bad headers are sent with raw reqwest.

use std::time::Duration;

use crate::support::salesforce::{
    sample_capabilities, Salesforce, CHANNEL_DEFINITION, ORG_ID, ORG_ID_15,
};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

/// Headers of a request the fake accepts, with a fresh RequestId.
fn valid_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    set(&mut headers, "authorization", &format!("Bearer {token}"));
    set(&mut headers, "orgid", ORG_ID_15);
    set(&mut headers, "authorizationcontext", CHANNEL_DEFINITION);
    set(
        &mut headers,
        "authorizationcontexttype",
        "ConversationChannelDefinition",
    );
    set(&mut headers, "requestid", &uuid::Uuid::new_v4().to_string());
    set(&mut headers, "content-type", "application/json");
    headers
}

/// Sends `body` with `headers`; returns the status and the `{message, code}` body.
async fn send(
    fake: &Salesforce,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = crate::support::salesforce::raw_http()
        .request(method, format!("{}{path}", fake.base_url))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A header mutation and the refusal it must cause.
struct Case {
    name: &'static str,
    mutate: fn(&mut HeaderMap, &Salesforce),
    status: u16,
    code: i64,
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
}

#[tokio::test]
async fn every_header_rule_is_enforced_by_the_fake() {
    let fake = Salesforce::start().await;
    let capabilities = serde_json::to_vec(&sample_capabilities()).unwrap();
    let token = fake.registry.static_token().to_owned();

    // The baseline is accepted, so each refusal below is due to its one change.
    let (status, _) = send(
        &fake,
        Method::PATCH,
        "/api/v1/capabilities",
        valid_headers(&token),
        capabilities.clone(),
    )
    .await;
    assert_eq!(status, 200);

    let cases = [
        Case {
            name: "no authorization",
            mutate: |h, _| {
                h.remove("authorization");
            },
            status: 401,
            code: 10004,
        },
        Case {
            name: "unknown token",
            mutate: |h, _| set(h, "authorization", &format!("Bearer {ORG_ID}!unknown")),
            status: 401,
            code: 10004,
        },
        Case {
            name: "not a bearer token",
            mutate: |h, f| {
                set(
                    h,
                    "authorization",
                    &format!("Basic {}", f.registry.static_token()),
                );
            },
            status: 401,
            code: 10004,
        },
        Case {
            name: "expired token",
            mutate: |h, f| {
                let token = f.registry.issue(Duration::from_secs(60));
                f.registry.expire(&token);
                set(h, "authorization", &format!("Bearer {token}"));
            },
            status: 401,
            code: 10004,
        },
        Case {
            name: "18-character org id",
            mutate: |h, _| set(h, "orgid", ORG_ID),
            status: 400,
            code: 10016,
        },
        Case {
            name: "another org",
            mutate: |h, _| set(h, "orgid", "00D000000000001"),
            status: 400,
            code: 10016,
        },
        Case {
            name: "no org id",
            mutate: |h, _| {
                h.remove("orgid");
            },
            status: 400,
            code: 10016,
        },
        Case {
            name: "no authorization context",
            mutate: |h, _| {
                h.remove("authorizationcontext");
            },
            status: 400,
            code: 10016,
        },
        Case {
            name: "another authorization context",
            mutate: |h, _| set(h, "authorizationcontext", "Other_ChannelDefinition"),
            status: 403,
            code: 10005,
        },
        Case {
            name: "unknown context type",
            mutate: |h, _| set(h, "authorizationcontexttype", "Channel"),
            status: 400,
            code: 10093,
        },
        Case {
            name: "no request id",
            mutate: |h, _| {
                h.remove("requestid");
            },
            status: 400,
            code: 10016,
        },
        Case {
            name: "request id not a uuid",
            mutate: |h, _| set(h, "requestid", "request-1"),
            status: 400,
            code: 10016,
        },
        Case {
            name: "json sent as text",
            mutate: |h, _| set(h, "content-type", "text/plain"),
            status: 400,
            code: 10016,
        },
    ];
    for case in &cases {
        let mut headers = valid_headers(&token);
        (case.mutate)(&mut headers, &fake);
        let (status, body) = send(
            &fake,
            Method::PATCH,
            "/api/v1/capabilities",
            headers,
            capabilities.clone(),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (case.status, Some(case.code)),
            "case: {}",
            case.name
        );
        assert!(body["message"].is_string(), "case: {}", case.name);
    }
}

#[tokio::test]
async fn an_18_character_org_id_is_refused_with_salesforces_exact_body() {
    let fake = Salesforce::start().await;
    let mut headers = valid_headers(fake.registry.static_token());
    set(&mut headers, "orgid", ORG_ID);
    let body = serde_json::to_vec(&sample_capabilities()).unwrap();

    let (status, body) = send(&fake, Method::PATCH, "/api/v1/capabilities", headers, body).await;

    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"message": "Enter a valid header.", "code": 10016})
    );
}

#[tokio::test]
async fn a_reused_request_id_is_refused() {
    let fake = Salesforce::start().await;
    let headers = valid_headers(fake.registry.static_token());
    let body = serde_json::to_vec(&sample_capabilities()).unwrap();

    let (first, _) = send(
        &fake,
        Method::PATCH,
        "/api/v1/capabilities",
        headers.clone(),
        body.clone(),
    )
    .await;
    let (second, refusal) = send(&fake, Method::PATCH, "/api/v1/capabilities", headers, body).await;

    assert_eq!((first, second), (200, 400));
    assert_eq!(refusal["code"], 10016);
}

#[tokio::test]
async fn patch_agent_work_requires_the_authorization_context_type_header() {
    let fake = Salesforce::start().await;
    let body = serde_json::to_vec(
        &json!({"workId": "0Bz5g0000000001", "contextType": "Agent", "status": "Accept"}),
    )
    .unwrap();

    let (with_type, _) = send(
        &fake,
        Method::PATCH,
        "/api/v1/agentWork",
        valid_headers(fake.registry.static_token()),
        body.clone(),
    )
    .await;
    let mut headers = valid_headers(fake.registry.static_token());
    headers.remove("authorizationcontexttype");
    let (without_type, refusal) =
        send(&fake, Method::PATCH, "/api/v1/agentWork", headers, body).await;

    assert_eq!((with_type, without_type), (202, 400));
    assert_eq!(refusal["code"], 10016);
}

#[tokio::test]
async fn interactions_must_be_multipart() {
    let fake = Salesforce::start().await;
    let body = serde_json::to_vec(
        &json!({"to": "b0ffeafe-0d89-4338-b14a-172ad203f22a", "from": "u", "interactions": []}),
    )
    .unwrap();

    let (status, refusal) = send(
        &fake,
        Method::POST,
        "/api/v1/interactions",
        valid_headers(fake.registry.static_token()),
        body,
    )
    .await;

    assert_eq!((status, refusal["code"].as_i64()), (400, Some(10016)));
}
