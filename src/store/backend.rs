//! The seam between the [`Store`](super::Store) handle every caller uses and the engine that
//! keeps the state: an object-safe trait implemented by the redb file and by PostgreSQL.
//!
//! Every method is blocking I/O and must be safe to call from any thread, a tokio worker
//! included. A backend keeps its own copy of the [`StoreSettings`](super::StoreSettings) for the
//! bounds it enforces on writes. It knows nothing about the writer, the pipeline or HTTP.

use std::time::Duration;

use super::StoreError;
use super::{AckBatch, Checkpoint, DeadLetter, Fence, NewDeadLetter, PendingRoutingWrite};

/// One engine behind [`Store`](super::Store). Times are milliseconds since the Unix epoch.
pub(crate) trait StoreBackend: Send + Sync {
    /// Where the state lives, for logs and errors; never a password.
    fn location(&self) -> &str;

    /// Makes every later write prove that `fence` still holds its lease (`None`: no proof).
    fn set_fence(&self, fence: Option<Fence>);
    /// Whether the fence set last still holds its lease; `Ok` when none is set.
    fn check_fence(&self) -> Result<(), StoreError>;

    /// Commits `batch` atomically at `now_ms` and prunes keys and conversations past their
    /// bounds.
    fn commit_ack_batch(&self, batch: &AckBatch, now_ms: u64) -> Result<(), StoreError>;
    /// The committed checkpoint of (org, topic).
    fn load_checkpoint(&self, org: &str, topic: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every checkpoint, ordered by org then topic (byte order).
    fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;
    /// Sets a checkpoint forwards or back; returns the one replaced.
    fn set_checkpoint(
        &self,
        org: &str,
        topic: &str,
        replay_id: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Forgets a checkpoint; whether there was one.
    fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError>;

    /// Whether a completed key is committed.
    fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError>;
    /// Whether [`Self::is_completed`] answers from memory, with no I/O and no wait for a commit,
    /// so an async task may call it on its own thread.
    fn answers_completed_from_memory(&self) -> bool;
    /// The fingerprints of every completed key, oldest first.
    fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError>;
    /// How many completed keys are kept.
    fn completed_key_count(&self) -> Result<u64, StoreError>;

    /// Records a dead letter at `attempted_ms` (or bumps the one of its replay id); its id.
    fn record_dead_letter(
        &self,
        letter: &NewDeadLetter,
        attempted_ms: u64,
    ) -> Result<u64, StoreError>;
    /// One dead letter.
    fn get_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError>;
    /// Up to `limit` dead letters with ids above `after_id`, in id order.
    fn list_dead_letters(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError>;
    /// How many dead letters are kept.
    fn count_dead_letters(&self) -> Result<u64, StoreError>;
    /// Removes one dead letter; whether it existed.
    fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError>;
    /// Removes every dead letter; how many there were.
    fn remove_all_dead_letters(&self) -> Result<u64, StoreError>;

    /// Applies `writes` in order in one transaction; per write, whether it wrote.
    fn write_pending_routing_batch(
        &self,
        writes: &[PendingRoutingWrite],
    ) -> Result<Vec<bool>, StoreError>;
    /// The pending record of `event_id`.
    fn get_pending_routing(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes the pending record of `event_id`; whether it existed.
    fn remove_pending_routing(&self, event_id: &str) -> Result<bool, StoreError>;
    /// Every pending record, ordered by event id (byte order).
    fn list_pending_routing(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// The record of `conversation`.
    fn conversation_state(&self, conversation: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The sidecar answer kept under `key`.
    fn sidecar_answer(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores each answer unless its key has one (the first wins, also within the batch), in
    /// one transaction, then prunes by age and count; per write, the answer now kept.
    fn put_sidecar_answers(
        &self,
        writes: &[SidecarAnswerWrite],
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// One sidecar answer to keep: its store key, the serialized answer, and when it was given.
#[derive(Debug, Clone)]
pub struct SidecarAnswerWrite {
    /// The call's store key (route, scope and `Idempotency-Key`).
    pub key: String,
    /// The serialized answer.
    pub answer: Vec<u8>,
    /// When the answer was given, in ms since the Unix epoch.
    pub now_ms: u64,
}
