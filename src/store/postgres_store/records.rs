//! The PostgreSQL store's records that are written one at a time, each durably before the call
//! returns: dead letters, pending routing requests and the sidecar's answers, in the store's
//! namespace.
//!
//! Dead letter ids come from an identity column, so they only grow and are never reused; the
//! retention rule (oldest id first, never the letter just recorded) is the redb file's,
//! computed in two statements. It knows nothing about what the records mean.

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::Row;

use super::{failed, sql_ms, sql_u64, PostgresStore};
use crate::store::dead_letter::DeadLetterRetention;
use crate::store::{from_unix_millis, DeadLetter, NewDeadLetter, PendingRoutingWrite, StoreError};

const DEAD_LETTER_COLUMNS: &str = "id, replay_id, raw, decoded_json, reason, attributes, \
                                   first_attempt_ms, last_attempt_ms, attempts";

fn corrupt(id: i64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: "byoc_dead_letters",
        key: id.to_string(),
        reason: reason.into(),
    }
}

fn dead_letter_from(row: &Row) -> Result<DeadLetter, StoreError> {
    let id: i64 = row.get(0);
    let attributes: String = row.get(5);
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&attributes).map_err(|error| corrupt(id, error.to_string()))?;
    Ok(DeadLetter {
        id: sql_u64(id),
        replay_id: row.get(1),
        raw: row.get(2),
        decoded_json: row.get(3),
        reason: row.get(4),
        attributes,
        first_attempt_at: from_unix_millis(sql_u64(row.get(6))),
        last_attempt_at: from_unix_millis(sql_u64(row.get(7))),
        attempts: u32::try_from(row.get::<_, i64>(8)).unwrap_or(u32::MAX),
    })
}

pub(super) fn record_dead_letter(
    store: &PostgresStore,
    letter: &NewDeadLetter,
    attempted_ms: u64,
) -> Result<u64, StoreError> {
    let letter = letter.clone();
    let attributes =
        serde_json::to_string(&letter.attributes).map_err(|error| corrupt(0, error.to_string()))?;
    let attempted = sql_ms(attempted_ms);
    let retention = DeadLetterRetention::from(&store.settings);
    store.write("commit dead letter", move |transaction, namespace| {
        let existing: Option<i64> = transaction
            .query_opt(
                "SELECT id FROM byoc_dead_letters WHERE namespace = $1 AND replay_id = $2 \
                 FOR UPDATE",
                &[&namespace, &letter.replay_id],
            )
            .map_err(failed("read dead letter replay id index"))?
            .map(|row| row.get(0));
        let id = if let Some(id) = existing {
            transaction
                .execute(
                    "UPDATE byoc_dead_letters SET attempts = LEAST(attempts + 1, 4294967295), \
                     last_attempt_ms = $3, reason = $4, attributes = $5, \
                     decoded_json = COALESCE($6, decoded_json) \
                     WHERE namespace = $1 AND id = $2",
                    &[
                        &namespace,
                        &id,
                        &attempted,
                        &letter.reason,
                        &attributes,
                        &letter.decoded_json,
                    ],
                )
                .map_err(failed("write dead letter"))?;
            id
        } else {
            transaction
                .query_one(
                    "INSERT INTO byoc_dead_letters (namespace, replay_id, raw, decoded_json, \
                     reason, attributes, first_attempt_ms, last_attempt_ms, attempts) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) RETURNING id",
                    &[
                        &namespace,
                        &letter.replay_id,
                        &letter.raw,
                        &letter.decoded_json,
                        &letter.reason,
                        &attributes,
                        &attempted,
                    ],
                )
                .map_err(failed("write dead letter"))?
                .get(0)
        };
        prune_dead_letters(transaction, namespace, &retention, attempted, id)?;
        Ok(sql_u64(id))
    })
}

