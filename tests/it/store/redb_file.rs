//! What only the redb file does: it is created private to the connector's user, one process
//! holds it at a time, and a file from a newer build is refused.

use crate::support::store::StoreDirectory;
use byoc_connector::store::{Store, StoreError, StoreSettings, STORE_SCHEMA_VERSION};

use super::tables::{ORG, TOPIC};

#[test]
fn a_missing_store_file_is_created_with_its_directory() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    assert!(!path.exists());
    let store = Store::open(&path, StoreSettings::default()).unwrap();
    assert!(path.exists());
    assert_eq!(store.load_checkpoint(ORG, TOPIC).unwrap(), None);
    assert_eq!(store.count_dead_letters().unwrap(), 0);
    assert!(store.list_pending_routing().unwrap().is_empty());
}

#[cfg(unix)]
#[test]
fn a_new_store_file_and_its_new_directories_are_private_to_the_connector_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let directory = StoreDirectory::new();
    let nested = directory
        .store_path()
        .with_file_name("state")
        .join("nested");
    let path = nested.join("connector.redb");

    drop(Store::open(&path, StoreSettings::default()).unwrap());

    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "dead letters hold message text");
    assert_eq!(mode(&nested), 0o700);
    assert_eq!(mode(nested.parent().unwrap()), 0o700);
}

#[test]
fn opening_a_store_written_by_a_newer_schema_fails_naming_both_versions_and_the_path() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    drop(Store::open(&path, StoreSettings::default()).unwrap());
    let newer = STORE_SCHEMA_VERSION + 1;
    {
        // Written with redb directly, as a newer build would: the `meta` table's version.
        let meta: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");
        let database = redb::Database::create(&path).unwrap();
        let transaction = database.begin_write().unwrap();
        transaction
            .open_table(meta)
            .unwrap()
            .insert("schema_version", newer)
            .unwrap();
        transaction.commit().unwrap();
    }
    let error = Store::open(&path, StoreSettings::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found, supported, .. }
            if found == newer && supported == STORE_SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("up to version {STORE_SCHEMA_VERSION}")),
        "{message}"
    );
}

#[test]
fn opening_an_existing_store_for_maintenance_never_creates_one() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let error = Store::open_existing(&path).unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert!(!path.exists());
}

#[test]
fn a_store_in_use_by_a_connector_is_refused_for_maintenance() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let _running = Store::open(&path, StoreSettings::default()).unwrap();
    let error = Store::open_existing(&path).unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("in use"), "{error}");
}
