//! The dead-letter operations behind `byoc-connector dlq`: list, show, replay, purge.
//!
//! They work on the store a stopped connector used (a running connector holds the file,
//! and the store refuses a second opener). Replay re-delivers the stored envelope with its
//! original `Idempotency-Key` through the configured channel and removes the letter only
//! when the partner accepts it. It knows nothing about Pub/Sub or the pipeline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;

use crate::channel::{AnyChannel, Channel, Delivery, DeliveryError};
use crate::store::{DeadLetter, Store, StoreError};

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

/// One line per letter for `dlq list`.
pub fn summary_line(letter: &DeadLetter) -> String {
    format!(
        "{id}\treplay_id={replay}\tattempts={attempts}\tlast={last}\t{reason}",
        id = letter.id,
        replay = hex::encode(&letter.replay_id),
        attempts = letter.attempts,
        last = unix_seconds(letter.last_attempt_at),
        reason = letter.reason,
    )
}

/// The full letter as JSON for `dlq show` (raw bytes in hex).
pub fn show(store: &Store, id: u64) -> Result<serde_json::Value, DlqError> {
    let letter = store.get_dead_letter(id)?.ok_or(DlqError::NotFound(id))?;
    Ok(json!({
        "id": letter.id,
        "replayId": hex::encode(&letter.replay_id),
        "reason": letter.reason,
        "attempts": letter.attempts,
        "firstAttemptAt": unix_seconds(letter.first_attempt_at),
        "lastAttemptAt": unix_seconds(letter.last_attempt_at),
        "attributes": letter.attributes,
        "decodedJson": letter.decoded_json,
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
        event_type: attribute("event_type"),
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

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
