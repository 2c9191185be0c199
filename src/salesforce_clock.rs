//! Salesforce's clock as seen from here: the skew between the local clock and the `Date`
//! headers of Salesforce's answers (Interaction Service and OAuth token responses).
//!
//! Routing deadlines count from an event's `CreatedDate`, stamped on Salesforce's clock, so a
//! local clock that runs off would move every deadline by as much. Each answer's `Date` (whole
//! seconds) is compared with the middle of its exchange; the estimate starts at the first
//! sample and then follows an average of the later ones, so the one-second resolution of the
//! header evens out; an estimate within that resolution is not applied to deadlines. Past [`SKEW_WARNING`] a warning is logged once. An observer set by the
//! connector turns each estimate into a metric. Knows nothing about routing or telemetry.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use tracing::warn;

/// A skew larger than this is logged as a warning (once).
pub(crate) const SKEW_WARNING: Duration = Duration::from_secs(2);

/// The `Date` header's resolution: an estimate this close to zero is within its error, so
/// deadlines keep the local clock rather than moving by up to half a second with each sample.
const HEADER_RESOLUTION_MS: i64 = 1_000;

/// Weight of a new sample in the running estimate, in quarters.
const NEW_SAMPLE_QUARTERS: i64 = 1;

/// Called with each new estimate, in seconds (Salesforce minus local).
type Observer = Box<dyn Fn(f64) + Send + Sync>;

#[derive(Default)]
struct Inner {
    skew_ms: AtomicI64,
    sampled: AtomicBool,
    warned: AtomicBool,
    observer: OnceLock<Observer>,
}

/// The estimated skew of Salesforce's clock; cheap to clone, clones share the estimate.
#[derive(Clone, Default)]
pub struct SalesforceClock {
    inner: Arc<Inner>,
}

impl fmt::Debug for SalesforceClock {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SalesforceClock")
            .field("skew_ms", &self.skew_ms())
            .finish_non_exhaustive()
    }
}

impl SalesforceClock {
    /// Sets the observer of new estimates (seconds, Salesforce minus local); only the first
    /// call takes effect.
    pub fn on_estimate(&self, observer: impl Fn(f64) + Send + Sync + 'static) {
        let _ = self.inner.observer.set(Box::new(observer));
    }

    /// Salesforce's clock minus the local clock, in milliseconds (0 before any sample).
    pub(crate) fn skew_ms(&self) -> i64 {
        self.inner.skew_ms.load(Ordering::Relaxed)
    }

    /// The skew deadlines use: the estimate, or 0 while it is within the header's resolution.
    pub(crate) fn applied_skew_ms(&self) -> i64 {
        let estimate = self.skew_ms();
        if estimate.abs() <= HEADER_RESOLUTION_MS {
            0
        } else {
            estimate
        }
    }

    /// Now on Salesforce's clock, in Unix epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        epoch_ms(SystemTime::now()).saturating_add(self.applied_skew_ms())
    }

    /// Learns from one answer's `Date` header, for an exchange sent at `sent` and answered at
    /// `received` (local clock). A missing or unreadable header teaches nothing.
    pub(crate) fn observe_date(
        &self,
        date: Option<&HeaderValue>,
        sent: SystemTime,
        received: SystemTime,
    ) {
        let Some(date) = date
            .and_then(|value| value.to_str().ok())
            .and_then(|text| httpdate::parse_http_date(text.trim()).ok())
        else {
            return;
        };
        let sent_ms = epoch_ms(sent);
        let middle_ms = sent_ms + (epoch_ms(received) - sent_ms).max(0) / 2;
        // The header truncates to the second: the middle of that second is the best guess.
        let sample_ms = epoch_ms(date) + 500 - middle_ms;
        self.learn(sample_ms);
    }

    fn learn(&self, sample_ms: i64) {
        let inner = &self.inner;
        let estimate = if inner.sampled.swap(true, Ordering::Relaxed) {
            let previous = inner.skew_ms.load(Ordering::Relaxed);
            previous + (sample_ms - previous) * NEW_SAMPLE_QUARTERS / 4
        } else {
            sample_ms
        };
        inner.skew_ms.store(estimate, Ordering::Relaxed);
        let warning_ms = i64::try_from(SKEW_WARNING.as_millis()).unwrap_or(i64::MAX);
        if estimate.abs() > warning_ms && !inner.warned.swap(true, Ordering::Relaxed) {
            warn!(
                skew_ms = estimate,
                "salesforce's clock differs from the local clock by more than 2 s, routing deadlines follow salesforce's clock; check the host's time synchronisation"
            );
        }
        if let Some(observer) = inner.observer.get() {
            #[allow(clippy::cast_precision_loss)]
            observer(estimate as f64 / 1000.0);
        }
    }
}

fn epoch_ms(time: SystemTime) -> i64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn date_header(time: SystemTime) -> HeaderValue {
        HeaderValue::from_str(&httpdate::fmt_http_date(time)).unwrap()
    }

    #[test]
    fn the_first_date_sets_the_skew_and_later_ones_move_it_gently() {
        let clock = SalesforceClock::default();
        let seen = Arc::new(AtomicU64::new(0));
        let observed = seen.clone();
        clock.on_estimate(move |seconds| observed.store(seconds.to_bits(), Ordering::SeqCst));
        let local = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        clock.observe_date(
            Some(&date_header(local + Duration::from_secs(30))),
            local,
            local,
        );
        assert_eq!(clock.skew_ms(), 30_500);
        assert!((f64::from_bits(seen.load(Ordering::SeqCst)) - 30.5).abs() < 1e-9);
        clock.observe_date(Some(&date_header(local)), local, local);
        assert_eq!(clock.skew_ms(), 30_500 - 30_000 / 4);
        clock.observe_date(None, local, local);
        clock.observe_date(Some(&HeaderValue::from_static("soon")), local, local);
        assert_eq!(clock.skew_ms(), 30_500 - 30_000 / 4, "no date, no change");
        assert_eq!(clock.applied_skew_ms(), clock.skew_ms());
    }

    #[test]
    fn a_skew_within_the_headers_one_second_resolution_leaves_deadlines_on_the_local_clock() {
        let clock = SalesforceClock::default();
        let local = UNIX_EPOCH + Duration::from_millis(1_800_000_000_700);
        // The header says 1_800_000_000 s; the middle of that second is 200 ms behind us.
        clock.observe_date(Some(&date_header(local)), local, local);
        assert_eq!(clock.skew_ms(), -200);
        assert_eq!(clock.applied_skew_ms(), 0);
        let before = epoch_ms(SystemTime::now());
        let now = clock.now_ms();
        let after = epoch_ms(SystemTime::now());
        assert!(before <= now && now <= after);
    }
}
