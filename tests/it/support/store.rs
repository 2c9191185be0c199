//! Helpers for the store tests.

use std::path::PathBuf;

/// A fresh directory for one test's store file, removed when the test ends. It does not
/// exist until `Store::open` creates it, so tests can check that it does.
pub struct StoreDirectory(PathBuf);

impl StoreDirectory {
    /// A new, not yet created directory under the system temp dir.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("byoc-store-test-{}", uuid::Uuid::new_v4()));
        Self(path)
    }

    /// The store file's path inside it.
    pub fn store_path(&self) -> PathBuf {
        self.0.join("store.redb")
    }
}

impl Drop for StoreDirectory {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
