//! Group commit: writes that arrive while a commit is running wait for it and then share the
//! next one, so a burst costs a handful of fsyncs instead of one per write, and no write waits
//! behind more than one commit it is not in.
//!
//! Each caller gets its answer only after the transaction holding its write committed, so a
//! write is durable when it returns. Writes keep their order: a later write with the same key
//! lands after an earlier one. If a shared commit fails, each of its writes is retried alone,
//! so every caller gets its own store error. The committing runs on a spawned task, so a caller
//! that stops waiting never strands the others. What a write is and how a batch is applied is
//! the caller's (pending routing records, sidecar answers); this file only groups them.
//!
//! Under load the fsync is short next to the stream of writes, so commits would carry a write
//! or two each; when the last commit carried more than one write the task lingers (each kind of
//! write says how long: [`LINGER`] by default) before taking the next batch, so a busy stream
//! shares its fsyncs. A lone write on a quiet store never waits.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Store, StoreError, WriterStop};

/// Most writes in one transaction; a larger queue is committed in several.
const MAX_WRITES_PER_COMMIT: usize = 1_000;

/// How long the committing task gathers writes after a commit that carried several, unless
/// the kind of write asks for longer (tokio's timer counts whole milliseconds, so a shorter
/// pause would be one anyway).
const LINGER: Duration = Duration::from_millis(1);

/// Applies a batch of writes in one durable transaction and answers each, in order.
pub(crate) type ApplyBatch<W, R> = fn(&Store, &[W]) -> Result<Vec<R>, StoreError>;

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

/// Writes waiting for a commit, and whether a committing task is running.
struct Queue<W, R> {
    waiting: Vec<(W, Reply<R>)>,
    committing: bool,
}

/// Front of one kind of store write that batches writes into shared commits; cheap to clone.
pub(crate) struct GroupCommitter<W, R> {
    store: Store,
    apply: ApplyBatch<W, R>,
    linger: Duration,
    queue: Arc<Mutex<Queue<W, R>>>,
}

impl<W, R> Clone for GroupCommitter<W, R> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            apply: self.apply,
            linger: self.linger,
            queue: self.queue.clone(),
        }
    }
}

impl<W, R> std::fmt::Debug for GroupCommitter<W, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<W, R> GroupCommitter<W, R>
where
    W: Send + 'static,
    R: Send + 'static,
{
    /// A committer applying batches with `apply`, which must answer every write of a batch in
    /// order; the committing task starts with the first write. Under load it lingers
    /// [`LINGER`] between commits.
    pub(crate) fn new(store: Store, apply: ApplyBatch<W, R>) -> Self {
        Self::lingering(store, apply, LINGER)
    }

    /// A committer that lingers `linger` after a commit that carried several writes: longer
    /// means fewer fsyncs under load and that much more wait for a write that comes then.
    pub(crate) fn lingering(store: Store, apply: ApplyBatch<W, R>, linger: Duration) -> Self {
        Self {
            store,
            apply,
            linger,
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                committing: false,
            })),
        }
    }

    /// Durably applies `write` in a shared commit and returns its answer.
    pub(crate) async fn write(&self, write: W) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_task = {
            let mut queue = lock(&self.queue);
            queue.waiting.push((write, reply));
            !std::mem::replace(&mut queue.committing, true)
        };
        if start_task {
            tokio::spawn(commit_until_empty(
                self.store.clone(),
                self.apply,
                self.linger,
                self.queue.clone(),
            ));
        }
        match answer.await {
            Ok(outcome) => outcome,
            // The task only drops a reply if it panicked; nothing says the write committed.
            Err(_) => Err(StoreError::WriterStopped(WriterStop::TaskEnded)),
        }
    }
}

/// Commits what is queued, again and again, until the queue is empty.
async fn commit_until_empty<W, R>(
    store: Store,
    apply: ApplyBatch<W, R>,
    linger: Duration,
    queue: Arc<Mutex<Queue<W, R>>>,
) where
    W: Send + 'static,
    R: Send + 'static,
{
    let mut busy = false;
    loop {
        if busy {
            tokio::time::sleep(linger).await;
        }
        let batch = {
            let mut queue = lock(&queue);
            if queue.waiting.is_empty() {
                queue.committing = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_WRITES_PER_COMMIT);
            queue.waiting.drain(..take).collect::<Vec<_>>()
        };
        busy = batch.len() > 1;
        let (writes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let committing = store.clone();
        let shared = tokio::task::spawn_blocking(move || {
            let outcome = apply(&committing, &writes);
            (writes, outcome)
        })
        .await;
        match shared {
            Ok((_, Ok(answers))) if answers.len() == replies.len() => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A caller that stopped waiting no longer needs the answer.
                    let _ = reply.send(Ok(answer));
                }
            }
            Ok((writes, _)) => {
                // Alone, each write gets its own answer (and the good ones still commit).
                for (write, reply) in writes.into_iter().zip(replies) {
                    let alone = store
                        .run_blocking(move |store| {
                            apply(store, std::slice::from_ref(&write))?
                                .pop()
                                .ok_or(StoreError::WriterStopped(WriterStop::TaskEnded))
                        })
                        .await;
                    let _ = reply.send(alone);
                }
            }
            Err(join_error) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(StoreError::TaskFailed(join_error)));
                }
                // The other replies are dropped: their callers get `TaskEnded`.
            }
        }
    }
}

