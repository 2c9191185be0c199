//! Flow-control credit for one subscription, across every stream it opens.
//!
//! The server owes us at most `window` events (Salesforce clamps at 100). We keep
//! `outstanding + in_hand + unrequested == window`, where `in_hand` is events delivered to
//! the consumer and not yet released and `unrequested` is released credit not yet sent
//! back as a `FetchRequest`. Because `in_hand` survives reconnects, a consumer that stalls
//! holds the window shut even across resubscribes, so memory stays bounded.
//!
//! Released credit goes back in batches of a quarter of the window, whether the consumer is
//! fast or slow: a fast consumer frees a batch long before the server's credit runs out, so
//! the stream never idles for a round trip, and a slow consumer that holds the window and
//! releases one event at a time costs one request per batch instead of one per event.
//! Two rules send less than a batch:
//! - **Leftover.** When the server has delivered everything it owed (the stream is bound by
//!   credit, not by events) and the consumer then releases everything it holds, whatever is
//!   left below a batch goes back at once. Otherwise up to a batch of credit would sit unused
//!   while the server waits, and its next delivery would be that much smaller.
//! - **Linger.** A consumer can keep most of the window for itself (a stuck conversation)
//!   while the rest cycles in amounts below a batch. When the server owes nothing and no
//!   credit has been released for `HELD_CREDIT_LINGER`, the smaller amount is sent anyway
//!   so the stream keeps moving.
//!
//! A slow consumer, which always holds more than a batch, triggers neither. It knows nothing
//! about gRPC or event contents.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// Salesforce's cap on events outstanding per Subscribe call (spec §3.7).
pub(crate) const MAX_OUTSTANDING_EVENTS: u32 = 100;

/// How long released credit smaller than a batch may wait, while the server owes nothing,
/// for the consumer to release more before it is requested anyway. Any consumer that
/// releases more often than this gets whole batches; one that stops releasing loses at most
/// this much time.
pub(crate) const HELD_CREDIT_LINGER: Duration = Duration::from_millis(100);

/// Shared credit state between the stream task and the consumer's acks.
#[derive(Debug)]
pub(crate) struct CreditLedger {
    window: u32,
    /// Released credit is requested once this much has gathered (a quarter of the window),
    /// so a top-up carries a batch however fast or slow the consumer releases.
    min_top_up: u32,
    state: Mutex<LedgerState>,
    /// Bumped when the requester has something to do: a batch is due, or credit starts being
    /// held back while the server owes nothing (its linger starts). A watch, not a `Notify`,
    /// so a stream being torn down can never swallow the wake-up meant for its successor.
    top_up_due: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct LedgerState {
    in_hand: u32,
    unrequested: u32,
    /// How many times the consumer has released credit, so held-back credit can tell
    /// whether the consumer is still making progress or has gone quiet.
    releases: u64,
    /// The server delivered everything it owed since the leftover credit last went back:
    /// the stream is bound by credit, not by events, so credit below a batch left over once
    /// the consumer has released everything would shrink the server's next delivery.
    ran_dry: bool,
}

impl LedgerState {
    /// The server ran dry, and since then the consumer has released everything, leaving
    /// credit below a batch unrequested.
    fn leftover_due(&self) -> bool {
        self.ran_dry && self.in_hand == 0 && self.unrequested > 0
    }
}

/// The consumer's progress when released credit started waiting below a batch; see
/// [`CreditLedger::held_credit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReleaseMark(u64);

impl CreditLedger {
    /// A ledger for a window of `window` events, clamped to `1..=100`.
    pub(crate) fn new(window: u32) -> Self {
        let window = window.clamp(1, MAX_OUTSTANDING_EVENTS);
        Self {
            window,
            min_top_up: (window / 4).max(1),
            state: Mutex::new(LedgerState::default()),
            top_up_due: watch::Sender::new(0),
        }
    }

    /// The configured window after clamping.
    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    /// How much released credit a top-up waits for (a quarter of the window), unless the
    /// leftover or linger rule sends less.
    #[cfg(test)]
    pub(crate) fn min_top_up(&self) -> u32 {
        self.min_top_up
    }

    /// Events delivered to the consumer and not yet released.
    pub(crate) fn in_hand(&self) -> u32 {
        self.lock().in_hand
    }

