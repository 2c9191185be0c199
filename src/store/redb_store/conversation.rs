//! The redb tables of conversation state: one opaque record per conversation identifier, written with the ack
//! batches so keeping it costs no fsync of its own, and forgotten once the conversation has
//! been quiet for the configured age.
//!
//! The conversation module serializes its own record; the store only keys it and stamps each
//! write with the batch's commit time, which is the conversation's last activity. Records are
//! replaced whole, the last write of a batch winning. Each ack batch commit removes the
//! records whose last activity is older than `conversation_max_age`, so the table does not
//! grow with every conversation ever seen. It knows nothing about what a record says.
//!
//! Activity is kept to the minute, rounded up ([`ACTIVITY_STEP_MS`]): a busy conversation's
//! record is rewritten with nearly every batch, and while its stamp stays in the same minute
//! that write is one insert and a point read, not four inserts and removals across three
//! tables. Rounded up, a record is kept at least `conversation_max_age` after its last write
//! and at most a minute longer; the age is configured in days.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use redb::{ReadableTable as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::{unix_millis, StoreError};

/// Conversation identifier → serialized conversation state.
const CONVERSATIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("conversations");

/// Conversation identifier → time of its last write (ms since the Unix epoch).
const CONVERSATION_ACTIVITY: TableDefinition<'_, &str, u64> =
    TableDefinition::new("conversation_activity");

/// (last write ms, conversation identifier) → nothing: the records in the order they expire.
const CONVERSATIONS_BY_ACTIVITY: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("conversations_by_activity");

/// Activity stamps are whole minutes: a write's time rounded up to one of these.
const ACTIVITY_STEP_MS: u64 = 60_000;

/// The activity stamp of a write at `now_ms`: the end of its minute.
fn activity_stamp(now_ms: u64) -> u64 {
    now_ms
        .div_ceil(ACTIVITY_STEP_MS)
        .saturating_mul(ACTIVITY_STEP_MS)
}

/// Creates the tables, and stamps records written before activity was kept with the current
/// time, so they too expire one full age from now.
pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    let table = transaction
        .open_table(CONVERSATIONS)
        .map_err(database_error("create conversations table"))?;
    let mut activity = transaction
        .open_table(CONVERSATION_ACTIVITY)
        .map_err(database_error("create conversation activity table"))?;
    let mut by_activity = transaction
        .open_table(CONVERSATIONS_BY_ACTIVITY)
        .map_err(database_error("create conversation activity index"))?;
    let now_ms = unix_millis(SystemTime::now());
    for entry in table
        .iter()
        .map_err(database_error("read conversations table"))?
    {
        let (conversation, _) = entry.map_err(database_error("read conversation state"))?;
        let conversation = conversation.value();
        let stamped = activity
            .get(conversation)
            .map_err(database_error("read conversation activity"))?
            .is_some();
        if !stamped {
            activity
                .insert(conversation, now_ms)
                .map_err(database_error("write conversation activity"))?;
            by_activity
                .insert((now_ms, conversation), ())
                .map_err(database_error("write conversation activity index"))?;
        }
    }
    Ok(())
}

/// Writes `records` inside `transaction`, each active at `now_ms`.
pub(super) fn put_in(
    transaction: &redb::WriteTransaction,
    records: &BTreeMap<String, Vec<u8>>,
    now_ms: u64,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut table = transaction
        .open_table(CONVERSATIONS)
        .map_err(database_error("open conversations table"))?;
    let mut activity = transaction
        .open_table(CONVERSATION_ACTIVITY)
        .map_err(database_error("open conversation activity table"))?;
    let mut by_activity = transaction
        .open_table(CONVERSATIONS_BY_ACTIVITY)
        .map_err(database_error("open conversation activity index"))?;
    let stamp_ms = activity_stamp(now_ms);
    for (conversation, record) in records {
        let conversation = conversation.as_str();
        table
            .insert(conversation, record.as_slice())
            .map_err(database_error("write conversation state"))?;
        let previous = activity
            .get(conversation)
            .map_err(database_error("read conversation activity"))?
            .map(|guard| guard.value());
        if previous == Some(stamp_ms) {
            continue;
        }
        activity
            .insert(conversation, stamp_ms)
            .map_err(database_error("write conversation activity"))?;
        if let Some(previous_ms) = previous {
            by_activity
                .remove((previous_ms, conversation))
                .map_err(database_error("move conversation activity"))?;
        }
        by_activity
            .insert((stamp_ms, conversation), ())
            .map_err(database_error("write conversation activity index"))?;
    }
    Ok(())
}

