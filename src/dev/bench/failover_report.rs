//! The bookkeeping and the figures of `bench failover`: each round's failover times, the
//! outcome of each RoutingRequested against its 60-second window, the messages lost, and the
//! report that prints them. Pure: it measures nothing and starts nothing.

use std::fmt;
use std::time::Duration;

use super::percentile;

/// Salesforce's routing window, counted from a request's `CreatedDate`, in milliseconds.
pub(super) const WINDOW_MS: u64 = 60_000;
/// A request received at least this long before its deadline must be answered (the target).
pub(super) const ANSWERABLE_MS: u64 = 15_000;

/// How a round takes its leader down, and when its replacement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, and a replacement replica started at once (a container restarted in place):
    /// the replacement stands by during the failover.
    Kill,
    /// SIGKILL, and the replacement started only once another replica leads (a node lost):
    /// only the two survivors can take over.
    KillNodeLost,
    /// SIGSTOP, SIGCONT once another replica leads (it must then exit non-zero), and the
    /// replacement started after that.
    Stop,
}

impl Fault {
    /// The fault of round `round` (from 0): the three in turn.
    pub fn for_round(round: usize) -> Self {
        match round % 3 {
            0 => Self::Kill,
            1 => Self::KillNodeLost,
            _ => Self::Stop,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill | Self::KillNodeLost => "SIGKILL",
            Self::Stop => "SIGSTOP",
        }
    }

    /// Whether the replacement starts right after the signal, before the failover.
    pub fn replaced_at_once(self) -> bool {
        self == Self::Kill
    }
}

/// One leader failure and what followed it.
#[derive(Debug, Clone)]
pub struct Round {
    /// How the leader was taken down.
    pub fault: Fault,
    /// The replica that led before the signal.
    pub old_leader: String,
    /// The replica that led after it, when one did within the bench's limit.
    pub new_leader: Option<String>,
    /// Signal → another replica's `/metrics` says `byoc_ha_leader 1`.
    pub to_leader: Option<Duration>,
    /// Signal → the first arrival at the partner of a message published after the signal.
    pub to_delivery: Option<Duration>,
    /// How a SIGSTOPped leader ended after its SIGCONT.
    pub resumed: Option<String>,
    /// The 1-minute load average when the round started.
    pub load: f64,
}

/// p50, p99 and max of some durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// How many durations.
    pub count: usize,
    /// The median (the upper one of an even count).
    pub p50: Duration,
    /// The 99th percentile: the largest of fewer than 100.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Spread {
    /// The spread of the known durations among `values`.
    pub fn of(values: impl IntoIterator<Item = Option<Duration>>) -> Self {
        let mut sorted: Vec<Duration> = values.into_iter().flatten().collect();
        sorted.sort_unstable();
        Self {
            count: sorted.len(),
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.2} s, p99 {:.2} s, max {:.2} s ({} rounds)",
            self.p50.as_secs_f64(),
            self.p99.as_secs_f64(),
            self.max.as_secs_f64(),
            self.count
        )
    }
}

/// What the bench knows about one RoutingRequested once the run is over. Times are epoch
/// milliseconds on this machine's clock, which the fake shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// Its conversation, for the report.
    pub conversation: String,
    /// Its `CreatedDate`; the deadline is 60 s later.
    pub created_ms: u64,
    /// When the fake received each accepted (2xx) routingResult for it.
    pub accepted_ms: Vec<u64>,
    /// The latest time the connector can have received it, when known: the first delivery of
    /// a message published after it (the stream is in order) or its first routingResult call.
    pub received_by_ms: Option<u64>,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exactly one accepted routingResult, inside the window.
    Answered,
    /// More than one accepted routingResult, at least one inside the window.
    Repeated,
    /// No accepted routingResult inside the window. `answerable`: it was received at least
    /// 15 s before its deadline, or when it was received is unknown (counted against the
    /// target).
    Missed {
        /// Whether the target holds the connector to answering it.
        answerable: bool,
    },
}

impl RequestFacts {
    /// The request's deadline.
    pub fn deadline_ms(&self) -> u64 {
        self.created_ms + WINDOW_MS
    }

