//! Conversation state: one opaque record per conversation identifier, written with the ack
//! batches so keeping it costs no fsync of its own.
//!
//! The conversation module serializes its own record; the store only keys it. Records are
//! replaced whole, the last write of a batch winning. It knows nothing about what a record
//! says.

use std::collections::BTreeMap;

use redb::TableDefinition;

use super::{database_error, Store, StoreError};

/// Conversation identifier → serialized conversation state.
const CONVERSATIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("conversations");

pub(crate) fn create_tables(transaction: &redb::WriteTransaction) -> Result<(), StoreError> {
    transaction
        .open_table(CONVERSATIONS)
        .map_err(database_error("create conversations table"))?;
    Ok(())
}

/// Writes `records` inside `transaction`.
pub(super) fn put_in(
    transaction: &redb::WriteTransaction,
    records: &BTreeMap<String, Vec<u8>>,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut table = transaction
        .open_table(CONVERSATIONS)
        .map_err(database_error("open conversations table"))?;
    for (conversation, record) in records {
        table
            .insert(conversation.as_str(), record.as_slice())
            .map_err(database_error("write conversation state"))?;
    }
    Ok(())
}

impl Store {
    /// The stored record of `conversation`, if there is one. A point read.
    pub fn conversation_state(&self, conversation: &str) -> Result<Option<Vec<u8>>, StoreError> {
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
