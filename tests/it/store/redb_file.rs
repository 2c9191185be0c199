//! What only the redb file does: it is created private to the connector's user, one process
//! holds it at a time, a file from a newer build is refused and one from an older build is
//! migrated.

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
fn a_version_1_file_is_migrated_and_still_knows_its_completed_keys() {
    use redb::{ReadableDatabase as _, TableHandle as _};
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let meta: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");
    let by_key: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("completed_keys");
    let by_age: redb::TableDefinition<'_, (u64, &str), ()> =
        redb::TableDefinition::new("completed_keys_by_age");
    {
        // Written with redb directly, as a version 1 build did: both completed-key tables.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let database = redb::Database::create(&path).unwrap();
        let transaction = database.begin_write().unwrap();
        transaction
            .open_table(meta)
            .unwrap()
            .insert("schema_version", 1)
            .unwrap();
        {
            let mut keys = transaction.open_table(by_key).unwrap();
            let mut ages = transaction.open_table(by_age).unwrap();
            for (at, key) in [(1_000, "event-a"), (2_000, "event-b")] {
                keys.insert(key, at).unwrap();
                ages.insert((at, key), ()).unwrap();
            }
        }
        transaction.commit().unwrap();
    }

    let store = Store::open(&path, StoreSettings::default()).unwrap();
    assert!(store.is_completed("event-a").unwrap());
    assert!(store.is_completed("event-b").unwrap());
    assert!(!store.is_completed("event-c").unwrap());
    assert_eq!(store.completed_key_count().unwrap(), 2);
    drop(store);

    let database = redb::Database::open(&path).unwrap();
    let transaction = database.begin_read().unwrap();
    let tables: Vec<String> = transaction
        .list_tables()
        .unwrap()
        .map(|table| table.name().to_owned())
        .collect();
    assert!(!tables.contains(&"completed_keys".to_owned()), "{tables:?}");
    assert_eq!(
        transaction
            .open_table(meta)
            .unwrap()
            .get("schema_version")
            .unwrap()
            .map(|version| version.value()),
        Some(STORE_SCHEMA_VERSION)
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

#[tokio::test]
async fn released_resolves_only_once_the_last_handle_is_gone_and_the_file_reopens_then() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let store = Store::open(&path, StoreSettings::default()).unwrap();
    let released = store.released();
    let (drop_it, dropped) = tokio::sync::oneshot::channel::<()>();
    let holder = store.clone();
    let late_user = tokio::spawn(async move {
        let _ = dropped.await;
        drop(holder);
    });
    drop(store);
    let mut waiting = tokio::spawn(released.clone().wait());
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), &mut waiting)
            .await
            .is_err(),
        "a clone is still held"
    );
    drop_it.send(()).unwrap();
    waiting.await.unwrap();
    late_user.await.unwrap();
    Store::open_existing(&path).expect("the file is closed once released resolves");
    released.wait().await;
}
