//! Metrics that say whether the connector is healthy rather than what it did: dead letters
//! waiting, the Pub/Sub stream up or down, how long the checkpoint has been stuck, and the
//! process's resources. Values that depend on the time are computed at each scrape.
//! Nothing in this file knows how the connector learns them.

use std::sync::Mutex;
use std::time::Instant;

use super::{process, saturating_i64, Telemetry};

/// When the checkpoint last moved while events waited for it.
#[derive(Debug, Default)]
pub(super) struct CheckpointClock {
    /// `Some(since)` while events wait; `since` is when the checkpoint last advanced or, if it
    /// has not since they started waiting, when the first of them arrived.
    waiting_since: Mutex<Option<Instant>>,
}

impl Telemetry {
    /// Sets how many dead letters the store holds.
    pub(crate) fn set_dead_letters(&self, count: u64) {
        self.metrics
            .dead_letters
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The Pub/Sub stream opened (`true`) or ended (`false`).
    pub(crate) fn set_stream_connected(&self, connected: bool) {
        self.metrics.stream_connected.set(i64::from(connected));
    }

    /// Called with the watermark lag whenever it is published: starts the checkpoint-age
    /// clock when events begin to wait, stops it when none do.
    pub(super) fn track_waiting(&self, lag: u64) {
        let Ok(mut waiting_since) = self.checkpoint_clock.waiting_since.lock() else {
            return;
        };
        match (lag, *waiting_since) {
            (0, _) => *waiting_since = None,
            (_, None) => *waiting_since = Some(Instant::now()),
            (_, Some(_)) => {}
        }
    }

    /// The checkpoint advanced: its age starts again from now.
    pub(super) fn restart_checkpoint_clock(&self) {
        if let Ok(mut waiting_since) = self.checkpoint_clock.waiting_since.lock() {
            if waiting_since.is_some() {
                *waiting_since = Some(Instant::now());
            }
        }
    }

    /// Updates the metrics that are read at scrape time: checkpoint age and process figures.
    pub(super) fn refresh_sampled_metrics(&self) {
        self.refresh_checkpoint_age();
        self.refresh_process_metrics();
    }

    /// Updates `byoc_checkpoint_age_seconds`.
    pub(super) fn refresh_checkpoint_age(&self) {
        let age_secs = self
            .checkpoint_clock
            .waiting_since
            .lock()
            .ok()
            .and_then(|since| *since)
            .map_or(0, |since| since.elapsed().as_secs());
        self.metrics
            .checkpoint_age
            .set(i64::try_from(age_secs).unwrap_or(i64::MAX));
    }

    /// Updates the process figures from `/proc/self`.
    fn refresh_process_metrics(&self) {
        let Some(sample) = process::sample() else {
            return;
        };
        self.metrics
            .process_resident_memory
            .set(sample.resident_memory_bytes);
        self.metrics.process_open_fds.set(saturating_i64(
            usize::try_from(sample.open_fds).unwrap_or(0),
        ));
        if let Ok(mut last) = self.last_cpu_seconds.lock() {
            if sample.cpu_seconds > *last {
                self.metrics.process_cpu.inc_by(sample.cpu_seconds - *last);
                *last = sample.cpu_seconds;
            }
        }
    }
}
