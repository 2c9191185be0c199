//! Whether the connector should receive traffic: the flag behind `GET /readyz`.
//!
//! The connector turns it on once subscribed and turns it off first on SIGTERM (G8), before
//! it stops granting credit and drains. This file knows nothing about HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::info;

/// A shared readiness flag, off until [`Readiness::set_ready`] turns it on; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns readiness on or off; a change is logged.
    pub fn set_ready(&self, ready: bool) {
        let was_ready = self.ready.swap(ready, Ordering::SeqCst);
        if was_ready != ready {
            info!(ready, "readiness changed");
        }
    }

    /// Whether the connector is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
