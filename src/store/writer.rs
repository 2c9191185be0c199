//! The checkpoint writer: the async front of the ack hot path.
//!
//! Callers hand it completed keys and checkpoint advances; one task gathers them into an
//! [`AckBatch`] and commits it every `ack_batch_max_acks` acknowledgements or
//! `ack_batch_max_delay` after the batch's first one, whichever comes first. Commits run on the
//! blocking pool, one at a time, and each is durable. A failed commit is retried with jittered
//! backoff (the writer reports [`WriterHealth::Retrying`] meanwhile); when the retries run out
//! the writer stops and reports [`WriterHealth::Failed`], every later call returns
//! [`StoreError::WriterStopped`], and the events it held are redelivered after a restart,
//! which at-least-once allows. It knows nothing about what the keys mean.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::key_index::{fingerprint, KeyIndex, Lookup};
use super::{AckBatch, Store, StoreError};
use crate::fast_hash::FastSet;

/// Async handle to the batching writer; clones share the same task and batch.
#[derive(Clone)]
pub struct CheckpointWriter {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    store: Store,
}

impl std::fmt::Debug for CheckpointWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWriter")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Why the checkpoint writer stopped; every waiter gets the same answer, so it is cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterStop {
    /// Closed on purpose.
    #[error("writer closed")]
    Closed,
    /// The task is gone without saying why (it panicked or its runtime shut down).
    #[error("writer task ended")]
    TaskEnded,
    /// A commit failed; nothing after it was committed.
    #[error("commit failed: {0}")]
    CommitFailed(#[source] Arc<StoreError>),
    /// The blocking commit task panicked or was cancelled.
    #[error("commit task did not finish: {0}")]
    CommitTaskFailed(#[source] Arc<tokio::task::JoinError>),
}

/// Whether the writer can commit; the pipeline stops on `Failed`, readiness is off unless
/// `Healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterHealth {
    /// Commits succeed (or none has been tried).
    Healthy,
    /// A commit failed and is being retried.
    Retrying,
    /// Commits kept failing; the writer has stopped.
    Failed,
}

/// State shared between the handles and the task.
struct Shared {
    // Whether commits succeed; see `WriterHealth`.
    health: watch::Sender<WriterHealth>,
    // Keys submitted but not yet committed, so `is_completed` sees them before the commit.
    // A key leaves the set only after its commit, so a reader that misses it here finds it
    // in the store.
    uncommitted_keys: Mutex<FastSet<String>>,
    // Fingerprints of completed keys, so most lookups need no store read; see `KeyIndex`.
    // `None` when the store answers from memory itself (redb): a second copy of every kept
    // key would only cost memory.
    index: Option<Mutex<KeyIndex>>,
    // Why the task stopped, once it has.
    stopped_reason: Mutex<Option<WriterStop>>,
    // The task, awaited by `close` so the file is released when it returns.
    task: Mutex<Option<JoinHandle<()>>>,
}

type Reply = oneshot::Sender<Result<(), WriterStop>>;

enum Command {
    Completed(String),
    Checkpoint(CheckpointMove),
    /// An event completed and moved the checkpoint: one command for both.
    CompletedAndCheckpoint(String, CheckpointMove),
    Conversation {
        conversation: String,
        record: Vec<u8>,
    },
    Flush(Reply),
    Close(Reply),
}

/// A checkpoint advance; org and topic are shared, not copied for every event.
struct CheckpointMove {
    org: Arc<str>,
    topic: Arc<str>,
    replay_id: Vec<u8>,
}

