//! Checkpoints: the last replay id that is safe to resume after, per (org, topic), and the
//! order replay ids are compared in.
//!
//! A checkpoint only moves forward. Replay ids are opaque bytes to the store; it orders them
//! as big-endian unsigned numbers, which for ids of equal length is plain byte order. What a
//! replay id means, and when one may be checkpointed, is the pipeline's business; where a
//! checkpoint is kept is the backends'.

use std::cmp::Ordering;

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The org the topic belongs to.
    pub org: String,
    /// The topic name, for example `/event/Byoc_Outbound__e`.
    pub topic: String,
    /// The replay id to resume after.
    pub replay_id: Vec<u8>,
}

/// Orders two replay ids as big-endian unsigned numbers (byte order when lengths are equal).
pub(crate) fn compare_replay_ids(left: &[u8], right: &[u8]) -> Ordering {
    let left = strip_leading_zeros(left);
    let right = strip_leading_zeros(right);
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first_significant = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first_significant..]
}

/// Whether storing `replay_id` over `stored` would move the checkpoint backwards; such a move
/// is a caller's bug (asserted in debug builds), and release builds keep the stored one.
pub(crate) fn would_move_backwards(
    org: &str,
    topic: &str,
    stored: &[u8],
    replay_id: &[u8],
) -> bool {
    let moves_backwards = compare_replay_ids(replay_id, stored) == Ordering::Less;
    debug_assert!(
        !moves_backwards,
        "a new checkpoint is never before the stored one"
    );
    if moves_backwards {
        tracing::warn!(
            org,
            topic,
            stored = %hex::encode(stored),
            rejected = %hex::encode(replay_id),
            "checkpoint would move backwards; keeping the stored one"
        );
    }
    moves_backwards
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn replay_id_order_matches_big_endian_numbers(left: u64, right: u64) {
            prop_assert_eq!(
                compare_replay_ids(&left.to_be_bytes(), &right.to_be_bytes()),
                left.cmp(&right)
            );
        }

        #[test]
        fn replay_id_order_ignores_leading_zero_bytes(value: u32) {
            let short = value.to_be_bytes();
            let long = u64::from(value).to_be_bytes();
            prop_assert_eq!(compare_replay_ids(&short, &long), Ordering::Equal);
        }
    }
}
