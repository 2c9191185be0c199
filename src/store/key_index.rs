//! An in-memory index of completed idempotency keys, so the dispatcher can tell a new key from
//! a completed one without a database read on its own thread. The writer keeps one only for a
//! store that reads its keys from a database (PostgreSQL); redb answers from memory itself.
//!
//! It holds a 64-bit fingerprint per key, not the key: a miss means "not completed" for sure,
//! a hit means "maybe" and is confirmed against the store off the runtime threads. The index is
//! loaded from the store once, in the background; until then every lookup is a maybe. It keeps
//! at most as many fingerprints as the store keeps keys, dropping the oldest first, as the
//! store prunes. It knows nothing about redb.

use std::collections::VecDeque;
use std::hash::{Hash as _, Hasher as _};

use super::fingerprint_table::FingerprintTable;

/// The fingerprint of a key: SipHash with fixed keys, stable within a process.
pub(crate) fn fingerprint(key: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
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
    present: FingerprintTable<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl KeyIndex {
    /// An index not loaded yet, keeping at most `capacity` fingerprints.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            loaded: false,
            present: FingerprintTable::with_capacity(capacity),
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
        if self.loaded && !self.present.contains(fingerprint) {
            Lookup::New
        } else {
            Lookup::Maybe
        }
    }

    fn trim(&mut self) {
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.present.remove(oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
