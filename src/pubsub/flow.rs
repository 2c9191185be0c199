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
//! releases one event at a time costs one request per batch instead of one per event. The
//! one exception is a consumer that keeps most of the window for itself (a stuck
//! conversation) while the rest cycles: when the server owes nothing and no credit has been
//! released for [`HELD_CREDIT_LINGER`], the smaller amount is sent anyway so the stream
//! keeps moving. It knows nothing about gRPC or event contents.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// Salesforce's cap on events outstanding per Subscribe call (spec §3.7).
pub const MAX_OUTSTANDING_EVENTS: u32 = 100;

/// How long released credit smaller than a batch may wait, while the server owes nothing,
/// for the consumer to release more before it is requested anyway. Any consumer that
/// releases more often than this gets whole batches; one that stops releasing loses at most
/// this much time.
pub const HELD_CREDIT_LINGER: Duration = Duration::from_millis(100);

/// Shared credit state between the stream task and the consumer's acks.
#[derive(Debug)]
pub struct CreditLedger {
    window: u32,
    /// Released credit is requested once this much has gathered (a quarter of the window),
    /// so every top-up carries a batch however fast or slow the consumer releases.
    min_top_up: u32,
    state: Mutex<LedgerState>,
    /// Bumped when the requester has something to do: a batch is due, or credit is held
    /// back while the server owes nothing (its linger starts again). A watch, not a
    /// `Notify`, so a stream being torn down can never swallow the wake-up meant for its
    /// successor.
    top_up_due: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct LedgerState {
    in_hand: u32,
    unrequested: u32,
    /// How many times the consumer has released credit, so held-back credit can tell
    /// whether the consumer is still making progress or has gone quiet.
    releases: u64,
}

/// The consumer's progress when released credit started waiting below a batch; see
/// [`CreditLedger::held_credit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseMark(u64);

impl CreditLedger {
    /// A ledger for a window of `window` events, clamped to `1..=100`.
    pub fn new(window: u32) -> Self {
        let window = window.clamp(1, MAX_OUTSTANDING_EVENTS);
        Self {
            window,
            min_top_up: (window / 4).max(1),
            state: Mutex::new(LedgerState::default()),
            top_up_due: watch::Sender::new(0),
        }
    }

    /// The configured window after clamping.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// The smallest top-up sent while the consumer keeps releasing: a quarter of the window.
    pub fn min_top_up(&self) -> u32 {
        self.min_top_up
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
        let credit_held_back = {
            let mut state = self.lock();
            state.in_hand = state.in_hand.saturating_add(1);
            state.unrequested > 0 && self.outstanding(&state) == 0
        };
        if credit_held_back {
            // The server now owes nothing while released credit waits below a batch.
            self.signal_requester();
        }
    }

    /// The consumer finished `count` events: their credit may be requested again.
    pub fn release(&self, count: u32) {
        if count == 0 {
            return;
        }
        let wake_requester = {
            let mut state = self.lock();
            let released = count.min(state.in_hand);
            debug_assert_eq!(released, count, "released more events than were delivered");
            state.in_hand -= released;
            state.unrequested += released;
            state.releases = state.releases.wrapping_add(1);
            // A batch is due, or the server owes nothing and the held-back credit's linger
            // starts again from this release.
            state.unrequested >= self.min_top_up || self.outstanding(&state) == 0
        };
        if wake_requester {
            self.signal_requester();
        }
    }

    /// Takes the credit to send in the next top-up `FetchRequest`, once a batch of at least
    /// [`CreditLedger::min_top_up`] has been released.
    pub fn take_top_up(&self) -> Option<u32> {
        let mut state = self.lock();
        if state.unrequested < self.min_top_up {
            return None;
        }
        Some(std::mem::take(&mut state.unrequested))
    }

    /// When released credit waits below a batch while the server owes nothing, the
    /// consumer's progress now: if it releases nothing more for [`HELD_CREDIT_LINGER`], pass
    /// this to [`CreditLedger::take_held_credit`]. `None` when nothing is held back, or the
    /// server still owes events (their delivery and release will complete a batch).
    pub fn held_credit(&self) -> Option<ReleaseMark> {
        let state = self.lock();
        let held_back = state.unrequested > 0 && self.outstanding(&state) == 0;
        held_back.then_some(ReleaseMark(state.releases))
    }