    /// How it ended.
    pub fn outcome(&self) -> Outcome {
        let deadline = self.deadline_ms();
        let in_window = self.accepted_ms.iter().filter(|at| **at < deadline).count();
        if in_window == 0 {
            let answerable = self
                .received_by_ms
                .is_none_or(|received| received + ANSWERABLE_MS <= deadline);
            Outcome::Missed { answerable }
        } else if self.accepted_ms.len() > 1 {
            Outcome::Repeated
        } else {
            Outcome::Answered
        }
    }
}

/// The routing requests of a run, counted by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingTally {
    /// RoutingRequested published.
    pub requested: u64,
    /// Exactly one accepted routingResult inside the window.
    pub answered: u64,
    /// More than one accepted routingResult.
    pub repeated: u64,
    /// Missed though received at least 15 s before the deadline (or when unknown).
    pub missed_answerable: u64,
    /// Missed, received less than 15 s before the deadline.
    pub missed_late_arrival: u64,
    /// Accepted routingResults that reached the fake after their request's deadline.
    pub late_answers: u64,
    /// The latest a request was received, counted back from its deadline: the least slack.
    pub least_slack: Option<Duration>,
    /// The conversations of the repeated and missed requests, for the report.
    pub exceptions: Vec<String>,
}

impl RoutingTally {
    /// Counts `requests`.
    pub fn of(requests: &[RequestFacts]) -> Self {
        let mut tally = Self {
            requested: requests.len() as u64,
            ..Self::default()
        };
        for request in requests {
            let deadline = request.deadline_ms();
            tally.late_answers += request
                .accepted_ms
                .iter()
                .filter(|at| **at >= deadline)
                .count() as u64;
            if let Some(received) = request.received_by_ms {
                let slack = Duration::from_millis(deadline.saturating_sub(received));
                tally.least_slack = Some(tally.least_slack.map_or(slack, |least| least.min(slack)));
            }
            let outcome = request.outcome();
            match outcome {
                Outcome::Answered => tally.answered += 1,
                Outcome::Repeated => tally.repeated += 1,
                Outcome::Missed { answerable: true } => tally.missed_answerable += 1,
                Outcome::Missed { answerable: false } => tally.missed_late_arrival += 1,
            }
            if outcome != Outcome::Answered {
                tally.exceptions.push(format!(
                    "{}: {outcome:?}, {} accepted",
                    request.conversation,
                    request.accepted_ms.len()
                ));
            }
        }
        tally
    }
}

/// The messages of a run: published, and what the partner received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTally {
    /// Messages published.
    pub published: u64,
    /// Distinct messages the partner received.
    pub delivered: u64,
    /// Deliveries beyond the first of a message (redelivered after a failover).
    pub duplicates: u64,
    /// The sequence numbers of messages that never arrived (the first few).
    pub lost: Vec<u64>,
    /// How many never arrived.
    pub lost_count: u64,
}

/// How many lost sequence numbers the report names.
const LOST_NAMED: usize = 10;

impl MessageTally {
    /// The tally of `published` messages numbered from 0, given whether each arrived and how
    /// many deliveries the partner counted in all.
    pub fn of(published: u64, arrived: impl Fn(u64) -> bool, deliveries: u64) -> Self {
        let missing: Vec<u64> = (0..published).filter(|seq| !arrived(*seq)).collect();
        let delivered = published - missing.len() as u64;
        Self {
            published,
            delivered,
            duplicates: deliveries.saturating_sub(delivered),
            lost_count: missing.len() as u64,
            lost: missing.into_iter().take(LOST_NAMED).collect(),
        }
    }
}

/// The figures of one `bench failover` run.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    /// What was published and how the replicas were set up.
    pub setup: String,
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// The messages.
    pub messages: MessageTally,
    /// The routing requests.
    pub routing: RoutingTally,
    /// `uname -srm`, CPU model and count.
    pub machine: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `uptime` at the start and at the end: the machine is shared.
    pub load: (String, String),
    /// Where the replicas' logs are, when kept.
    pub logs: Option<String>,
}

impl FailoverReport {
    /// Signal → first delivery of a message published after it, over the rounds.
    pub fn to_delivery(&self) -> Spread {
        Spread::of(self.rounds.iter().map(|round| round.to_delivery))
    }

    /// Signal → another replica's `byoc_ha_leader 1`, over the rounds.
    pub fn to_leader(&self) -> Spread {
        Spread::of(self.rounds.iter().map(|round| round.to_leader))
    }
}