impl CheckpointWriter {
    /// Starts the writer task for `store`; call it inside a tokio runtime, once per store.
    pub fn spawn(store: Store) -> Self {
        let (commands, receiver) = mpsc::channel(store.settings().writer_queue_capacity.max(1));
        let shared = Arc::new(Shared {
            health: watch::Sender::new(WriterHealth::Healthy),
            uncommitted_keys: Mutex::new(FastSet::default()),
            index: (!store.answers_completed_from_memory())
                .then(|| Mutex::new(KeyIndex::new(store.settings().dedup_max_keys))),
            stopped_reason: Mutex::new(None),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run(store.clone(), receiver, Arc::clone(&shared)));
        *lock(&shared.task) = Some(task);
        Self {
            commands,
            shared,
            store,
        }
    }

    /// The store this writer commits to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether commits succeed, and every change of it.
    pub fn health(&self) -> watch::Receiver<WriterHealth> {
        self.shared.health.subscribe()
    }

    /// Why the writer stopped, once it has (closed, or a commit failed for good).
    pub(crate) fn stop_reason(&self) -> Option<StoreError> {
        lock(&self.shared.stopped_reason)
            .clone()
            .map(StoreError::WriterStopped)
    }

    /// Marks a delivery's idempotency key as completed; committed with the next batch.
    pub async fn record_completed(
        &self,
        idempotency_key: impl Into<String>,
    ) -> Result<(), StoreError> {
        let idempotency_key = idempotency_key.into();
        self.send_completed(idempotency_key, None).await
    }

    /// [`CheckpointWriter::record_completed`] and [`CheckpointWriter::advance_shared_checkpoint`]
    /// in one command, for an event whose completion moved the checkpoint.
    pub(crate) async fn record_completed_and_advance(
        &self,
        idempotency_key: String,
        org: &Arc<str>,
        topic: &Arc<str>,
        replay_id: &[u8],
    ) -> Result<(), StoreError> {
        let advance = CheckpointMove {
            org: Arc::clone(org),
            topic: Arc::clone(topic),
            replay_id: replay_id.to_vec(),
        };
        self.send_completed(idempotency_key, Some(advance)).await
    }

    async fn send_completed(
        &self,
        idempotency_key: String,
        advance: Option<CheckpointMove>,
    ) -> Result<(), StoreError> {
        lock(&self.shared.uncommitted_keys).insert(idempotency_key.clone());
        if let Some(index) = &self.shared.index {
            lock(index).insert(fingerprint(&idempotency_key));
        }
        let command = match advance {
            Some(advance) => Command::CompletedAndCheckpoint(idempotency_key, advance),
            None => Command::Completed(idempotency_key),
        };
        match self.commands.send(command).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(
                Command::Completed(key) | Command::CompletedAndCheckpoint(key, _),
            )) => {
                // It will never be committed, so it must not count as completed.
                lock(&self.shared.uncommitted_keys).remove(&key);
                Err(self.stopped_error())
            }
            Err(_other) => Err(self.stopped_error()),
        }
    }

    /// Moves the checkpoint of (org, topic) to `replay_id`; committed with the next batch.
    pub async fn advance_checkpoint(
        &self,
        org: &str,
        topic: &str,
        replay_id: impl Into<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let replay_id: Vec<u8> = replay_id.into();
        self.advance_shared_checkpoint(&Arc::from(org), &Arc::from(topic), &replay_id)
            .await
    }

    /// [`CheckpointWriter::advance_checkpoint`] for a caller that keeps org and topic shared.
    pub(crate) async fn advance_shared_checkpoint(
        &self,
        org: &Arc<str>,
        topic: &Arc<str>,
        replay_id: &[u8],
    ) -> Result<(), StoreError> {
        self.send(Command::Checkpoint(CheckpointMove {
            org: Arc::clone(org),
            topic: Arc::clone(topic),
            replay_id: replay_id.to_vec(),
        }))
        .await
    }

    /// Replaces the stored state of `conversation`; committed with the next batch.
    pub(crate) async fn record_conversation(
        &self,
        conversation: impl Into<String>,
        record: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.send(Command::Conversation {
            conversation: conversation.into(),
            record,
        })
        .await
    }

    /// Durable barrier: returns once everything submitted before it is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, committed) = oneshot::channel();
        self.send(Command::Flush(reply)).await?;
        self.await_reply(committed).await
    }

    /// Commits what is pending and stops the task; other clones then get `WriterStopped`.
    pub async fn close(self) -> Result<(), StoreError> {
        let (reply, committed) = oneshot::channel();
        self.send(Command::Close(reply)).await?;
        let outcome = self.await_reply(committed).await;
        let task = lock(&self.shared.task).take();
        if let Some(task) = task {
            task.await.map_err(StoreError::TaskFailed)?;
        }
        outcome
    }

    /// Whether the key is completed, committed or still waiting in the current batch.
    ///
    /// Answered from memory when the key is still uncommitted or the store keeps its keys in
    /// memory (redb); otherwise from the index when the key is new, and only a key the index may
    /// have seen is read from the store, on the blocking pool.
    pub async fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError> {
        // The set first, then the store: see `Shared::uncommitted_keys`.
        if lock(&self.shared.uncommitted_keys).contains(idempotency_key) {
            return Ok(true);
        }
        let Some(index) = &self.shared.index else {
            return self.store.is_completed(idempotency_key);
        };
        if lock(index).lookup(fingerprint(idempotency_key)) == Lookup::New {
            return Ok(false);
        }
        let key = idempotency_key.to_owned();
        self.store
            .run_blocking(move |store| store.is_completed(&key))
            .await
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        self.commands
            .send(command)
            .await
            .map_err(|_closed| self.stopped_error())
    }

    async fn await_reply(
        &self,
        reply: oneshot::Receiver<Result<(), WriterStop>>,
    ) -> Result<(), StoreError> {
        match reply.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_dropped) => Err(self.stopped_error()),
        }
    }

    fn stopped_error(&self) -> StoreError {
        let reason = lock(&self.shared.stopped_reason)
            .clone()
            .unwrap_or(WriterStop::TaskEnded);
        StoreError::WriterStopped(reason)
    }
}

