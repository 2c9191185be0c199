//! The soak's checks, run once everything is quiet: what was published against what the
//! partner received and what the fake's Interaction Service recorded. It returns the summary
//! lines and every violation found; it injects nothing and waits for nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use fake_salesforce::interaction_service::RecordedCall;
use fake_salesforce::routing_window::WindowReport;

use crate::chaos::ChaosReport;
use crate::partner::{plan_for, PartnerLog, Plan};

/// Salesforce's routing window.
const WINDOW_MS: u64 = 60_000;
/// Requests that reached the connector at least this long before their deadline must get
/// exactly one accepted routingResult inside the window.
const MUST_ANSWER_MARGIN_MS: u64 = 15_000;
/// The start of the connector's own answer when the partner decides nothing in time.
const TIMEOUT_MESSAGE: &str = "the partner made no routing decision";
/// At most this many violations of one kind are listed; the rest are counted.
const LISTED: usize = 10;

/// One message the soak published.
#[derive(Debug, Clone)]
pub struct PublishedMessage {
    pub conversation: String,
    pub replay_id: u64,
}

/// One RoutingRequested the soak published.
#[derive(Debug, Clone)]
pub struct PublishedRouting {
    pub conversation: String,
    pub created_ms: u64,
}

/// Everything the soak published.
#[derive(Debug, Default)]
pub struct Published {
    /// By `seq`.
    pub messages: BTreeMap<u64, PublishedMessage>,
    /// By `channelData.eventId`.
    pub routing: BTreeMap<String, PublishedRouting>,
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub summary: Vec<String>,
    pub violations: Vec<String>,
}

/// Violations of one kind, listed up to [`LISTED`].
#[derive(Default)]
struct Found {
    listed: Vec<String>,
    count: usize,
}

impl Found {
    fn add(&mut self, violation: String) {
        self.count += 1;
        if self.listed.len() < LISTED {
            self.listed.push(violation);
        }
    }

    fn into_lines(self, kind: &str, out: &mut Vec<String>) {
        out.extend(
            self.listed
                .into_iter()
                .map(|line| format!("{kind}: {line}")),
        );
        if self.count > LISTED {
            out.push(format!("{kind}: … and {} more", self.count - LISTED));
        }
    }
}

/// Checks G1–G3 on the messages the partner received.
pub fn judge_messages(published: &Published, partner: &PartnerLog, verdict: &mut Verdict) {
    let (mut missing, mut order, mut keys) = (Found::default(), Found::default(), Found::default());
    let mut accepted_per_seq: HashMap<u64, u32> = HashMap::new();
    let mut key_per_seq: HashMap<u64, &str> = HashMap::new();
    let mut seq_per_key: HashMap<&str, u64> = HashMap::new();
    let mut last_replay: HashMap<&str, u64> = HashMap::new();
    let (mut attempts, mut refused, mut foreign) = (0_u64, 0_u64, 0_u64);
    for delivery in &partner.deliveries {
        let Some(seq) = delivery
            .seq
            .filter(|seq| published.messages.contains_key(seq))
        else {
            foreign += 1;
            continue;
        };
        attempts += 1;
        let expected = &published.messages[&seq];
        match key_per_seq.insert(seq, &delivery.key) {
            Some(earlier) if earlier != delivery.key => keys.add(format!(
                "seq {seq} came with Idempotency-Key {earlier} and later {}",
                delivery.key
            )),
            _ => {}
        }
        if let Some(other) = seq_per_key
            .insert(&delivery.key, seq)
            .filter(|other| *other != seq)
        {
            keys.add(format!(
                "seq {seq} and seq {other} share Idempotency-Key {}",
                delivery.key
            ));
        }
        if delivery.replay_id != Some(expected.replay_id)
            || delivery.conversation != expected.conversation
        {
            order.add(format!(
                "seq {seq} arrived as replay {:?} of {}, published as replay {} of {}",
                delivery.replay_id,
                delivery.conversation,
                expected.replay_id,
                expected.conversation
            ));
        }
        if !delivery.accepted {
            refused += 1;
            continue;
        }
        let count = accepted_per_seq.entry(seq).or_default();
        *count += 1;
        if *count == 1 {
            let last = last_replay.entry(&expected.conversation).or_default();
            if expected.replay_id <= *last {
                order.add(format!(
                    "conversation {}: replay {} was first delivered after replay {}",
                    expected.conversation, expected.replay_id, last
                ));
            }
            *last = (*last).max(expected.replay_id);
        }
    }
    for (seq, message) in &published.messages {
        if !accepted_per_seq.contains_key(seq) {
            missing.add(format!(
                "seq {seq} (replay {}, conversation {}) was never accepted by the partner",
                message.replay_id, message.conversation
            ));
        }
    }
    let duplicates: u64 = accepted_per_seq
        .values()
        .map(|count| u64::from(count - 1))
        .sum();
    let conversations: BTreeSet<&str> = published
        .messages
        .values()
        .map(|message| message.conversation.as_str())
        .collect();
    verdict.summary.push(format!(
        "messages: {} published in {} conversations, {} delivered at least once, {} duplicate deliveries, {} attempts refused by partner faults, {} other deliveries (fake's own entries)",
        published.messages.len(),
        conversations.len(),
        accepted_per_seq.len(),
        duplicates,
        refused,
        foreign
    ));
    verdict
        .summary
        .push(format!("delivery attempts of soak messages: {attempts}"));
    missing.into_lines("G1 lost", &mut verdict.violations);
    order.into_lines("G2 order", &mut verdict.violations);
    keys.into_lines("G3 idempotency key", &mut verdict.violations);
}

