//! An in-memory index of completed idempotency keys, so the dispatcher can tell a new key from
//! a completed one without a redb read on its own thread.
//!
//! It holds a 64-bit fingerprint per key, not the key: a miss means "not completed" for sure,
//! a hit means "maybe" and is confirmed against the store off the runtime threads. The index is
//! loaded from the store once, in the background; until then every lookup is a maybe. It keeps
//! at most as many fingerprints as the store keeps keys, dropping the oldest first, as the
//! store prunes. It knows nothing about redb.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash as _, Hasher};

/// The fingerprint of a key: SipHash with fixed keys, stable within a process.
pub(crate) fn fingerprint(key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// A set of fingerprints, hashed by the fingerprint itself: they are hashes already, so
/// hashing them again (std's SipHash) only costs time. The keys are Salesforce's (an event's
/// EventUuid, its producer event id or its replay id), not chosen by a party that could pick
/// them to collide.
pub(crate) type FingerprintSet<T> = HashSet<T, BuildHasherDefault<FingerprintHasher>>;

/// The hasher of a [`FingerprintSet`]: a `u64` or `u128` fingerprint's low 64 bits as they are.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only fingerprints are hashed here, through the two methods below; anything else still
        // spreads, if slowly.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, fingerprint: u64) {
        self.0 = fingerprint;
    }

    fn write_u128(&mut self, fingerprint: u128) {
        let low_bytes = fingerprint.to_le_bytes();
        let mut low = [0u8; 8];
        low.copy_from_slice(&low_bytes[..8]);
        self.0 = u64::from_le_bytes(low);
    }
}

/// What the index knows about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Never completed (as far as the store's bounds keep keys).
    New,
    /// Possibly completed: ask the store.
    Maybe,
}

/// Fingerprints of completed keys, oldest first.
#[derive(Debug)]
pub(crate) struct KeyIndex {
    loaded: bool,
    present: FingerprintSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl KeyIndex {
    /// An index not loaded yet, keeping at most `capacity` fingerprints.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            loaded: false,
            present: FingerprintSet::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records a key completed now.
    pub(crate) fn insert(&mut self, fingerprint: u64) {
        if self.present.insert(fingerprint) {
            self.order.push_back(fingerprint);
            self.trim();
        }
    }

    /// Adds the store's keys (oldest first, all older than any inserted since start) and
    /// starts answering [`Lookup::New`].
    pub(crate) fn load(&mut self, stored_oldest_first: Vec<u64>) {
        let mut order = VecDeque::with_capacity(stored_oldest_first.len() + self.order.len());
        for fingerprint in stored_oldest_first {
            if self.present.insert(fingerprint) {
                order.push_back(fingerprint);
            }
        }
        order.append(&mut self.order);
        self.order = order;
        self.loaded = true;
        self.trim();
    }

    /// Whether a key may be completed.
    pub(crate) fn lookup(&self, fingerprint: u64) -> Lookup {
        if self.loaded && !self.present.contains(&fingerprint) {
            Lookup::New
        } else {
            Lookup::Maybe
        }
    }

    fn trim(&mut self) {
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.present.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_hashes_to_its_low_64_bits() {
        use std::hash::BuildHasher as _;
        let build = BuildHasherDefault::<FingerprintHasher>::default();
        assert_eq!(build.hash_one(0x1234_u64), 0x1234);
        assert_eq!(
            build.hash_one(0xdead_beef_0000_0000_0000_0000_0000_0007_u128),
            7
        );
        assert_ne!(build.hash_one("a"), build.hash_one("b"));
    }

    #[test]
    fn every_lookup_is_a_maybe_until_loaded_then_misses_are_new() {
        let mut index = KeyIndex::new(10);
        index.insert(fingerprint("recent"));
        assert_eq!(index.lookup(fingerprint("other")), Lookup::Maybe);
        index.load(vec![fingerprint("stored")]);
        assert_eq!(index.lookup(fingerprint("stored")), Lookup::Maybe);
        assert_eq!(index.lookup(fingerprint("recent")), Lookup::Maybe);
        assert_eq!(index.lookup(fingerprint("other")), Lookup::New);
    }

    #[test]
    fn the_oldest_fingerprints_go_first_beyond_capacity() {
        let mut index = KeyIndex::new(2);
        index.insert(fingerprint("newest"));
        index.load(vec![
            fingerprint("old"),
            fingerprint("older-but-listed-second"),
        ]);
        assert_eq!(index.lookup(fingerprint("old")), Lookup::New);
        assert_eq!(
            index.lookup(fingerprint("older-but-listed-second")),
            Lookup::Maybe
        );
        assert_eq!(index.lookup(fingerprint("newest")), Lookup::Maybe);
    }
}