/// What woke the writer task.
enum Wake {
    Command(Option<Command>),
    BatchDeadline,
}

async fn run(store: Store, mut commands: mpsc::Receiver<Command>, shared: Arc<Shared>) {
    load_index(&store, &shared).await;
    let max_acks = store.settings().ack_batch_max_acks.max(1);
    let max_delay = store.settings().ack_batch_max_delay;
    let mut batch = AckBatch::new();
    let mut batch_deadline: Option<Instant> = None;
    let mut flush_waiters: Vec<Reply> = Vec::new();
    loop {
        let wake = match batch_deadline {
            Some(deadline) => tokio::select! {
                command = commands.recv() => Wake::Command(command),
                () = tokio::time::sleep_until(deadline) => Wake::BatchDeadline,
            },
            None => Wake::Command(commands.recv().await),
        };
        let mut close_reply = None;
        let mut stop_after_commit = false;
        let mut commit_now = false;
        let mut next = Some(wake);
        while let Some(wake) = next.take() {
            match wake {
                Wake::BatchDeadline => commit_now = true,
                Wake::Command(Some(Command::Completed(key))) => batch.record_completed(key),
                Wake::Command(Some(Command::Checkpoint(advance))) => {
                    batch.advance_checkpoint(&advance.org, &advance.topic, advance.replay_id);
                }
                Wake::Command(Some(Command::CompletedAndCheckpoint(key, advance))) => batch
                    .record_completed_and_advance(
                        key,
                        &advance.org,
                        &advance.topic,
                        advance.replay_id,
                    ),
                Wake::Command(Some(Command::Conversation {
                    conversation,
                    record,
                })) => batch.put_conversation(conversation, record),
                Wake::Command(Some(Command::Flush(reply))) => {
                    flush_waiters.push(reply);
                    commit_now = true;
                }
                Wake::Command(Some(Command::Close(reply))) => {
                    close_reply = Some(reply);
                    stop_after_commit = true;
                    commit_now = true;
                }
                // Every handle is gone: commit what is left and stop.
                Wake::Command(None) => {
                    stop_after_commit = true;
                    commit_now = true;
                }
            }
            // Group commit: everything that queued up (typically during the previous
            // commit's fsync) joins this batch, so one fsync covers it all instead of the
            // queue draining one capped batch per fsync.
            if !stop_after_commit {
                next = commands
                    .try_recv()
                    .ok()
                    .map(|command| Wake::Command(Some(command)));
            }
        }
        if batch_deadline.is_none() && !batch.is_empty() {
            batch_deadline = Some(Instant::now() + max_delay);
        }
        if !commit_now && batch.len() < max_acks {
            continue;
        }
        let outcome = commit_with_retry(&store, std::mem::take(&mut batch), &shared).await;
        batch_deadline = None;
        for waiter in flush_waiters.drain(..) {
            // A waiter that gave up no longer needs the answer.
            let _ = waiter.send(outcome.clone());
        }
        if let Err(reason) = &outcome {
            tracing::error!(store = store.location(), reason = %crate::error_chain::render(reason), "checkpoint writer stopped after a failed commit");
            stop_after_commit = true;
        }
        if stop_after_commit {
            if outcome.is_ok() {
                *lock(&shared.stopped_reason) = Some(WriterStop::Closed);
            }
            if let Some(reply) = close_reply {
                let _ = reply.send(outcome);
            }
            return;
        }
    }
}