    /// Starts a new stream: the old stream's outstanding credit is gone, so the first
    /// request asks for everything not in the consumer's hands. Zero means the consumer
    /// holds the whole window and the stream must wait for [`CreditLedger::release`].
    pub(crate) fn start_stream(&self) -> u32 {
        let mut state = self.lock();
        state.unrequested = 0;
        self.window.saturating_sub(state.in_hand)
    }

    /// Records one event handed to the consumer.
    pub(crate) fn on_delivered(&self) {
        let credit_held_back = {
            let mut state = self.lock();
            state.in_hand = state.in_hand.saturating_add(1);
            let ran_dry = self.outstanding(&state) == 0;
            state.ran_dry |= ran_dry;
            ran_dry && state.unrequested > 0
        };
        if credit_held_back {
            // The server now owes nothing while released credit waits below a batch.
            self.signal_requester();
        }
    }

    /// The consumer finished `count` events: their credit may be requested again.
    pub(crate) fn release(&self, count: u32) {
        if count == 0 {
            return;
        }
        let wake_requester = {
            let mut state = self.lock();
            let released = count.min(state.in_hand);
            debug_assert_eq!(released, count, "released more events than were delivered");
            let was_holding_back = state.unrequested > 0;
            state.in_hand -= released;
            state.unrequested += released;
            state.releases = state.releases.wrapping_add(1);
            // A batch is due, or credit starts being held back while the server owes
            // nothing, so the requester starts its linger. Later releases only move the
            // release count, which the linger checks when it runs out: a slow consumer does
            // not wake the requester on every acknowledgement.
            let linger_starts = released > 0 && !was_holding_back && self.outstanding(&state) == 0;
            state.unrequested >= self.min_top_up || linger_starts || state.leftover_due()
        };
        if wake_requester {
            self.signal_requester();
        }
    }

    /// Takes the credit to send in the next top-up `FetchRequest`: once a batch of at least
    /// [`CreditLedger::min_top_up`] has been released, or whatever is left once the consumer
    /// has released everything after the server ran dry, so the server's next delivery can
    /// fill the whole window.
    pub(crate) fn take_top_up(&self) -> Option<u32> {
        let mut state = self.lock();
        if state.unrequested < self.min_top_up && !state.leftover_due() {
            return None;
        }
        if state.in_hand == 0 {
            state.ran_dry = false;
        }
        Some(std::mem::take(&mut state.unrequested))
    }

    /// When released credit waits below a batch while the server owes nothing, the
    /// consumer's progress now: if it releases nothing more for [`HELD_CREDIT_LINGER`], pass
    /// this to [`CreditLedger::take_held_credit`]. `None` when nothing is held back, or the
    /// server still owes events (their delivery and release will complete a batch).
    pub(crate) fn held_credit(&self) -> Option<ReleaseMark> {
        let state = self.lock();
        let held_back = state.unrequested > 0 && self.outstanding(&state) == 0;
        held_back.then_some(ReleaseMark(state.releases))
    }

    /// Takes the held-back credit when the consumer released nothing since `mark` and the
    /// server still owes nothing: waiting longer for a batch would only stall the stream.
    pub(crate) fn take_held_credit(&self, mark: ReleaseMark) -> Option<u32> {
        let mut state = self.lock();
        let consumer_quiet = state.releases == mark.0;
        let held_back = state.unrequested > 0 && self.outstanding(&state) == 0;
        if !(consumer_quiet && held_back) {
            return None;
        }
        Some(std::mem::take(&mut state.unrequested))
    }

    /// A receiver that changes whenever the requester has something to do. Mark it seen
    /// before checking [`CreditLedger::take_top_up`] / [`CreditLedger::held_credit`] /
    /// [`CreditLedger::start_stream`] so no wake-up is lost.
    pub(crate) fn top_up_signal(&self) -> watch::Receiver<u64> {
        self.top_up_due.subscribe()
    }

    fn signal_requester(&self) {
        self.top_up_due
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn outstanding(&self, state: &LedgerState) -> u32 {
        self.window
            .saturating_sub(state.in_hand)
            .saturating_sub(state.unrequested)
    }

    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        // Every critical section is a few integer updates; a poisoned lock holds valid numbers.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
