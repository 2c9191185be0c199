//! The connector's durable state: checkpoints, completed idempotency keys, dead letters,
//! pending routing requests, conversation state and the sidecar's recent answers.
//!
//! Callers hold a [`Store`], a cheap-clone handle; behind it one backend keeps the state:
//! a local redb file (`redb_store`, the embedded default) or a PostgreSQL database shared by
//! replicas (`postgres_store`, rows keyed by namespace, writes fenced by the leader's lease).
//! Both behave the same; one contract test suite holds them to it. The hot path of
//! acknowledgements goes through the batching [`CheckpointWriter`]. The store knows nothing
//! about Pub/Sub, gRPC or BYOC payloads: replay ids, keys and records are opaque bytes and
//! strings to it.
//!
//! Every method on [`Store`] is blocking I/O, safe from any thread. Reads are small point
//! lookups that are cheap enough for async code; writes wait for an fsync (or a database
//! round trip), so async callers run them through `Store::run_blocking`.

mod backend;
mod batch;
mod checkpoint;
mod dead_letter;
mod error;
mod fence;
mod fingerprint_table;
mod group_commit;
mod handle;
mod key_index;
pub mod operator;
mod pending_routing;
mod postgres_store;
mod postgres_tls;
mod redb_store;
#[cfg(test)]
pub(crate) mod scratch;
mod writer;

use std::time::Duration;

pub use backend::SidecarAnswerWrite;
pub use batch::AckBatch;
pub(crate) use checkpoint::compare_replay_ids;
pub use checkpoint::Checkpoint;
pub use dead_letter::{DeadLetter, NewDeadLetter};
pub use error::StoreError;
pub use fence::Fence;
pub(crate) use fence::LEASE_TABLE_DDL;
pub(crate) use group_commit::GroupCommitter;
pub use handle::{Location, Store, StoreReleased};
pub(crate) use pending_routing::PendingRoutingWrite;
pub use postgres_store::POSTGRES_SESSION_OPTIONS;
pub use postgres_store::SCHEMA_LOCK_KEY;
pub(crate) use postgres_store::{session_options, APPLICATION_NAME};
pub(crate) use postgres_tls::{parse_target, PostgresTls};
pub use writer::{CheckpointWriter, WriterHealth, WriterStop};

/// The schema version this build writes in a redb file; bump it (and add a migration) when a
/// table of the file changes. Version 2: completed keys in age order only; version 3: one row
/// per commit's completed keys.
pub const REDB_SCHEMA_VERSION: u64 = 3;

/// The schema version this build writes in a PostgreSQL database, counted apart from the redb
/// file's so that a change to the file alone never makes an older build refuse the database
/// (a rollback, or replicas upgraded one at a time). Version 2 was the file's change; the
/// database's tables have not changed since version 1.
pub const POSTGRES_SCHEMA_VERSION: u64 = 2;

/// How long a sidecar answer is kept: a partner's retries end well within a day.
pub(crate) const DEFAULT_SIDECAR_ANSWER_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// How many sidecar answers are kept at most.
pub(crate) const DEFAULT_SIDECAR_ANSWER_MAX_KEYS: u64 = 100_000;

/// Default number of acknowledgements that forces a commit of the ack batch.
pub(crate) const DEFAULT_ACK_BATCH_MAX_ACKS: usize = 1_000;

/// Default time after the first acknowledgement of a batch by which the batch is committed.
pub(crate) const DEFAULT_ACK_BATCH_MAX_DELAY: Duration = Duration::from_millis(50);

/// Default number of completed idempotency keys kept for deduplication.
pub(crate) const DEFAULT_DEDUP_MAX_KEYS: usize = 200_000;

/// How long Salesforce retains an event: no redelivery can come later, so what is kept only
/// to recognise redeliveries may be forgotten after it.
pub(crate) const EVENT_RETENTION: Duration = Duration::from_secs(72 * 60 * 60);

/// Default age after which a completed key is forgotten: no redelivery comes later.
pub(crate) const DEFAULT_DEDUP_MAX_AGE: Duration = EVENT_RETENTION;
/// How long dead letters are kept by default: 30 days to inspect and replay them.
pub(crate) const DEFAULT_DEAD_LETTER_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How many dead letters are kept by default, oldest removed first.
pub(crate) const DEFAULT_DEAD_LETTER_MAX_COUNT: u64 = 100_000;
/// How long a conversation's state is kept after its last activity by default: long past any
/// MessagingSession, short enough that the table holds only conversations still alive.
pub(crate) const DEFAULT_CONVERSATION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Default number of acknowledgements the writer queue holds before callers wait.
pub(crate) const DEFAULT_WRITER_QUEUE_CAPACITY: usize = 8_192;

/// Default number of times a failed commit is retried before the writer gives up.
pub(crate) const DEFAULT_COMMIT_RETRIES: usize = 8;

/// Default first delay before a failed commit is retried; it doubles, with jitter.
pub(crate) const DEFAULT_COMMIT_RETRY_MIN_DELAY: Duration = Duration::from_millis(100);

/// Default longest delay between two attempts at a failed commit.
pub(crate) const DEFAULT_COMMIT_RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

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
