//! Retryable errors are retried with backoff until a deadline, never past it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::salesforce::{sample_routing_result, Salesforce};
use byoc_connector::interaction::{retry_until, ErrorClass, InteractionError};
use fake_salesforce::interaction_service::InteractionFault;
use tokio::time::Instant;

/// Generous real-time deadline for tests against the fake (retries take well under a second).
const TEST_DEADLINE: Duration = Duration::from_secs(30);

fn api_error(status: u16, code: Option<i64>, message: &str) -> InteractionError {
    InteractionError::Api {
        status,
        code,
        message: message.to_owned(),
        retry_after: None,
    }
}

#[tokio::test]
async fn a_rate_limited_call_succeeds_when_retried_before_the_deadline() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    fake.interaction
        .inject_fault(InteractionFault::rate_limit("routingResult", 2))
        .unwrap();
    let (conversation, work_item) = fake.known_session();
    let request = sample_routing_result(&conversation, &work_item);

    retry_until(Instant::now() + TEST_DEADLINE, || {
        client.routing_result(&request)
    })
    .await
    .unwrap();

    let calls = fake.interaction.calls_to("routingResult");
    let statuses: Vec<u16> = calls.iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 429, 202]);
    assert_eq!(
        calls[0].response["message"],
        "Interaction request rate limit exceeded"
    );
}

