//! The redb tables of completed idempotency keys: which deliveries already finished, so a redelivery is skipped.
//!
//! The set is bounded by count and by age. Each commit of an ack batch prunes the oldest keys
//! beyond either bound, so the file does not grow with the stream. Keys are opaque strings
//! here; which key an event carries is decided elsewhere.

use std::time::Duration;

use redb::{ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::key_index::fingerprint;
use crate::store::StoreError;

/// Idempotency key → completion time (ms since the Unix epoch).
const COMPLETED_KEYS: TableDefinition<'_, &str, u64> = TableDefinition::new("completed_keys");

/// (completion time ms, idempotency key) → nothing: the keys in the order they are pruned.
const COMPLETED_BY_AGE: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("completed_keys_by_age");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(COMPLETED_KEYS)
        .map_err(database_error("create completed keys table"))?;
    transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("create completed keys age index"))?;
    Ok(())
}

/// Records `keys` as completed at `completed_at_ms`; a key already present keeps its first time.
pub(crate) fn insert_in<'k>(
    transaction: &redb::WriteTransaction,
    keys: impl IntoIterator<Item = &'k str>,
    completed_at_ms: u64,
) -> Result<(), StoreError> {
    let mut completed = transaction
        .open_table(COMPLETED_KEYS)
        .map_err(database_error("open completed keys table"))?;
    let mut by_age = transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("open completed keys age index"))?;
    for key in keys {
        let already_completed = completed
            .get(key)
            .map_err(database_error("read completed key"))?
            .is_some();
        if already_completed {
            continue;
        }
        completed
            .insert(key, completed_at_ms)
            .map_err(database_error("write completed key"))?;
        by_age
            .insert((completed_at_ms, key), ())
            .map_err(database_error("write completed key age"))?;
    }
    Ok(())
}

/// Removes the oldest keys until at most `max_keys` remain and none is older than `max_age`.
///
/// Returns how many keys were pruned.
pub(crate) fn prune_in(
    transaction: &redb::WriteTransaction,
    now_ms: u64,
    max_keys: usize,
    max_age: Duration,
) -> Result<u64, StoreError> {
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let oldest_kept_ms = now_ms.saturating_sub(max_age_ms);
    let max_keys = u64::try_from(max_keys).unwrap_or(u64::MAX);
    let mut completed = transaction
        .open_table(COMPLETED_KEYS)
        .map_err(database_error("open completed keys table"))?;
    let mut by_age = transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("open completed keys age index"))?;
    let mut remaining = completed
        .len()
        .map_err(database_error("count completed keys"))?;
    let mut pruned = 0;
    loop {
        let oldest = by_age
            .first()
            .map_err(database_error("read oldest completed key"))?
            .map(|(key, _)| {
                let (completed_at_ms, key) = key.value();
                (completed_at_ms, key.to_owned())
            });
        let Some((completed_at_ms, key)) = oldest else {
            break;
        };
        let over_count = remaining > max_keys;
        let too_old = completed_at_ms < oldest_kept_ms;
        if !over_count && !too_old {
            break;
        }
        by_age
            .remove((completed_at_ms, key.as_str()))
            .map_err(database_error("prune completed key age"))?;
        completed
            .remove(key.as_str())
            .map_err(database_error("prune completed key"))?;
        remaining = remaining.saturating_sub(1);
        pruned += 1;
    }
    Ok(pruned)
}

impl RedbStore {
    /// Whether a delivery with this idempotency key was committed as completed.
    ///
    /// Only committed keys count; [`crate::store::CheckpointWriter::is_completed`] also sees keys
    /// still waiting in the current batch.
    pub(super) fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError> {
        let transaction = self.begin_read()?;
        let completed = transaction
            .open_table(COMPLETED_KEYS)
            .map_err(database_error("open completed keys table"))?;
        let found = completed
            .get(idempotency_key)
            .map_err(database_error("read completed key"))?;
        Ok(found.is_some())
    }

    /// The fingerprints of every completed key, oldest first, for the writer's in-memory index.
    pub(super) fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        let transaction = self.begin_read()?;
        let by_age = transaction
            .open_table(COMPLETED_BY_AGE)
            .map_err(database_error("open completed keys age index"))?;
        let mut fingerprints = Vec::new();
        for entry in by_age
            .iter()
            .map_err(database_error("list completed keys"))?
        {
            let (key, _) = entry.map_err(database_error("list completed keys"))?;
            let (_, key) = key.value();
            fingerprints.push(fingerprint(key));
        }
        Ok(fingerprints)
    }

    /// How many completed keys the store holds.
    pub(super) fn completed_key_count(&self) -> Result<u64, StoreError> {
        let transaction = self.begin_read()?;
        let completed = transaction
            .open_table(COMPLETED_KEYS)
            .map_err(database_error("open completed keys table"))?;
        completed
            .len()
            .map_err(database_error("count completed keys"))
    }
}
