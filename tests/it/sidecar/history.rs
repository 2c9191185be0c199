//! `POST /v1/conversation-history`: up to 25 entries from the last 24 hours go in one
//! `POST /conversationHistory` with entry ids derived from the `Idempotency-Key`; every rule
//! the import breaks is named before anything is sent.

use serde_json::{json, Value};

use super::{Sidecar, CHANNEL, END_USER};

const MINUTE_MS: i64 = 60_000;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// An import of `entries` alternating between the end user and a chatbot that left a minute ago.
fn import(entries: usize, now: i64) -> Value {
    let items: Vec<Value> = (0..entries)
        .map(|n| {
            let sender = if n % 2 == 0 { END_USER } else { "bot-1" };
            let at = now - 50 * MINUTE_MS + i64::try_from(n).unwrap() * 1000;
            json!({"sender": sender, "clientTimestamp": at, "text": format!("line {n}")})
        })
        .collect();
    json!({
        "participants": [
            {"subject": END_USER, "role": "EndUser", "joinedTime": now - 60 * MINUTE_MS},
            {"subject": "bot-1", "role": "Chatbot", "displayName": "Helper",
             "joinedTime": now - 60 * MINUTE_MS, "leftTime": now - MINUTE_MS}
        ],
        "entries": items,
        "messagingSession": {"type": "Establish", "startTime": now - 60 * MINUTE_MS}
    })
}

#[tokio::test]
async fn history_of_25_entries_goes_in_one_call_and_a_retry_replays_its_answer() {
    let sidecar = Sidecar::start().await;
    let body = import(25, now_ms());

    let (status, first) = sidecar.post("/v1/conversation-history", "h-1", &body).await;
    let (_, again) = sidecar.post("/v1/conversation-history", "h-1", &body).await;

    assert_eq!(status, 202, "{first}");
    assert_eq!(again, first);
    let calls = sidecar.fake.interaction().calls_to("conversationHistory");
    assert_eq!(calls.len(), 1);
    let sent = &calls[0].body;
    assert_eq!(sent["channelAddressIdentifier"], CHANNEL);
    assert_eq!(
        calls[0].headers["authorizationcontexttype"],
        "ConversationChannelDefinition"
    );
    let entries = sent["conversationEntries"].as_array().unwrap();
    assert_eq!(entries.len(), 25);
    let ids: Vec<&Value> = entries
        .iter()
        .map(|entry| &entry["entryPayload"]["id"])
        .collect();
    assert_eq!(json!(ids), first["entryIds"]);
    assert_eq!(
        entries[1]["sender"],
        json!({"appType": "chatbot", "role": "Chatbot", "subject": "bot-1"})
    );
    assert_eq!(
        sent["messagingSession"]["messagingSessionRequestType"],
        "EstablishMessagingSession"
    );
    assert_eq!(
        first["conversationIdentifier"],
        calls[0].response["conversationIdentifier"]
    );
}

#[tokio::test]
async fn an_import_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_sent() {
    let sidecar = Sidecar::start().await;
    let now = now_ms();
    // The two-entry import with the value at the JSON pointer `at` replaced (`None`: removed).
    let edited = |at: &str, value: Option<Value>| {
        let mut body = import(2, now);
        let (parent, leaf) = at.rsplit_once('/').unwrap();
        let parent = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => parent.insert(leaf.to_owned(), value),
            None => parent.remove(leaf),
        };
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (import(26, now), "entries"),
        (
            edited(
                "/entries/0/clientTimestamp",
                Some(json!(now - 25 * 60 * MINUTE_MS)),
            ),
            "entries[0].clientTimestamp",
        ),
        (
            edited("/entries/1/clientTimestamp", Some(json!(now - 30 * 1000))),
            "entries[1].clientTimestamp",
        ),
        (
            edited("/entries/0/sender", Some(json!("stranger"))),
            "entries[0].sender",
        ),
        (
            edited("/participants/1/leftTime", None),
            "participants[1].leftTime",
        ),
        (
            edited("/participants/1/role", Some(json!("EndUser"))),
            "participants[1].leftTime",
        ),
        (
            edited("/participants/1/role", Some(json!("Agent"))),
            "participants[1].role",
        ),
        (
            edited("/messagingSession", Some(json!({"type": "Attach"}))),
            "messagingSession.sessionId",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = sidecar
            .post("/v1/conversation-history", "h-bad", &body)
            .await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert!(answer["error"]["rule"].is_string(), "{answer}");
    }
    assert!(sidecar
        .fake
        .interaction()
        .calls_to("conversationHistory")
        .is_empty());
}
