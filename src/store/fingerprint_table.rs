//! A set of fingerprints (hashes of idempotency keys) whose memory stays put under steady churn.
//!
//! The completed-key sets drop their oldest keys as fast as they take new ones. At the load the
//! default bound keeps, std's `HashSet` marks about one removal in three with a tombstone, and once
//! tombstones have used up its spare room it doubles its table though it holds no more keys:
//! holding 200,000 128-bit fingerprints, it goes from 4.5 to 8.9 MB some 96,000 keys after the
//! bound fills. This table probes linearly and deletes by shifting the rest of the cluster back, so
//! a removal leaves no tombstone and the table grows only when it holds more. Fingerprints are
//! uniform hashes, so their low bits index the table as they are. It knows nothing about keys,
//! stores or what a match means.

/// A fingerprint the table can hold.
pub(crate) trait Fingerprint: Copy + Eq {
    /// Marks an empty slot; a fingerprint equal to it is kept as [`Self::STAND_IN`].
    const EMPTY: Self;
    /// What [`Self::EMPTY`] is kept as: the two count as one fingerprint, which adds one value
    /// in 2^64 (or 2^128) to the collision odds.
    const STAND_IN: Self;
    /// The low 64 bits, which pick the fingerprint's first slot.
    fn low_bits(self) -> u64;
}

impl Fingerprint for u64 {
    const EMPTY: Self = 0;
    const STAND_IN: Self = 1;

    fn low_bits(self) -> u64 {
        self
    }
}

impl Fingerprint for u128 {
    const EMPTY: Self = 0;
    const STAND_IN: Self = 1;

    fn low_bits(self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.to_le_bytes()[..8]);
        u64::from_le_bytes(low)
    }
}

/// Open addressing with linear probing and backward-shift deletion; never more than 7/8 full.
#[derive(Debug, Clone)]
pub(crate) struct FingerprintTable<T> {
    slots: Vec<T>,
    len: usize,
}