/// Commits `batch`, retrying a failure with jittered backoff; reports the writer's health on
/// the way and `Failed` once the retries run out.
async fn commit_with_retry(
    store: &Store,
    batch: AckBatch,
    shared: &Shared,
) -> Result<(), WriterStop> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut backoff = store.write_retry_backoff();
    let mut batch = batch;
    let mut attempt: u32 = 1;
    loop {
        let (returned, failure) = match commit(store, batch).await {
            Ok(committed) => {
                forget_committed_keys(&committed, shared);
                set_health(shared, WriterHealth::Healthy);
                return Ok(());
            }
            Err(failed) => failed,
        };
        // A lost lease is final: retrying would only be refused again.
        let fenced = matches!(&failure, WriterStop::CommitFailed(error) if error.is_fenced());
        let retry = if fenced {
            None
        } else {
            returned.zip(backoff.next())
        };
        let Some((returned, delay)) = retry else {
            // The reason before the health: whoever sees `Failed` asks for the reason at once,
            // and a fenced commit reported as a bare "task ended" is not seen as a lost lease.
            *lock(&shared.stopped_reason) = Some(failure.clone());
            set_health(shared, WriterHealth::Failed);
            return Err(failure);
        };
        tracing::warn!(
            store = store.location(),
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason = %crate::error_chain::render(&failure),
            "store commit failed; retrying"
        );
        set_health(shared, WriterHealth::Retrying);
        tokio::time::sleep(delay).await;
        batch = returned;
        attempt += 1;
    }
}

/// Commits `batch` once on the blocking pool; on failure, hands the batch back when it
/// survived (it does not when the blocking task panicked).
async fn commit(
    store: &Store,
    batch: AckBatch,
) -> Result<AckBatch, (Option<AckBatch>, WriterStop)> {
    let committing_store = store.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let outcome = committing_store.commit_ack_batch(&batch, SystemTime::now());
        (batch, outcome)
    })
    .await;
    match committed {
        Ok((batch, Ok(()))) => Ok(batch),
        Ok((batch, Err(error))) => Err((Some(batch), WriterStop::CommitFailed(Arc::new(error)))),
        Err(join_error) => Err((None, WriterStop::CommitTaskFailed(Arc::new(join_error)))),
    }
}

/// Forgets a committed batch's keys from the uncommitted set: the store has them now.
fn forget_committed_keys(batch: &AckBatch, shared: &Shared) {
    let mut uncommitted_keys = lock(&shared.uncommitted_keys);
    for key in batch.completed_keys() {
        uncommitted_keys.remove(key);
    }
}