/// Removes, oldest id first, the letters first recorded before the age limit and those beyond
/// the count limit, stopping at the first letter that is neither and never passing `keep_id`:
/// the walk the redb file does, in two statements.
fn prune_dead_letters(
    transaction: &mut postgres::Transaction<'_>,
    namespace: &str,
    retention: &DeadLetterRetention,
    now: i64,
    keep_id: i64,
) -> Result<(), StoreError> {
    let count: i64 = transaction
        .query_one(
            "SELECT count(*) FROM byoc_dead_letters WHERE namespace = $1",
            &[&namespace],
        )
        .map_err(failed("count dead letters"))?
        .get(0);
    let max_count = retention
        .max_count
        .map_or(i64::MAX, |max| i64::try_from(max).unwrap_or(i64::MAX));
    let over_count = count.saturating_sub(max_count).max(0);
    let cutoff = retention.max_age.map_or(i64::MIN, |max_age| {
        now.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX))
    });
    // The first letter past the ones over the count that is recent enough (or the one kept).
    let first_kept: Option<i64> = transaction
        .query_one(
            "SELECT min(id) FROM (SELECT id, first_attempt_ms FROM byoc_dead_letters \
             WHERE namespace = $1 ORDER BY id OFFSET $2) AS later \
             WHERE first_attempt_ms >= $3 OR id = $4",
            &[&namespace, &over_count, &cutoff, &keep_id],
        )
        .map_err(failed("read oldest dead letter"))?
        .get(0);
    let first_kept = first_kept.unwrap_or(keep_id).min(keep_id);
    transaction
        .execute(
            "DELETE FROM byoc_dead_letters WHERE namespace = $1 AND id < $2",
            &[&namespace, &first_kept],
        )
        .map_err(failed("remove dead letter"))?;
    Ok(())
}

pub(super) fn get_dead_letter(
    store: &PostgresStore,
    id: u64,
) -> Result<Option<DeadLetter>, StoreError> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(None);
    };
    store.read(move |client, namespace| {
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM byoc_dead_letters WHERE namespace = $1 AND id = $2"
        );
        let row = client
            .query_opt(sql.as_str(), &[&namespace, &id])
            .map_err(failed("read dead letter"))?;
        row.as_ref().map(dead_letter_from).transpose()
    })
}

pub(super) fn list_dead_letters(
    store: &PostgresStore,
    after_id: Option<u64>,
    limit: usize,
) -> Result<Vec<DeadLetter>, StoreError> {
    let after = match after_id.map(i64::try_from) {
        None => 0,
        Some(Ok(after)) => after,
        Some(Err(_)) => return Ok(Vec::new()),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store.read(move |client, namespace| {
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM byoc_dead_letters \
             WHERE namespace = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = client
            .query(sql.as_str(), &[&namespace, &after, &limit])
            .map_err(failed("list dead letters"))?;
        rows.iter().map(dead_letter_from).collect()
    })
}

pub(super) fn count_dead_letters(store: &PostgresStore) -> Result<u64, StoreError> {
    store.read(|client, namespace| {
        let row = client
            .query_one(
                "SELECT count(*) FROM byoc_dead_letters WHERE namespace = $1",
                &[&namespace],
            )
            .map_err(failed("count dead letters"))?;
        Ok(sql_u64(row.get(0)))
    })
}

pub(super) fn remove_dead_letter(store: &PostgresStore, id: u64) -> Result<bool, StoreError> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(false);
    };
    store.write(
        "commit dead letter removal",
        move |transaction, namespace| {
            let removed = transaction
                .execute(
                    "DELETE FROM byoc_dead_letters WHERE namespace = $1 AND id = $2",
                    &[&namespace, &id],
                )
                .map_err(failed("remove dead letter"))?;
            Ok(removed > 0)
        },
    )
}

pub(super) fn remove_all_dead_letters(store: &PostgresStore) -> Result<u64, StoreError> {
    store.write("commit dead letter removal", |transaction, namespace| {
        transaction
            .execute(
                "DELETE FROM byoc_dead_letters WHERE namespace = $1",
                &[&namespace],
            )
            .map_err(failed("remove dead letters"))
    })
}

