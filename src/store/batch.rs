//! An ack batch: the acknowledgements gathered between two commits, committed in one
//! durable transaction.
//!
//! A batch holds completed idempotency keys, the furthest checkpoint per (org, topic) and
//! conversation state records.
//! Committing it (a backend's job) writes them atomically and prunes the dedup set and quiet
//! conversations. It knows nothing about when batches are cut; that is the writer's job.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::checkpoint::compare_replay_ids;

/// Acknowledgements waiting to be committed together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AckBatch {
    // Kept in arrival order; duplicates are harmless, the commit skips known keys.
    completed_keys: Vec<String>,
    // Only the furthest checkpoint per (org, topic) matters.
    checkpoints: BTreeMap<(String, String), Vec<u8>>,
    // Conversation state records; the last one per conversation wins.
    conversations: BTreeMap<String, Vec<u8>>,
    // Every call counts towards the batch size once, including checkpoints merged away; an
    // event's key and the checkpoint it moved, recorded together, count once.
    acks: usize,
}

impl AckBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a completed idempotency key.
    pub fn record_completed(&mut self, idempotency_key: impl Into<String>) {
        self.completed_keys.push(idempotency_key.into());
        self.acks += 1;
    }

    /// Moves the batch's checkpoint of (org, topic) to `replay_id`, never backwards.
    pub fn advance_checkpoint(&mut self, org: &str, topic: &str, replay_id: impl Into<Vec<u8>>) {
        self.acks += 1;
        self.move_checkpoint(org, topic, replay_id.into());
    }

    /// Adds the key of an event whose completion moved the checkpoint of (org, topic) to
    /// `replay_id`: one acknowledgement, for the event.
    pub fn record_completed_and_advance(
        &mut self,
        idempotency_key: impl Into<String>,
        org: &str,
        topic: &str,
        replay_id: impl Into<Vec<u8>>,
    ) {
        self.completed_keys.push(idempotency_key.into());
        self.acks += 1;
        self.move_checkpoint(org, topic, replay_id.into());
    }

    fn move_checkpoint(&mut self, org: &str, topic: &str, replay_id: Vec<u8>) {
        // Found without building an owned key: a batch holds one or two (org, topic) pairs and
        // takes an advance per completed event.
        let existing = self
            .checkpoints
            .iter_mut()
            .find(|((known_org, known_topic), _)| known_org == org && known_topic == topic);
        let slot = match existing {
            Some((_, slot)) => slot,
            None => self
                .checkpoints
                .entry((org.to_owned(), topic.to_owned()))
                .or_default(),
        };
        let moves_backwards =
            !slot.is_empty() && compare_replay_ids(&replay_id, slot) == Ordering::Less;
        debug_assert!(
            !moves_backwards,
            "a new checkpoint is never before the stored one"
        );
        if !moves_backwards {
            *slot = replay_id;
        }
    }

    /// Replaces the batch's record of `conversation`; committed with the acknowledgements.
    pub fn put_conversation(&mut self, conversation: impl Into<String>, record: Vec<u8>) {
        self.acks += 1;
        self.conversations.insert(conversation.into(), record);
    }

    /// How many acknowledgements the batch holds.
    pub fn len(&self) -> usize {
        self.acks
    }

    /// Whether the batch holds no acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.acks == 0
    }

    /// The completed keys in the batch, in arrival order.
    pub fn completed_keys(&self) -> impl Iterator<Item = &str> {
        self.completed_keys.iter().map(String::as_str)
    }

    /// The furthest checkpoint of each (org, topic) in the batch.
    pub(crate) fn checkpoints(&self) -> &BTreeMap<(String, String), Vec<u8>> {
        &self.checkpoints
    }

    /// The last record of each conversation in the batch.
    pub(crate) fn conversations(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.conversations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each (org, topic) keeps its own furthest checkpoint, and every advance counts.
    #[test]
    fn checkpoints_advance_per_org_and_topic() {
        let mut batch = AckBatch::new();
        batch.advance_checkpoint("org", "topic-a", vec![0, 1]);
        batch.advance_checkpoint("org", "topic-b", vec![0, 5]);
        batch.advance_checkpoint("org", "topic-a", vec![0, 2]);
        batch.advance_checkpoint("other-org", "topic-a", vec![0, 9]);
        batch.advance_checkpoint("org", "topic-a", vec![0, 3]);

        let key = |org: &str, topic: &str| (org.to_owned(), topic.to_owned());
        let expected = BTreeMap::from([
            (key("org", "topic-a"), vec![0, 3]),
            (key("org", "topic-b"), vec![0, 5]),
            (key("other-org", "topic-a"), vec![0, 9]),
        ]);
        assert_eq!(batch.checkpoints(), &expected);
        assert_eq!(batch.len(), 5);
    }

    /// An event's key and the checkpoint it moved are one acknowledgement.
    #[test]
    fn a_key_recorded_with_its_checkpoint_counts_once() {
        let mut batch = AckBatch::new();
        batch.record_completed_and_advance("key-1", "org", "topic", vec![0, 1]);
        batch.record_completed_and_advance("key-2", "org", "topic", vec![0, 2]);
        batch.record_completed("key-3");
        assert_eq!(batch.len(), 3);
        assert_eq!(
            batch.completed_keys().collect::<Vec<_>>(),
            ["key-1", "key-2", "key-3"]
        );
        let position = batch
            .checkpoints()
            .get(&("org".to_owned(), "topic".to_owned()));
        assert_eq!(position, Some(&vec![0, 2]));
    }
}