#[tokio::test]
async fn a_server_error_injected_over_the_control_plane_is_retried() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let response = crate::support::salesforce::raw_http()
        .post(format!("{}/_harness/interaction/faults", fake.base_url))
        .json(&serde_json::json!({"path": "/api/v1/routingResult", "status": 503, "count": 1, "retryAfterSecs": 0}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (conversation, work_item) = fake.known_session();
    let request = sample_routing_result(&conversation, &work_item);

    retry_until(Instant::now() + TEST_DEADLINE, || {
        client.routing_result(&request)
    })
    .await
    .unwrap();

    assert_eq!(fake.call_statuses(), [503, 202]);
}

#[tokio::test]
async fn a_permanent_error_is_returned_at_once_without_retrying() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let request = sample_routing_result("not-a-uuid", "0Mw5g0000000001");

    let err = retry_until(Instant::now() + TEST_DEADLINE, || {
        client.routing_result(&request)
    })
    .await
    .unwrap_err();

    assert_eq!(err.code(), Some(10018));
    assert_eq!(
        err.message(),
        Some("The conversation identifier is not valid.")
    );
    assert_eq!(fake.interaction.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retrying_never_sleeps_past_the_deadline_and_returns_the_last_error() {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(3);
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();

    let err = retry_until(deadline, || {
        let attempts = attempts.clone();
        async move {
            let mut attempts = attempts.lock().unwrap();
            attempts.push(Instant::now());
            let message = format!("attempt {}", attempts.len());
            Err::<(), _>(api_error(503, None, &message))
        }
    })
    .await
    .unwrap_err();

    let returned_at = Instant::now();
    let attempts = attempts.lock().unwrap();
    assert!(attempts.len() >= 3, "only {} attempts", attempts.len());
    assert!(attempts.iter().all(|at| *at < deadline));
    assert!(returned_at <= deadline);
    assert_eq!(
        err.message(),
        Some(format!("attempt {}", attempts.len()).as_str())
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
}

#[tokio::test(start_paused = true)]
async fn retrying_gives_up_at_once_when_retry_after_reaches_past_the_deadline() {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(5);
    let mut calls = 0;

    let err = retry_until(deadline, || {
        calls += 1;
        async {
            Err::<(), _>(InteractionError::Api {
                status: 429,
                code: None,
                message: "Interaction request rate limit exceeded".to_owned(),
                retry_after: Some(Duration::from_secs(10)),
            })
        }
    })
    .await
    .unwrap_err();

    assert_eq!(calls, 1);
    assert_eq!(Instant::now(), start);
    assert_eq!(err.status(), Some(429));
}

#[tokio::test(start_paused = true)]
async fn retryable_salesforce_codes_are_retried_and_auth_errors_are_not() {
    let deadline = Instant::now() + Duration::from_secs(10);
    for code in [10019, 10055, 10056, 10094] {
        let mut calls = 0;
        let outcome = retry_until(deadline, || {
            calls += 1;
            let first = calls == 1;
            async move {
                if first {
                    Err(api_error(400, Some(code), "try again"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "code {code}");
        assert_eq!(calls, 2, "code {code}");
    }
    let mut calls = 0;
    let err = retry_until(deadline, || {
        calls += 1;
        async {
            Err::<(), _>(api_error(
                401,
                Some(10004),
                "The supplied Authorization access token is not valid.",
            ))
        }
    })
    .await
    .unwrap_err();
    assert_eq!((calls, err.class()), (1, ErrorClass::Auth));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_passed_makes_no_call() {
    let deadline = Instant::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    let mut calls = 0;

    let err = retry_until(deadline, || {
        calls += 1;
        async { Ok::<(), InteractionError>(()) }
    })
    .await
    .unwrap_err();

    assert_eq!(calls, 0);
    assert!(matches!(err, InteractionError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn calls_failing_together_are_retried_at_different_jittered_times() {
    const FAILING_CALLS: usize = 64;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let first_retry_at: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let calls = (0..FAILING_CALLS).map(|_| {
        let first_retry_at = first_retry_at.clone();
        let attempts = Arc::new(Mutex::new(0_u32));
        retry_until(deadline, move || {
            let (first_retry_at, attempts) = (first_retry_at.clone(), attempts.clone());
            async move {
                let mut attempts = attempts.lock().unwrap();
                *attempts += 1;
                if *attempts == 2 {
                    first_retry_at.lock().unwrap().push(start.elapsed());
                    return Ok(());
                }
                Err(api_error(503, None, "unavailable"))
            }
        })
    });

    for outcome in futures::future::join_all(calls).await {
        outcome.unwrap();
    }

    let first_retry_at = first_retry_at.lock().unwrap();
    assert_eq!(first_retry_at.len(), FAILING_CALLS);
    // A fixed jitter seed sends every retry at the same instant: a burst at a recovering
    // Salesforce. Paused time resolves to milliseconds, so allow some collisions.
    let distinct: std::collections::BTreeSet<Duration> = first_retry_at.iter().copied().collect();
    assert!(
        distinct.len() >= FAILING_CALLS / 2,
        "{FAILING_CALLS} calls retried at only {} distinct times: {distinct:?}",
        distinct.len()
    );
}

#[tokio::test]
async fn a_retry_after_given_as_an_http_date_is_honoured() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let rate_limited_with_a_date = InteractionFault {
        retry_after_date_in_secs: Some(2),
        ..InteractionFault::rate_limit("routingResult", 1)
    };
    fake.interaction
        .inject_fault(rate_limited_with_a_date.clone())
        .unwrap();
    let (conversation, work_item) = fake.known_session();
    let request = sample_routing_result(&conversation, &work_item);

    let refused = client.routing_result(&request).await.unwrap_err();
    let asked = refused
        .retry_after()
        .expect("the http-date Retry-After is read");
    assert!(
        asked > Duration::from_millis(500) && asked <= Duration::from_secs(2),
        "{asked:?}"
    );

    fake.interaction.clear_calls();
    fake.interaction
        .inject_fault(rate_limited_with_a_date)
        .unwrap();
    retry_until(Instant::now() + TEST_DEADLINE, || {
        client.routing_result(&request)
    })
    .await
    .unwrap();
    let calls = fake.interaction.calls_to("routingResult");
    let statuses: Vec<u16> = calls.iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 202]);
    let waited = calls[1].received_at - calls[0].received_at;
    assert!(
        waited >= Duration::from_millis(900),
        "the retry came {waited:?} after the 429, before the date it named"
    );
}

#[tokio::test]
async fn an_authorization_context_the_token_may_not_use_is_neither_refreshed_nor_retried() {
    let fake = Salesforce::start().await;
    let key_file = crate::support::salesforce::KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);
    let client = byoc_connector::interaction::InteractionClient::new(
        &fake.base_url,
        "Other_ChannelDefinition",
        provider,
        byoc_connector::interaction::ClientSettings {
            insecure: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (conversation, work_item) = fake.known_session();
    let request = sample_routing_result(&conversation, &work_item);

    let err = retry_until(Instant::now() + TEST_DEADLINE, || {
        client.routing_result(&request)
    })
    .await
    .unwrap_err();

    assert_eq!(err.code(), Some(10005));
    assert!(err.is_authorization_context_mismatch());
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(fake.call_statuses(), [403], "one call, no retry");
    assert_eq!(fake.oauth.token_requests(), 1, "no token refresh");
}
