//! The batched webhook against a real HTTP partner on 127.0.0.1: deliveries waiting at the
//! same time share one POST, each event gets its own fate from its own result, and a whole
//! batch failure or a malformed answer falls on every event as the contract says.

use std::time::Duration;

use axum::http::StatusCode;
use byoc_connector::channel::signature::{self, SIGNATURE_TOLERANCE};
use byoc_connector::channel::{AnyChannel, Channel, Delivery, DeliveryError, BATCH_SIZE_HEADER};
use byoc_connector::secret::SecretString;
use bytes::Bytes;

use crate::support::batch::{result, BatchAnswer, BatchPartner};

const SECRET: &str = "whsec_batch_test_secret";

fn delivery(key: &str, conversation: &str) -> Delivery {
    Delivery {
        idempotency_key: key.to_owned(),
        event_type: "interaction.message".into(),
        body: Bytes::from(format!(
            r#"{{"id":"{key}","type":"interaction.message","conversationIdentifier":"{conversation}"}}"#
        )),
    }
}

/// Delivers all of `deliveries` at once through `channel`; results in the same order.
async fn deliver_all(
    channel: &AnyChannel,
    deliveries: &[Delivery],
) -> Vec<Result<(), DeliveryError>> {
    futures::future::join_all(deliveries.iter().map(|delivery| channel.deliver(delivery))).await
}

/// The sizes of the partner's requests, in arrival order.
fn batch_sizes(partner: &BatchPartner) -> Vec<usize> {
    partner
        .requests()
        .iter()
        .map(|request| request.events.len())
        .collect()
}

/// Deliveries `key-<n>` of conversation `conversation-<n>`, for each `n` in `numbers`.
fn numbered_deliveries(numbers: std::ops::Range<usize>) -> Vec<Delivery> {
    numbers
        .map(|index| delivery(&format!("key-{index}"), &format!("conversation-{index}")))
        .collect()
}

/// Waits (bounded) until `partner` has received its first request.
async fn first_request_arrived(partner: &BatchPartner) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while partner.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the first request reaches the partner");
}

/// A partner accepting every event after `delay`.
async fn accepting_partner(delay: Duration) -> BatchPartner {
    BatchPartner::per_event(delay, |event| result(event, 200, serde_json::json!({}))).await
}

