//! The connector's durable state: one redb file with checkpoints, completed idempotency keys,
//! dead letters, pending routing requests, conversation state and the sidecar's recent answers.
//!
//! This module owns the file: opening or creating it, its schema version, and every table in
//! it. Each table lives in its own file (`checkpoint`, `dedup`, `dead_letter`,
//! `pending_routing`, `conversation`), and the hot path of acknowledgements goes through the batching
//! [`CheckpointWriter`]. The store knows nothing about Pub/Sub, gRPC or BYOC payloads: replay
//! ids, keys and records are opaque bytes and strings to it.
//!
//! Every method on [`Store`] is blocking I/O. Reads are small point lookups that are cheap
//! enough for async code; writes wait for an fsync, so async callers run them through
//! [`Store::run_blocking`].

mod batch;
mod checkpoint;
mod conversation;
mod dead_letter;
mod dedup;
mod fence;
mod group_commit;
mod key_index;
pub mod operator;
mod pending_routing;
mod schema_version;
mod sidecar_answers;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use batch::AckBatch;
pub use checkpoint::{compare_replay_ids, Checkpoint};
pub use dead_letter::{DeadLetter, NewDeadLetter};
pub use fence::{Fence, LEASE_TABLE_DDL};
pub(crate) use group_commit::GroupCommitter;
pub(crate) use pending_routing::PendingRoutingWrite;
pub use schema_version::STORE_SCHEMA_VERSION;
pub use sidecar_answers::{
    SidecarAnswerWrite, DEFAULT_SIDECAR_ANSWER_MAX_AGE, DEFAULT_SIDECAR_ANSWER_MAX_KEYS,
};
pub use writer::{CheckpointWriter, WriterHealth, WriterStop};

/// Default number of acknowledgements that forces a commit of the ack batch.
pub const DEFAULT_ACK_BATCH_MAX_ACKS: usize = 1_000;

/// Default time after the first acknowledgement of a batch by which the batch is committed.
pub const DEFAULT_ACK_BATCH_MAX_DELAY: Duration = Duration::from_millis(50);

/// Default number of completed idempotency keys kept for deduplication.
pub const DEFAULT_DEDUP_MAX_KEYS: usize = 200_000;

/// How long Salesforce retains an event: no redelivery can come later, so what is kept only
/// to recognise redeliveries may be forgotten after it.
pub const EVENT_RETENTION: Duration = Duration::from_secs(72 * 60 * 60);

/// Default age after which a completed key is forgotten: no redelivery comes later.
pub const DEFAULT_DEDUP_MAX_AGE: Duration = EVENT_RETENTION;
/// How long dead letters are kept by default: 30 days to inspect and replay them.
pub const DEFAULT_DEAD_LETTER_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How many dead letters are kept by default, oldest removed first.
pub const DEFAULT_DEAD_LETTER_MAX_COUNT: u64 = 100_000;
/// How long a conversation's state is kept after its last activity by default: long past any
/// MessagingSession, short enough that the table holds only conversations still alive.
pub const DEFAULT_CONVERSATION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Default number of acknowledgements the writer queue holds before callers wait.
pub const DEFAULT_WRITER_QUEUE_CAPACITY: usize = 8_192;

/// Default number of times a failed commit is retried before the writer gives up.
pub const DEFAULT_COMMIT_RETRIES: usize = 8;

/// Default first delay before a failed commit is retried; it doubles, with jitter.
pub const DEFAULT_COMMIT_RETRY_MIN_DELAY: Duration = Duration::from_millis(100);

/// Default longest delay between two attempts at a failed commit.
pub const DEFAULT_COMMIT_RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

/// Tunables for the store and its batching writer.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// A batch is committed as soon as it holds this many acknowledgements.
    pub ack_batch_max_acks: usize,
    /// A batch is committed at most this long after its first acknowledgement.
    pub ack_batch_max_delay: Duration,
    /// Completed keys beyond this count are pruned, oldest first, at each commit.
    pub dedup_max_keys: usize,
    /// Completed keys older than this are pruned at each commit.
    pub dedup_max_age: Duration,
    /// Bound of the queue in front of the writer, so a slow disk slows acknowledgements.
    pub writer_queue_capacity: usize,
    /// Dead letters first recorded longer ago than this are removed when another is
    /// recorded; `None` keeps them (they hold message text, so a limit is the default).
    pub dead_letter_max_age: Option<Duration>,
    /// The oldest dead letters beyond this many are removed when another is recorded.
    pub dead_letter_max_count: Option<u64>,
    /// Conversation state not written for longer than this is removed at each commit of an
    /// ack batch; `None` keeps it.
    pub conversation_max_age: Option<Duration>,
    /// A failed commit (or dead-letter write) is retried this many times before it is fatal.
    pub commit_retries: usize,
    /// First delay before a failed write is retried.
    pub commit_retry_min_delay: Duration,
    /// Longest delay between two attempts at a failed write.
    pub commit_retry_max_delay: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            ack_batch_max_acks: DEFAULT_ACK_BATCH_MAX_ACKS,
            ack_batch_max_delay: DEFAULT_ACK_BATCH_MAX_DELAY,
            dedup_max_keys: DEFAULT_DEDUP_MAX_KEYS,
            dedup_max_age: DEFAULT_DEDUP_MAX_AGE,
            writer_queue_capacity: DEFAULT_WRITER_QUEUE_CAPACITY,
            dead_letter_max_age: Some(DEFAULT_DEAD_LETTER_MAX_AGE),
            dead_letter_max_count: Some(DEFAULT_DEAD_LETTER_MAX_COUNT),
            conversation_max_age: Some(DEFAULT_CONVERSATION_MAX_AGE),
            commit_retries: DEFAULT_COMMIT_RETRIES,
            commit_retry_min_delay: DEFAULT_COMMIT_RETRY_MIN_DELAY,
            commit_retry_max_delay: DEFAULT_COMMIT_RETRY_MAX_DELAY,
        }
    }
}