impl<T: Fingerprint> FingerprintTable<T> {
    /// A table that holds `keys` fingerprints at most 4/5 full, so it has room to churn.
    pub(crate) fn with_capacity(keys: usize) -> Self {
        let slots = keys
            .saturating_add(keys / 4)
            .max(16)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX / 2 + 1);
        Self {
            slots: vec![T::EMPTY; slots],
            len: 0,
        }
    }

    /// How many fingerprints it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many slots it has: its memory is this times the fingerprint's size.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds `print`.
    pub(crate) fn contains(&self, print: T) -> bool {
        self.find(kept_as(print)).is_ok()
    }

    /// Adds `print`; whether it was new.
    pub(crate) fn insert(&mut self, print: T) -> bool {
        let print = kept_as(print);
        if (self.len + 1).saturating_mul(8) > self.slots.len().saturating_mul(7) {
            self.grow();
        }
        match self.find(print) {
            Ok(_) => false,
            Err(empty) => {
                self.slots[empty] = print;
                self.len += 1;
                true
            }
        }
    }

    /// Removes `print`; whether it was there. Later members of its cluster move back into the
    /// hole wherever their probe path passes it, so every lookup still finds them.
    pub(crate) fn remove(&mut self, print: T) -> bool {
        let Ok(mut hole) = self.find(kept_as(print)) else {
            return false;
        };
        let mask = self.mask();
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let resident = self.slots[next];
            if resident == T::EMPTY {
                break;
            }
            // The path from `resident`'s first slot to `next` passes the hole when the hole is
            // no further back from `next` than that first slot is.
            let path_length = next.wrapping_sub(self.home(resident)) & mask;
            let hole_distance = next.wrapping_sub(hole) & mask;
            if path_length >= hole_distance {
                self.slots[hole] = resident;
                hole = next;
            }
        }
        self.slots[hole] = T::EMPTY;
        self.len -= 1;
        true
    }

    /// The slot holding `print`, or the empty slot that ends its probe path; the table is never
    /// full, so there is one.
    fn find(&self, print: T) -> Result<usize, usize> {
        let mask = self.mask();
        let mut slot = self.home(print);
        loop {
            let resident = self.slots[slot];
            if resident == print {
                return Ok(slot);
            }
            if resident == T::EMPTY {
                return Err(slot);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![T::EMPTY; self.slots.len().saturating_mul(2)];
        let old = std::mem::replace(&mut self.slots, doubled);
        for print in old.into_iter().filter(|print| *print != T::EMPTY) {
            if let Err(empty) = self.find(print) {
                self.slots[empty] = print;
            }
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn home(&self, print: T) -> usize {
        // Masked to below the slot count, a usize, so nothing is cut off.
        #[allow(clippy::cast_possible_truncation)]
        let home = (print.low_bits() & self.mask() as u64) as usize;
        home
    }
}

fn kept_as<T: Fingerprint>(print: T) -> T {
    if print == T::EMPTY {
        T::STAND_IN
    } else {
        print
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashSet, VecDeque};

    use proptest::prelude::*;

    use super::*;

    /// A uniform 128-bit print of `n`, as SHA-256 gives: SplitMix64's output in the low bits
    /// (which pick the slot), `n` itself in the high bits (so no two collide).
    fn print(n: u64) -> u128 {
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        u128::from(n) << 64 | u128::from(z ^ (z >> 31))
    }

    #[test]
    fn a_table_under_steady_churn_keeps_its_slots() {
        // The default bound, then a million keys through it, oldest out first. std's HashSet
        // doubles its table about 96,000 keys past the bound under this churn.
        let bound = 200_000;
        let mut table = FingerprintTable::<u128>::with_capacity(bound);
        let slots = table.slots();
        let mut order = VecDeque::new();
        for n in 0..1_200_000u64 {
            assert!(table.insert(print(n)));
            order.push_back(n);
            if order.len() > bound {
                let oldest = order.pop_front().unwrap();
                assert!(table.remove(print(oldest)));
            }
        }
        assert_eq!(table.len(), bound);
        assert_eq!(table.slots(), slots, "the table grew holding no more keys");
        assert!(slots * 16 <= 4_200_000, "{slots} slots");
        assert!((1_000_000..1_200_000).all(|n| table.contains(print(n))));
        assert!(!(0..1_000).any(|n| table.contains(print(n))));
    }

    #[test]
    fn the_empty_marker_is_kept_as_its_stand_in() {
        let mut table = FingerprintTable::<u64>::with_capacity(0);
        assert!(table.insert(0));
        assert!(table.contains(0));
        assert!(table.contains(1));
        assert!(!table.insert(1));
        assert!(table.remove(1));
        assert!(!table.contains(0));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn it_grows_when_it_holds_more() {
        let mut table = FingerprintTable::<u64>::with_capacity(10);
        let before = table.slots();
        for print in 1..=1_000 {
            table.insert(print);
        }
        assert!(table.slots() > before);
        assert_eq!(table.len(), 1_000);
        assert!((1..=1_000).all(|print| table.contains(print)));
        assert!(!table.contains(1_001));
    }

    proptest! {
        // Prints whose low bits repeat in a small table: long clusters, wrap-around past the
        // last slot and removals inside clusters, checked against std's set.
        #[test]
        fn it_answers_as_a_set_does(
            operations in prop::collection::vec((any::<bool>(), 1u64..64), 0..400)
        ) {
            // Eight first slots at the start of the table and eight at its end, whatever its
            // size; the high bits keep the prints apart.
            let spread = |low: u64| {
                let slot_bits = if low.is_multiple_of(2) { low % 8 } else { (u64::MAX >> 6) - low % 8 };
                low << 58 | slot_bits
            };
            let mut table = FingerprintTable::<u64>::with_capacity(8);
            let mut model = HashSet::new();
            for (insert, low) in operations {
                let print = spread(low);
                if insert {
                    prop_assert_eq!(table.insert(print), model.insert(print));
                } else {
                    prop_assert_eq!(table.remove(print), model.remove(&print));
                }
                prop_assert_eq!(table.len(), model.len());
                for candidate in (1u64..64).map(spread) {
                    prop_assert_eq!(table.contains(candidate), model.contains(&candidate));
                }
            }
        }
    }
}