// One thread: every delivery is queued before the batch is taken, so they share one POST.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_deliveries_share_one_signed_post_and_each_gets_its_own_fate() {
    let partner = BatchPartner::per_event(Duration::ZERO, |event| {
        match event.idempotency_key.as_str() {
            "later" => result(event, 503, serde_json::json!({"retryAfter": 3})),
            "refused" => result(
                event,
                422,
                serde_json::json!({"errorCode": "2002", "errorMessage": "unsupported"}),
            ),
            _ => result(event, 200, serde_json::json!({})),
        }
    })
    .await;
    let channel = partner.channel(10, Some(SECRET));
    let deliveries = [
        delivery("ok", "conversation-a"),
        delivery("later", "conversation-b"),
        delivery("refused", "conversation-c"),
    ];

    let fates = deliver_all(&channel, &deliveries).await;

    let requests = partner.requests();
    assert_eq!(requests.len(), 1, "one POST for the three");
    let request = &requests[0];
    let keys: Vec<&str> = request
        .events
        .iter()
        .map(|event| event.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["ok", "later", "refused"]);
    let conversations: Vec<&str> = request
        .events
        .iter()
        .map(|event| event.conversation.as_str())
        .collect();
    assert_eq!(
        conversations,
        ["conversation-a", "conversation-b", "conversation-c"]
    );
    assert!(request
        .events
        .iter()
        .all(|event| event.event_type == "interaction.message"));
    assert_eq!(request.headers[BATCH_SIZE_HEADER], "3");
    assert!(
        request.headers.get("idempotency-key").is_none(),
        "each event carries its own key in the body"
    );
    let header = request.headers["x-byoc-signature"].to_str().unwrap();
    signature::verify(
        &SecretString::new(SECRET),
        header,
        &request.raw_body,
        SIGNATURE_TOLERANCE,
    )
    .expect("the signature covers the whole batch body");

    assert_eq!(fates[0], Ok(()));
    let later = fates[1].as_ref().unwrap_err();
    assert!(later.is_retryable(), "503 is retried: {later}");
    assert_eq!(later.retry_after(), Some(Duration::from_secs(3)));
    let Err(DeliveryError::Permanent(refusal)) = &fates[2] else {
        panic!("422 is permanent: {:?}", fates[2]);
    };
    assert_eq!(refusal.status, Some(StatusCode::UNPROCESSABLE_ENTITY));
    let refusal_body = std::str::from_utf8(&refusal.body_prefix).unwrap();
    assert!(
        refusal_body.contains(r#""errorCode":"2002""#),
        "the event's own result explains the refusal: {refusal_body}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_whole_batch_status_falls_on_every_event_as_for_a_single_event() {
    for (status, retryable) in [(503, true), (429, true), (400, false)] {
        let partner = BatchPartner::start(std::sync::Arc::new(move |_, _| {
            (
                BatchAnswer::Whole(StatusCode::from_u16(status).unwrap()),
                Duration::ZERO,
            )
        }))
        .await;
        let channel = partner.channel(10, None);
        let deliveries = [delivery("a", "one"), delivery("b", "two")];

        let fates = deliver_all(&channel, &deliveries).await;

        assert_eq!(partner.requests().len(), 1);
        for fate in fates {
            let error = fate.unwrap_err();
            assert_eq!(error.is_retryable(), retryable, "status {status}: {error}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_or_incomplete_answer_retries_the_events_it_does_not_settle() {
    for body in ["ok", "{}", r#"{"results":[{"status":200}]}"#] {
        let partner = BatchPartner::start(std::sync::Arc::new(move |_, _| {
            (BatchAnswer::Raw(StatusCode::OK, body), Duration::ZERO)
        }))
        .await;
        let channel = partner.channel(10, None);
        let fates = deliver_all(&channel, &[delivery("a", "one"), delivery("b", "two")]).await;
        for fate in fates {
            let error = fate.unwrap_err();
            assert!(error.is_retryable(), "answer {body}: {error}");
            assert!(error.to_string().contains("malformed"), "{error}");
        }
    }
    // A well-formed answer that leaves an event out settles the others only.
    let partner = BatchPartner::start(std::sync::Arc::new(|_, _| {
        (
            BatchAnswer::Raw(
                StatusCode::OK,
                r#"{"results":[{"idempotencyKey":"a","status":200}]}"#,
            ),
            Duration::ZERO,
        )
    }))
    .await;
    let channel = partner.channel(10, None);
    let fates = deliver_all(&channel, &[delivery("a", "one"), delivery("b", "two")]).await;
    assert_eq!(fates[0], Ok(()));
    assert!(fates[1].as_ref().is_err_and(DeliveryError::is_retryable));
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_never_holds_more_than_batch_max_events() {
    let partner = accepting_partner(Duration::from_millis(20)).await;
    let channel = partner.channel(2, None);
    let deliveries = numbered_deliveries(0..7);

    let fates = deliver_all(&channel, &deliveries).await;

    assert!(fates.iter().all(Result::is_ok), "{fates:?}");
    let sizes = batch_sizes(&partner);
    assert!(sizes.iter().all(|size| *size <= 2), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 7, "{sizes:?}");
}

// A request per straggler would spend a POST on each event a busy connector dispatches while a
// batch is out; waiting for that batch lets them share the next one.
#[tokio::test(flavor = "current_thread")]
async fn events_queued_while_a_batch_is_out_wait_for_it_and_share_the_next_post() {
    let partner = accepting_partner(Duration::from_millis(200)).await;
    let channel = partner.channel(10, None);
    let first = delivery("first", "conversation-0");
    let stragglers = numbered_deliveries(1..4);

    // Once the partner holds the first, each straggler is queued 10 ms after the one before.
    let (first_fate, straggler_fates) = tokio::join!(channel.deliver(&first), async {
        first_request_arrived(&partner).await;
        futures::future::join_all(stragglers.iter().zip(1..).map(|(straggler, index)| {
            let channel = &channel;
            async move {
                tokio::time::sleep(Duration::from_millis(10 * index)).await;
                channel.deliver(straggler).await
            }
        }))
        .await
    });

    assert_eq!(first_fate, Ok(()));
    assert!(
        straggler_fates.iter().all(Result::is_ok),
        "{straggler_fates:?}"
    );
    assert_eq!(batch_sizes(&partner), [1, 3]);
    assert_eq!(partner.most_open_at_once(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn full_batches_go_out_side_by_side_while_another_is_out() {
    let partner = accepting_partner(Duration::from_millis(200)).await;
    let channel = partner.channel(2, None);
    let first = delivery("first", "conversation-0");
    let burst = numbered_deliveries(1..7);

    let (first_fate, burst_fates) = tokio::join!(channel.deliver(&first), async {
        first_request_arrived(&partner).await;
        deliver_all(&channel, &burst).await
    });

    assert_eq!(first_fate, Ok(()));
    assert!(burst_fates.iter().all(Result::is_ok), "{burst_fates:?}");
    assert_eq!(batch_sizes(&partner), [1, 2, 2, 2]);
    assert_eq!(
        partner.most_open_at_once(),
        4,
        "the full batches went out at once"
    );
}