/// Removes the records last written more than `max_age` before `now_ms`, oldest first;
/// `None` keeps them all. Returns how many were removed.
pub(super) fn prune_in(
    transaction: &redb::WriteTransaction,
    now_ms: u64,
    max_age: Option<Duration>,
) -> Result<u64, StoreError> {
    let Some(max_age) = max_age else {
        return Ok(0);
    };
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let oldest_kept_ms = now_ms.saturating_sub(max_age_ms);
    let mut table = transaction
        .open_table(CONVERSATIONS)
        .map_err(database_error("open conversations table"))?;
    let mut activity = transaction
        .open_table(CONVERSATION_ACTIVITY)
        .map_err(database_error("open conversation activity table"))?;
    let mut by_activity = transaction
        .open_table(CONVERSATIONS_BY_ACTIVITY)
        .map_err(database_error("open conversation activity index"))?;
    let mut pruned = 0;
    loop {
        let oldest = by_activity
            .first()
            .map_err(database_error("read oldest conversation activity"))?
            .map(|(key, _)| {
                let (active_ms, conversation) = key.value();
                (active_ms, conversation.to_owned())
            });
        let Some((active_ms, conversation)) = oldest else {
            break;
        };
        if active_ms >= oldest_kept_ms {
            break;
        }
        by_activity
            .remove((active_ms, conversation.as_str()))
            .map_err(database_error("prune conversation activity index"))?;
        activity
            .remove(conversation.as_str())
            .map_err(database_error("prune conversation activity"))?;
        table
            .remove(conversation.as_str())
            .map_err(database_error("prune conversation state"))?;
        pruned += 1;
    }
    Ok(pruned)
}

impl RedbStore {
    /// The stored record of `conversation`, if there is one. A point read.
    pub(super) fn conversation_state(
        &self,
        conversation: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.begin_read()?;
        let table = transaction
            .open_table(CONVERSATIONS)
            .map_err(database_error("open conversations table"))?;
        let record = table
            .get(conversation)
            .map_err(database_error("read conversation state"))?
            .map(|guard| guard.value().to_vec());
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase as _;

    use super::*;
    use crate::store::redb_store::CreateIfMissing;
    use crate::store::scratch::scratch_dir;
    use crate::store::{AckBatch, StoreSettings};

    /// The activity index as (stamp, conversation) pairs, oldest first.
    fn index(store: &RedbStore) -> Vec<(u64, String)> {
        let transaction = store.database.begin_read().unwrap();
        let by_activity = transaction.open_table(CONVERSATIONS_BY_ACTIVITY).unwrap();
        by_activity
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, _) = entry.unwrap();
                let (stamp, conversation) = key.value();
                (stamp, conversation.to_owned())
            })
            .collect()
    }

    fn write(store: &RedbStore, conversations: &[&str], at_ms: u64) {
        let mut batch = AckBatch::new();
        for conversation in conversations {
            batch.put_conversation(*conversation, at_ms.to_be_bytes().to_vec());
        }
        store.commit_ack_batch(&batch, at_ms).unwrap();
    }

    #[test]
    fn activity_is_stamped_at_the_end_of_its_minute_and_indexed_once_per_conversation() {
        let (_guard, dir) = scratch_dir("conversation-activity");
        let store = RedbStore::open(
            &dir.join("state.redb"),
            StoreSettings::default(),
            CreateIfMissing::Yes,
        )
        .unwrap();
        // Minute boundaries in the epoch's milliseconds: 1_733_000_040_000 is one.
        let minute = 1_733_000_040_000;
        write(&store, &["a", "b"], minute + 1);
        write(&store, &["a"], minute + 30_000);
        write(&store, &["a"], minute + ACTIVITY_STEP_MS);
        assert_eq!(
            index(&store),
            vec![
                (minute + ACTIVITY_STEP_MS, "a".to_owned()),
                (minute + ACTIVITY_STEP_MS, "b".to_owned()),
            ],
            "writes within one minute share the stamp at its end"
        );
        write(&store, &["b"], minute + ACTIVITY_STEP_MS + 1);
        assert_eq!(
            index(&store),
            vec![
                (minute + ACTIVITY_STEP_MS, "a".to_owned()),
                (minute + 2 * ACTIVITY_STEP_MS, "b".to_owned()),
            ],
            "a write in a later minute moves the stamp, leaving no older entry behind"
        );
        assert_eq!(
            store.conversation_state("a").unwrap(),
            Some((minute + ACTIVITY_STEP_MS).to_be_bytes().to_vec()),
            "the record itself is replaced by every write"
        );
    }
}