    /// Takes the held-back credit when the consumer released nothing since `mark` and the
    /// server still owes nothing: waiting longer for a batch would only stall the stream.
    pub fn take_held_credit(&self, mark: ReleaseMark) -> Option<u32> {
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
    pub fn top_up_signal(&self) -> watch::Receiver<u64> {
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
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl CreditLedger {
        fn unrequested(&self) -> u32 {
            self.lock().unrequested
        }
    }

    /// Delivers `count` events the server owes, as one response would.
    fn deliver(ledger: &CreditLedger, server_owes: &mut u32, count: u32) -> u32 {
        let delivered = count.min(*server_owes);
        for _ in 0..delivered {
            ledger.on_delivered();
        }
        *server_owes -= delivered;
        delivered
    }

    #[test]
    fn window_is_clamped_to_salesforce_limit() {
        assert_eq!(CreditLedger::new(500).window(), 100);
        assert_eq!(CreditLedger::new(0).window(), 1);
        assert_eq!(CreditLedger::new(100).min_top_up(), 25);
        assert_eq!(CreditLedger::new(3).min_top_up(), 1);
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
        assert_eq!(ledger.held_credit(), None, "the server still owes 70");
        ledger.release(20);
        assert_eq!(ledger.take_top_up(), Some(30));
    }

    #[test]
    fn a_slow_consumer_holding_the_window_gets_a_batch_not_one_request_per_ack() {
        let ledger = CreditLedger::new(100);
        let mut server_owes = ledger.start_stream();
        deliver(&ledger, &mut server_owes, 100);
        let mut requests = Vec::new();
        for _ in 0..100 {
            ledger.release(1);
            if let Some(credit) = ledger.take_top_up() {
                requests.push(credit);
                server_owes += credit;
                // The server is faster than the consumer: the batch is back in hand at once.
                deliver(&ledger, &mut server_owes, credit);
            }
        }
        assert_eq!(requests, vec![25, 25, 25, 25]);
    }

    #[test]
    fn credit_held_back_by_a_consumer_that_went_quiet_is_sent_after_the_linger() {
        let ledger = CreditLedger::new(100);
        let mut server_owes = ledger.start_stream();
        deliver(&ledger, &mut server_owes, 100);
        // A stuck conversation keeps 90 events; the other 10 complete.
        ledger.release(4);
        let early_mark = ledger.held_credit().expect("the server owes nothing");
        ledger.release(6);
        assert_eq!(ledger.take_top_up(), None, "10 is less than a batch");
        assert_eq!(
            ledger.take_held_credit(early_mark),
            None,
            "the consumer released more since that mark: keep waiting for a batch"
        );
        let quiet_mark = ledger.held_credit().expect("still held back");
        assert_eq!(ledger.take_held_credit(quiet_mark), Some(10));
        assert_eq!(ledger.held_credit(), None, "nothing left to hold back");
    }

    #[test]
    fn held_back_credit_waits_while_the_server_still_owes_events() {
        let ledger = CreditLedger::new(100);
        let mut server_owes = ledger.start_stream();
        deliver(&ledger, &mut server_owes, 95);
        ledger.release(3);
        assert_eq!(
            ledger.held_credit(),
            None,
            "5 more are coming; their release adds up"
        );
        deliver(&ledger, &mut server_owes, 5);
        let mark = ledger.held_credit().expect("the server owes nothing now");
        assert_eq!(ledger.take_held_credit(mark), Some(3));
    }

    #[test]
    fn the_requester_is_woken_when_the_server_runs_dry_with_credit_held_back() {
        let ledger = CreditLedger::new(100);
        let mut signal = ledger.top_up_signal();
        let mut server_owes = ledger.start_stream();
        deliver(&ledger, &mut server_owes, 99);
        ledger.release(2);
        signal.borrow_and_update();
        deliver(&ledger, &mut server_owes, 1);
        assert!(signal.has_changed().unwrap(), "the linger must start now");
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
        assert_eq!(ledger.held_credit(), None);
    }

    /// One thing that can happen to a subscription.
    #[derive(Debug, Clone)]
    enum Step {
        /// The server sends up to this many of the events it owes.
        Deliver(u32),
        /// The consumer completes up to this many events.
        Release(u32),
        /// The requester wakes and sends a due batch.
        TopUp,
        /// The requester starts a linger over held-back credit.
        ArmLinger,
        /// The linger started by the last `ArmLinger` runs out.
        LingerExpires,
        /// The stream is replaced; the server forgets what it owed.
        Reconnect,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u32..=100).prop_map(Step::Deliver),
            6 => (1u32..=3).prop_map(Step::Release),
            3 => Just(Step::TopUp),
            1 => Just(Step::ArmLinger),
            1 => Just(Step::LingerExpires),
            1 => Just(Step::Reconnect),
        ]
    }

