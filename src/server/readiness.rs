//! Whether the connector should receive traffic: the flag behind `GET /readyz`.
//!
//! The connector turns it on once subscribed and turns it off first on SIGTERM (G8), before
//! it stops granting credit and drains. A process serving `[[tenants]]` answers with one flag
//! made of each tenant's: ready while its own flag is on and every tenant is ready, except a
//! tenant that stopped with an error and was excused (the others keep serving). This file
//! knows nothing about HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::info;

/// A shared readiness flag, off until [`Readiness::set_ready`] turns it on; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    /// Set once the channel this flag belongs to stopped for good: it no longer counts in a
    /// combined flag.
    excused: Arc<AtomicBool>,
    /// The tenants' flags a combined flag also waits for.
    parts: Arc<[Readiness]>,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag that is ready while its own flag is on and every one of `parts` is ready or
    /// excused.
    pub fn all_of(parts: Vec<Readiness>) -> Self {
        Self {
            parts: parts.into(),
            ..Self::default()
        }
    }

    /// Turns readiness on or off; a change is logged.
    pub fn set_ready(&self, ready: bool) {
        let was_ready = self.ready.swap(ready, Ordering::SeqCst);
        if was_ready != ready {
            info!(ready, "readiness changed");
        }
    }

    /// Leaves this flag out of every combined flag from now on: its channel stopped with an
    /// error and the others keep serving.
    pub fn excuse(&self) {
        self.excused.store(true, Ordering::SeqCst);
    }

    /// Whether the connector is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
            && self
                .parts
                .iter()
                .all(|part| part.excused.load(Ordering::SeqCst) || part.is_ready())
    }
}
