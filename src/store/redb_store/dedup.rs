//! The redb side of completed idempotency keys: which deliveries already finished, so a
//! redelivery is skipped.
//!
//! On disk an ack batch's keys are one row: commit number → when they completed and the keys
//! (`completed_key_batches`). A commit appends one row at the table's end and pruning removes
//! rows from its start, so a batch of a hundred keys costs one insert instead of a hundred
//! (redb rewrites a leaf page on every insert, so a row per key would be the largest store
//! cost of a delivered event). Lookups by key are answered from memory: the 128-bit fingerprint
//! of every kept key, loaded when the file opens and changed only with the commit that changes
//! the file. The set is bounded by count and by age, pruned a commit's keys at a time at each
//! commit. Keys are opaque strings here; which key an event carries is decided elsewhere.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redb::{ReadableTable as _, TableDefinition};
use siphasher::sip128::SipHasher13;

use super::{database_error, RedbStore};
use crate::store::fingerprint_table::FingerprintTable;
use crate::store::key_index::fingerprint;
use crate::store::StoreError;

/// Commit number → one commit's completed keys ([`encode_batch`]), oldest commit first.
const COMPLETED_BATCHES: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("completed_key_batches");

/// (completion time ms, idempotency key) → nothing: schema version 2's table, one row per key,
/// moved into [`COMPLETED_BATCHES`] by the migration to version 3.
const V2_COMPLETED_BY_AGE: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("completed_keys_by_age");

/// Idempotency key → completion time: the key-ordered table of schema version 1, dropped by the
/// migration to version 2.
pub(super) const LEGACY_COMPLETED_KEYS: TableDefinition<'_, &str, u64> =
    TableDefinition::new("completed_keys");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(COMPLETED_BATCHES)
        .map_err(database_error("create completed keys table"))?;
    Ok(())
}

/// A row's value: the completion time (u64, little-endian), then each key as its length (u32,
/// little-endian) and its UTF-8 bytes.
fn encode_batch<'k>(completed_at_ms: u64, keys: impl IntoIterator<Item = &'k str>) -> Vec<u8> {
    let mut row = completed_at_ms.to_le_bytes().to_vec();
    for key in keys {
        let length = u32::try_from(key.len()).unwrap_or(u32::MAX);
        row.extend_from_slice(&length.to_le_bytes());
        row.extend_from_slice(key.as_bytes());
    }
    row
}

/// A row's completion time and keys; `None` when the bytes are not what [`encode_batch`] writes.
fn decode_batch(row: &[u8]) -> Option<(u64, Vec<&str>)> {
    let (time, mut rest) = row.split_first_chunk::<8>()?;
    let mut keys = Vec::new();
    while !rest.is_empty() {
        let (length, after) = rest.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
        let key = after.get(..length)?;
        keys.push(std::str::from_utf8(key).ok()?);
        rest = &after[length..];
    }
    Some((u64::from_le_bytes(*time), keys))
}

/// The keys of the row of commit `number`, or the error naming it.
fn decoded(number: u64, row: &[u8]) -> Result<(u64, Vec<&str>), StoreError> {
    decode_batch(row).ok_or_else(|| corrupt(number))
}

/// The completion time of the row of commit `number`, without reading its keys.
fn completed_at(number: u64, row: &[u8]) -> Result<u64, StoreError> {
    row.split_first_chunk::<8>()
        .map(|(time, _)| u64::from_le_bytes(*time))
        .ok_or_else(|| corrupt(number))
}

/// The error for a row of commit `number` that is not what [`encode_batch`] writes.
fn corrupt(number: u64) -> StoreError {
    StoreError::Corrupt {
        table: "completed_key_batches",
        key: number.to_string(),
        reason: "not a completion time followed by length-prefixed UTF-8 keys".to_owned(),
    }
}

/// Every kept key, oldest commit first, handed to `each`.
fn for_each_key(
    transaction: &redb::ReadTransaction,
    mut each: impl FnMut(&str),
) -> Result<(), StoreError> {
    let batches = transaction
        .open_table(COMPLETED_BATCHES)
        .map_err(database_error("open completed keys table"))?;
    for entry in batches
        .iter()
        .map_err(database_error("list completed keys"))?
    {
        let (number, row) = entry.map_err(database_error("list completed keys"))?;
        let (_, keys) = decoded(number.value(), row.value())?;
        keys.into_iter().for_each(&mut each);
    }
    Ok(())
}