    proptest! {
        /// Whatever the order of deliveries, releases, top-ups, lingers and reconnects: the
        /// server's credit, the consumer's events and the unrequested credit always add up to
        /// the window; no request asks for zero events or more than is free; and a stream
        /// the server owes nothing can always move again.
        #[test]
        fn credit_adds_up_to_the_window_and_never_deadlocks(
            window in 1u32..=120,
            steps in proptest::collection::vec(step(), 1..600),
        ) {
            let ledger = CreditLedger::new(window);
            let window = ledger.window();
            let mut server_owes = ledger.start_stream();
            let mut linger: Option<(ReleaseMark, bool)> = None;
            for step in steps {
                match step {
                    Step::Deliver(count) => {
                        deliver(&ledger, &mut server_owes, count);
                    }
                    Step::Release(count) => {
                        let count = count.min(ledger.in_hand());
                        ledger.release(count);
                        if count > 0 {
                            if let Some((_, released_since)) = linger.as_mut() {
                                *released_since = true;
                            }
                        }
                    }
                    Step::TopUp => {
                        if let Some(credit) = ledger.take_top_up() {
                            prop_assert!(credit >= ledger.min_top_up(), "a top-up is a batch: {credit}");
                            server_owes += credit;
                        }
                    }
                    Step::ArmLinger => linger = ledger.held_credit().map(|mark| (mark, false)),
                    Step::LingerExpires => {
                        if let Some((mark, released_since)) = linger.take() {
                            let taken = ledger.take_held_credit(mark);
                            if released_since {
                                prop_assert_eq!(taken, None, "the consumer was not quiet");
                            }
                            if let Some(credit) = taken {
                                prop_assert!(credit > 0);
                                server_owes += credit;
                            }
                        }
                    }
                    Step::Reconnect => {
                        server_owes = ledger.start_stream();
                        linger = None;
                    }
                }
                let in_hand = ledger.in_hand();
                prop_assert_eq!(server_owes + in_hand + ledger.unrequested(), window);
                prop_assert!(server_owes <= MAX_OUTSTANDING_EVENTS);
                prop_assert!(server_owes + in_hand <= window, "credit past the window");
                if server_owes == 0 && ledger.unrequested() > 0 {
                    prop_assert!(
                        ledger.held_credit().is_some(),
                        "released credit with nothing outstanding must be on its way back"
                    );
                }
                if server_owes == 0 && in_hand == 0 {
                    prop_assert_eq!(
                        ledger.take_top_up(),
                        Some(window),
                        "a consumer that released everything gets the whole window back"
                    );
                    server_owes = window;
                }
            }
        }

        /// A consumer that keeps releasing (at least once per linger) costs one
        /// `FetchRequest` per quarter window, however the server's batches and the
        /// consumer's releases interleave: the slow consumer that holds the window and
        /// releases one event at a time included.
        #[test]
        fn a_consumer_that_keeps_releasing_costs_one_request_per_quarter_window(
            // Each round: server batches (sizes), then consumer releases (counts), then a
            // linger tick.
            rounds in proptest::collection::vec(
                (
                    proptest::collection::vec(1u32..=100, 0..3),
                    proptest::collection::vec(1u32..=3, 1..6),
                ),
                1..400,
            ),
        ) {
            let ledger = CreditLedger::new(100);
            let mut server_owes = ledger.start_stream();
            let mut fetch_requests = 1u64;
            let mut events = 0u64;
            let mut linger = ledger.held_credit();
            for (server_batches, releases) in rounds {
                for batch in server_batches {
                    events += u64::from(deliver(&ledger, &mut server_owes, batch));
                }
                for count in releases {
                    ledger.release(count.min(ledger.in_hand()));
                    if let Some(credit) = ledger.take_top_up() {
                        fetch_requests += 1;
                        server_owes += credit;
                    }
                }
                // The linger armed a round ago runs out: the consumer has released since, unless it
                // had nothing left in hand to release.
                if let Some(mark) = linger {
                    if let Some(credit) = ledger.take_held_credit(mark) {
                        fetch_requests += 1;
                        server_owes += credit;
                    }
                }
                linger = ledger.held_credit();
            }
            let bound = events / 25 + u64::from(ledger.window() / ledger.min_top_up()) + 1;
            prop_assert!(
                fetch_requests <= bound,
                "{fetch_requests} requests for {events} events (bound {bound})"
            );
        }
    }
}