fn seconds(value: Option<Duration>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |value| format!("{:.2} s", value.as_secs_f64()),
    )
}

impl fmt::Display for FailoverReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench failover: separate processes, TLS, PostgreSQL store, ha.takeover_secs default"
        )?;
        writeln!(f, "  machine: {}", self.machine)?;
        writeln!(f, "  date:    {}", self.date)?;
        writeln!(f, "  load:    start {}", self.load.0)?;
        writeln!(f, "           end   {}", self.load.1)?;
        writeln!(f, "  setup:   {}", self.setup)?;
        writeln!(
            f,
            "  round  fault    replaced  old leader -> new leader     to leader  to delivery  load1  \
             resumed"
        )?;
        for (index, round) in self.rounds.iter().enumerate() {
            writeln!(
                f,
                "  {:>5}  {:<7}  {:<8}  {:>10} -> {:<15} {:>9}  {:>11}  {:>5.2}  {}",
                index + 1,
                round.fault.name(),
                if round.fault.replaced_at_once() {
                    "at once"
                } else {
                    "after"
                },
                round.old_leader,
                round.new_leader.as_deref().unwrap_or("none"),
                seconds(round.to_leader),
                seconds(round.to_delivery),
                round.load,
                round.resumed.as_deref().unwrap_or("")
            )?;
        }
        let without = self
            .rounds
            .iter()
            .filter(|round| round.to_delivery.is_none())
            .count();
        writeln!(
            f,
            "  failover, signal -> first delivery of a message published after it: {}{}",
            self.to_delivery(),
            if without > 0 {
                format!("; {without} rounds without one")
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "  signal -> byoc_ha_leader 1 on another replica:                      {}",
            self.to_leader()
        )?;
        let messages = &self.messages;
        writeln!(
            f,
            "  messages: {} published, {} delivered at least once, {} lost{}, {} duplicate deliveries",
            messages.published,
            messages.delivered,
            messages.lost_count,
            if messages.lost.is_empty() {
                String::new()
            } else {
                format!(" (first: {:?})", messages.lost)
            },
            messages.duplicates
        )?;
        let routing = &self.routing;
        writeln!(
            f,
            "  routing: {} RoutingRequested, {} with exactly one accepted routingResult inside \
             the window",
            routing.requested, routing.answered
        )?;
        writeln!(
            f,
            "    misses: {} received >= 15 s before the deadline, {} later; repeats: {}; \
             accepted after the deadline: {}; least slack at receipt: {}",
            routing.missed_answerable,
            routing.missed_late_arrival,
            routing.repeated,
            routing.late_answers,
            seconds(routing.least_slack)
        )?;
        for exception in &routing.exceptions {
            writeln!(f, "    {exception}")?;
        }
        if let Some(logs) = &self.logs {
            writeln!(f, "  replica logs kept in {logs}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(created_ms: u64, accepted_ms: &[u64], received_by_ms: Option<u64>) -> RequestFacts {
        RequestFacts {
            conversation: format!("c-{created_ms}"),
            created_ms,
            accepted_ms: accepted_ms.to_vec(),
            received_by_ms,
        }
    }

    #[test]
    fn a_request_is_answered_repeated_or_missed_by_its_accepted_results_and_its_receipt() {
        let at = 1_000_000;
        let answered = request(at, &[at + 12_000], Some(at + 11_000));
        assert_eq!(answered.outcome(), Outcome::Answered);
        let repeated = request(at, &[at + 100, at + 9_000], Some(at + 50));
        assert_eq!(repeated.outcome(), Outcome::Repeated);
        // Answered only after the deadline: a miss, and the target holds it (received early).
        let late = request(at, &[at + WINDOW_MS], Some(at + 20_000));
        assert_eq!(late.outcome(), Outcome::Missed { answerable: true });
        // Received 15 s before the deadline exactly is still the connector's to answer.
        let edge = request(at, &[], Some(at + WINDOW_MS - ANSWERABLE_MS));
        assert_eq!(edge.outcome(), Outcome::Missed { answerable: true });
        let too_late = request(at, &[], Some(at + WINDOW_MS - ANSWERABLE_MS + 1));
        assert_eq!(too_late.outcome(), Outcome::Missed { answerable: false });
        // Never seen to be received: counted against the target.
        let unknown = request(at, &[], None);
        assert_eq!(unknown.outcome(), Outcome::Missed { answerable: true });
    }

    #[test]
    fn the_tally_counts_outcomes_late_answers_and_the_least_slack() {
        let at = 5_000_000;
        let tally = RoutingTally::of(&[
            request(at, &[at + 10], Some(at + 5)),
            request(at, &[at + 10, at + 8_000], Some(at + 5)),
            request(at, &[at + 61_000], Some(at + 9_000)),
            request(at, &[], Some(at + 50_000)),
        ]);
        assert_eq!(tally.requested, 4);
        assert_eq!(tally.answered, 1);
        assert_eq!(tally.repeated, 1);
        assert_eq!(tally.missed_answerable, 1);
        assert_eq!(tally.missed_late_arrival, 1);
        assert_eq!(tally.late_answers, 1);
        assert_eq!(tally.least_slack, Some(Duration::from_secs(10)));
        assert_eq!(tally.exceptions.len(), 3);
    }

    #[test]
    fn messages_never_arrived_are_lost_and_extra_deliveries_are_duplicates() {
        let tally = MessageTally::of(30, |seq| seq != 3 && seq < 20, 25);
        assert_eq!(tally.published, 30);
        assert_eq!(tally.delivered, 19);
        assert_eq!(tally.lost_count, 11);
        assert_eq!(tally.lost, vec![3, 20, 21, 22, 23, 24, 25, 26, 27, 28]);
        assert_eq!(tally.duplicates, 6);
    }

    #[test]
    fn the_spread_skips_rounds_without_a_figure_and_p99_of_few_is_the_largest() {
        let spread = Spread::of(
            [8, 6, 10, 7, 9]
                .map(|secs| Some(Duration::from_secs(secs)))
                .into_iter()
                .chain([None]),
        );
        assert_eq!(spread.count, 5);
        assert_eq!(spread.p50, Duration::from_secs(8));
        assert_eq!(spread.p99, Duration::from_secs(10));
        assert_eq!(spread.max, Duration::from_secs(10));
        assert_eq!(Spread::of([None]).count, 0);
    }

    #[test]
    fn rounds_take_turns_killing_with_a_replacement_at_once_or_after_and_pausing() {
        let faults: Vec<Fault> = (0..6).map(Fault::for_round).collect();
        assert_eq!(
            faults,
            [
                Fault::Kill,
                Fault::KillNodeLost,
                Fault::Stop,
                Fault::Kill,
                Fault::KillNodeLost,
                Fault::Stop
            ]
        );
        assert!(Fault::Kill.replaced_at_once());
        assert!(!Fault::KillNodeLost.replaced_at_once());
        assert_eq!(Fault::KillNodeLost.name(), "SIGKILL");
    }

    #[test]
    fn the_report_names_each_round_and_the_routing_exceptions() {
        let round = |fault, to_delivery| Round {
            fault,
            old_leader: "replica-0".to_owned(),
            new_leader: Some("replica-2".to_owned()),
            to_leader: Some(Duration::from_millis(7_500)),
            to_delivery,
            resumed: (fault == Fault::Stop).then(|| "exit status: 1".to_owned()),
            load: 2.5,
        };
        let at = 1_000;
        let report = FailoverReport {
            setup: "3 replicas".to_owned(),
            rounds: vec![
                round(Fault::Kill, Some(Duration::from_millis(7_800))),
                round(Fault::Stop, None),
            ],
            messages: MessageTally::of(10, |_| true, 12),
            routing: RoutingTally::of(&[request(at, &[], Some(at + 1))]),
            machine: "m".to_owned(),
            date: "d".to_owned(),
            load: ("l0".to_owned(), "l1".to_owned()),
            logs: None,
        };
        let text = report.to_string();
        assert!(text.contains("SIGKILL  at once"), "{text}");
        assert!(text.contains("SIGSTOP  after"), "{text}");
        assert!(text.contains("SIGSTOP"), "{text}");
        assert!(text.contains("exit status: 1"), "{text}");
        assert!(text.contains("1 rounds without one"), "{text}");
        assert!(text.contains("0 lost, 2 duplicate deliveries"), "{text}");
        assert!(
            text.contains("c-1000: Missed { answerable: true }"),
            "{text}"
        );
        assert_eq!(report.to_delivery().count, 1);
    }
}
