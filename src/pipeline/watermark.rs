//! The checkpoint low watermark: the newest replay id such that it and every event
//! received before it are complete.
//!
//! Events are tracked in arrival order (which is replay order on one subscription) and
//! completed in any order; the watermark moves only over a contiguous run of completed
//! events, so a checkpoint never passes an event that is still being delivered
//! (guarantee G1). It knows nothing about delivery or storage.

use std::collections::VecDeque;

use crate::pubsub::ReplayId;

/// Position of a tracked event in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Seq(u64);

#[derive(Debug)]
struct Slot {
    replay_id: ReplayId,
    complete: bool,
}

/// Tracks incomplete events and yields the low watermark.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    /// Sequence number of `slots[0]`.
    first_seq: u64,
    /// Events from the oldest incomplete one on, in arrival order.
    slots: VecDeque<Slot>,
}

impl Watermark {
    /// An empty tracker.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Starts tracking an event; complete it later with the returned [`Seq`].
    pub(crate) fn track(&mut self, replay_id: ReplayId) -> Seq {
        let seq = Seq(self.first_seq + self.slots.len() as u64);
        self.slots.push_back(Slot {
            replay_id,
            complete: false,
        });
        seq
    }

    /// Marks `seq` complete. Returns the new watermark when it moved.
    pub(crate) fn complete(&mut self, seq: Seq) -> Option<ReplayId> {
        let index = usize::try_from(seq.0.checked_sub(self.first_seq)?).ok()?;
        let slot = self.slots.get_mut(index)?;
        debug_assert!(!slot.complete, "event {seq:?} completed twice");
        slot.complete = true;
        let mut advanced_to = None;
        while self.slots.front().is_some_and(|slot| slot.complete) {
            if let Some(slot) = self.slots.pop_front() {
                self.first_seq += 1;
                advanced_to = Some(slot.replay_id);
            }
        }
        advanced_to
    }

    /// Events tracked and not yet passed by the watermark (complete or not).
    pub(crate) fn lag(&self) -> usize {
        self.slots.len()
    }

    /// Whether every tracked event is complete.
    pub(crate) fn is_idle(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn watermark_waits_for_the_oldest_incomplete_event() {
        let mut watermark = Watermark::new();
        let first = watermark.track(ReplayId::from_u64(10));
        let second = watermark.track(ReplayId::from_u64(11));
        let third = watermark.track(ReplayId::from_u64(12));
        assert_eq!(watermark.complete(second), None);
        assert_eq!(watermark.complete(third), None);
        assert_eq!(watermark.complete(first), Some(ReplayId::from_u64(12)));
        assert!(watermark.is_idle());
    }

    proptest! {
        /// Under any completion order, the watermark never passes an incomplete event,
        /// and it reaches the last event once everything is complete.
        #[test]
        fn watermark_never_passes_an_incomplete_event(
            order in (1usize..200).prop_flat_map(|count| Just((0..count).collect::<Vec<_>>()).prop_shuffle()),
        ) {
            let count = order.len();
            let mut watermark = Watermark::new();
            let seqs: Vec<Seq> = (0..count).map(|index| watermark.track(ReplayId::from_u64(1_000 + index as u64))).collect();
            let mut complete = vec![false; count];
            let mut last_watermark: Option<u64> = None;
            for index in order {
                complete[index] = true;
                if let Some(replay_id) = watermark.complete(seqs[index]) {
                    let position = replay_id.as_u64().unwrap() - 1_000;
                    prop_assert!(complete[..=usize::try_from(position).unwrap()].iter().all(|done| *done));
                    prop_assert!(last_watermark < Some(position), "the watermark only moves forward");
                    last_watermark = Some(position);
                }
                let first_incomplete = complete.iter().position(|done| !done).unwrap_or(count);
                prop_assert_eq!(watermark.lag(), count - first_incomplete);
            }
            prop_assert_eq!(last_watermark, Some(count as u64 - 1));
        }
    }
}