/// Moves schema version 2's one row per key into one row per completion time, inside the
/// schema check's transaction.
pub(super) fn migrate_from_version_2(
    transaction: &redb::WriteTransaction,
) -> Result<(), StoreError> {
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    {
        let by_age = transaction
            .open_table(V2_COMPLETED_BY_AGE)
            .map_err(database_error("open version 2 completed keys table"))?;
        for entry in by_age
            .iter()
            .map_err(database_error("list version 2 completed keys"))?
        {
            let (key, _) = entry.map_err(database_error("list version 2 completed keys"))?;
            let (completed_at_ms, key) = key.value();
            match rows.last_mut() {
                Some((time, keys)) if *time == completed_at_ms => keys.push(key.to_owned()),
                _ => rows.push((completed_at_ms, vec![key.to_owned()])),
            }
        }
    }
    let mut batches = transaction
        .open_table(COMPLETED_BATCHES)
        .map_err(database_error("open completed keys table"))?;
    for (number, (completed_at_ms, keys)) in (0u64..).zip(&rows) {
        let row = encode_batch(*completed_at_ms, keys.iter().map(String::as_str));
        batches
            .insert(number, row.as_slice())
            .map_err(database_error("write completed keys"))?;
    }
    drop(batches);
    transaction
        .delete_table(V2_COMPLETED_BY_AGE)
        .map_err(database_error("drop the version 2 completed keys table"))?;
    Ok(())
}

/// Turns keys into 128-bit fingerprints: SipHash-1-3 with a 128-bit output, keyed at random
/// when the set is built. Two different keys among the few hundred thousand kept share one
/// with a probability below 2^-90, so a match is taken as the key itself; the random key means
/// nobody can choose keys that collide. Fingerprints live only in memory and are made again
/// from the stored keys at every open, so the key never has to be stable. On a key this short
/// a keyed SipHash costs a tenth of SHA-256 where SHA-256 runs in software and about a third
/// with SHA extensions, and every delivered event takes two or three (the dispatcher's lookup,
/// its commit, its pruning).
#[derive(Debug, Clone, Copy)]
struct Fingerprints(SipHasher13);

impl Fingerprints {
    fn random() -> Self {
        Self(SipHasher13::new_with_keys(rand::random(), rand::random()))
    }

    fn of(&self, key: &str) -> u128 {
        self.0.hash(key.as_bytes()).as_u128()
    }
}

/// The fingerprints of every committed key. A key counts once the commit that wrote it is
/// durable and stops counting once the commit that pruned it is: in between, a lookup gives the
/// set as it was before that commit.
#[derive(Debug)]
pub(super) struct CompletedSet {
    fingerprints: Fingerprints,
    /// Held by each commit that changes the keys, from its first read of the set until its
    /// change is applied, so two commits never work from the same set.
    commits: Mutex<()>,
    /// Locked only to look a key up, to read the set or to apply a change; never across a
    /// commit's I/O, so a lookup never waits for an fsync.
    prints: Mutex<FingerprintTable<u128>>,
}

impl CompletedSet {
    /// The set of the keys `database` holds, sized for `max_keys` (the store's bound) so a
    /// steady stream never grows it.
    pub(super) fn load(database: &redb::Database, max_keys: usize) -> Result<Self, StoreError> {
        use redb::ReadableDatabase as _;
        let transaction = database
            .begin_read()
            .map_err(database_error("begin read"))?;
        let fingerprints = Fingerprints::random();
        let mut set = FingerprintTable::with_capacity(max_keys);
        for_each_key(&transaction, |key| {
            set.insert(fingerprints.of(key));
        })?;
        Ok(Self {
            fingerprints,
            commits: Mutex::new(()),
            prints: Mutex::new(set),
        })
    }

    /// Starts a commit that changes the set; hold the guard until [`Self::apply`] is done.
    pub(super) fn begin_commit(&self) -> MutexGuard<'_, ()> {
        self.commits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `key` was committed (and not pruned since).
    pub(super) fn contains(&self, key: &str) -> bool {
        let print = self.fingerprints.of(key);
        self.prints().contains(print)
    }

    /// How many keys the set holds.
    pub(super) fn len(&self) -> usize {
        self.prints().len()
    }

    /// Applies a commit's change; call it only after the transaction committed.
    pub(super) fn apply(&self, change: SetChange) {
        let mut prints = self.prints();
        for removed in change.removed {
            prints.remove(removed);
        }
        for added in change.added {
            prints.insert(added);
        }
    }

    fn prints(&self) -> MutexGuard<'_, FingerprintTable<u128>> {
        self.prints.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a commit changes in the set once it is durable.
#[derive(Debug, Default)]
pub(super) struct SetChange {
    added: Vec<u128>,
    removed: Vec<u128>,
    /// The row the commit appended, which pruning by count leaves alone.
    appended: Option<u64>,
}

/// Records `keys` as completed at `completed_at_ms`, in one row; a key already kept (in `set`,
/// or earlier in `keys`) keeps its first time. Call it inside [`CompletedSet::begin_commit`].
pub(super) fn insert_in<'k>(
    transaction: &redb::WriteTransaction,
    set: &CompletedSet,
    keys: impl IntoIterator<Item = &'k str>,
    completed_at_ms: u64,
    change: &mut SetChange,
) -> Result<(), StoreError> {
    // Hashed before the set is locked, so lookups wait only for the membership checks.
    let printed: Vec<(&str, u128)> = keys
        .into_iter()
        .map(|key| (key, set.fingerprints.of(key)))
        .collect();
    let mut in_batch = FingerprintTable::with_capacity(printed.len());
    let new_keys: Vec<&str> = {
        let kept = set.prints();
        printed
            .into_iter()
            .filter(|(_, print)| {
                if kept.contains(*print) || !in_batch.insert(*print) {
                    return false;
                }
                change.added.push(*print);
                true
            })
            .map(|(key, _)| key)
            .collect()
    };
    if new_keys.is_empty() {
        return Ok(());
    }
    let mut batches = transaction
        .open_table(COMPLETED_BATCHES)
        .map_err(database_error("open completed keys table"))?;
    let number = batches
        .last()
        .map_err(database_error("read newest completed keys"))?
        .map_or(0, |(last, _)| last.value().saturating_add(1));
    let row = encode_batch(completed_at_ms, new_keys);
    batches
        .insert(number, row.as_slice())
        .map_err(database_error("write completed keys"))?;
    change.appended = Some(number);
    Ok(())
}