/// Loads the store's completed keys into the index, if the writer keeps one. On failure the
/// index stays unloaded and every lookup reads the store, which is slower but still right.
async fn load_index(store: &Store, shared: &Shared) {
    let Some(index) = &shared.index else {
        return;
    };
    let loaded = store.run_blocking(Store::completed_key_fingerprints).await;
    match loaded {
        Ok(fingerprints) => lock(index).load(fingerprints),
        Err(error) => tracing::warn!(
            reason = %crate::error_chain::render(&error),
            "cannot load the completed keys; every duplicate check reads the store"
        ),
    }
}

/// Reports the writer's health, waking watchers only on a change.
fn set_health(shared: &Shared, health: WriterHealth) {
    shared
        .health
        .send_if_modified(|current| std::mem::replace(current, health) != health);
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::scratch::scratch_store;

    #[tokio::test]
    async fn a_writer_on_redb_answers_from_the_store_and_keeps_no_second_copy_of_the_keys() {
        let (_guard, store) = scratch_store("writer-without-index");
        let writer = CheckpointWriter::spawn(store);
        writer.record_completed("event-a").await.unwrap();
        writer.flush().await.unwrap();
        assert!(writer.shared.index.is_none());
        assert!(lock(&writer.shared.uncommitted_keys).is_empty());
        assert!(writer.is_completed("event-a").await.unwrap());
        assert!(!writer.is_completed("event-b").await.unwrap());
        writer.close().await.unwrap();
    }

    /// A key sent to a writer that has stopped is refused and does not count as completed:
    /// it will never be committed, so its event must be delivered again.
    #[tokio::test]
    async fn a_key_the_stopped_writer_never_took_is_not_completed() {
        let (_guard, store) = scratch_store("writer-stopped");
        let writer = CheckpointWriter::spawn(store);
        let sender = writer.clone();
        writer.close().await.unwrap();
        let (org, topic): (Arc<str>, Arc<str>) = (Arc::from("org"), Arc::from("topic"));
        assert!(matches!(
            sender.record_completed("event-a").await,
            Err(StoreError::WriterStopped(_))
        ));
        assert!(sender
            .record_completed_and_advance("event-b".to_owned(), &org, &topic, &[1])
            .await
            .is_err());
        assert!(lock(&sender.shared.uncommitted_keys).is_empty());
        assert!(!sender.is_completed("event-a").await.unwrap());
        assert!(!sender.is_completed("event-b").await.unwrap());
    }

    /// An event's key and the checkpoint it moved arrive as one command, count as one
    /// acknowledgement towards `ack_batch_max_acks`, and are committed together.
    #[tokio::test]
    async fn a_key_with_its_checkpoint_is_one_acknowledgement_committed_together() {
        let (_guard, dir) = crate::store::scratch::scratch_dir("writer-key-and-checkpoint");
        let settings = crate::store::StoreSettings {
            ack_batch_max_acks: 3,
            ack_batch_max_delay: std::time::Duration::from_secs(3600),
            ..crate::store::StoreSettings::default()
        };
        let store = Store::open(dir.join("state.redb"), settings).unwrap();
        let writer = CheckpointWriter::spawn(store.clone());
        let (org, topic): (Arc<str>, Arc<str>) = (Arc::from("org"), Arc::from("topic"));
        for (key, position) in [("event-1", 1_u8), ("event-2", 2)] {
            writer
                .record_completed_and_advance(key.to_owned(), &org, &topic, &[0, position])
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            store.load_checkpoint("org", "topic").unwrap(),
            None,
            "two of three"
        );

        writer
            .record_completed_and_advance("event-3".to_owned(), &org, &topic, &[0, 3])
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while store.load_checkpoint("org", "topic").unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "never committed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            store.load_checkpoint("org", "topic").unwrap(),
            Some(vec![0, 3])
        );
        for key in ["event-1", "event-2", "event-3"] {
            assert!(store.is_completed(key).unwrap(), "{key}");
        }
        writer.close().await.unwrap();
    }
}
