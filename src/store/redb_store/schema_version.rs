//! The redb file's schema version and the `meta` table that records it.
//!
//! Opening a file records the current version in a new file, accepts the same version, migrates
//! an older one, and refuses a newer one with a message naming both versions and the path, so an
//! accidental downgrade never reinterprets data it does not understand. It also creates every table, so
//! readers never meet a missing one. It knows nothing about what the other tables hold.

use std::path::Path;

use redb::ReadableTable as _;

use super::{database_error, META};
use crate::store::{StoreError, REDB_SCHEMA_VERSION};

/// The `meta` key holding the schema version.
const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Checks the file's schema version, or records the current one in a new file, and creates
/// every table.
pub(crate) fn check_or_initialize(
    database: &redb::Database,
    path: &Path,
) -> Result<(), StoreError> {
    let transaction = database
        .begin_write()
        .map_err(database_error("begin schema check"))?;
    {
        let mut meta = transaction
            .open_table(META)
            .map_err(database_error("open meta table"))?;
        let found = meta
            .get(SCHEMA_VERSION_KEY)
            .map_err(database_error("read schema version"))?
            .map(|guard| guard.value());
        match found {
            Some(found) if found > REDB_SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    path: path.to_owned(),
                    found,
                    supported: REDB_SCHEMA_VERSION,
                });
            }
            Some(found) if found < REDB_SCHEMA_VERSION => {
                migrate(&transaction, found)?;
                meta.insert(SCHEMA_VERSION_KEY, REDB_SCHEMA_VERSION)
                    .map_err(database_error("write schema version"))?;
                tracing::info!(
                    path = %path.display(),
                    from = found,
                    to = REDB_SCHEMA_VERSION,
                    "store file migrated"
                );
            }
            Some(_) => {}
            None => {
                meta.insert(SCHEMA_VERSION_KEY, REDB_SCHEMA_VERSION)
                    .map_err(database_error("write schema version"))?;
            }
        }
    }
    super::checkpoint::create_tables(&transaction)?;
    super::dedup::create_tables(&transaction)?;
    super::dead_letter::create_tables(&transaction)?;
    super::pending_routing::create_tables(&transaction)?;
    super::sidecar_answers::create_tables(&transaction)?;
    super::conversation::create_tables(&transaction)?;
    transaction
        .commit()
        .map_err(database_error("commit schema check"))
}

/// Brings a file of version `found` to the current version, inside the schema check's
/// transaction (a crash leaves the old version whole).
fn migrate(transaction: &redb::WriteTransaction, found: u64) -> Result<(), StoreError> {
    if found < 2 {
        // Version 2 keeps completed keys in their age-ordered table only; the key-ordered one
        // duplicated every key of it.
        transaction
            .delete_table(super::dedup::LEGACY_COMPLETED_KEYS)
            .map_err(database_error("drop the key-ordered completed keys table"))?;
    }
    if found < 3 {
        super::dedup::migrate_from_version_2(transaction)?;
    }
    Ok(())
}
