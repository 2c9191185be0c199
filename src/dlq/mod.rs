//! The dead-letter operations behind `byoc-connector dlq`: list, show, replay, purge.
//!
//! They work on the store a stopped connector used; a running connector holds the file, and
//! serves the read-only ones over HTTP instead ([`router`], in `http.rs`). Replay re-delivers the stored envelope with its
//! original `Idempotency-Key` through the configured channel and removes the letter only
//! when the partner accepts it. It knows nothing about Pub/Sub or the pipeline.

mod http;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;

use crate::channel::{AnyChannel, Channel, Delivery, DeliveryError};
use crate::events::format_rfc3339_millis;
use crate::store::{DeadLetter, Store, StoreError};

pub use http::{router, DEAD_LETTERS_PATH};

/// Page size when walking every dead letter.
const LIST_PAGE: usize = 500;

/// Why a dead-letter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No dead letter has that id.
    #[error("no dead letter has id {0}")]
    NotFound(u64),
    /// The event never decoded, so there is no envelope to send.
    #[error("dead letter {id} cannot be replayed: the event never decoded ({reason}); its raw bytes are kept for inspection")]
    NotReplayable {
        /// The letter.
        id: u64,
        /// Why it was dead-lettered.
        reason: String,
    },
    /// The partner did not accept the replay; the letter is kept.
    #[error("dead letter {id} was not accepted by the partner: {error}")]
    Refused {
        /// The letter.
        id: u64,
        /// What the channel said.
        error: DeliveryError,
    },
}

/// Every dead letter, oldest first.
pub fn list(store: &Store) -> Result<Vec<DeadLetter>, DlqError> {
    let mut letters = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_dead_letters(after, LIST_PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full_page = page.len() == LIST_PAGE;
        letters.extend(page);
        if !full_page {
            break;
        }
    }
    Ok(letters)
}

/// One letter without its payload, as `dlq list` and `GET /v1/dead-letters` give it.
pub fn summary(letter: &DeadLetter) -> serde_json::Value {
    json!({
        "id": letter.id,
        "replayId": hex::encode(&letter.replay_id),
        "reason": letter.reason,
        "attempts": letter.attempts,
        "firstAttemptAt": rfc3339(letter.first_attempt_at),
        "lastAttemptAt": rfc3339(letter.last_attempt_at),
        "conversationId": letter.attributes.get("conversation_id"),
        "eventType": letter.attributes.get("event_type"),
    })
}

/// A table of summaries ([`summary`]) for a terminal: one row per letter, or a sentence
/// when there is none.
pub fn table(summaries: &[serde_json::Value]) -> String {
    if summaries.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let mut text = format!(
        "{:<6} {:<18} {:<8} {:<24} {}\n",
        "ID", "REPLAY ID", "ATTEMPTS", "LAST ATTEMPT (UTC)", "REASON"
    );
    for letter in summaries {
        let field = |name: &str| match &letter[name] {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        // Writing into a String cannot fail.
        let _ = writeln!(
            text,
            "{:<6} {:<18} {:<8} {:<24} {}",
            field("id"),
            field("replayId"),
            field("attempts"),
            field("lastAttemptAt"),
            field("reason")
        );
    }
    text
}

/// The full letter as JSON for `dlq show`: raw bytes in hex, and the decoded event as a JSON
/// object when it is one (as text otherwise).
pub fn show(store: &Store, id: u64) -> Result<serde_json::Value, DlqError> {
    let letter = store.get_dead_letter(id)?.ok_or(DlqError::NotFound(id))?;
    let decoded = letter.decoded_json.as_deref().map(|text| {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
    });
    Ok(json!({
        "id": letter.id,
        "replayId": hex::encode(&letter.replay_id),
        "reason": letter.reason,
        "attempts": letter.attempts,
        "firstAttemptAt": rfc3339(letter.first_attempt_at),
        "lastAttemptAt": rfc3339(letter.last_attempt_at),
        "attributes": letter.attributes,
        "decoded": decoded,
        "rawHex": hex::encode(&letter.raw),
    }))
}

/// Re-delivers one letter; removes it when the partner accepts it.
pub async fn replay(store: &Store, channel: &AnyChannel, id: u64) -> Result<(), DlqError> {
    let letter = store.get_dead_letter(id)?.ok_or(DlqError::NotFound(id))?;
    let Some(envelope) = letter.decoded_json.clone() else {
        return Err(DlqError::NotReplayable {
            id,
            reason: letter.reason,
        });
    };
    let attribute = |name: &str| letter.attributes.get(name).cloned().unwrap_or_default();
    let delivery = Delivery {
        idempotency_key: attribute("idempotency_key"),
        event_type: attribute("event_type").into(),
        body: Bytes::from(envelope),
    };
    match channel.deliver(&delivery).await {
        Ok(()) => {
            store.remove_dead_letter(id)?;
            Ok(())
        }
        Err(error) => Err(DlqError::Refused { id, error }),
    }
}

/// Re-delivers every replayable letter; returns (replayed, failed) ids with reasons.
pub async fn replay_all(
    store: &Store,
    channel: &AnyChannel,
) -> Result<(Vec<u64>, Vec<(u64, String)>), DlqError> {
    let mut replayed = Vec::new();
    let mut failed = Vec::new();
    for letter in list(store)? {
        match replay(store, channel, letter.id).await {
            Ok(()) => replayed.push(letter.id),
            Err(DlqError::Store(err)) => return Err(err.into()),
            Err(other) => failed.push((letter.id, other.to_string())),
        }
    }
    Ok((replayed, failed))
}

/// Deletes one letter.
pub fn purge(store: &Store, id: u64) -> Result<(), DlqError> {
    if store.remove_dead_letter(id)? {
        Ok(())
    } else {
        Err(DlqError::NotFound(id))
    }
}

/// Deletes every letter; returns how many.
pub fn purge_all(store: &Store) -> Result<u64, DlqError> {
    Ok(store.remove_all_dead_letters()?)
}

/// `at` as an RFC 3339 UTC time with milliseconds.
fn rfc3339(at: SystemTime) -> String {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    format_rfc3339_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_when_there_is_nothing_and_gives_one_row_per_letter() {
        assert_eq!(table(&[]), "no dead letters\n");
        let letter = json!({
            "id": 7, "replayId": "00000000000f4245", "attempts": 2,
            "lastAttemptAt": "2026-12-02T02:33:09.265Z", "reason": "partner answered 422",
        });
        let text = table(&[letter]);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].starts_with("ID"));
        assert!(rows[1].starts_with("7 "), "{text}");
        assert!(rows[1].contains("2026-12-02T02:33:09.265Z"), "{text}");
        assert!(rows[1].ends_with("partner answered 422"), "{text}");
    }
}
