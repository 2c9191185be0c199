//! The redb table of checkpoints: (org, topic) → replay id bytes, advanced only forwards by
//! the ack batches and set or forgotten by operators.

use redb::{ReadableTable as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::checkpoint::{would_move_backwards, Checkpoint};
use crate::store::StoreError;

/// (org id, topic name) → replay id bytes.
const CHECKPOINTS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("checkpoints");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(CHECKPOINTS)
        .map_err(database_error("create checkpoints table"))?;
    Ok(())
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
        if would_move_backwards(org, topic, &stored, replay_id) {
            return Ok(());
        }
    }
    checkpoints
        .insert((org, topic), replay_id)
        .map_err(database_error("write checkpoint"))?;
    Ok(())
}

impl RedbStore {
    /// The committed checkpoint of (org, topic), if there is one.
    pub(super) fn load_checkpoint(
        &self,
        org: &str,
        topic: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
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
    pub(super) fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
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
    pub(super) fn set_checkpoint(
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
    pub(super) fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError> {
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
