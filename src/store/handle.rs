//! The [`Store`] handle: what every caller holds, whichever backend keeps the state.
//!
//! It opens the backend a [`Location`] names, carries the settings, and forwards each call;
//! the few rules that do not depend on the engine live here (a put of a pending record is a
//! one-write group commit, times become epoch milliseconds). It knows nothing about redb or
//! SQL beyond which backend to open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::backend::{SidecarAnswerWrite, StoreBackend};
use super::postgres_store::PostgresStore;
use super::redb_store::{CreateIfMissing, RedbStore};
use super::{
    unix_millis, AckBatch, Checkpoint, DeadLetter, Fence, NewDeadLetter, PendingRoutingWrite,
    StoreError, StoreSettings,
};
use crate::secret::SecretString;

/// Where the connector's state lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// One local redb file: the embedded default.
    File(PathBuf),
    /// A PostgreSQL database shared by replicas, and the namespace of this channel's rows.
    Postgres {
        /// The connection URL; a secret, it may carry a password.
        url: SecretString,
        /// The namespace every row of this connector is keyed by.
        namespace: String,
    },
}

/// Handle to the open store; cheap to clone, every clone uses the same backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    backend: Box<dyn StoreBackend>,
    settings: StoreSettings,
    // Declared after `backend`, so it drops after the backend closed: its receivers learn of
    // the release only once the file (or pool) is really closed.
    released: tokio::sync::watch::Sender<()>,
}

/// Resolves once every handle of one store is dropped and its backend closed; holding it
/// keeps nothing open.
#[derive(Debug, Clone)]
pub struct StoreReleased(tokio::sync::watch::Receiver<()>);

impl StoreReleased {
    /// Waits until the last handle of the store is gone.
    pub async fn wait(mut self) {
        // Nothing ever sends: `changed` fails exactly when the sender (the store) is dropped.
        while self.0.changed().await.is_ok() {}
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the redb file at `path`, creating it (and its tables) if it is missing.
    pub fn open(path: impl AsRef<Path>, settings: StoreSettings) -> Result<Self, StoreError> {
        let backend = RedbStore::open(path.as_ref(), settings.clone(), CreateIfMissing::Yes)?;
        Ok(Self::with_backend(Box::new(backend), settings))
    }

    /// Opens an existing redb file for maintenance (the `dlq` commands); never creates one.
    ///
    /// It fails with [`StoreError::Locked`] while a connector has the file open, so maintenance
    /// always sees the state a stopped connector left. A file left by a killed connector is
    /// recovered on open, which is why this is not a pure read-only open.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let settings = StoreSettings::default();
        let backend = RedbStore::open(path.as_ref(), settings.clone(), CreateIfMissing::No)?;
        Ok(Self::with_backend(Box::new(backend), settings))
    }

    /// Connects to the PostgreSQL database at `url` and creates the tables it lacks; every row
    /// this handle reads or writes is keyed by `namespace`.
    pub fn open_postgres(
        url: &str,
        namespace: &str,
        settings: StoreSettings,
    ) -> Result<Self, StoreError> {
        let backend = PostgresStore::open(url, namespace, settings.clone())?;
        Ok(Self::with_backend(Box::new(backend), settings))
    }

    /// Opens the store at `location` for the connector: a missing file is created, missing
    /// tables too.
    pub fn open_at(location: &Location, settings: StoreSettings) -> Result<Self, StoreError> {
        match location {
            Location::File(path) => Self::open(path, settings),
            Location::Postgres { url, namespace } => {
                Self::open_postgres(url.expose(), namespace, settings)
            }
        }
    }

    /// Opens the store at `location` for maintenance: a missing or running connector's redb
    /// file is refused ([`Store::open_existing`]); a database is shared, so it simply opens.
    pub fn open_existing_at(location: &Location) -> Result<Self, StoreError> {
        match location {
            Location::File(path) => Self::open_existing(path),
            Location::Postgres { url, namespace } => {
                Self::open_postgres(url.expose(), namespace, StoreSettings::default())
            }
        }
    }

    fn with_backend(backend: Box<dyn StoreBackend>, settings: StoreSettings) -> Self {
        Self {
            inner: Arc::new(StoreInner {
                backend,
                settings,
                released: tokio::sync::watch::Sender::new(()),
            }),
        }
    }

