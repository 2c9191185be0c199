//! The ack path on PostgreSQL: committing an ack batch (completed keys, checkpoints,
//! conversation state, and the pruning of keys and quiet conversations) and the reads of what
//! it wrote, all in the store's namespace.
//!
//! A batch is one transaction. Checkpoints move forward only, compared in Rust with
//! [`compare_replay_ids`](crate::store::compare_replay_ids) on the locked row. The count of
//! completed keys is kept in `byoc_meta`, so pruning by count costs no `count(*)`. It knows
//! nothing about the writer that cuts the batches.

use std::collections::HashSet;
use std::time::Duration;

use postgres::Transaction;

use super::schema::COMPLETED_KEY_COUNT;
use super::{failed, sql_ms, sql_u64, PostgresStore};
use crate::store::checkpoint::would_move_backwards;
use crate::store::key_index::fingerprint;
use crate::store::{AckBatch, Checkpoint, StoreError};

/// Milliseconds of `duration` as a `bigint`.
fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn commit_ack_batch(
    store: &PostgresStore,
    batch: &AckBatch,
    now_ms: u64,
) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let keys: Vec<String> = batch
        .completed_keys()
        .filter(|key| seen.insert(*key))
        .map(str::to_owned)
        .collect();
    let checkpoints: Vec<(String, String, Vec<u8>)> = batch
        .checkpoints()
        .iter()
        .map(|((org, topic), replay_id)| (org.clone(), topic.clone(), replay_id.clone()))
        .collect();
    let conversations: Vec<(String, Vec<u8>)> = batch
        .conversations()
        .iter()
        .map(|(conversation, record)| (conversation.clone(), record.clone()))
        .collect();
    let acks = batch.len();
    let max_keys = i64::try_from(store.settings.dedup_max_keys).unwrap_or(i64::MAX);
    let max_age = store.settings.dedup_max_age;
    let conversation_max_age = store.settings.conversation_max_age;
    let now = sql_ms(now_ms);
    store.write("commit ack batch", move |transaction, namespace| {
        let inserted = if keys.is_empty() {
            0
        } else {
            transaction
                .execute(
                    "INSERT INTO byoc_completed_keys (namespace, key, completed_at_ms) \
                     SELECT $1, key, $3 FROM unnest($2::text[]) AS key \
                     ON CONFLICT (namespace, key) DO NOTHING",
                    &[&namespace, &keys, &now],
                )
                .map_err(failed("write completed keys"))?
        };
        for (org, topic, replay_id) in &checkpoints {
            advance_checkpoint(transaction, namespace, org, topic, replay_id)?;
        }
        for (conversation, record) in &conversations {
            transaction
                .execute(
                    "INSERT INTO byoc_conversations (namespace, conversation, record, active_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, conversation) \
                     DO UPDATE SET record = EXCLUDED.record, active_ms = EXCLUDED.active_ms",
                    &[&namespace, conversation, record, &now],
                )
                .map_err(failed("write conversation state"))?;
        }
        let pruned =
            prune_completed_keys(transaction, namespace, inserted, now, max_keys, max_age)?;
        let conversations_pruned = match conversation_max_age {
            None => 0,
            Some(max_age) => transaction
                .execute(
                    "DELETE FROM byoc_conversations WHERE namespace = $1 AND active_ms < $2",
                    &[&namespace, &now.saturating_sub(duration_ms(max_age))],
                )
                .map_err(failed("prune conversation state"))?,
        };
        tracing::trace!(acks, pruned, conversations_pruned, "ack batch committed");
        Ok(())
    })
}

/// Moves the checkpoint of (org, topic) to `replay_id`, never backwards; the row is locked
/// for the comparison.
fn advance_checkpoint(
    transaction: &mut Transaction<'_>,
    namespace: &str,
    org: &str,
    topic: &str,
    replay_id: &[u8],
) -> Result<(), StoreError> {
    if let Some(stored) = locked_checkpoint(transaction, namespace, org, topic)? {
        if would_move_backwards(org, topic, &stored, replay_id) {
            return Ok(());
        }
    }
    upsert_checkpoint(transaction, namespace, org, topic, replay_id)
}

