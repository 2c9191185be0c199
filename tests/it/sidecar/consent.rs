//! `PATCH /v1/consent`: sent only when the channel's Consent Owner is the partner; otherwise a
//! `409` naming `channel.consent_owner` and nothing reaches Salesforce.

use serde_json::{json, Value};

use super::{Sidecar, CHANNEL, END_USER};

fn consent(status: &str) -> Value {
    json!({"endUserClientId": END_USER, "consentStatus": status})
}

#[tokio::test]
async fn consent_is_refused_naming_the_consent_owner_when_salesforce_owns_it_and_nothing_is_sent() {
    let sidecar = Sidecar::start().await;

    let (status, answer) = sidecar
        .patch("/v1/consent", "c-1", &consent("OptedOut"))
        .await;

    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["field"], "channel.consent_owner");
    assert!(
        answer["error"]["rule"]
            .as_str()
            .unwrap()
            .contains("partner"),
        "{answer}"
    );
    assert!(sidecar.fake.interaction().calls_to("consent").is_empty());
}

#[tokio::test]
async fn with_the_partner_owning_consent_it_reaches_salesforce_once_per_key() {
    let sidecar = Sidecar::start_configured("", "consent_owner = \"partner\"\n").await;
    // Salesforce's channel setup still names Salesforce: its refusal comes back typed.
    let (status, refused) = sidecar
        .patch("/v1/consent", "c-1", &consent("OptedOut"))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["salesforce"]["code"], 10022);

    sidecar.fake.interaction().set_partner_owns_consent(true);
    let (status, first) = sidecar
        .patch("/v1/consent", "c-2", &consent("ExplicitlyOptedIn"))
        .await;
    let (_, again) = sidecar
        .patch("/v1/consent", "c-2", &consent("ExplicitlyOptedIn"))
        .await;

    assert_eq!(status, 200, "{first}");
    assert_eq!(again, first);
    let calls = sidecar.fake.interaction().calls_to("consent");
    assert_eq!(
        calls.len(),
        2,
        "one refused, one accepted, the retry replayed"
    );
    assert_eq!(
        calls[1].body,
        json!({"channelAddressIdentifier": CHANNEL, "endUserClientId": END_USER,
               "consentStatus": "ExplicitlyOptedIn"})
    );
    for (body, field) in [
        (consent("Maybe"), "consentStatus"),
        (
            json!({"endUserClientId": "u".repeat(241), "consentStatus": "OptedOut"}),
            "endUserClientId",
        ),
    ] {
        let (status, answer) = sidecar.patch("/v1/consent", "c-bad", &body).await;
        assert_eq!((status, &answer["error"]["field"]), (400, &json!(field)));
    }
    assert_eq!(sidecar.fake.interaction().calls_to("consent").len(), 2);
}