/// Locks the queue; every critical section is a push or a drain that cannot panic halfway.
fn lock<W, R>(queue: &Mutex<Queue<W, R>>) -> MutexGuard<'_, Queue<W, R>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::scratch::Scratch;
    use crate::store::SidecarAnswerWrite;

    fn scratch_store(name: &str) -> (Scratch, Store) {
        crate::store::scratch::scratch_store(&format!("group-commit-{name}"))
    }

    fn answer(key: &str, text: &str) -> SidecarAnswerWrite {
        SidecarAnswerWrite {
            key: key.to_owned(),
            answer: text.as_bytes().to_vec(),
            now_ms: 1_700_000_000_000,
        }
    }

    fn keep(store: &Store, writes: &[SidecarAnswerWrite]) -> Result<Vec<Vec<u8>>, StoreError> {
        store.put_sidecar_answers(writes, Duration::from_secs(3_600), 1_000)
    }

    /// Refuses any batch holding the key "poison", as a failing disk would refuse a commit.
    fn keep_unless_poisoned(
        store: &Store,
        writes: &[SidecarAnswerWrite],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if writes.iter().any(|write| write.key == "poison") {
            return Err(StoreError::Corrupt {
                table: "sidecar_answers",
                key: "poison".to_owned(),
                reason: "refused by the test".to_owned(),
            });
        }
        keep(store, writes)
    }

    /// The sizes of the batches [`keep_counting`] committed, in order.
    static COMMITTED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    fn keep_counting(
        store: &Store,
        writes: &[SidecarAnswerWrite],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        lock_committed().push(writes.len());
        keep(store, writes)
    }

    fn lock_committed() -> MutexGuard<'static, Vec<usize>> {
        COMMITTED.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[tokio::test]
    async fn after_a_shared_commit_writes_that_come_within_the_linger_share_the_next_one() {
        let (_scratch, store) = scratch_store("linger");
        let committer =
            GroupCommitter::lingering(store.clone(), keep_counting, Duration::from_secs(1));
        // Queued together, two writes share the first commit, so the committer lingers after it.
        let (first, second) = tokio::join!(
            committer.write(answer("a", "a")),
            committer.write(answer("b", "b"))
        );
        first.unwrap();
        second.unwrap();
        let early = tokio::spawn({
            let committer = committer.clone();
            async move { committer.write(answer("c", "c")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let late = committer.write(answer("d", "d")).await;
        early.await.unwrap().unwrap();
        late.unwrap();
        // With the default linger, "c" would commit alone and "d" 50 ms later alone again.
        assert_eq!(*lock_committed(), vec![2, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_each_get_their_answer_and_are_durable_when_it_returns() {
        let (_scratch, store) = scratch_store("concurrent");
        let committer = GroupCommitter::new(store.clone(), keep);

        let writers = (0..200).map(|n| {
            let committer = committer.clone();
            tokio::spawn(async move {
                let key = format!("key-{n}");
                let stored = committer.write(answer(&key, &format!("answer-{n}"))).await;
                (key, stored)
            })
        });
        let results = futures::future::join_all(writers).await;

        for result in results {
            let (key, stored) = result.unwrap();
            let n = key.trim_start_matches("key-");
            assert_eq!(stored.unwrap(), format!("answer-{n}").into_bytes());
            assert_eq!(
                store.sidecar_answer(&key).unwrap(),
                Some(format!("answer-{n}").into_bytes()),
                "{key} answered but not stored"
            );
        }
    }

    #[tokio::test]
    async fn the_first_answer_of_a_key_wins_within_one_batch_and_across_batches() {
        let (_scratch, store) = scratch_store("first-wins");

        let stored = keep(&store, &[answer("k", "first"), answer("k", "second")]).unwrap();
        assert_eq!(stored, vec![b"first".to_vec(), b"first".to_vec()]);

        let committer = GroupCommitter::new(store.clone(), keep);
        let later = committer.write(answer("k", "third")).await.unwrap();
        assert_eq!(later, b"first".to_vec());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_shared_commit_fails_only_the_write_that_caused_it() {
        let (_scratch, store) = scratch_store("poison");
        let committer = GroupCommitter::new(store.clone(), keep_unless_poisoned);

        let keys = ["a", "b", "poison", "c", "d"];
        let writers = keys.map(|key| {
            let committer = committer.clone();
            tokio::spawn(async move { committer.write(answer(key, key)).await })
        });
        let results = futures::future::join_all(writers).await;

        for (key, result) in keys.iter().zip(results) {
            let result = result.unwrap();
            if *key == "poison" {
                assert!(
                    matches!(result, Err(StoreError::Corrupt { .. })),
                    "{result:?}"
                );
                assert_eq!(store.sidecar_answer(key).unwrap(), None);
            } else {
                assert_eq!(result.unwrap(), key.as_bytes().to_vec());
                assert_eq!(
                    store.sidecar_answer(key).unwrap(),
                    Some(key.as_bytes().to_vec())
                );
            }
        }
    }
}
