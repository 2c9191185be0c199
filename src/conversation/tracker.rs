//! [`ConversationTracker`]: takes updates without waiting, applies them on its own task and
//! hands each changed record to the checkpoint writer, which commits it with the next ack
//! batch.
//!
//! Callers on the delivery path only `try_send` an update; reading a record from the store,
//! applying the change and serializing it happen on the tracker's task, so conversation state
//! never holds up a delivery or an acknowledgement. A change is applied to the cached record
//! at once; the record is serialized and handed to the writer [`COALESCE_FOR`] later (sooner
//! when many conversations changed, when settled and on close), once for every change it took
//! meanwhile: a busy conversation costs one write per interval, not one per entry. Recent
//! records stay in a bounded cache for the sidecar's reads. An update that finds the queue
//! full is dropped and counted in a warning: the state is informative, the stream is not. It
//! knows nothing about HTTP.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::state::{ConversationState, Update};
use crate::fast_hash::{FastMap, FastSet};
use crate::store::{CheckpointWriter, Store, StoreError};

/// Updates queued before new ones are dropped.
pub(crate) const UPDATE_QUEUE_CAPACITY: usize = 16_384;
/// Records kept in memory; older ones are read back from the store.
pub(crate) const CACHED_CONVERSATIONS: usize = 10_000;
/// Updates taken from the queue at once and applied before anything else.
const DRAIN_AT_MOST: usize = 256;
/// Changed records that are handed to the writer at once, before their [`COALESCE_FOR`] is
/// over. Changed records are never evicted from the cache, so this stays well below
/// [`CACHED_CONVERSATIONS`]; far above the conversations a busy connector changes in one
/// interval, so each of them is still written once per interval.
const HAND_OVER_AT_MOST: usize = CACHED_CONVERSATIONS / 4;
/// How long a changed record waits for more changes before it is serialized and handed to
/// the writer: a busy conversation's record is written once per this, not once per entry.
pub(crate) const COALESCE_FOR: std::time::Duration = std::time::Duration::from_millis(20);

/// Recent records, the oldest insertions forgotten first, except those changed and not yet
/// handed to the writer.
#[derive(Default)]
struct Cache {
    by_conversation: FastMap<String, ConversationState>,
    insertion_order: VecDeque<String>,
}

impl Cache {
    /// Caches `state`, forgetting the oldest records beyond [`CACHED_CONVERSATIONS`] but none
    /// in `unstored`: the cache holds their only up-to-date copy until they are handed over.
    fn put(&mut self, state: ConversationState, unstored: &FastSet<String>) {
        let conversation = state.conversation_identifier.clone();
        if self
            .by_conversation
            .insert(conversation.clone(), state)
            .is_none()
        {
            self.insertion_order.push_back(conversation);
        }
        // Each record is looked at once at most: were they all unstored (there are never
        // many more than `HAND_OVER_AT_MOST`), the cache would only stay over its size.
        let mut looked_at = 0;
        while self.insertion_order.len() > CACHED_CONVERSATIONS
            && looked_at < self.insertion_order.len()
        {
            looked_at += 1;
            let Some(oldest) = self.insertion_order.pop_front() else {
                break;
            };
            if unstored.contains(&oldest) {
                self.insertion_order.push_back(oldest);
            } else {
                self.by_conversation.remove(&oldest);
            }
        }
    }
}

/// What the tracker's queue carries.
enum Queued {
    /// A change to apply.
    Update(Update),
    /// Hand every changed record to the writer now, then answer.
    Settle(tokio::sync::oneshot::Sender<()>),
}

struct Inner {
    /// Taken by `close`, which ends the task.
    updates: Mutex<Option<mpsc::Sender<Queued>>>,
    cache: Mutex<Cache>,
    /// Taken by `close`, so a handle kept somewhere no longer holds the store file open.
    store: Mutex<Option<Store>>,
    /// The task, awaited by `close`.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Keeps every conversation's state; cheap to clone.
#[derive(Clone)]
pub(crate) struct ConversationTracker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConversationTracker {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConversationTracker")
            .finish_non_exhaustive()
    }
}