/// Removes the oldest commits' keys until at most `max_keys` remain and none is older than
/// `max_age`, a commit's keys at a time; the keys this commit appended are never pruned by
/// count, so a bound smaller than one batch keeps that batch. Call it inside
/// [`CompletedSet::begin_commit`], after [`insert_in`].
///
/// Returns how many keys were pruned.
pub(super) fn prune_in(
    transaction: &redb::WriteTransaction,
    set: &CompletedSet,
    now_ms: u64,
    max_keys: usize,
    max_age: Duration,
    change: &mut SetChange,
) -> Result<u64, StoreError> {
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let oldest_kept_ms = now_ms.saturating_sub(max_age_ms);
    let mut remaining = set.len().saturating_add(change.added.len());
    let mut batches = transaction
        .open_table(COMPLETED_BATCHES)
        .map_err(database_error("open completed keys table"))?;
    let mut pruned = 0;
    loop {
        let Some((number, completed_at_ms)) = batches
            .first()
            .map_err(database_error("read oldest completed keys"))?
            .map(|(number, row)| {
                let number = number.value();
                completed_at(number, row.value()).map(|time| (number, time))
            })
            .transpose()?
        else {
            break;
        };
        let over_count = remaining > max_keys && change.appended != Some(number);
        let too_old = completed_at_ms < oldest_kept_ms;
        if !over_count && !too_old {
            break;
        }
        let Some(row) = batches
            .remove(number)
            .map_err(database_error("prune completed keys"))?
        else {
            break;
        };
        let (_, keys) = decoded(number, row.value())?;
        remaining = remaining.saturating_sub(keys.len());
        pruned += keys.len() as u64;
        change
            .removed
            .extend(keys.into_iter().map(|key| set.fingerprints.of(key)));
    }
    Ok(pruned)
}

impl RedbStore {
    /// Whether a delivery with this idempotency key was committed as completed.
    ///
    /// Only committed keys count; [`crate::store::CheckpointWriter::is_completed`] also sees keys
    /// still waiting in the current batch. Answered from memory.
    pub(super) fn is_completed(&self, idempotency_key: &str) -> bool {
        self.completed.contains(idempotency_key)
    }

    /// The fingerprints of every completed key, oldest first, for the writer's in-memory index.
    pub(super) fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        let transaction = self.begin_read()?;
        let mut fingerprints = Vec::new();
        for_each_key(&transaction, |key| fingerprints.push(fingerprint(key)))?;
        Ok(fingerprints)
    }

    /// How many completed keys the store holds.
    pub(super) fn completed_key_count(&self) -> u64 {
        u64::try_from(self.completed.len()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set's fingerprints repeat for the same key and differ between keys; two sets are keyed
    /// apart, so nobody can precompute a collision that holds for a running store.
    #[test]
    fn fingerprints_are_stable_within_a_set_and_keyed_per_set() {
        let (one, other) = (Fingerprints::random(), Fingerprints::random());
        let key = "6c8f0a3e-0000-4000-8000-000000000001";
        assert_eq!(one.of(key), one.of(key));
        assert_ne!(one.of(key), one.of("6c8f0a3e-0000-4000-8000-000000000002"));
        assert_ne!(one.of(key), other.of(key));
    }

    #[test]
    fn a_row_gives_back_its_time_and_keys_in_order() {
        let row = encode_batch(1_733_000_000_123, ["event-a", "", "ключ-✓"]);
        assert_eq!(
            decode_batch(&row),
            Some((1_733_000_000_123, vec!["event-a", "", "ключ-✓"]))
        );
        assert_eq!(decode_batch(&encode_batch(7, [])), Some((7, vec![])));
    }

    #[test]
    fn a_cut_or_garbled_row_is_refused_naming_the_table_and_the_commit() {
        let row = encode_batch(5, ["event-a", "event-b"]);
        for cut in [0, 3, 10, 14, row.len() - 1] {
            assert_eq!(decode_batch(&row[..cut]), None, "cut at {cut}");
        }
        let mut not_utf8 = row.clone();
        not_utf8[12] = 0xff;
        assert_eq!(decode_batch(&not_utf8), None);
        let error = decoded(41, &row[..10]).unwrap_err().to_string();
        assert!(error.contains("completed_key_batches"), "{error}");
        assert!(error.contains("41"), "{error}");
    }
}
