//! The redb table of pending routing requests: records that must survive a restart so each routing request is
//! answered exactly once, before its original deadline.
//!
//! The table maps an event id to an opaque record (the routing module serializes its own
//! type, for example as JSON). Every write commits durably before it returns. The store knows
//! nothing about deadlines, states or what a routing request is.

use redb::{ReadableTable as _, TableDefinition};

use super::{database_error, RedbStore};
use crate::store::{PendingRoutingWrite, StoreError};

/// Routing event id → serialized pending record.
const PENDING_ROUTING: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("pending_routing");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(PENDING_ROUTING)
        .map_err(database_error("create pending routing table"))?;
    Ok(())
}

impl RedbStore {
    /// Durably applies `writes` in order in one transaction (one fsync for all of them);
    /// returns, per write, whether it wrote (a put always does).
    pub(super) fn write_pending_routing_batch(
        &self,
        writes: &[PendingRoutingWrite],
    ) -> Result<Vec<bool>, StoreError> {
        let transaction = self.begin_write()?;
        let mut wrote = Vec::with_capacity(writes.len());
        {
            let mut pending = transaction
                .open_table(PENDING_ROUTING)
                .map_err(database_error("open pending routing table"))?;
            for write in writes {
                let present = !write.replace
                    && pending
                        .get(write.event_id.as_str())
                        .map_err(database_error("read pending routing request"))?
                        .is_some();
                if !present {
                    pending
                        .insert(write.event_id.as_str(), write.record.as_slice())
                        .map_err(database_error("write pending routing request"))?;
                }
                wrote.push(!present);
            }
        }
        if !wrote.contains(&true) {
            // Nothing changed: skip the fsync.
            transaction
                .abort()
                .map_err(database_error("abort pending routing batch"))?;
            return Ok(wrote);
        }
        transaction
            .commit()
            .map_err(database_error("commit pending routing batch"))?;
        Ok(wrote)
    }

    /// The record of `event_id`, if there is one.
    pub(super) fn get_pending_routing(
        &self,
        event_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.begin_read()?;
        let pending = transaction
            .open_table(PENDING_ROUTING)
            .map_err(database_error("open pending routing table"))?;
        let record = pending
            .get(event_id)
            .map_err(database_error("read pending routing request"))?
            .map(|guard| guard.value().to_vec());
        Ok(record)
    }

    /// Durably removes the record of `event_id`; returns whether it existed.
    pub(super) fn remove_pending_routing(&self, event_id: &str) -> Result<bool, StoreError> {
        let transaction = self.begin_write()?;
        let existed = {
            let mut pending = transaction
                .open_table(PENDING_ROUTING)
                .map_err(database_error("open pending routing table"))?;
            let removed = pending
                .remove(event_id)
                .map_err(database_error("remove pending routing request"))?;
            removed.is_some()
        };
        transaction
            .commit()
            .map_err(database_error("commit pending routing removal"))?;
        Ok(existed)
    }

    /// Every pending record as (event id, record), ordered by event id.
    pub(super) fn list_pending_routing(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let transaction = self.begin_read()?;
        let pending = transaction
            .open_table(PENDING_ROUTING)
            .map_err(database_error("open pending routing table"))?;
        let mut listed = Vec::new();
        for entry in pending
            .iter()
            .map_err(database_error("list pending routing requests"))?
        {
            let (event_id, record) =
                entry.map_err(database_error("list pending routing requests"))?;
            listed.push((event_id.value().to_owned(), record.value().to_vec()));
        }
        Ok(listed)
    }
}
