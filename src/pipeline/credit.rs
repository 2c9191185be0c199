//! When the pipeline hands an event's Pub/Sub credit back: on its arrival while the pipeline
//! holds few events, on its completion beyond that.
//!
//! Salesforce owes a subscriber at most 100 events at a time. Returning credit only when an
//! event is delivered ties the whole pipeline to those 100: every top-up waits for deliveries
//! to finish, then for a round trip to the server, and the stream idles in between. Returning
//! it on arrival lets the next events travel while the held ones are delivered. The pipeline
//! still bounds its memory: while it holds more than `prefetch` events, each further arrival
//! keeps its credit until some event completes, so it never holds more than `prefetch` plus
//! the credit window, and a stalled partner stops the stream there. A `prefetch` of 0 returns
//! credit only on completion. Events under [`CreditRule::OnCompletion`] (RoutingRequested,
//! which the pipeline completes once routing has stored it) always keep their credit until
//! then and do not count toward the prefetch: a burst of them enters at the pace routing
//! stores them, not all at once, so the first requests' decisions are not queued behind a
//! thousand others' intake. Each event's credit is returned exactly once. Pure counting: it
//! knows nothing of the subscriber, events or time.

/// When an event's credit may go back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreditRule {
    /// On arrival while the prefetch allows, else on completion.
    Prefetch,
    /// Only on completion, outside the prefetch.
    OnCompletion,
}

/// Counts the events the pipeline holds; the credit kept back is whatever of them exceeds
/// the prefetch.
#[derive(Debug, Clone)]
pub(crate) struct CreditReturn {
    prefetch: u32,
    /// Events arrived under [`CreditRule::Prefetch`] and not completed.
    held: u32,
}

impl CreditReturn {
    /// Returns credit on arrival while at most `prefetch` events are held.
    pub(crate) fn new(prefetch: u32) -> Self {
        Self { prefetch, held: 0 }
    }

    /// An event arrived under `rule`; returns the credit to hand back now (0 or 1).
    pub(crate) fn arrived(&mut self, rule: CreditRule) -> u32 {
        match rule {
            CreditRule::Prefetch => {
                let kept_before = self.kept();
                self.held = self.held.saturating_add(1);
                // Its own credit goes back unless it is one more kept.
                1 - (self.kept() - kept_before)
            }
            CreditRule::OnCompletion => 0,
        }
    }

    /// A held event that arrived under `rule` completed; returns the credit to hand back now.
    pub(crate) fn completed(&mut self, rule: CreditRule) -> u32 {
        match rule {
            CreditRule::Prefetch => {
                let kept_before = self.kept();
                self.held = self.held.saturating_sub(1);
                kept_before - self.kept()
            }
            CreditRule::OnCompletion => 1,
        }
    }

    /// Events arrived under [`CreditRule::Prefetch`] and not completed.
    #[cfg(test)]
    pub(crate) fn held(&self) -> u32 {
        self.held
    }

    /// Credit of held events not yet returned: the held events beyond the prefetch.
    fn kept(&self) -> u32 {
        self.held.saturating_sub(self.prefetch)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{CreditReturn, CreditRule};

    const P: CreditRule = CreditRule::Prefetch;

    #[test]
    fn below_the_prefetch_credit_goes_back_on_arrival_and_beyond_it_on_completion() {
        let mut credit = CreditReturn::new(2);
        assert_eq!(credit.arrived(P), 1);
        assert_eq!(credit.arrived(P), 1);
        assert_eq!(credit.arrived(P), 0, "a third event is over the prefetch");
        assert_eq!(credit.arrived(P), 0);
        assert_eq!(credit.held(), 4);
        assert_eq!(credit.completed(P), 1, "one held event's credit goes back");
        assert_eq!(credit.completed(P), 1);
        assert_eq!(
            credit.completed(P),
            0,
            "the rest went back when they arrived"
        );
        assert_eq!(credit.completed(P), 0);
        assert_eq!(credit.held(), 0);
    }

    #[test]
    fn a_prefetch_of_zero_returns_credit_only_on_completion() {
        let mut credit = CreditReturn::new(0);
        assert_eq!(credit.arrived(P), 0);
        assert_eq!(credit.arrived(P), 0);
        assert_eq!(credit.completed(P), 1);
        assert_eq!(credit.completed(P), 1);
    }

    proptest! {
        /// Over any arrivals and completions, in any order and under either rule: no credit
        /// goes back twice or before its event arrived, every event's credit is back once
        /// everything completed, and what is kept back is exactly the prefetched events over
        /// the prefetch plus every event under `OnCompletion`; with a prefetch of 0 nothing
        /// goes back before its completion.
        #[test]
        fn every_event_returns_its_credit_exactly_once_and_the_excess_is_kept(
            prefetch in 0u32..8,
            steps in proptest::collection::vec(
                (any::<bool>(), any::<bool>(), any::<usize>()),
                0..200,
            ),
        ) {
            let mut credit = CreditReturn::new(prefetch);
            let mut held: Vec<CreditRule> = Vec::new();
            let (mut arrived, mut completed, mut returned) = (0u32, 0u32, 0u32);
            for (arrive, paced, pick) in steps {
                if arrive || held.is_empty() {
                    let rule = if paced { CreditRule::OnCompletion } else { P };
                    arrived += 1;
                    let back = credit.arrived(rule);
                    if rule == CreditRule::OnCompletion {
                        prop_assert_eq!(back, 0);
                    }
                    returned += back;
                    held.push(rule);
                } else {
                    let rule = held.swap_remove(pick % held.len());
                    completed += 1;
                    returned += credit.completed(rule);
                }
                let prefetched =
                    u32::try_from(held.iter().filter(|rule| **rule == P).count()).unwrap();
                let paced = u32::try_from(held.len()).unwrap() - prefetched;
                prop_assert_eq!(credit.held(), prefetched);
                prop_assert!(returned <= arrived);
                prop_assert_eq!(arrived - returned, prefetched.saturating_sub(prefetch) + paced);
                if prefetch == 0 {
                    prop_assert_eq!(returned, completed);
                }
            }
            for rule in held.drain(..) {
                returned += credit.completed(rule);
            }
            prop_assert_eq!(returned, arrived);
        }
    }
}
