//! Hash maps and sets for the maps touched on every event: lanes by conversation id, the
//! writer's uncommitted idempotency keys, the conversation tracker's cache and the schema
//! cache by id.
//!
//! These take about 15 lookups of short strings per event; std's default SipHash-1-3 spends ~3,600
//! instructions per event on them (docs/benchmarks.md), foldhash a fraction of that. Its seed is
//! random per process (address-space layout and time, not the OS generator), so an adversary cannot
//! precompute colliding keys offline; the keys hashed here are ids chosen by Salesforce and keys
//! derived from them, never a partner's or a stranger's free text. Maps keyed by sidecar input keep
//! std's hasher. This module knows nothing of what it holds.

/// A `HashMap` with foldhash's randomly seeded fast hasher; build it with `default()`.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashSet` with foldhash's randomly seeded fast hasher; build it with `default()`.
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
