//! The redb tables of dead letters: metadata as JSON by id, the raw bytes by id, and the
//! replay id index that makes re-recording an event bump its letter. Ids come from the `meta`
//! table's counter, so they are never reused.

use std::collections::BTreeMap;
use std::time::SystemTime;

use redb::{ReadableTable as _, ReadableTableMetadata as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{database_error, RedbStore, META};
use crate::store::dead_letter::{DeadLetter, DeadLetterRetention, NewDeadLetter};
use crate::store::{from_unix_millis, unix_millis, StoreError};

/// Dead letter id → JSON metadata ([`StoredDeadLetter`]).
const DEAD_LETTERS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("dead_letters");

/// Dead letter id → the raw event bytes, exactly as received.
const DEAD_LETTER_PAYLOADS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("dead_letter_payloads");

/// Replay id → dead letter id, so re-recording an event finds its letter.
const DEAD_LETTERS_BY_REPLAY_ID: TableDefinition<'_, &[u8], u64> =
    TableDefinition::new("dead_letters_by_replay_id");

/// The `meta` key holding the next dead letter id.
const NEXT_DEAD_LETTER_ID_KEY: &str = "next_dead_letter_id";

const TABLE_NAME: &str = "dead_letters";

/// The on-disk metadata of a letter; the raw bytes live in their own table.
#[derive(Debug, Serialize, Deserialize)]
struct StoredDeadLetter {
    replay_id_hex: String,
    decoded_json: Option<String>,
    reason: String,
    attributes: BTreeMap<String, String>,
    first_attempt_ms: u64,
    last_attempt_ms: u64,
    attempts: u32,
}

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(DEAD_LETTERS)
        .map_err(database_error("create dead letters table"))?;
    transaction
        .open_table(DEAD_LETTER_PAYLOADS)
        .map_err(database_error("create dead letter payloads table"))?;
    transaction
        .open_table(DEAD_LETTERS_BY_REPLAY_ID)
        .map_err(database_error("create dead letter replay id index"))?;
    Ok(())
}

fn corrupt(id: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: TABLE_NAME,
        key: id.to_string(),
        reason: reason.into(),
    }
}

fn encode(id: u64, stored: &StoredDeadLetter) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(stored).map_err(|error| corrupt(id, error.to_string()))
}

fn decode(id: u64, metadata: &[u8], raw: Option<Vec<u8>>) -> Result<DeadLetter, StoreError> {
    let stored: StoredDeadLetter =
        serde_json::from_slice(metadata).map_err(|error| corrupt(id, error.to_string()))?;
    let replay_id = hex::decode(&stored.replay_id_hex)
        .map_err(|error| corrupt(id, format!("replay id: {error}")))?;
    let raw = raw.ok_or_else(|| corrupt(id, "raw bytes are missing"))?;
    Ok(DeadLetter {
        id,
        replay_id,
        raw,
        decoded_json: stored.decoded_json,
        reason: stored.reason,
        attributes: stored.attributes,
        first_attempt_at: from_unix_millis(stored.first_attempt_ms),
        last_attempt_at: from_unix_millis(stored.last_attempt_ms),
        attempts: stored.attempts,
    })
}

