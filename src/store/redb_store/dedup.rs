//! The redb side of completed idempotency keys: which deliveries already finished, so a
//! redelivery is skipped.
//!
//! On disk the keys live in one table ordered by completion time, so a commit appends at its
//! end and pruning removes from its start: an ack batch writes a few neighbouring pages instead
//! of one page per key scattered over a key-ordered tree (which was the largest single cost of
//! a delivered event). Lookups by key are answered from memory: the 128-bit fingerprint of every
//! kept key, loaded when the file opens and changed only with the commit that changes the file.
//! The set is bounded by count and by age, pruned at each commit. Keys are opaque strings here;
//! which key an event carries is decided elsewhere.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest;
use redb::{ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::key_index::{fingerprint, FingerprintSet};
use crate::store::StoreError;

/// (completion time ms, idempotency key) → nothing: the keys in the order they are pruned.
const COMPLETED_BY_AGE: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("completed_keys_by_age");

/// Idempotency key → completion time: the key-ordered table of schema version 1, dropped by the
/// migration to version 2.
pub(super) const LEGACY_COMPLETED_KEYS: TableDefinition<'_, &str, u64> =
    TableDefinition::new("completed_keys");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("create completed keys table"))?;
    Ok(())
}

/// A 128-bit fingerprint of a key: two different keys among the few hundred thousand kept share
/// one with a probability below 2^-90, so a match is taken as the key itself.
fn fingerprint128(key: &str) -> u128 {
    let hash = digest::digest(&digest::SHA256, key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_ref()[..16]);
    u128::from_le_bytes(bytes)
}

/// The fingerprints of every committed key. Its lock is held across each commit that changes
/// the keys, so a reader never sees a key the file does not hold, or misses one it does.
#[derive(Debug, Default)]
pub(super) struct CompletedSet(Mutex<FingerprintSet<u128>>);

impl CompletedSet {
    /// The set of the keys `database` holds.
    pub(super) fn load(database: &redb::Database) -> Result<Self, StoreError> {
        use redb::ReadableDatabase as _;
        let transaction = database
            .begin_read()
            .map_err(database_error("begin read"))?;
        let by_age = transaction
            .open_table(COMPLETED_BY_AGE)
            .map_err(database_error("open completed keys table"))?;
        let mut set = FingerprintSet::default();
        for entry in by_age
            .iter()
            .map_err(database_error("list completed keys"))?
        {
            let (key, _) = entry.map_err(database_error("list completed keys"))?;
            set.insert(fingerprint128(key.value().1));
        }
        Ok(Self(Mutex::new(set)))
    }

    /// The set, locked; every critical section is a lookup or a commit's whole update.
    pub(super) fn lock(&self) -> MutexGuard<'_, FingerprintSet<u128>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a commit changes in the set once it is durable.
#[derive(Debug, Default)]
pub(super) struct SetChange {
    added: Vec<u128>,
    removed: Vec<u128>,
}

impl SetChange {
    /// Applies the change; call it only after the transaction committed.
    pub(super) fn apply(self, set: &mut FingerprintSet<u128>) {
        for removed in self.removed {
            set.remove(&removed);
        }
        set.extend(self.added);
    }
}

/// Records `keys` as completed at `completed_at_ms`; a key already kept (in `set`, or earlier
/// in `keys`) keeps its first time.
pub(super) fn insert_in<'k>(
    transaction: &redb::WriteTransaction,
    set: &FingerprintSet<u128>,
    keys: impl IntoIterator<Item = &'k str>,
    completed_at_ms: u64,
    change: &mut SetChange,
) -> Result<(), StoreError> {
    let mut by_age = transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("open completed keys table"))?;
    let mut in_batch = FingerprintSet::default();
    for key in keys {
        let print = fingerprint128(key);
        if set.contains(&print) || !in_batch.insert(print) {
            continue;
        }
        by_age
            .insert((completed_at_ms, key), ())
            .map_err(database_error("write completed key"))?;
        change.added.push(print);
    }
    Ok(())
}

/// Removes the oldest keys until at most `max_keys` remain and none is older than `max_age`.
///
/// Returns how many keys were pruned.
pub(super) fn prune_in(
    transaction: &redb::WriteTransaction,
    now_ms: u64,
    max_keys: usize,
    max_age: Duration,
    change: &mut SetChange,
) -> Result<u64, StoreError> {
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let oldest_kept_ms = now_ms.saturating_sub(max_age_ms);
    let max_keys = u64::try_from(max_keys).unwrap_or(u64::MAX);
    let mut by_age = transaction
        .open_table(COMPLETED_BY_AGE)
        .map_err(database_error("open completed keys table"))?;
    let mut remaining = by_age
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
            .map_err(database_error("prune completed key"))?;
        change.removed.push(fingerprint128(&key));
        remaining = remaining.saturating_sub(1);
        pruned += 1;
    }
    Ok(pruned)
}

impl RedbStore {
    /// Whether a delivery with this idempotency key was committed as completed.
    ///
    /// Only committed keys count; [`crate::store::CheckpointWriter::is_completed`] also sees keys
    /// still waiting in the current batch. Answered from memory.
    pub(super) fn is_completed(&self, idempotency_key: &str) -> bool {
        self.completed
            .lock()
            .contains(&fingerprint128(idempotency_key))
    }

    /// The fingerprints of every completed key, oldest first, for the writer's in-memory index.
    pub(super) fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        let transaction = self.begin_read()?;
        let by_age = transaction
            .open_table(COMPLETED_BY_AGE)
            .map_err(database_error("open completed keys table"))?;
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
    pub(super) fn completed_key_count(&self) -> u64 {
        u64::try_from(self.completed.lock().len()).unwrap_or(u64::MAX)
    }
}
