//! Checkpoints: the last replay id that is safe to resume after, per (org, topic).
//!
//! A checkpoint only moves forward. Replay ids are opaque bytes to the store; it orders them
//! as big-endian unsigned numbers, which for ids of equal length is plain byte order. What a
//! replay id means, and when one may be checkpointed, is the pipeline's business.

use std::cmp::Ordering;

use redb::{ReadableTable as _, TableDefinition};

use super::{database_error, Store, StoreError};

/// (org id, topic name) → replay id bytes.
const CHECKPOINTS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("checkpoints");

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The org the topic belongs to.
    pub org: String,
    /// The topic name, for example `/event/Byoc_Outbound__e`.
    pub topic: String,
    /// The replay id to resume after.
    pub replay_id: Vec<u8>,
}

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(CHECKPOINTS)
        .map_err(database_error("create checkpoints table"))?;
    Ok(())
}

/// Orders two replay ids as big-endian unsigned numbers (byte order when lengths are equal).
pub fn compare_replay_ids(left: &[u8], right: &[u8]) -> Ordering {
    let left = strip_leading_zeros(left);
    let right = strip_leading_zeros(right);
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first_significant = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first_significant..]
}

/// Moves the checkpoint of (org, topic) to `replay_id` inside `transaction`, never backwards.
pub(crate) fn advance_in(
    transaction: &redb::WriteTransaction,
    org: &str,
    topic: &str,
    replay_id: &[u8],
) -> Result<(), StoreError> {
    let mut checkpoints = transaction
        .open_table(CHECKPOINTS)
        .map_err(database_error("open checkpoints table"))?;
    let stored = checkpoints
        .get((org, topic))
        .map_err(database_error("read checkpoint"))?
        .map(|guard| guard.value().to_vec());
    if let Some(stored) = stored {
        let moves_backwards = compare_replay_ids(replay_id, &stored) == Ordering::Less;
        debug_assert!(
            !moves_backwards,
            "a new checkpoint is never before the stored one"
        );
        if moves_backwards {
            tracing::warn!(
                org,
                topic,
                stored = %hex::encode(&stored),
                rejected = %hex::encode(replay_id),
                "checkpoint would move backwards; keeping the stored one"
            );
            return Ok(());
        }
    }
    checkpoints
        .insert((org, topic), replay_id)
        .map_err(database_error("write checkpoint"))?;
    Ok(())
}

impl Store {
    /// The committed checkpoint of (org, topic), if there is one.
    pub fn load_checkpoint(&self, org: &str, topic: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.begin_read()?;
        let checkpoints = transaction
            .open_table(CHECKPOINTS)
            .map_err(database_error("open checkpoints table"))?;
        let replay_id = checkpoints
            .get((org, topic))
            .map_err(database_error("read checkpoint"))?
            .map(|guard| guard.value().to_vec());
        Ok(replay_id)
    }

    /// Every committed checkpoint, ordered by org then topic.
    pub fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let transaction = self.begin_read()?;
        let checkpoints = transaction
            .open_table(CHECKPOINTS)
            .map_err(database_error("open checkpoints table"))?;
        let mut listed = Vec::new();
        for entry in checkpoints
            .iter()
            .map_err(database_error("list checkpoints"))?
        {
            let (key, value) = entry.map_err(database_error("list checkpoints"))?;
            let (org, topic) = key.value();
            listed.push(Checkpoint {
                org: org.to_owned(),
                topic: topic.to_owned(),
                replay_id: value.value().to_vec(),
            });
        }
        Ok(listed)
    }

    /// Sets the checkpoint of (org, topic) to `replay_id`, forwards or back, and returns the one
    /// it replaced: the next subscription resumes after it. Meant for operators replaying
    /// from a point, with the connector stopped; the pipeline only ever advances.
    pub fn set_checkpoint(
        &self,
        org: &str,
        topic: &str,
        replay_id: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.begin_write()?;
        let replaced = {
            let mut checkpoints = transaction
                .open_table(CHECKPOINTS)
                .map_err(database_error("open checkpoints table"))?;
            let replaced = checkpoints
                .insert((org, topic), replay_id)
                .map_err(database_error("write checkpoint"))?;
            replaced.map(|guard| guard.value().to_vec())
        };
        transaction
            .commit()
            .map_err(database_error("commit checkpoint"))?;
        Ok(replaced)
    }

    /// Forgets the checkpoint of (org, topic), so the next subscription starts from the
    /// configured default; with [`Store::set_checkpoint`], the only ways a checkpoint moves
    /// back, meant for operators.
    pub fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError> {
        let transaction = self.begin_write()?;
        let existed = {
            let mut checkpoints = transaction
                .open_table(CHECKPOINTS)
                .map_err(database_error("open checkpoints table"))?;
            let removed = checkpoints
                .remove((org, topic))
                .map_err(database_error("delete checkpoint"))?;
            removed.is_some()
        };
        transaction
            .commit()
            .map_err(database_error("commit checkpoint delete"))?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn replay_id_order_matches_big_endian_numbers(left: u64, right: u64) {
            prop_assert_eq!(
                compare_replay_ids(&left.to_be_bytes(), &right.to_be_bytes()),
                left.cmp(&right)
            );
        }

        #[test]
        fn replay_id_order_ignores_leading_zero_bytes(value: u32) {
            let short = value.to_be_bytes();
            let long = u64::from(value).to_be_bytes();
            prop_assert_eq!(compare_replay_ids(&short, &long), Ordering::Equal);
        }
    }
}