    /// A waiter for the moment every handle of this store, this one included, is dropped: a
    /// redb file can then be opened again in this process.
    pub fn released(&self) -> StoreReleased {
        StoreReleased(self.inner.released.subscribe())
    }

    fn backend(&self) -> &dyn StoreBackend {
        self.inner.backend.as_ref()
    }

    /// Where the state lives, for logs: the file's path, or the database and namespace
    /// (never a password).
    pub fn location(&self) -> &str {
        self.backend().location()
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StoreSettings {
        &self.inner.settings
    }

    /// Makes every later durable write prove, in its own transaction, that `fence`'s lease is
    /// still held; a write that cannot fails with [`StoreError::Fenced`] and changes nothing.
    /// `None` lifts the requirement. Shared by every clone; a redb store ignores it.
    pub fn set_fence(&self, fence: Option<Fence>) {
        self.backend().set_fence(fence);
    }

    /// A cheap read-only check that the fence set last still holds its lease, for a post that
    /// is not a store write (the routingResult); `Ok` when no fence is set.
    pub fn check_fence(&self) -> Result<(), StoreError> {
        self.backend().check_fence()
    }

    /// Runs blocking store work on tokio's blocking pool, so async callers never wait on an fsync.
    pub(crate) async fn run_blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(StoreError::TaskFailed)?
    }

    /// A fresh backoff for retrying a failed write: jittered, doubling from
    /// `commit_retry_min_delay` up to `commit_retry_max_delay`, `commit_retries` times.
    pub(crate) fn write_retry_backoff(&self) -> backon::ExponentialBackoff {
        use backon::BackoffBuilder as _;
        let settings = self.settings();
        backon::ExponentialBuilder::default()
            .with_min_delay(settings.commit_retry_min_delay)
            .with_max_delay(settings.commit_retry_max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(settings.commit_retries)
            .build()
    }

    /// Commits `batch` in one durable transaction and prunes completed keys and quiet
    /// conversations past their bounds.
    ///
    /// `now` is the completion time recorded for the keys, the last activity recorded for the
    /// conversations, and the reference for pruning by age.
    /// Blocking: call it from a blocking thread.
    pub fn commit_ack_batch(&self, batch: &AckBatch, now: SystemTime) -> Result<(), StoreError> {
        self.backend().commit_ack_batch(batch, unix_millis(now))
    }

    /// The committed checkpoint of (org, topic), if there is one.
    pub fn load_checkpoint(&self, org: &str, topic: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend().load_checkpoint(org, topic)
    }

    /// Every committed checkpoint, ordered by org then topic.
    pub fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.backend().list_checkpoints()
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
        self.backend().set_checkpoint(org, topic, replay_id)
    }

    /// Forgets the checkpoint of (org, topic), so the next subscription starts from the
    /// configured default; with [`Store::set_checkpoint`], the only ways a checkpoint moves
    /// back, meant for operators.
    pub fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError> {
        self.backend().delete_checkpoint(org, topic)
    }

    /// Whether a delivery with this idempotency key was committed as completed.
    ///
    /// Only committed keys count; [`super::CheckpointWriter::is_completed`] also sees keys
    /// still waiting in the current batch.
    pub fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError> {
        self.backend().is_completed(idempotency_key)
    }

    /// Whether [`Self::is_completed`] answers from memory (redb), with no I/O and no wait for a
    /// commit, rather than from the database (PostgreSQL).
    pub(crate) fn answers_completed_from_memory(&self) -> bool {
        self.backend().answers_completed_from_memory()
    }

