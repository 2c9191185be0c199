//! What only the redb file does: it is created private to the connector's user, one process
//! holds it at a time, a file from a newer build is refused and one from an older build is
//! migrated, and completed keys are kept a commit's keys to a row.

use crate::support::store::StoreDirectory;
use byoc_connector::store::{Store, StoreError, StoreSettings, REDB_SCHEMA_VERSION};

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
    let newer = REDB_SCHEMA_VERSION + 1;
    write_file_as_version(&path, newer, |_| {});
    let error = Store::open(&path, StoreSettings::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found, supported, .. }
            if found == newer && supported == REDB_SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("up to version {REDB_SCHEMA_VERSION}")),
        "{message}"
    );
}

/// The `meta` table, where the file keeps its schema version.
const META: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");

/// Versions 1 and 2's completed keys: (completion time ms, key) → nothing.
const V2_BY_AGE: redb::TableDefinition<'_, (u64, &str), ()> =
    redb::TableDefinition::new("completed_keys_by_age");

/// Writes the store file at `path` (creating it, or over what is there) with redb directly, as
/// a build of schema `version` would: its version in `meta`, and whatever `fill` writes.
fn write_file_as_version(
    path: &std::path::Path,
    version: u64,
    fill: impl FnOnce(&redb::WriteTransaction),
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let database = redb::Database::create(path).unwrap();
    let transaction = database.begin_write().unwrap();
    transaction
        .open_table(META)
        .unwrap()
        .insert("schema_version", version)
        .unwrap();
    fill(&transaction);
    transaction.commit().unwrap();
}

#[test]
fn a_version_1_file_is_migrated_and_still_knows_its_completed_keys() {
    use redb::{ReadableDatabase as _, TableHandle as _};
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let by_key: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("completed_keys");
    // As a version 1 build wrote it: both completed-key tables.
    write_file_as_version(&path, 1, |transaction| {
        let mut keys = transaction.open_table(by_key).unwrap();
        let mut ages = transaction.open_table(V2_BY_AGE).unwrap();
        for (at, key) in [(1_000, "event-a"), (2_000, "event-b")] {
            keys.insert(key, at).unwrap();
            ages.insert((at, key), ()).unwrap();
        }
    });

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
    assert!(
        !tables.contains(&"completed_keys_by_age".to_owned()),
        "{tables:?}"
    );
    assert_eq!(
        transaction
            .open_table(META)
            .unwrap()
            .get("schema_version")
            .unwrap()
            .map(|version| version.value()),
        Some(REDB_SCHEMA_VERSION)
    );
}

/// Opens `path` with redb directly and lists its tables.
fn table_names(path: &std::path::Path) -> Vec<String> {
    use redb::{ReadableDatabase as _, TableHandle as _};
    let database = redb::Database::open(path).unwrap();
    let transaction = database.begin_read().unwrap();
    transaction
        .list_tables()
        .unwrap()
        .map(|table| table.name().to_owned())
        .collect()
}

/// How many rows the completed keys table of the file at `path` holds.
fn completed_key_rows(path: &std::path::Path) -> u64 {
    use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
    let batches: redb::TableDefinition<'_, u64, &[u8]> =
        redb::TableDefinition::new("completed_key_batches");
    let database = redb::Database::open(path).unwrap();
    let transaction = database.begin_read().unwrap();
    transaction.open_table(batches).unwrap().len().unwrap()
}

#[test]
fn a_version_2_file_is_migrated_and_still_knows_its_completed_keys() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    // As a version 2 build wrote it: one row per key, in age order.
    write_file_as_version(&path, 2, |transaction| {
        let mut ages = transaction.open_table(V2_BY_AGE).unwrap();
        for (at, key) in [(1_000, "event-a"), (1_000, "event-b"), (2_000, "event-c")] {
            ages.insert((at, key), ()).unwrap();
        }
    });

    let store = Store::open(&path, StoreSettings::default()).unwrap();
    for key in ["event-a", "event-b", "event-c"] {
        assert!(store.is_completed(key).unwrap(), "{key}");
    }
    assert!(!store.is_completed("event-d").unwrap());
    assert_eq!(store.completed_key_count().unwrap(), 3);
    drop(store);

    assert!(
        !table_names(&path).contains(&"completed_keys_by_age".to_owned()),
        "the version 2 table is gone"
    );
    assert_eq!(completed_key_rows(&path), 2, "one row per completion time");
}

#[test]
fn an_ack_batch_keeps_its_completed_keys_in_one_row_and_skips_keys_already_kept() {
    use byoc_connector::store::AckBatch;
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let store = Store::open(&path, StoreSettings::default()).unwrap();
    let mut first = AckBatch::new();
    for index in 0..100 {
        first.record_completed(format!("event-{index}"));
    }
    store
        .commit_ack_batch(&first, std::time::SystemTime::now())
        .unwrap();
    let mut second = AckBatch::new();
    second.record_completed("event-7");
    second.record_completed("event-100");
    store
        .commit_ack_batch(&second, std::time::SystemTime::now())
        .unwrap();
    let mut repeated = AckBatch::new();
    repeated.record_completed("event-100");
    store
        .commit_ack_batch(&repeated, std::time::SystemTime::now())
        .unwrap();
    assert_eq!(store.completed_key_count().unwrap(), 101);
    drop(store);

    assert_eq!(
        completed_key_rows(&path),
        2,
        "a row per commit that completed new keys"
    );
    let store = Store::open(&path, StoreSettings::default()).unwrap();
    assert_eq!(store.completed_key_count().unwrap(), 101);
    assert!(store.is_completed("event-0").unwrap());
    assert!(store.is_completed("event-100").unwrap());
}

#[test]
fn pruning_by_count_removes_the_oldest_commits_keys_together_and_never_the_newest_commit() {
    use byoc_connector::store::AckBatch;
    let directory = StoreDirectory::new();
    let store = Store::open(
        directory.store_path(),
        StoreSettings {
            dedup_max_keys: 3,
            ..StoreSettings::default()
        },
    )
    .unwrap();
    let commit = |keys: &[&str]| {
        let mut batch = AckBatch::new();
        for key in keys {
            batch.record_completed(*key);
        }
        store
            .commit_ack_batch(&batch, std::time::SystemTime::now())
            .unwrap();
    };
    commit(&["a1", "a2"]);
    commit(&["b1", "b2"]);
    // Four keys are over the bound of three: the oldest commit goes, both its keys.
    assert_eq!(store.completed_key_count().unwrap(), 2);
    assert!(!store.is_completed("a1").unwrap());
    assert!(!store.is_completed("a2").unwrap());
    assert!(store.is_completed("b1").unwrap());
    commit(&["c1", "c2", "c3", "c4"]);
    // A commit larger than the bound stays whole; everything older goes.
    assert_eq!(store.completed_key_count().unwrap(), 4);
    assert!(!store.is_completed("b1").unwrap());
    for key in ["c1", "c2", "c3", "c4"] {
        assert!(store.is_completed(key).unwrap(), "{key}");
    }
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
