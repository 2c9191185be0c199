//! How many routing asks may be out to the partner at once, adapted to how long they take.
//!
//! A decided request's last steps (its `Decided` write, the routingResult post) are tasks on
//! the same runtime as every other request's ask, and tokio runs them in arrival order. With
//! every request of a burst asking at once, a decision waited behind the rest of the burst's
//! asks; with a few asks at a time, the burst ends as soon and each decision is posted
//! promptly (docs/benchmarks.md, "Asks at a time").
//!
//! A fixed small number would throttle a partner far away, whose asks spend their time on the
//! network, not on this machine's CPU. So the limit follows the asks' round trips, as TCP
//! Vegas follows a path's: while recent round trips stay within [`GROW_BELOW`] times the
//! fastest seen lately and the limit is reached, it grows by one per answer; once they pass
//! [`SHRINK_ABOVE`] times the fastest (asks queue, here or at the partner) it shrinks by one,
//! down to [`MIN_LIMIT`]. Ratios, not counts, so a far partner's jitter (40 – 60 ms) is not
//! taken for queueing. Asks past the limit wait their turn, first come first served (a
//! semaphore; a shrunk limit takes its places back as asks return); a sidecar decision for
//! a waiting request goes through meanwhile.
//!
//! The limit spreads a burst over milliseconds of this machine's CPU; it must not cost a
//! request seconds of its window. So an ask that waited [`WAIT_AT_MOST`] goes out over the
//! limit: a partner whose routing webhook answers slowly is still asked about a whole burst
//! within a second, and its answers, as slow as its fastest, open the limit meanwhile.
//!
//! Knows nothing about what an ask carries nor about the partner's answers.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The fewest asks allowed out at once.
pub(super) const MIN_LIMIT: usize = 4;

/// The most asks allowed out at once.
pub(super) const MAX_LIMIT: usize = 256;

/// Where the limit starts: low, so a burst's first wave is not let out at once; while asks
/// wait, an unqueued partner opens it by one per answer, doubling it each round trip.
const INITIAL_LIMIT: usize = MIN_LIMIT;

/// Recent round trips within this many times the fastest let the limit grow.
const GROW_BELOW: f64 = 1.5;

/// Recent round trips past this many times the fastest make the limit shrink.
const SHRINK_ABOVE: f64 = 2.0;

/// The weight of the newest round trip in the recent average, so one odd ask moves it little.
const RECENT_WEIGHT: f64 = 0.2;

/// A fastest round trip older than this is replaced by the next one, so a partner that
/// became slower for good is not held to its old speed.
const BASELINE_MAX_AGE: Duration = Duration::from_secs(30);

/// The longest an ask waits for a place before it goes out over the limit: far longer than
/// a burst against a prompt partner takes to be asked about (docs/benchmarks.md), far
/// shorter than the decision timeout.
pub(super) const WAIT_AT_MOST: Duration = Duration::from_secs(1);

/// The limit's arithmetic, apart from the waiting: pure, so tests drive it answer by answer.
#[derive(Debug, Clone)]
pub(super) struct Estimate {
    limit: usize,
    /// The fastest round trip seen since the instant beside it.
    fastest: Option<(Duration, Instant)>,
    /// The recent round trips' moving average, in seconds.
    recent: Option<f64>,
}

impl Default for Estimate {
    fn default() -> Self {
        Self {
            limit: INITIAL_LIMIT,
            fastest: None,
            recent: None,
        }
    }
}