    /// The fingerprints of every completed key, oldest first, for the writer's in-memory index.
    pub(crate) fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        self.backend().completed_key_fingerprints()
    }

    /// How many completed keys the store holds.
    pub fn completed_key_count(&self) -> Result<u64, StoreError> {
        self.backend().completed_key_count()
    }

    /// Durably records a dead letter and returns its id; an already recorded replay id bumps
    /// that letter's attempts, last attempt time, reason and attributes.
    ///
    /// Blocking: async callers use `Store::run_blocking`.
    pub fn record_dead_letter(
        &self,
        letter: &NewDeadLetter,
        attempted_at: SystemTime,
    ) -> Result<u64, StoreError> {
        self.backend()
            .record_dead_letter(letter, unix_millis(attempted_at))
    }

    /// The dead letter with this id, if it exists.
    pub fn get_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.backend().get_dead_letter(id)
    }

    /// Up to `limit` dead letters with ids above `after_id`, in id order; page with the last id.
    pub fn list_dead_letters(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        self.backend().list_dead_letters(after_id, limit)
    }

    /// How many dead letters the store holds.
    pub fn count_dead_letters(&self) -> Result<u64, StoreError> {
        self.backend().count_dead_letters()
    }

    /// Durably removes one dead letter; returns whether it existed.
    pub fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        self.backend().remove_dead_letter(id)
    }

    /// Durably removes every dead letter; returns how many there were. Ids are not reused.
    pub fn remove_all_dead_letters(&self) -> Result<u64, StoreError> {
        self.backend().remove_all_dead_letters()
    }

    /// Durably applies `writes` in order in one transaction (one fsync for all of them);
    /// returns, per write, whether it wrote (a put always does).
    ///
    /// Blocking: async callers use [`Store::run_blocking`].
    pub(crate) fn write_pending_routing_batch(
        &self,
        writes: &[PendingRoutingWrite],
    ) -> Result<Vec<bool>, StoreError> {
        self.backend().write_pending_routing_batch(writes)
    }

    /// Durably stores the record of `event_id`, replacing any previous one.
    ///
    /// Blocking: async callers use `Store::run_blocking`.
    pub fn put_pending_routing(&self, event_id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.write_one_pending_routing(event_id, record, true)
            .map(drop)
    }

    /// Durably stores the record of `event_id` only if it has none; returns whether it did.
    ///
    /// One transaction checks and writes, so two racing callers cannot both win.
    pub fn insert_pending_routing_if_absent(
        &self,
        event_id: &str,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        self.write_one_pending_routing(event_id, record, false)
    }

    fn write_one_pending_routing(
        &self,
        event_id: &str,
        record: &[u8],
        replace: bool,
    ) -> Result<bool, StoreError> {
        let write = PendingRoutingWrite {
            event_id: event_id.to_owned(),
            record: record.to_vec(),
            replace,
        };
        let outcome = self.write_pending_routing_batch(std::slice::from_ref(&write))?;
        Ok(outcome.first().copied().unwrap_or(false))
    }

    /// The record of `event_id`, if there is one.
    pub fn get_pending_routing(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend().get_pending_routing(event_id)
    }

    /// Durably removes the record of `event_id`; returns whether it existed.
    pub fn remove_pending_routing(&self, event_id: &str) -> Result<bool, StoreError> {
        self.backend().remove_pending_routing(event_id)
    }

    /// Every pending record as (event id, record), ordered by event id.
    pub fn list_pending_routing(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.backend().list_pending_routing()
    }

    /// The stored record of `conversation`, if there is one. A point read.
    pub fn conversation_state(&self, conversation: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend().conversation_state(conversation)
    }

    /// The answer stored under `key`, if it is still kept.
    pub fn sidecar_answer(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend().sidecar_answer(key)
    }

    /// Durably stores `answer` under `key` at `now_ms` unless one is there (the first answer
    /// wins), then prunes answers older than `max_age` and beyond `max_keys`, oldest first.
    /// Returns the answer now stored under `key`.
    ///
    /// Blocking: async callers use `Store::run_blocking`.
    pub fn put_sidecar_answer(
        &self,
        key: &str,
        answer: &[u8],
        now_ms: u64,
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let write = SidecarAnswerWrite {
            key: key.to_owned(),
            answer: answer.to_vec(),
            now_ms,
        };
        let mut kept = self.put_sidecar_answers(std::slice::from_ref(&write), max_age, max_keys)?;
        Ok(kept.pop().unwrap_or(write.answer))
    }

    /// [`Store::put_sidecar_answer`] for several answers in one transaction (one fsync or
    /// round trip for all), in order: a later write of a key already written keeps the
    /// earlier answer. Returns the answer kept under each write's key.
    ///
    /// Blocking: async callers use `Store::run_blocking` (or a group committer).
    pub fn put_sidecar_answers(
        &self,
        writes: &[SidecarAnswerWrite],
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.backend()
            .put_sidecar_answers(writes, max_age, max_keys)
    }
}
