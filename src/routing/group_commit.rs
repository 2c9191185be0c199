//! Group commit of pending routing records: writes that arrive while a commit is running
//! wait for it and then share the next one, so a burst of routing requests costs a handful of
//! fsyncs instead of one each, and no request waits behind more than one commit it is not in.
//!
//! Each caller gets its answer only after the transaction holding its write committed, so a
//! record is durable when its write returns (the pipeline acknowledges a RoutingRequested only
//! then). Writes keep their order: a later write of the same event id lands after an earlier
//! one. If a shared commit fails, each of its writes is retried alone, so every caller gets its
//! own store error. The committing runs on a spawned task, so a caller that stops waiting
//! never strands the others. Knows opaque records only, not what they mean.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::store::{PendingRoutingWrite, Store, StoreError};

/// Most writes in one transaction; a larger queue is committed in several.
const MAX_WRITES_PER_COMMIT: usize = 1_000;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// Writes waiting for a commit, and whether a committing task is running.
#[derive(Default)]
struct Queue {
    waiting: Vec<(PendingRoutingWrite, Reply)>,
    committing: bool,
}

/// Front of the pending-routing table that batches writes into shared commits; cheap to clone.
#[derive(Clone)]
pub(super) struct GroupCommitter {
    store: Store,
    queue: Arc<Mutex<Queue>>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// A committer over `store`; the committing task starts with the first write.
    pub(super) fn new(store: Store) -> Self {
        Self {
            store,
            queue: Arc::new(Mutex::new(Queue::default())),
        }
    }

    /// Durably applies `write` in a shared commit; returns whether it wrote (see
    /// [`Store::write_pending_routing_batch`]).
    pub(super) async fn write(&self, write: PendingRoutingWrite) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_task = {
            let mut queue = lock(&self.queue);
            queue.waiting.push((write, reply));
            !std::mem::replace(&mut queue.committing, true)
        };
        if start_task {
            tokio::spawn(commit_until_empty(self.store.clone(), self.queue.clone()));
        }
        match answer.await {
            Ok(outcome) => outcome,
            // The task only drops a reply if it panicked; nothing says the write committed.
            Err(_) => Err(StoreError::WriterStopped(
                crate::store::WriterStop::TaskEnded,
            )),
        }
    }
}

/// Commits what is queued, again and again, until the queue is empty.
async fn commit_until_empty(store: Store, queue: Arc<Mutex<Queue>>) {
    loop {
        let batch = {
            let mut queue = lock(&queue);
            if queue.waiting.is_empty() {
                queue.committing = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_WRITES_PER_COMMIT);
            queue.waiting.drain(..take).collect::<Vec<_>>()
        };
        let (writes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let committing = store.clone();
        let shared = tokio::task::spawn_blocking(move || {
            let outcome = committing.write_pending_routing_batch(&writes);
            (writes, outcome)
        })
        .await;
        match shared {
            Ok((_, Ok(wrote))) => {
                for (reply, wrote) in replies.into_iter().zip(wrote) {
                    // A caller that stopped waiting no longer needs the answer.
                    let _ = reply.send(Ok(wrote));
                }
            }
            Ok((writes, Err(_))) => {
                // Alone, each write gets its own answer (and the good ones still commit).
                for (write, reply) in writes.into_iter().zip(replies) {
                    let alone = store
                        .run_blocking(move |store| {
                            store
                                .write_pending_routing_batch(std::slice::from_ref(&write))
                                .map(|wrote| wrote.first().copied().unwrap_or(false))
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
fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}
