//! The ledger's rules as examples and as properties over random interleavings of
//! deliveries, releases, top-ups, lingers and reconnects.

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
fn a_consumer_that_caught_up_sends_its_leftover_so_the_server_gets_the_whole_window() {
    let ledger = CreditLedger::new(100);
    let mut server_owes = ledger.start_stream();
    deliver(&ledger, &mut server_owes, 100);
    ledger.release(30);
    server_owes += ledger.take_top_up().expect("a batch");
    ledger.release(60);
    server_owes += ledger.take_top_up().expect("a batch");
    ledger.release(9);
    assert_eq!(ledger.take_top_up(), None, "9 is less than a batch");
    ledger.release(1);
    assert_eq!(
        ledger.take_top_up(),
        Some(10),
        "the consumer released everything after the server ran dry"
    );
    server_owes += 10;
    assert_eq!(server_owes, 100);
    // A trickle afterwards, with the server owing plenty, is batched again.
    deliver(&ledger, &mut server_owes, 1);
    ledger.release(1);
    assert_eq!(ledger.take_top_up(), None);
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
fn a_slow_consumer_wakes_the_requester_once_per_batch_not_once_per_ack() {
    let ledger = CreditLedger::new(100);
    let mut signal = ledger.top_up_signal();
    let mut server_owes = ledger.start_stream();
    deliver(&ledger, &mut server_owes, 100);
    signal.borrow_and_update();
    ledger.release(1);
    assert!(
        signal.has_changed().unwrap(),
        "the first held-back credit starts the linger"
    );
    signal.borrow_and_update();
    for _ in 0..23 {
        ledger.release(1);
    }
    assert!(
        !signal.has_changed().unwrap(),
        "no wake-up per acknowledgement"
    );
    ledger.release(1);
    assert!(signal.has_changed().unwrap(), "a batch is due");
    assert_eq!(ledger.take_top_up(), Some(25));
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
                        prop_assert!(
                            credit >= ledger.min_top_up() || ledger.in_hand() == 0,
                            "a top-up is a batch unless the consumer caught up: {credit}"
                        );
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

    /// A consumer slower than the stream, which always has more than a batch of work in
    /// hand, costs one `FetchRequest` per quarter window however the server's
    /// deliveries and the consumer's releases interleave, and its held-back credit never
    /// goes out early, because it releases at least once per linger.
    #[test]
    fn a_slow_consumer_costs_one_request_per_quarter_window(
        // Each round: the server's deliveries (sizes), then the consumer's releases
        // (counts), then a linger tick.
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
        for (deliveries, releases) in rounds {
            for count in deliveries {
                events += u64::from(deliver(&ledger, &mut server_owes, count));
            }
            for count in releases {
                let backlog = ledger.in_hand().saturating_sub(ledger.min_top_up());
                ledger.release(count.min(backlog));
                if let Some(credit) = ledger.take_top_up() {
                    prop_assert!(credit >= ledger.min_top_up(), "a small top-up: {credit}");
                    fetch_requests += 1;
                    server_owes += credit;
                }
            }
            if let Some(mark) = linger {
                if let Some(credit) = ledger.take_held_credit(mark) {
                    prop_assert!(false, "held-back credit went out early: {credit}");
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

    /// A fast consumer on a stream bound by credit (the server delivers everything it
    /// owes, the consumer releases it all before the next delivery) gets its whole
    /// window back every turn, so no credit is parked below a batch while the server
    /// waits, in at most four requests per window, however the requester's wake-ups
    /// fall among the releases.
    #[test]
    fn a_fast_consumer_gets_the_whole_window_back_every_turn_in_four_requests(
        turns in proptest::collection::vec(
            proptest::collection::vec((1u32..=10, any::<bool>()), 1..60),
            1..40,
        ),
    ) {
        let ledger = CreditLedger::new(100);
        let mut server_owes = ledger.start_stream();
        for releases in turns {
            deliver(&ledger, &mut server_owes, 100);
            let mut requests = 0;
            for (count, requester_wakes) in releases {
                ledger.release(count.min(ledger.in_hand()));
                if requester_wakes {
                    if let Some(credit) = ledger.take_top_up() {
                        requests += 1;
                        server_owes += credit;
                    }
                }
            }
            // The consumer finishes the turn; the requester catches up.
            ledger.release(ledger.in_hand());
            if let Some(credit) = ledger.take_top_up() {
                requests += 1;
                server_owes += credit;
            }
            prop_assert_eq!(server_owes, 100, "credit parked while the server waits");
            prop_assert!(requests <= 4, "{requests} requests for one window");
        }
    }
}
