//! Flow-control credit for one subscription, across every stream it opens.
//!
//! The server owes us at most `window` events (Salesforce clamps at 100). We keep
//! `outstanding + in_hand + unrequested == window`, where `in_hand` is events delivered to
//! the consumer and not yet released and `unrequested` is released credit not yet sent
//! back as a `FetchRequest`. Because `in_hand` survives reconnects, a consumer that stalls
//! holds the window shut even across resubscribes, so memory stays bounded. Credit is
//! topped up as the consumer releases events, before the window drains, so the stream
//! never idles for a round trip. It knows nothing about gRPC or event contents.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

/// Salesforce's cap on events outstanding per Subscribe call (spec §3.7).
pub const MAX_OUTSTANDING_EVENTS: u32 = 100;

/// Shared credit state between the stream task and the consumer's acks.
#[derive(Debug)]
pub struct CreditLedger {
    window: u32,
    /// Released credit is sent once it reaches this many events, or sooner when the server's
    /// credit runs low, so top-ups are batched without letting the window drain.
    top_up_threshold: u32,
    state: Mutex<LedgerState>,
    /// Bumped when a top-up is due (which includes credit freeing up while the consumer held
    /// the whole window). A watch, not a `Notify`, so a stream being torn down can never
    /// swallow the wake-up meant for its successor.
    top_up_due: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct LedgerState {
    in_hand: u32,
    unrequested: u32,
}

impl CreditLedger {
    /// A ledger for a window of `window` events, clamped to `1..=100`.
    pub fn new(window: u32) -> Self {
        let window = window.clamp(1, MAX_OUTSTANDING_EVENTS);
        Self {
            window,
            top_up_threshold: (window / 4).max(1),
            state: Mutex::new(LedgerState::default()),
            top_up_due: watch::Sender::new(0),
        }
    }

    /// The configured window after clamping.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Events delivered to the consumer and not yet released.
    pub fn in_hand(&self) -> u32 {
        self.lock().in_hand
    }

    /// Starts a new stream: the old stream's outstanding credit is gone, so the first
    /// request asks for everything not in the consumer's hands. Zero means the consumer
    /// holds the whole window and the stream must wait for [`CreditLedger::release`].
    pub fn start_stream(&self) -> u32 {
        let mut state = self.lock();
        state.unrequested = 0;
        self.window.saturating_sub(state.in_hand)
    }

    /// Records one event handed to the consumer.
    pub fn on_delivered(&self) {
        let mut state = self.lock();
        state.in_hand = state.in_hand.saturating_add(1);
    }

    /// The consumer finished `count` events: their credit may be requested again.
    pub fn release(&self, count: u32) {
        if count == 0 {
            return;
        }
        let top_up_due = {
            let mut state = self.lock();
            let released = count.min(state.in_hand);
            debug_assert_eq!(released, count, "released more events than were delivered");
            state.in_hand -= released;
            state.unrequested += released;
            let outstanding = self.outstanding(&state);
            state.unrequested >= self.top_up_threshold || outstanding < self.top_up_threshold
        };
        if top_up_due {
            self.top_up_due
                .send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// Takes the credit to send in the next top-up `FetchRequest`, if one is due.
    pub fn take_top_up(&self) -> Option<u32> {
        let mut state = self.lock();
        let outstanding = self.outstanding(&state);
        let due = state.unrequested >= self.top_up_threshold
            || (state.unrequested > 0 && outstanding < self.top_up_threshold);
        if !due {
            return None;
        }
        Some(std::mem::take(&mut state.unrequested))
    }

    /// A receiver that changes whenever a top-up becomes due. Mark it seen before checking
    /// [`CreditLedger::take_top_up`] / [`CreditLedger::start_stream`] so no wake-up is lost.
    pub fn top_up_signal(&self) -> watch::Receiver<u64> {
        self.top_up_due.subscribe()
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_is_clamped_to_salesforce_limit() {
        assert_eq!(CreditLedger::new(500).window(), 100);
        assert_eq!(CreditLedger::new(0).window(), 1);
    }

    #[test]
    fn top_up_is_sent_before_the_window_drains() {
        let ledger = CreditLedger::new(100);
        assert_eq!(ledger.start_stream(), 100);
        for _ in 0..30 {
            ledger.on_delivered();
        }
        ledger.release(10);
        assert_eq!(ledger.take_top_up(), None, "small releases are batched");
        ledger.release(20);
        assert_eq!(ledger.take_top_up(), Some(30));
    }

    #[test]
    fn low_server_credit_forces_a_small_top_up() {
        let ledger = CreditLedger::new(100);
        ledger.start_stream();
        for _ in 0..99 {
            ledger.on_delivered();
        }
        ledger.release(1);
        assert_eq!(ledger.take_top_up(), Some(1));
    }

    #[test]
    fn events_in_hand_survive_a_reconnect() {
        let ledger = CreditLedger::new(10);
        ledger.start_stream();
        for _ in 0..10 {
            ledger.on_delivered();
        }
        assert_eq!(ledger.start_stream(), 0, "consumer holds the whole window");
        ledger.release(4);
        assert_eq!(ledger.start_stream(), 4);
        assert_eq!(
            ledger.take_top_up(),
            None,
            "the new stream's first request covered it"
        );
    }

    proptest! {
        /// Whatever the order of deliveries, releases and reconnects, the credit the server
        /// could owe us plus what the consumer holds never exceeds the window, and no
        /// request ever asks for zero or fewer events.
        #[test]
        fn outstanding_credit_never_exceeds_the_window(
            window in 1u32..=120,
            steps in proptest::collection::vec(0u8..4, 1..400),
        ) {
            let ledger = CreditLedger::new(window);
            let window = ledger.window();
            let mut outstanding = ledger.start_stream();
            for step in steps {
                match step {
                    0 if outstanding > 0 => { outstanding -= 1; ledger.on_delivered(); }
                    1 if ledger.in_hand() > 0 => ledger.release(1),
                    2 => if let Some(top_up) = ledger.take_top_up() {
                        prop_assert!(top_up > 0);
                        outstanding += top_up;
                    },
                    3 => outstanding = ledger.start_stream(),
                    _ => {}
                }
                prop_assert!(outstanding + ledger.in_hand() <= window);
            }
        }
    }
}
