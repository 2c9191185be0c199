//! `POST /v1/conversations/{id}/delivery-failures` takes an `Idempotency-Key` like every write:
//! a retried report, also across a restart, gets the first answer and one entry.

use reqwest::Method;
use serde_json::{json, Value};

use super::{Sidecar, CHANNEL, END_USER};

fn failures(sidecar: &Sidecar) -> Vec<Value> {
    sidecar
        .fake
        .interaction()
        .calls_to("interactions")
        .into_iter()
        .map(|call| call.body["json"]["interactions"][0]["payload"].clone())
        .filter(|payload| payload["entryType"] == "MessageDeliveryFailed")
        .collect()
}

#[tokio::test]
async fn a_retried_delivery_failure_report_across_a_restart_gets_the_first_answer_and_one_entry() {
    let sidecar = Sidecar::start().await;
    let conversation = uuid::Uuid::new_v4().to_string();
    let path = format!("/v1/conversations/{conversation}/delivery-failures");
    let body = json!({"errorCode": "3005", "endUserClientId": END_USER,
                      "channelAddressIdentifier": CHANNEL});
    let (status, refused) = sidecar.send(Method::POST, &path, &[], &body).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (400, &json!("Idempotency-Key"))
    );

    let (status, first) = sidecar.post(&path, "failed-1", &body).await;
    assert_eq!(status, 202, "{first}");
    let sidecar = sidecar.restart().await;
    let (status, again) = sidecar.post(&path, "failed-1", &body).await;

    assert_eq!(status, 202);
    assert_eq!(again, first, "the first answer, replayed");
    let sent = failures(&sidecar);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["id"], first["entryId"]);
    let (_, other) = sidecar.post(&path, "failed-2", &body).await;
    assert_ne!(other["entryId"], first["entryId"]);
    assert_eq!(failures(&sidecar).len(), 2);
}