impl ConversationTracker {
    /// Starts the tracker's task, writing through `writer`; call it inside a tokio runtime.
    /// The task ends when every handle is gone.
    pub(crate) fn spawn(writer: CheckpointWriter) -> Self {
        let (updates, receiver) = mpsc::channel(UPDATE_QUEUE_CAPACITY);
        let inner = Arc::new(Inner {
            updates: Mutex::new(Some(updates)),
            cache: Mutex::new(Cache::default()),
            store: Mutex::new(Some(writer.store().clone())),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run(Arc::downgrade(&inner), receiver, writer));
        *lock(&inner.task) = Some(task);
        Self { inner }
    }

    /// Applies what is queued, stops the task and lets go of the store, so the file is free
    /// when the connector returns; later updates are dropped and reads see the cache only.
    pub(crate) async fn close(&self) {
        lock(&self.inner.updates).take();
        let task = lock(&self.inner.task).take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                warn!(error = %error, "conversation tracker task failed");
            }
        }
        lock(&self.inner.store).take();
    }

    /// Queues `update` without waiting; drops it (with a warning) when the queue is full.
    pub(crate) fn update(&self, update: Update) {
        let Some(updates) = lock(&self.inner.updates).clone() else {
            debug!(conversation_id = %update.conversation, "conversation state update after close, dropped");
            return;
        };
        if let Err(error) = updates.try_send(Queued::Update(update)) {
            let conversation = match &error {
                mpsc::error::TrySendError::Full(Queued::Update(update))
                | mpsc::error::TrySendError::Closed(Queued::Update(update)) => {
                    update.conversation.clone()
                }
                _ => String::new(),
            };
            warn!(conversation_id = %conversation, "conversation state update dropped, the tracker is behind");
        }
    }

    /// Applies everything queued before it and hands every changed record to the writer;
    /// returns once they are all with the writer, so a flush or close of the writer after it
    /// stores them. Waits for room in the queue; returns at once after `close`.
    pub(crate) async fn settle(&self) {
        let Some(updates) = lock(&self.inner.updates).clone() else {
            return;
        };
        let (settled, answer) = tokio::sync::oneshot::channel();
        if updates.send(Queued::Settle(settled)).await.is_ok() {
            // An error means the task ended, having handed over what it had.
            let _ = answer.await;
        }
    }

    /// The state of `conversation`: the cache, else the store; `None` when never seen.
    pub(crate) fn get(&self, conversation: &str) -> Result<Option<ConversationState>, StoreError> {
        if let Some(state) = lock(&self.inner.cache).by_conversation.get(conversation) {
            return Ok(Some(state.clone()));
        }
        let store = lock(&self.inner.store).clone();
        match store {
            Some(store) => load(&store, conversation),
            None => Ok(None),
        }
    }

    /// The MessagingSession (15 characters) serving `conversation`, when known.
    pub(crate) fn session_of(&self, conversation: &str) -> Option<String> {
        match self.get(conversation) {
            Ok(state) => state?.session.map(|session| session.id),
            Err(error) => {
                warn!(conversation_id = conversation, error = %error, "cannot read conversation state");
                None
            }
        }
    }
}

/// The stored record of `conversation`; a corrupt one counts as absent, with a warning.
fn load(store: &Store, conversation: &str) -> Result<Option<ConversationState>, StoreError> {
    let Some(bytes) = store.conversation_state(conversation)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(error) => {
            warn!(conversation_id = conversation, error = %error, "stored conversation state is unreadable, starting afresh");
            Ok(None)
        }
    }
}

async fn run(
    inner: std::sync::Weak<Inner>,
    mut updates: mpsc::Receiver<Queued>,
    writer: CheckpointWriter,
) {
    let mut queued = Vec::with_capacity(DRAIN_AT_MOST);
    // Changed since their records were last handed to the writer, and when that is due.
    let mut dirty: FastSet<String> = FastSet::default();
    let mut due = tokio::time::Instant::now();
    loop {
        let received = tokio::select! {
            biased;
            received = updates.recv_many(&mut queued, DRAIN_AT_MOST) => received,
            () = tokio::time::sleep_until(due), if !dirty.is_empty() => {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                hand_over(&inner, &writer, dirty.drain()).await;
                continue;
            }
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if received == 0 {
            hand_over(&inner, &writer, dirty.drain()).await;
            return;
        }
        if dirty.is_empty() {
            due = tokio::time::Instant::now() + COALESCE_FOR;
        }
        let mut settled = Vec::new();
        let updates = queued.drain(..).filter_map(|queued| match queued {
            Queued::Update(update) => Some(update),
            Queued::Settle(answer) => {
                settled.push(answer);
                None
            }
        });
        apply_all(&inner, updates, &mut dirty);
        if dirty.len() >= HAND_OVER_AT_MOST || !settled.is_empty() {
            hand_over(&inner, &writer, dirty.drain()).await;
        }
        for answer in settled {
            let _ = answer.send(());
        }
    }
}

/// Serializes the cached records of `conversations` and hands them to the writer.
async fn hand_over(
    inner: &Inner,
    writer: &CheckpointWriter,
    conversations: impl Iterator<Item = String>,
) {
    for conversation in conversations {
        let record = match lock(&inner.cache).by_conversation.get(&conversation) {
            Some(state) => serde_json::to_vec(state),
            // Changed records are not evicted; nothing to store if it is gone all the same.
            None => continue,
        };
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                warn!(conversation_id = %conversation, error = %error, "cannot serialise conversation state");
                continue;
            }
        };
        if let Err(error) = writer.record_conversation(conversation, record).await {
            debug!(error = %error, "conversation state not stored, the writer stopped");
        }
    }
}

