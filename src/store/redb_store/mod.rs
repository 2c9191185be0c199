//! The embedded backend: one redb file with every table, opened by one process at a time.
//!
//! This module owns the file: opening or creating it (private to the connector's user), its
//! schema version, and every table in it, each in its own file. Commits are durable
//! (`Durability::Immediate`). Fences are ignored: one process owns the file, so there is no
//! other leader to fence off. It knows nothing about PostgreSQL or the writer.

mod checkpoint;
mod conversation;
mod dead_letter;
mod dedup;
mod pending_routing;
mod schema_version;
mod sidecar_answers;

use std::path::Path;
use std::time::Duration;

use super::backend::StoreBackend;
use super::{
    from_unix_millis, AckBatch, Checkpoint, DeadLetter, Fence, NewDeadLetter, PendingRoutingWrite,
    SidecarAnswerWrite, StoreError, StoreSettings,
};

/// Small named values about the file itself: its schema version and id counters. Defined
/// here, beside the tables' modules, because the schema check and the dead letters both use it.
pub(crate) const META: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");

/// The most memory redb's page cache may hold. redb keeps every page it writes or reads in
/// that cache (1 GiB by default), so a long-running connector's memory would grow towards the
/// size of its file. Commits touch a few pages each (the newest rows, the oldest completed-key
/// row, the checkpoint and their branches); anything else is read once (start-up) or rarely
/// (dead letters, redeliveries) and comes from the kernel's page cache.
pub(crate) const PAGE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Wraps a redb error with the operation that hit it.
pub(crate) fn database_error<E: Into<redb::Error>>(
    operation: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::Database {
        operation,
        source: source.into(),
    }
}

/// Whether opening may create a missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateIfMissing {
    /// Create the file and its directories (the connector).
    Yes,
    /// Refuse a missing file (maintenance commands).
    No,
}

/// The open redb file.
pub(crate) struct RedbStore {
    // redb allows one open handle per file and process, so every clone of `Store` shares this.
    database: redb::Database,
    // The path, for logs and errors.
    location: String,
    settings: StoreSettings,
    // The completed keys, answered from memory; see `dedup`.
    completed: dedup::CompletedSet,
}

impl RedbStore {
    /// Opens the file at `path`, creating it (and its tables) if missing and allowed.
    pub(super) fn open(
        path: &Path,
        settings: StoreSettings,
        create: CreateIfMissing,
    ) -> Result<Self, StoreError> {
        let exists = path.exists();
        let opened = match create {
            CreateIfMissing::No if !exists => {
                return Err(StoreError::NotFound {
                    path: path.to_owned(),
                })
            }
            CreateIfMissing::No => builder().open(path),
            CreateIfMissing::Yes => {
                create_parent_directory(path)?;
                if !exists {
                    create_private_file(path)?;
                }
                // `create` opens an existing store and initialises a missing or empty file.
                builder().create(path)
            }
        };
        let database = opened.map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_owned(),
            },
            other => StoreError::Open {
                path: path.to_owned(),
                source: other.into(),
            },
        })?;
        schema_version::check_or_initialize(&database, path)?;
        let completed = dedup::CompletedSet::load(&database, settings.dedup_max_keys)?;
        tracing::debug!(path = %path.display(), created = !exists, "store opened");
        Ok(Self {
            database,
            location: path.display().to_string(),
            settings,
            completed,
        })
    }

    /// Begins a write transaction; every commit is durable (`Durability::Immediate`).
    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.database
            .begin_write()
            .map_err(database_error("begin write"))
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        use redb::ReadableDatabase as _;
        self.database
            .begin_read()
            .map_err(database_error("begin read"))
    }

    fn commit_ack_batch(&self, batch: &AckBatch, now_ms: u64) -> Result<(), StoreError> {
        let settings = &self.settings;
        let _commit = self.completed.begin_commit();
        let mut change = dedup::SetChange::default();
        let transaction = self.begin_write()?;
        dedup::insert_in(
            &transaction,
            &self.completed,
            batch.completed_keys(),
            now_ms,
            &mut change,
        )?;
        for ((org, topic), replay_id) in batch.checkpoints() {
            checkpoint::advance_in(&transaction, org, topic, replay_id)?;
        }
        conversation::put_in(&transaction, batch.conversations(), now_ms)?;
        let pruned = dedup::prune_in(
            &transaction,
            &self.completed,
            now_ms,
            settings.dedup_max_keys,
            settings.dedup_max_age,
            &mut change,
        )?;
        let conversations_pruned =
            conversation::prune_in(&transaction, now_ms, settings.conversation_max_age)?;
        transaction
            .commit()
            .map_err(database_error("commit ack batch"))?;
        self.completed.apply(change);
        tracing::trace!(
            acks = batch.len(),
            pruned,
            conversations_pruned,
            "ack batch committed"
        );
        Ok(())
    }
}

