//! Values written into log fields in a shape log collectors read as numbers.
//!
//! `tracing` has no JSON number for a `u128`, so a `Duration::as_millis()` logged as is
//! arrives as the string `"370"`; log fields go through [`millis`] instead. This module
//! knows nothing about what is logged.

use std::time::Duration;

/// `duration` in whole milliseconds as a `u64` (saturating), which logs as a JSON number.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