/// Applies `updates` in order to the cached records (a record not cached is read from the
/// store first) and adds the conversations changed to `changed`.
fn apply_all(inner: &Inner, updates: impl Iterator<Item = Update>, changed: &mut FastSet<String>) {
    for update in updates {
        if !changed.contains(&update.conversation) {
            changed.insert(update.conversation.clone());
        }
        let mut cache = lock(&inner.cache);
        if let Some(state) = cache.by_conversation.get_mut(&update.conversation) {
            state.apply(update);
            continue;
        }
        drop(cache);
        let store = lock(&inner.store).clone();
        let mut state = store
            .and_then(|store| load(&store, &update.conversation).ok().flatten())
            .unwrap_or_else(|| ConversationState::new(&update.conversation));
        state.apply(update);
        lock(&inner.cache).put(state, changed);
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::state::{Change, DeliveredEntry};
    use crate::store::scratch::{scratch_store, Scratch};

    /// A tracker over a fresh scratch store, with its writer and the store; keep the guard.
    fn scratch_tracker(name: &str) -> (Scratch, Store, CheckpointWriter, ConversationTracker) {
        let (scratch, store) = scratch_store(name);
        let writer = CheckpointWriter::spawn(store.clone());
        let tracker = ConversationTracker::spawn(writer.clone());
        (scratch, store, writer, tracker)
    }

    /// The record the store holds for `conversation`, if any.
    fn stored(store: &Store, conversation: &str) -> Option<ConversationState> {
        let bytes = store.conversation_state(conversation).unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    fn delivered(conversation: &str, n: i64) -> Update {
        Update {
            conversation: conversation.to_owned(),
            channel_address_identifier: None,
            end_user_client_id: None,
            change: Change::Delivered(DeliveredEntry {
                identifier: format!("entry-{n}"),
                event_type: "interaction.message".to_owned(),
                replay_id: format!("{n:x}"),
                delivered_at_ms: n,
            }),
            at_ms: n,
        }
    }

    fn last_delivered(state: &ConversationState) -> &str {
        &state
            .last_delivered_entry
            .as_ref()
            .expect("a delivered entry")
            .identifier
    }

    /// Updates queued faster than the task drains them are applied in order, and the record
    /// each conversation ends with, in memory and in the store, holds its last change.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_updates_leaves_each_conversation_with_its_last_change_cached_and_stored() {
        let (_scratch, store, writer, tracker) = scratch_tracker("tracker");
        for n in 0..1_000 {
            tracker.update(delivered(&format!("c{}", n % 3), n));
        }
        tracker.close().await;
        writer.flush().await.unwrap();

        for (conversation, last) in [
            ("c0", "entry-999"),
            ("c1", "entry-997"),
            ("c2", "entry-998"),
        ] {
            let cached = tracker.get(conversation).unwrap().expect("cached");
            assert_eq!(last_delivered(&cached), last, "{conversation} in memory");
            let stored = stored(&store, conversation).expect("stored");
            assert_eq!(stored, cached, "{conversation} in the store");
        }
    }

    /// Settling hands the changed records over at once: the final commit at a stop stores
    /// them, however recent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settling_hands_every_changed_record_to_the_writer_at_once() {
        let (_scratch, store, writer, tracker) = scratch_tracker("tracker-settle");
        for n in 0..10 {
            tracker.update(delivered(&format!("c{}", n % 2), n));
        }

        tracker.settle().await;
        writer.flush().await.unwrap();

        for (conversation, last) in [("c0", "entry-8"), ("c1", "entry-9")] {
            let stored = stored(&store, conversation).expect("stored");
            assert_eq!(last_delivered(&stored), last, "{conversation}");
        }
        tracker.close().await;
    }

    /// A record changed and not yet stored stays cached until it is, however many new
    /// conversations arrive meanwhile: evicted, its change would be lost from memory and
    /// from the store alike (the next update would start from the older stored record).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_changed_record_is_not_evicted_before_it_is_stored() {
        let (_scratch, store, writer, tracker) = scratch_tracker("tracker-evict");
        for n in 0..CACHED_CONVERSATIONS {
            tracker.update(delivered(&format!("c{n}"), i64::try_from(n).unwrap()));
        }
        // Everything stored; the cache is full and `c0` the oldest in it.
        tracker.settle().await;

        tracker.update(delivered("c0", 1_000_000));
        tracker.update(delivered("newcomer", 1_000_001));
        tracker.settle().await;
        writer.flush().await.unwrap();

        let stored = stored(&store, "c0").expect("stored");
        assert_eq!(last_delivered(&stored), "entry-1000000");
        let cached = tracker.get("c0").unwrap().expect("known");
        assert_eq!(last_delivered(&cached), "entry-1000000");
        tracker.close().await;
    }

    /// A record waits for more changes only a little: one lone change is stored while the
    /// tracker runs on, without a close or other conversations to push it out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_change_reaches_the_store_while_the_tracker_runs() {
        let (_scratch, store, writer, tracker) = scratch_tracker("tracker-lone");
        tracker.update(delivered("lone", 7));

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            writer.flush().await.unwrap();
            if let Some(stored) = stored(&store, "lone") {
                assert_eq!(last_delivered(&stored), "entry-7");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the record was not stored within 5 s"
            );
            tokio::time::sleep(COALESCE_FOR / 2).await;
        }
        tracker.close().await;
    }
}