/// Checks G4 on the routing requests: exactly one accepted routingResult inside the window.
pub fn judge_routing(
    seed: u64,
    published: &Published,
    partner: &PartnerLog,
    calls: &[RecordedCall],
    chaos: &ChaosReport,
    window: Option<&WindowReport>,
    verdict: &mut Verdict,
) {
    let mut found = Found::default();
    let (mut must, mut late_arrivals, mut reposted) = (0_u32, 0_u32, 0_u32);
    let mut answered_by: BTreeMap<&str, u32> = BTreeMap::new();
    for (event_id, request) in &published.routing {
        let deadline = request.created_ms + WINDOW_MS;
        let asks: Vec<_> = partner
            .asks
            .iter()
            .filter(|ask| ask.event_id == *event_id)
            .collect();
        let posted: Vec<&RecordedCall> = calls
            .iter()
            .filter(|call| call.body["conversationIdentifier"] == request.conversation.as_str())
            .collect();
        let accepted: Vec<&RecordedCall> = posted
            .iter()
            .copied()
            .filter(|call| (200..300).contains(&call.status))
            .collect();
        let arrival = asks
            .iter()
            .map(|ask| ask.at_ms)
            .chain(posted.iter().map(|call| call.received_at_ms))
            .min();
        let Some(arrival) = arrival else {
            found.add(format!(
                "{event_id}: never reached routing (no partner ask, no routingResult)"
            ));
            continue;
        };
        if asks.iter().any(|ask| ask.key != asks[0].key) {
            found.add(format!(
                "{event_id}: the partner was asked with different Idempotency-Keys"
            ));
        }
        if accepted.iter().any(|call| call.body != accepted[0].body) {
            found.add(format!(
                "{event_id}: accepted routingResults carry different answers"
            ));
        }
        for call in accepted
            .iter()
            .filter(|call| call.received_at_ms >= deadline)
        {
            found.add(format!(
                "{event_id}: routingResult accepted {} ms after the deadline",
                call.received_at_ms - deadline
            ));
        }
        if arrival + MUST_ANSWER_MARGIN_MS <= deadline {
            must += 1;
            if accepted.is_empty() {
                found.add(format!(
                    "{event_id}: reached the connector {} s before its deadline, no routingResult accepted ({} refused)",
                    (deadline - arrival) / 1000,
                    posted.len()
                ));
            }
        } else {
            late_arrivals += 1;
        }
        if accepted.len() > 1 {
            let (first, last) = (
                accepted[0].received_at_ms,
                accepted[accepted.len() - 1].received_at_ms,
            );
            let killed_between = chaos
                .kills_ms
                .iter()
                .any(|kill| (first..=last).contains(kill));
            if killed_between && accepted.iter().all(|call| call.body == accepted[0].body) {
                reposted += 1;
            } else {
                found.add(format!(
                    "{event_id}: {} routingResults accepted",
                    accepted.len()
                ));
            }
        }
        if let Some(first) = accepted.first() {
            let message = first.body["errorMessage"].as_str().unwrap_or_default();
            let by = if message.starts_with(TIMEOUT_MESSAGE) {
                "the connector's decision timeout"
            } else {
                let (plan, decision) = plan_for(seed, event_id);
                if first.body["success"] != decision["success"] {
                    found.add(format!(
                        "{event_id}: posted {} but the partner decided {decision}",
                        first.body
                    ));
                }
                match plan {
                    Plan::Now => "the partner's 200",
                    Plan::Later(_) => "the partner's sidecar decision",
                    Plan::Never => "an answer nobody gave",
                }
            };
            *answered_by.entry(by).or_default() += 1;
        }
    }
    let refused = calls
        .iter()
        .filter(|call| !(200..300).contains(&call.status))
        .count();
    verdict.summary.push(format!(
        "routing: {} RoutingRequested published, {must} reached the connector ≥ 15 s before the deadline, {late_arrivals} later; {} routingResult calls ({refused} refused by injected faults)",
        published.routing.len(),
        calls.len()
    ));
    verdict.summary.push(format!(
        "routing: the partner was asked {} times ({} answered 503 by partner faults)",
        partner.asks.len(),
        partner.asks.iter().filter(|ask| ask.status == 503).count()
    ));
    verdict
        .summary
        .push(format!("routing answered by: {answered_by:?}"));
    verdict.summary.push(format!(
        "routing: {reposted} requests re-posted with the same answer after a SIGKILL between Salesforce accepting the post and the connector recording it"
    ));
    let sidecar: BTreeMap<String, u32> =
        partner
            .sidecar
            .iter()
            .fold(BTreeMap::new(), |mut counts, (_, status)| {
                *counts
                    .entry(status.map_or("gave up".to_owned(), |status| status.to_string()))
                    .or_default() += 1;
                counts
            });
    verdict
        .summary
        .push(format!("sidecar decisions by final status: {sidecar:?}"));
    if let Some(window) = window {
        verdict.summary.push(format!(
            "fake's routing window: {} tracked, {} answered in time, {} timed out, {} late",
            window.tracked.len(),
            window.answered.len(),
            window.timed_out.len(),
            window.late.len()
        ));
    }
    found.into_lines("G4 routing", &mut verdict.violations);
}