impl RedbStore {
    /// Durably records a dead letter and returns its id; an already recorded replay id bumps
    /// that letter's attempts, last attempt time, reason and attributes.
    pub(super) fn record_dead_letter(
        &self,
        letter: &NewDeadLetter,
        attempted_at: SystemTime,
    ) -> Result<u64, StoreError> {
        let attempted_ms = unix_millis(attempted_at);
        let transaction = self.begin_write()?;
        let id = {
            let mut letters = transaction
                .open_table(DEAD_LETTERS)
                .map_err(database_error("open dead letters table"))?;
            let mut by_replay_id = transaction
                .open_table(DEAD_LETTERS_BY_REPLAY_ID)
                .map_err(database_error("open dead letter replay id index"))?;
            let existing_id = by_replay_id
                .get(letter.replay_id.as_slice())
                .map_err(database_error("read dead letter replay id index"))?
                .map(|guard| guard.value());
            let existing = match existing_id {
                Some(id) => letters
                    .get(id)
                    .map_err(database_error("read dead letter"))?
                    .map(|guard| guard.value().to_vec())
                    .map(|metadata| (id, metadata)),
                None => None,
            };
            if let Some((id, metadata)) = existing {
                let mut stored: StoredDeadLetter = serde_json::from_slice(&metadata)
                    .map_err(|error| corrupt(id, error.to_string()))?;
                stored.attempts = stored.attempts.saturating_add(1);
                stored.last_attempt_ms = attempted_ms;
                stored.reason.clone_from(&letter.reason);
                stored.attributes.clone_from(&letter.attributes);
                if letter.decoded_json.is_some() {
                    stored.decoded_json.clone_from(&letter.decoded_json);
                }
                letters
                    .insert(id, encode(id, &stored)?.as_slice())
                    .map_err(database_error("write dead letter"))?;
                id
            } else {
                let id = next_dead_letter_id(&transaction)?;
                let stored = StoredDeadLetter {
                    replay_id_hex: hex::encode(&letter.replay_id),
                    decoded_json: letter.decoded_json.clone(),
                    reason: letter.reason.clone(),
                    attributes: letter.attributes.clone(),
                    first_attempt_ms: attempted_ms,
                    last_attempt_ms: attempted_ms,
                    attempts: 1,
                };
                letters
                    .insert(id, encode(id, &stored)?.as_slice())
                    .map_err(database_error("write dead letter"))?;
                let mut payloads = transaction
                    .open_table(DEAD_LETTER_PAYLOADS)
                    .map_err(database_error("open dead letter payloads table"))?;
                payloads
                    .insert(id, letter.raw.as_slice())
                    .map_err(database_error("write dead letter payload"))?;
                by_replay_id
                    .insert(letter.replay_id.as_slice(), id)
                    .map_err(database_error("write dead letter replay id index"))?;
                id
            }
        };
        let retention = DeadLetterRetention::from(&self.settings);
        prune(&transaction, &retention, attempted_ms, id)?;
        transaction
            .commit()
            .map_err(database_error("commit dead letter"))?;
        Ok(id)
    }

    /// The dead letter with this id, if it exists.
    pub(super) fn get_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let transaction = self.begin_read()?;
        let letters = transaction
            .open_table(DEAD_LETTERS)
            .map_err(database_error("open dead letters table"))?;
        let payloads = transaction
            .open_table(DEAD_LETTER_PAYLOADS)
            .map_err(database_error("open dead letter payloads table"))?;
        let Some(metadata) = letters
            .get(id)
            .map_err(database_error("read dead letter"))?
        else {
            return Ok(None);
        };
        let raw = payloads
            .get(id)
            .map_err(database_error("read dead letter payload"))?
            .map(|guard| guard.value().to_vec());
        decode(id, metadata.value(), raw).map(Some)
    }

    /// Up to `limit` dead letters with ids above `after_id`, in id order; page with the last id.
    pub(super) fn list_dead_letters(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let transaction = self.begin_read()?;
        let letters = transaction
            .open_table(DEAD_LETTERS)
            .map_err(database_error("open dead letters table"))?;
        let payloads = transaction
            .open_table(DEAD_LETTER_PAYLOADS)
            .map_err(database_error("open dead letter payloads table"))?;
        let first_id = match after_id {
            Some(after_id) => match after_id.checked_add(1) {
                Some(first_id) => first_id,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        let mut listed = Vec::new();
        for entry in letters
            .range(first_id..)
            .map_err(database_error("list dead letters"))?
            .take(limit)
        {
            let (id, metadata) = entry.map_err(database_error("list dead letters"))?;
            let id = id.value();
            let raw = payloads
                .get(id)
                .map_err(database_error("read dead letter payload"))?
                .map(|guard| guard.value().to_vec());
            listed.push(decode(id, metadata.value(), raw)?);
        }
        Ok(listed)
    }

    /// How many dead letters the store holds.
    pub(super) fn count_dead_letters(&self) -> Result<u64, StoreError> {
        let transaction = self.begin_read()?;
        let letters = transaction
            .open_table(DEAD_LETTERS)
            .map_err(database_error("open dead letters table"))?;
        letters.len().map_err(database_error("count dead letters"))
    }

    /// Durably removes one dead letter; returns whether it existed.
    pub(super) fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        let transaction = self.begin_write()?;
        let existed = {
            let mut letters = transaction
                .open_table(DEAD_LETTERS)
                .map_err(database_error("open dead letters table"))?;
            let removed = letters
                .remove(id)
                .map_err(database_error("remove dead letter"))?
                .map(|guard| guard.value().to_vec());
            match removed {
                None => false,
                Some(metadata) => {
                    let stored: StoredDeadLetter = serde_json::from_slice(&metadata)
                        .map_err(|error| corrupt(id, error.to_string()))?;
                    let replay_id = hex::decode(&stored.replay_id_hex)
                        .map_err(|error| corrupt(id, format!("replay id: {error}")))?;
                    let mut payloads = transaction
                        .open_table(DEAD_LETTER_PAYLOADS)
                        .map_err(database_error("open dead letter payloads table"))?;
                    payloads
                        .remove(id)
                        .map_err(database_error("remove dead letter payload"))?;
                    let mut by_replay_id = transaction
                        .open_table(DEAD_LETTERS_BY_REPLAY_ID)
                        .map_err(database_error("open dead letter replay id index"))?;
                    by_replay_id
                        .remove(replay_id.as_slice())
                        .map_err(database_error("remove dead letter replay id index"))?;
                    true
                }
            }
        };
        transaction
            .commit()
            .map_err(database_error("commit dead letter removal"))?;
        Ok(existed)
    }

    /// Durably removes every dead letter; returns how many there were. Ids are not reused.
    pub(super) fn remove_all_dead_letters(&self) -> Result<u64, StoreError> {
        let transaction = self.begin_write()?;
        let removed = {
            let mut letters = transaction
                .open_table(DEAD_LETTERS)
                .map_err(database_error("open dead letters table"))?;
            let removed = letters
                .len()
                .map_err(database_error("count dead letters"))?;
            letters
                .retain(|_, _| false)
                .map_err(database_error("remove dead letters"))?;
            let mut payloads = transaction
                .open_table(DEAD_LETTER_PAYLOADS)
                .map_err(database_error("open dead letter payloads table"))?;
            payloads
                .retain(|_, _| false)
                .map_err(database_error("remove dead letter payloads"))?;
            let mut by_replay_id = transaction
                .open_table(DEAD_LETTERS_BY_REPLAY_ID)
                .map_err(database_error("open dead letter replay id index"))?;
            by_replay_id
                .retain(|_, _| false)
                .map_err(database_error("remove dead letter replay id index"))?;
            removed
        };
        transaction
            .commit()
            .map_err(database_error("commit dead letter removal"))?;
        Ok(removed)
    }
}