/// Everything that can go wrong with the store file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file was written by a newer build; opening it could corrupt data that build relies on.
    #[error(
        "store file {path} has schema version {found}, but this build supports up to version {supported}; \
         upgrade byoc-connector or point the store path at another file",
        path = path.display()
    )]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The schema version recorded in the file.
        found: u64,
        /// The newest schema version this build understands.
        supported: u64,
    },
    /// The file does not exist and the caller asked not to create one.
    #[error("store file {path} does not exist", path = path.display())]
    NotFound {
        /// The store file.
        path: PathBuf,
    },
    /// A running connector holds the file, in another process or in this one.
    #[error(
        "store file {path} is in use by a running connector; stop the connector that uses it first",
        path = path.display()
    )]
    Locked {
        /// The store file.
        path: PathBuf,
    },
    /// The file exists but cannot be opened as a store.
    #[error("cannot open store file {path}", path = path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// A read or a write failed.
    #[error("store {operation} failed")]
    Database {
        /// What the store was doing, for example `commit ack batch`.
        operation: &'static str,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// A stored record cannot be decoded.
    #[error("store record {key} in table {table} is corrupt: {reason}")]
    Corrupt {
        /// The table holding the record.
        table: &'static str,
        /// The record's key, printable.
        key: String,
        /// Why it cannot be decoded.
        reason: String,
    },
    /// The checkpoint writer stopped, after a failed commit or a close.
    #[error("checkpoint writer stopped: {0}")]
    WriterStopped(#[source] writer::WriterStop),
    /// This replica's lease was taken over (or expired): it is no longer the leader and must not
    /// write. Not retried.
    #[error(
        "store write refused: replica {holder} no longer holds the lease of namespace {namespace} with token {token}"
    )]
    Fenced {
        /// The namespace whose lease was lost.
        namespace: String,
        /// This replica.
        holder: String,
        /// The token this replica held.
        token: i64,
    },
    /// A blocking store task panicked or was cancelled.
    #[error("store task did not finish")]
    TaskFailed(#[source] tokio::task::JoinError),
}

/// Small named values about the file itself: its schema version and id counters. Defined
/// here, beside the tables' modules, because the schema check and the dead letters both use it.
pub(crate) const META: redb::TableDefinition<'_, &str, u64> = redb::TableDefinition::new("meta");

/// Wraps a redb error with the operation that hit it.
pub(crate) fn database_error<E: Into<redb::Error>>(
    operation: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::Database {
        operation,
        source: source.into(),
    }
}

/// Handle to the open store file; cheap to clone, every clone uses the same file.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    // redb allows one open handle per file and process, so every clone shares this one.
    database: redb::Database,
    // Kept for error messages and logs.
    path: PathBuf,
    settings: StoreSettings,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store file at `path`, creating it (and its tables) if it is missing.
    pub fn open(path: impl AsRef<Path>, settings: StoreSettings) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), settings, CreateIfMissing::Yes)
    }

    /// Opens an existing store file for maintenance (the `dlq` commands); never creates one.
    ///
    /// It fails with [`StoreError::Locked`] while a connector has the file open, so maintenance
    /// always sees the state a stopped connector left. A file left by a killed connector is
    /// recovered on open, which is why this is not a pure read-only open.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), StoreSettings::default(), CreateIfMissing::No)
    }

    fn open_with(
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
            CreateIfMissing::No => redb::Database::open(path),
            CreateIfMissing::Yes => {
                create_parent_directory(path)?;
                if !exists {
                    create_private_file(path)?;
                }
                // `create` opens an existing store and initialises a missing or empty file.
                redb::Database::create(path)
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
        tracing::debug!(path = %path.display(), created = !exists, "store opened");
        Ok(Self {
            inner: Arc::new(StoreInner {
                database,
                path: path.to_owned(),
                settings,
            }),
        })
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StoreSettings {
        &self.inner.settings
    }

    /// Runs blocking store work on tokio's blocking pool, so async callers never wait on an fsync.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, StoreError>
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
    pub fn write_retry_backoff(&self) -> backon::ExponentialBackoff {
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

    pub(crate) fn database(&self) -> &redb::Database {
        &self.inner.database
    }

    /// Begins a write transaction; every commit is durable (`Durability::Immediate`).
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.database()
            .begin_write()
            .map_err(database_error("begin write"))
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        use redb::ReadableDatabase as _;
        self.database()
            .begin_read()
            .map_err(database_error("begin read"))
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateIfMissing {
    Yes,
    No,
}

/// Milliseconds since the Unix epoch, saturating at zero for times before it.
pub(crate) fn unix_millis(time: std::time::SystemTime) -> u64 {
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// The time `millis` milliseconds after the Unix epoch.
pub(crate) fn from_unix_millis(millis: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(millis)
}