impl Estimate {
    /// How many asks may be out now.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Learns from an ask that took `round_trip`, answered `now`; `full` says whether the
    /// limit was reached when it came back. Only then may the limit grow: a quiet stream's
    /// fast answers say nothing about how many asks at once this machine can take, and a
    /// limit grown on them would let a burst's first wave out all at once.
    pub(super) fn sample(&mut self, round_trip: Duration, now: Instant, full: bool) {
        let fastest = match self.fastest {
            Some((fastest, since))
                if round_trip >= fastest && now.duration_since(since) < BASELINE_MAX_AGE =>
            {
                fastest
            }
            _ => {
                self.fastest = Some((round_trip, now));
                round_trip
            }
        };
        let sample = round_trip.as_secs_f64();
        let recent = self
            .recent
            .map_or(sample, |recent| recent + RECENT_WEIGHT * (sample - recent));
        self.recent = Some(recent);
        let fastest = fastest.as_secs_f64();
        if recent < fastest * GROW_BELOW && full {
            self.limit = (self.limit + 1).min(MAX_LIMIT);
        } else if recent > fastest * SHRINK_ABOVE {
            self.limit = self.limit.saturating_sub(1).max(MIN_LIMIT);
        }
    }
}

/// The limit's bookkeeping beside the semaphore that enforces it: the semaphore's places add
/// up to the estimate's limit once `owed` are taken back.
#[derive(Debug, Default)]
struct State {
    estimate: Estimate,
    /// Places to take back as asks come back, after the limit shrank below the asks out.
    owed: usize,
}

/// The gate every ask passes, first come first served; shared by a routing engine's requests.
#[derive(Debug)]
pub(super) struct AskLimit {
    permits: Semaphore,
    state: Mutex<State>,
}

impl Default for AskLimit {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(INITIAL_LIMIT),
            state: Mutex::new(State::default()),
        }
    }
}

/// One ask's place under the limit (or none, for an ask over it), freed when dropped;
/// without [`AskPermit::done`] it teaches the limit nothing (the ask was abandoned).
#[derive(Debug)]
pub(super) struct AskPermit<'a> {
    limit: &'a AskLimit,
    permit: Option<SemaphorePermit<'a>>,
    started: Instant,
    round_trip: Option<Duration>,
}

impl AskLimit {
    /// Waits, behind the asks that came first, until one more may go out, or for
    /// [`WAIT_AT_MOST`], after which the ask goes out over the limit.
    pub(super) async fn acquire(&self) -> AskPermit<'_> {
        // The semaphore is never closed; an ask over the limit holds no place.
        let permit = tokio::time::timeout(WAIT_AT_MOST, self.permits.acquire())
            .await
            .ok()
            .and_then(Result::ok);
        AskPermit {
            limit: self,
            permit,
            started: Instant::now(),
            round_trip: None,
        }
    }

    /// How many asks may be out now.
    pub(super) fn current(&self) -> usize {
        self.lock().estimate.limit()
    }

    /// Takes back `permit`, learning from `round_trip` when the ask came back.
    fn release(&self, permit: Option<SemaphorePermit<'_>>, round_trip: Option<Duration>) {
        let mut state = self.lock();
        let before = state.estimate.limit();
        if let Some(round_trip) = round_trip {
            // Full: this ask held the last free place.
            let full = self.permits.available_permits() == 0;
            state.estimate.sample(round_trip, Instant::now(), full);
        }
        let after = state.estimate.limit();
        if after > before {
            let grown = after - before;
            let repaid = grown.min(state.owed);
            state.owed -= repaid;
            self.permits.add_permits(grown - repaid);
        } else {
            state.owed += before - after;
        }
        if let Some(permit) = permit {
            if state.owed > 0 {
                state.owed -= 1;
                permit.forget();
            }
            // Otherwise dropping it returns the place to the next ask in line.
        }
    }

    /// Every critical section is arithmetic that cannot panic halfway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AskPermit<'_> {
    /// Whether the ask goes out over the limit, having waited [`WAIT_AT_MOST`] for a place.
    pub(super) fn over_limit(&self) -> bool {
        self.permit.is_none()
    }

    /// The ask came back (with any answer): its round trip teaches the limit.
    pub(super) fn done(mut self) {
        self.round_trip = Some(self.started.elapsed());
    }
}

impl Drop for AskPermit<'_> {
    fn drop(&mut self) {
        self.limit.release(self.permit.take(), self.round_trip);
    }
}

#[cfg(test)]
mod tests;