/// Removes, oldest id first, the letters first dead-lettered more than `max_age` before
/// `now_ms` and those beyond `max_count`; never the letter `keep_id` just recorded.
fn prune(
    transaction: &redb::WriteTransaction,
    retention: &DeadLetterRetention,
    now_ms: u64,
    keep_id: u64,
) -> Result<(), StoreError> {
    let mut letters = transaction
        .open_table(DEAD_LETTERS)
        .map_err(database_error("open dead letters table"))?;
    let mut payloads = transaction
        .open_table(DEAD_LETTER_PAYLOADS)
        .map_err(database_error("open dead letter payloads table"))?;
    let mut by_replay_id = transaction
        .open_table(DEAD_LETTERS_BY_REPLAY_ID)
        .map_err(database_error("open dead letter replay id index"))?;
    let cutoff_ms = retention
        .max_age
        .map(|max_age| now_ms.saturating_sub(unix_millis(SystemTime::UNIX_EPOCH + max_age)));
    let mut count = letters
        .len()
        .map_err(database_error("count dead letters"))?;
    loop {
        let Some((id, metadata)) = letters
            .first()
            .map_err(database_error("read oldest dead letter"))?
            .map(|(id, metadata)| (id.value(), metadata.value().to_vec()))
        else {
            return Ok(());
        };
        if id == keep_id {
            return Ok(());
        }
        let stored: StoredDeadLetter =
            serde_json::from_slice(&metadata).map_err(|error| corrupt(id, error.to_string()))?;
        let too_many = retention.max_count.is_some_and(|max| count > max);
        let too_old = cutoff_ms.is_some_and(|cutoff| stored.first_attempt_ms < cutoff);
        if !too_many && !too_old {
            return Ok(());
        }
        letters
            .remove(id)
            .map_err(database_error("remove dead letter"))?;
        payloads
            .remove(id)
            .map_err(database_error("remove dead letter payload"))?;
        let replay_id = hex::decode(&stored.replay_id_hex)
            .map_err(|error| corrupt(id, format!("replay id: {error}")))?;
        by_replay_id
            .remove(replay_id.as_slice())
            .map_err(database_error("remove dead letter replay id index"))?;
        count = count.saturating_sub(1);
    }
}

/// Takes the next dead letter id from the `meta` table inside `transaction`.
fn next_dead_letter_id(transaction: &redb::WriteTransaction) -> Result<u64, StoreError> {
    let mut meta = transaction
        .open_table(META)
        .map_err(database_error("open meta table"))?;
    let id = meta
        .get(NEXT_DEAD_LETTER_ID_KEY)
        .map_err(database_error("read next dead letter id"))?
        .map_or(1, |guard| guard.value());
    meta.insert(NEXT_DEAD_LETTER_ID_KEY, id.saturating_add(1))
        .map_err(database_error("write next dead letter id"))?;
    Ok(id)
}