/// The stored checkpoint of (org, topic), its row locked until the transaction ends.
fn locked_checkpoint(
    transaction: &mut Transaction<'_>,
    namespace: &str,
    org: &str,
    topic: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = transaction
        .query_opt(
            "SELECT replay_id FROM byoc_checkpoints \
             WHERE namespace = $1 AND org = $2 AND topic = $3 FOR UPDATE",
            &[&namespace, &org, &topic],
        )
        .map_err(failed("read checkpoint"))?;
    Ok(row.map(|row| row.get(0)))
}

fn upsert_checkpoint(
    transaction: &mut Transaction<'_>,
    namespace: &str,
    org: &str,
    topic: &str,
    replay_id: &[u8],
) -> Result<(), StoreError> {
    transaction
        .execute(
            "INSERT INTO byoc_checkpoints (namespace, org, topic, replay_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, org, topic) \
             DO UPDATE SET replay_id = EXCLUDED.replay_id",
            &[&namespace, &org, &topic, &replay_id],
        )
        .map_err(failed("write checkpoint"))?;
    Ok(())
}

/// Removes keys older than `max_age`, then the oldest beyond `max_keys`; keeps the count in
/// `byoc_meta` right. Returns how many keys went.
fn prune_completed_keys(
    transaction: &mut Transaction<'_>,
    namespace: &str,
    inserted: u64,
    now: i64,
    max_keys: i64,
    max_age: Duration,
) -> Result<u64, StoreError> {
    let too_old = transaction
        .execute(
            "DELETE FROM byoc_completed_keys WHERE namespace = $1 AND completed_at_ms < $2",
            &[&namespace, &now.saturating_sub(duration_ms(max_age))],
        )
        .map_err(failed("prune completed keys"))?;
    let delta = i64::try_from(inserted)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(too_old).unwrap_or(i64::MAX));
    let mut remaining = adjust_key_count(transaction, namespace, delta)?;
    let mut pruned = too_old;
    if remaining > max_keys {
        let over_count = transaction
            .execute(
                "DELETE FROM byoc_completed_keys WHERE namespace = $1 AND key IN ( \
                     SELECT key FROM byoc_completed_keys WHERE namespace = $1 \
                     ORDER BY completed_at_ms, key LIMIT $2)",
                &[&namespace, &(remaining - max_keys)],
            )
            .map_err(failed("prune completed keys"))?;
        remaining = adjust_key_count(
            transaction,
            namespace,
            -i64::try_from(over_count).unwrap_or(0),
        )?;
        pruned += over_count;
    }
    debug_assert!(
        remaining >= 0,
        "the count of completed keys is never negative"
    );
    Ok(pruned)
}

/// Adds `delta` to the namespace's count of completed keys; the new count. A missing count
/// row (removed by hand) is rebuilt from the table.
fn adjust_key_count(
    transaction: &mut Transaction<'_>,
    namespace: &str,
    delta: i64,
) -> Result<i64, StoreError> {
    let updated = transaction
        .query_opt(
            "UPDATE byoc_meta SET value = value + $3 WHERE namespace = $1 AND name = $2 \
             RETURNING value",
            &[&namespace, &COMPLETED_KEY_COUNT, &delta],
        )
        .map_err(failed("count completed keys"))?;
    if let Some(row) = updated {
        return Ok(row.get(0));
    }
    let rebuilt = transaction
        .query_one(
            "INSERT INTO byoc_meta (namespace, name, value) \
             SELECT $1, $2, count(*) FROM byoc_completed_keys WHERE namespace = $1 \
             RETURNING value",
            &[&namespace, &COMPLETED_KEY_COUNT],
        )
        .map_err(failed("count completed keys"))?;
    Ok(rebuilt.get(0))
}

