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
        (
            edited("/messagingSession", Some(json!({"type": "Establish"}))),
            "messagingSession.startTime",
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

/// `import(2, now)` whose second entry, from the end user, is `entry` (sender and time set).
fn with_end_user_entry(now: i64, mut entry: Value) -> Value {
    let mut body = import(2, now);
    entry["sender"] = END_USER.into();
    entry["clientTimestamp"] = (now - 30 * MINUTE_MS).into();
    body["entries"][1] = entry;
    body
}

#[tokio::test]
async fn an_uploaded_attachment_is_imported_as_an_attachments_entry_and_a_broken_one_is_named() {
    let registered = "\n[capabilities]\nregister = true\n\
        formats = [\"StaticContentMessage:Text\", \"StaticContentMessage:Attachments\"]\n\
        attachment_mime_types = [\"application/pdf\"]\n";
    let sidecar = Sidecar::start_configured("", registered).await;
    let now = now_ms();
    let file = json!({"name": "receipt.pdf", "mimeType": "application/pdf",
                      "url": "https://example.my.salesforce.com/sfc/servlet.shepherd/version/download/068000000000001",
                      "contentVersionId": "068000000000001AAA"});
    let body = with_end_user_entry(now, json!({"text": "my receipt", "attachment": file}));
    let (status, answer) = sidecar
        .post("/v1/conversation-history", "h-file", &body)
        .await;
    assert_eq!(status, 202, "{answer}");
    let calls = sidecar.fake.interaction().calls_to("conversationHistory");
    assert_eq!(calls.len(), 1);
    let message = &calls[0].body["conversationEntries"][1]["entryPayload"]["abstractMessage"];
    let content = &message["staticContent"];
    assert_eq!(content["formatType"], "Attachments");
    assert_eq!(content["text"], "my receipt");
    let attachment = &content["attachments"][0];
    assert_eq!(attachment["name"], "receipt.pdf");
    assert_eq!(attachment["mimeType"], "application/pdf");
    assert_eq!(attachment["url"], file["url"]);
    assert!(uuid::Uuid::parse_str(attachment["id"].as_str().unwrap()).is_ok());
    assert_eq!(message["references"][0]["recordId"], "068000000000001AAA");
    assert_eq!(message["references"][0]["id"], attachment["id"]);

    let broken = |field: &str, value: Value| {
        let mut file = file.clone();
        file[field] = value;
        with_end_user_entry(now, json!({"attachment": file}))
    };
    for (body, field) in [
        (
            broken("url", json!("ftp://files/receipt.pdf")),
            "entries[1].attachment.url",
        ),
        (broken("name", json!(" ")), "entries[1].attachment.name"),
        (
            broken("mimeType", json!("image/png")),
            "entries[1].attachment.mimeType",
        ),
        (with_end_user_entry(now, json!({})), "entries[1].text"),
    ] {
        let (status, answer) = sidecar
            .post("/v1/conversation-history", "h-bad-file", &body)
            .await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert_eq!(
        sidecar
            .fake
            .interaction()
            .calls_to("conversationHistory")
            .len(),
        1,
        "nothing broken was sent"
    );
}