pub(super) fn write_pending_routing_batch(
    store: &PostgresStore,
    writes: &[PendingRoutingWrite],
) -> Result<Vec<bool>, StoreError> {
    let writes = writes.to_vec();
    store.write(
        "commit pending routing batch",
        move |transaction, namespace| {
            let mut wrote = Vec::with_capacity(writes.len());
            for write in &writes {
                let sql = if write.replace {
                    "INSERT INTO byoc_pending_routing (namespace, event_id, record) \
                 VALUES ($1, $2, $3) ON CONFLICT (namespace, event_id) \
                 DO UPDATE SET record = EXCLUDED.record"
                } else {
                    "INSERT INTO byoc_pending_routing (namespace, event_id, record) \
                 VALUES ($1, $2, $3) ON CONFLICT (namespace, event_id) DO NOTHING"
                };
                let rows = transaction
                    .execute(sql, &[&namespace, &write.event_id, &write.record])
                    .map_err(failed("write pending routing request"))?;
                wrote.push(rows > 0);
            }
            Ok(wrote)
        },
    )
}

pub(super) fn get_pending_routing(
    store: &PostgresStore,
    event_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let event_id = event_id.to_owned();
    store.read(move |client, namespace| {
        let row = client
            .query_opt(
                "SELECT record FROM byoc_pending_routing WHERE namespace = $1 AND event_id = $2",
                &[&namespace, &event_id],
            )
            .map_err(failed("read pending routing request"))?;
        Ok(row.map(|row| row.get(0)))
    })
}

pub(super) fn remove_pending_routing(
    store: &PostgresStore,
    event_id: &str,
) -> Result<bool, StoreError> {
    let event_id = event_id.to_owned();
    store.write(
        "commit pending routing removal",
        move |transaction, namespace| {
            let removed = transaction
                .execute(
                    "DELETE FROM byoc_pending_routing WHERE namespace = $1 AND event_id = $2",
                    &[&namespace, &event_id],
                )
                .map_err(failed("remove pending routing request"))?;
            Ok(removed > 0)
        },
    )
}

pub(super) fn list_pending_routing(
    store: &PostgresStore,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    store.read(|client, namespace| {
        let rows = client
            .query(
                "SELECT event_id, record FROM byoc_pending_routing WHERE namespace = $1 \
                 ORDER BY event_id",
                &[&namespace],
            )
            .map_err(failed("list pending routing requests"))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    })
}

pub(super) fn sidecar_answer(
    store: &PostgresStore,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let key = key.to_owned();
    store.read(move |client, namespace| {
        let row = client
            .query_opt(
                "SELECT answer FROM byoc_sidecar_answers WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .map_err(failed("read sidecar answer"))?;
        Ok(row.map(|row| row.get(0)))
    })
}

pub(super) fn put_sidecar_answer(
    store: &PostgresStore,
    key: &str,
    answer: &[u8],
    now_ms: u64,
    max_age: Duration,
    max_keys: u64,
) -> Result<Vec<u8>, StoreError> {
    let (key, answer) = (key.to_owned(), answer.to_vec());
    let now = sql_ms(now_ms);
    let oldest_kept = now.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
    let max_keys = i64::try_from(max_keys).unwrap_or(i64::MAX);
    store.write("commit sidecar answer", move |transaction, namespace| {
        transaction
            .execute(
                "INSERT INTO byoc_sidecar_answers (namespace, key, stored_ms, answer) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, key) DO NOTHING",
                &[&namespace, &key, &now, &answer],
            )
            .map_err(failed("write sidecar answer"))?;
        let stored: Vec<u8> = transaction
            .query_one(
                "SELECT answer FROM byoc_sidecar_answers WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .map_err(failed("read sidecar answer"))?
            .get(0);
        transaction
            .execute(
                "DELETE FROM byoc_sidecar_answers WHERE namespace = $1 AND stored_ms < $2",
                &[&namespace, &oldest_kept],
            )
            .map_err(failed("prune sidecar answers"))?;
        let count: i64 = transaction
            .query_one(
                "SELECT count(*) FROM byoc_sidecar_answers WHERE namespace = $1",
                &[&namespace],
            )
            .map_err(failed("count sidecar answers"))?
            .get(0);
        if count > max_keys {
            transaction
                .execute(
                    "DELETE FROM byoc_sidecar_answers WHERE namespace = $1 AND key IN ( \
                         SELECT key FROM byoc_sidecar_answers WHERE namespace = $1 \
                         ORDER BY stored_ms, key LIMIT $2)",
                    &[&namespace, &(count - max_keys)],
                )
                .map_err(failed("prune sidecar answers"))?;
        }
        Ok(stored)
    })
}
