//! `DELETE /v1/conversations/{id}/participants/{userId}`: one `POST /participant` removing the
//! rep, its User id sent in the 15-character form.

use reqwest::Method;
use serde_json::{json, Value};

use super::Sidecar;

async fn remove(sidecar: &Sidecar, key: &str, path: &str) -> (u16, Value) {
    sidecar
        .send(
            Method::DELETE,
            path,
            &[("idempotency-key", key)],
            &Value::Null,
        )
        .await
}

#[tokio::test]
async fn removing_a_rep_posts_one_participant_removal_with_the_15_character_user_id() {
    let sidecar = Sidecar::start().await;
    let conversation = uuid::Uuid::new_v4().to_string();
    let path = format!("/v1/conversations/{conversation}/participants/005xx000001AbcdAAA");

    let (status, first) = remove(&sidecar, "p-1", &path).await;
    let (_, again) = remove(&sidecar, "p-1", &path).await;

    assert_eq!(status, 200, "{first}");
    assert_eq!(again, first);
    assert_eq!(first["removed"], "005xx000001Abcd");
    let calls = sidecar.fake.interaction().calls_to("participant");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].body,
        json!({"conversationIdentifier": conversation, "operation": "Remove",
               "participants": [{"appType": "agent", "role": "Agent", "subject": "005xx000001Abcd"}]})
    );
    let (status, answer) = remove(
        &sidecar,
        "p-2",
        &format!("/v1/conversations/{conversation}/participants/not-a-user"),
    )
    .await;
    assert_eq!((status, &answer["error"]["field"]), (400, &json!("userId")));
    assert_eq!(sidecar.fake.interaction().calls_to("participant").len(), 1);
}