pub(super) fn load_checkpoint(
    store: &PostgresStore,
    org: &str,
    topic: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (org, topic) = (org.to_owned(), topic.to_owned());
    store.read(move |client, namespace| {
        let row = client
            .query_opt(
                "SELECT replay_id FROM byoc_checkpoints \
                 WHERE namespace = $1 AND org = $2 AND topic = $3",
                &[&namespace, &org, &topic],
            )
            .map_err(failed("read checkpoint"))?;
        Ok(row.map(|row| row.get(0)))
    })
}

pub(super) fn list_checkpoints(store: &PostgresStore) -> Result<Vec<Checkpoint>, StoreError> {
    store.read(|client, namespace| {
        let rows = client
            .query(
                "SELECT org, topic, replay_id FROM byoc_checkpoints WHERE namespace = $1 \
                 ORDER BY org, topic",
                &[&namespace],
            )
            .map_err(failed("list checkpoints"))?;
        Ok(rows
            .iter()
            .map(|row| Checkpoint {
                org: row.get(0),
                topic: row.get(1),
                replay_id: row.get(2),
            })
            .collect())
    })
}

pub(super) fn set_checkpoint(
    store: &PostgresStore,
    org: &str,
    topic: &str,
    replay_id: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let (org, topic, replay_id) = (org.to_owned(), topic.to_owned(), replay_id.to_vec());
    store.write("commit checkpoint", move |transaction, namespace| {
        let replaced = locked_checkpoint(transaction, namespace, &org, &topic)?;
        upsert_checkpoint(transaction, namespace, &org, &topic, &replay_id)?;
        Ok(replaced)
    })
}

pub(super) fn delete_checkpoint(
    store: &PostgresStore,
    org: &str,
    topic: &str,
) -> Result<bool, StoreError> {
    let (org, topic) = (org.to_owned(), topic.to_owned());
    store.write("commit checkpoint delete", move |transaction, namespace| {
        let deleted = transaction
            .execute(
                "DELETE FROM byoc_checkpoints WHERE namespace = $1 AND org = $2 AND topic = $3",
                &[&namespace, &org, &topic],
            )
            .map_err(failed("delete checkpoint"))?;
        Ok(deleted > 0)
    })
}

pub(super) fn is_completed(store: &PostgresStore, key: &str) -> Result<bool, StoreError> {
    let key = key.to_owned();
    store.read(move |client, namespace| {
        let row = client
            .query_opt(
                "SELECT 1 FROM byoc_completed_keys WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .map_err(failed("read completed key"))?;
        Ok(row.is_some())
    })
}

pub(super) fn completed_key_fingerprints(store: &PostgresStore) -> Result<Vec<u64>, StoreError> {
    store.read(|client, namespace| {
        let rows = client
            .query(
                "SELECT key FROM byoc_completed_keys WHERE namespace = $1 \
                 ORDER BY completed_at_ms, key",
                &[&namespace],
            )
            .map_err(failed("list completed keys"))?;
        Ok(rows
            .iter()
            .map(|row| fingerprint(row.get::<_, &str>(0)))
            .collect())
    })
}

pub(super) fn completed_key_count(store: &PostgresStore) -> Result<u64, StoreError> {
    store.read(|client, namespace| {
        let row = client
            .query_one(
                "SELECT count(*) FROM byoc_completed_keys WHERE namespace = $1",
                &[&namespace],
            )
            .map_err(failed("count completed keys"))?;
        Ok(sql_u64(row.get(0)))
    })
}

pub(super) fn conversation_state(
    store: &PostgresStore,
    conversation: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let conversation = conversation.to_owned();
    store.read(move |client, namespace| {
        let row = client
            .query_opt(
                "SELECT record FROM byoc_conversations \
                 WHERE namespace = $1 AND conversation = $2",
                &[&namespace, &conversation],
            )
            .map_err(failed("read conversation state"))?;
        Ok(row.map(|row| row.get(0)))
    })
}
