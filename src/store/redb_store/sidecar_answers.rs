//! The redb tables of recent answers of the sidecar's write calls, by idempotency key, so a retried call (also
//! after a restart) gets the first answer instead of a second Salesforce call.
//!
//! Two tables: key → (stored at, answer) and (stored at, key) → (), the second so the oldest
//! answers are pruned first. Retention is bounded by age and by count, both enforced at each
//! insert. Keys and answers are opaque to the store; it knows nothing about HTTP or Salesforce.

use std::time::Duration;

use redb::{ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::StoreError;

/// Idempotency key → (stored at, epoch ms; the serialized answer).
const ANSWERS: TableDefinition<'_, &str, (u64, &[u8])> = TableDefinition::new("sidecar_answers");
/// (stored at, epoch ms; idempotency key) → nothing: the answers in age order.
const ANSWERS_BY_AGE: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("sidecar_answers_by_age");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(ANSWERS)
        .map_err(database_error("create sidecar answers table"))?;
    transaction
        .open_table(ANSWERS_BY_AGE)
        .map_err(database_error("create sidecar answers age table"))?;
    Ok(())
}

impl RedbStore {
    /// The answer stored under `key`, if it is still kept.
    pub(super) fn sidecar_answer(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.begin_read()?;
        let answers = transaction
            .open_table(ANSWERS)
            .map_err(database_error("open sidecar answers table"))?;
        let found = answers
            .get(key)
            .map_err(database_error("read sidecar answer"))?;
        Ok(found.map(|entry| entry.value().1.to_vec()))
    }

    /// Durably stores `answer` under `key` at `now_ms` unless one is there (the first answer
    /// wins), then prunes answers older than `max_age` and beyond `max_keys`, oldest first.
    /// Returns the answer now stored under `key`.
    ///
    /// Blocking: async callers use [`Store::run_blocking`].
    pub(super) fn put_sidecar_answer(
        &self,
        key: &str,
        answer: &[u8],
        now_ms: u64,
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let transaction = self.begin_write()?;
        let stored = {
            let mut answers = transaction
                .open_table(ANSWERS)
                .map_err(database_error("open sidecar answers table"))?;
            let mut by_age = transaction
                .open_table(ANSWERS_BY_AGE)
                .map_err(database_error("open sidecar answers age table"))?;
            let existing = answers
                .get(key)
                .map_err(database_error("read sidecar answer"))?
                .map(|entry| entry.value().1.to_vec());
            let stored = if let Some(first) = existing {
                first
            } else {
                answers
                    .insert(key, (now_ms, answer))
                    .map_err(database_error("write sidecar answer"))?;
                by_age
                    .insert((now_ms, key), ())
                    .map_err(database_error("write sidecar answer age"))?;
                answer.to_vec()
            };
            let oldest_kept =
                now_ms.saturating_sub(u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX));
            let mut count = answers
                .len()
                .map_err(database_error("count sidecar answers"))?;
            loop {
                let Some(first) = by_age
                    .first()
                    .map_err(database_error("read oldest sidecar answer"))?
                else {
                    break;
                };
                let (stored_at, old_key) = first.0.value();
                let old_key = old_key.to_owned();
                drop(first);
                if stored_at >= oldest_kept && count <= max_keys {
                    break;
                }
                by_age
                    .remove((stored_at, old_key.as_str()))
                    .map_err(database_error("prune sidecar answer age"))?;
                answers
                    .remove(old_key.as_str())
                    .map_err(database_error("prune sidecar answer"))?;
                count = count.saturating_sub(1);
            }
            stored
        };
        transaction
            .commit()
            .map_err(database_error("commit sidecar answer"))?;
        Ok(stored)
    }
}
