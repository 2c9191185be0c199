//! A redb store (or just a directory) of its own for unit tests, removed when its guard drops.
//! Test-only; knows nothing about what the tests store.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Store, StoreSettings};

/// Removes its directory when dropped.
pub(crate) struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory path under the temp dir, named after `name` (not created); keep the
/// guard while it is used.
pub(crate) fn scratch_dir(name: &str) -> (Scratch, PathBuf) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("byoc-{name}-{}-{nanos}", std::process::id()));
    (Scratch(dir.clone()), dir)
}

/// A fresh store under the temp dir, named after `name`; keep the guard while it is used.
pub(crate) fn scratch_store(name: &str) -> (Scratch, Store) {
    let (guard, dir) = scratch_dir(name);
    let store = Store::open(dir.join("state.redb"), StoreSettings::default()).unwrap();
    (guard, store)
}