impl StoreBackend for RedbStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn set_fence(&self, _fence: Option<Fence>) {}

    fn check_fence(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn commit_ack_batch(&self, batch: &AckBatch, now_ms: u64) -> Result<(), StoreError> {
        RedbStore::commit_ack_batch(self, batch, now_ms)
    }

    fn load_checkpoint(&self, org: &str, topic: &str) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::load_checkpoint(self, org, topic)
    }

    fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        RedbStore::list_checkpoints(self)
    }

    fn set_checkpoint(
        &self,
        org: &str,
        topic: &str,
        replay_id: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::set_checkpoint(self, org, topic, replay_id)
    }

    fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError> {
        RedbStore::delete_checkpoint(self, org, topic)
    }

    fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError> {
        Ok(RedbStore::is_completed(self, idempotency_key))
    }

    fn answers_completed_from_memory(&self) -> bool {
        true
    }

    fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        RedbStore::completed_key_fingerprints(self)
    }

    fn completed_key_count(&self) -> Result<u64, StoreError> {
        Ok(RedbStore::completed_key_count(self))
    }

    fn record_dead_letter(
        &self,
        letter: &NewDeadLetter,
        attempted_ms: u64,
    ) -> Result<u64, StoreError> {
        RedbStore::record_dead_letter(self, letter, from_unix_millis(attempted_ms))
    }

    fn get_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        RedbStore::get_dead_letter(self, id)
    }

    fn list_dead_letters(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        RedbStore::list_dead_letters(self, after_id, limit)
    }

    fn count_dead_letters(&self) -> Result<u64, StoreError> {
        RedbStore::count_dead_letters(self)
    }

    fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        RedbStore::remove_dead_letter(self, id)
    }

    fn remove_all_dead_letters(&self) -> Result<u64, StoreError> {
        RedbStore::remove_all_dead_letters(self)
    }

    fn write_pending_routing_batch(
        &self,
        writes: &[PendingRoutingWrite],
    ) -> Result<Vec<bool>, StoreError> {
        RedbStore::write_pending_routing_batch(self, writes)
    }

    fn get_pending_routing(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::get_pending_routing(self, event_id)
    }

    fn remove_pending_routing(&self, event_id: &str) -> Result<bool, StoreError> {
        RedbStore::remove_pending_routing(self, event_id)
    }

    fn list_pending_routing(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        RedbStore::list_pending_routing(self)
    }

    fn conversation_state(&self, conversation: &str) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::conversation_state(self, conversation)
    }

    fn sidecar_answer(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::sidecar_answer(self, key)
    }

    fn put_sidecar_answers(
        &self,
        writes: &[SidecarAnswerWrite],
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        RedbStore::put_sidecar_answers(self, writes, max_age, max_keys)
    }
}

/// How every file is opened: with the page cache bounded.
fn builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(PAGE_CACHE_BYTES);
    builder
}

/// Creates the store's missing parent directories, readable by the connector's user only: dead
/// letters hold message text.
fn create_parent_directory(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(parent).map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source: redb::Error::Io(source),
    })
}

/// Creates the empty store file readable and writable by the connector's user only; redb then
/// initialises it. An existing file keeps the permissions its owner gave it.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Someone created it in between: open what is there.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Open {
            path: path.to_owned(),
            source: redb::Error::Io(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use redb::ReadableDatabase as _;

    use super::*;
    use crate::store::scratch::scratch_dir;

    #[test]
    fn a_completed_key_lookup_does_not_wait_for_a_commit_in_flight() {
        let (_guard, dir) = scratch_dir("lookup-during-commit");
        let store = std::sync::Arc::new(
            RedbStore::open(
                &dir.join("state.redb"),
                StoreSettings::default(),
                CreateIfMissing::Yes,
            )
            .unwrap(),
        );
        let mut first = AckBatch::new();
        first.record_completed("committed");
        store.commit_ack_batch(&first, 1_733_000_000_000).unwrap();
        // A write transaction held here keeps the next commit waiting inside redb, the way a
        // slow fsync keeps it there.
        let held = store.database.begin_write().unwrap();
        let committing = {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let mut next = AckBatch::new();
                next.record_completed("in-flight");
                store.commit_ack_batch(&next, 1_733_000_000_001)
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let (answer, answered) = std::sync::mpsc::channel();
        let looking = {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let _ = answer.send((
                    store.is_completed("committed"),
                    store.is_completed("in-flight"),
                ));
            })
        };
        let looked_up = answered.recv_timeout(Duration::from_secs(5));
        held.abort().unwrap();
        committing.join().unwrap().unwrap();
        looking.join().unwrap();
        assert_eq!(
            looked_up,
            Ok((true, false)),
            "the lookup waited for the commit in flight"
        );
        assert!(store.is_completed("in-flight"));
    }

    #[test]
    fn the_page_cache_stays_within_its_bound_however_much_the_file_holds() {
        let (_guard, dir) = scratch_dir("page-cache");
        let store = RedbStore::open(
            &dir.join("state.redb"),
            StoreSettings::default(),
            CreateIfMissing::Yes,
        )
        .unwrap();
        let raw_bytes = 16 * 1024;
        let letters = 3 * PAGE_CACHE_BYTES / raw_bytes;
        for n in 0..letters {
            let letter = NewDeadLetter {
                replay_id: u64::try_from(n).unwrap().to_be_bytes().to_vec(),
                raw: vec![0x5a; raw_bytes],
                decoded_json: None,
                reason: "filler".to_owned(),
                attributes: BTreeMap::new(),
            };
            StoreBackend::record_dead_letter(&store, &letter, 1_733_000_000_000).unwrap();
        }
        let cached = store.database.cache_stats().used_bytes();
        // Nothing cached would mean the counters are off (the `cache_metrics` feature) and the
        // bound untested.
        assert!(cached > 0, "no cache figures");
        assert!(
            cached <= PAGE_CACHE_BYTES,
            "{cached} bytes cached after writing {} bytes",
            letters * raw_bytes
        );
    }
}
