//! Chaos through real processes: three `byoc-connector run` replicas of one channel on a real
//! PostgreSQL, one fake Salesforce, a stream of messages and routing requests, and the leader
//! SIGKILLed and SIGSTOPped again and again. Afterwards nothing is lost, each conversation's
//! messages reached the partner in order, and every routing request got exactly one accepted
//! routingResult inside its window — or, when the leader that posted it was signalled before
//! it could record the acceptance, the same answer once more from the new leader (a post and
//! its record cannot be one atomic step; `connector::routing_crash` pins the same case for a
//! single process). Failover times are printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::{
    epoch_ms, message_event, routing_request_payload, routing_requested_event, wait_until,
    ConnectorProcess, Partner as DeliveryPartner, ScratchDir,
};
use crate::support::routing::{Partner, PartnerReply};
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use serde_json::json;
use tokio::time::Instant;

use super::{fresh_namespace, leads, replica_config};

/// Replicas running at any time.
const REPLICAS: usize = 3;
/// Leader failures: SIGKILL and SIGSTOP alternate.
const ROUNDS: usize = 6;
/// Conversations the messages are spread over.
const CONVERSATIONS: u64 = 4;
/// Longest one failover may take before the test gives up: takeover plus subscribing.
const FAILOVER_LIMIT: Duration = Duration::from_secs(15);
/// Longest everything published may take to arrive after the chaos.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How close to a leader's signal an accepted routingResult must be for the new leader to
/// repeat it: the old leader had posted, and the signal landed before it recorded the answer.
/// Recording takes one store commit, milliseconds here; the slack covers a loaded machine.
const UNRECORDED_POST_SLACK: Duration = Duration::from_secs(1);

/// The index of the replica that leads now, if exactly one answers that it does; `skip` (a
/// stopped replica, which cannot answer) is not asked.
async fn leader(replicas: &[Option<ConnectorProcess>], skip: Option<usize>) -> Option<usize> {
    let mut leaders = Vec::new();
    for (index, replica) in replicas.iter().enumerate() {
        if Some(index) == skip {
            continue;
        }
        if let Some(replica) = replica {
            if leads(&replica.metrics().await) {
                leaders.push(index);
            }
        }
    }
    (leaders.len() == 1).then(|| leaders[0])
}

/// Waits until some replica other than `old` leads; how long that took.
async fn failover(
    replicas: &[Option<ConnectorProcess>],
    old: usize,
    since: Instant,
) -> (usize, Duration) {
    loop {
        if let Some(new) = leader(replicas, Some(old)).await {
            return (new, since.elapsed());
        }
        assert!(
            since.elapsed() < FAILOVER_LIMIT,
            "no replica took over within {FAILOVER_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaders_killed_and_paused_repeatedly_lose_nothing_and_answer_each_routing_request_once() {
    let namespace = fresh_namespace();
    let fake = Arc::new(start_fake(false, PubSubFakeConfig::default()).await);
    let deliveries = DeliveryPartner::accepting().await;
    let routing_partner = Partner::always(PartnerReply::decide(
        json!({"success": true, "externallyRouted": false}),
    ))
    .await;
    let dir = ScratchDir::new("ha-chaos");
    let configs: Vec<PathBuf> = (0..REPLICAS + 2 * ROUNDS)
        .map(|index| {
            replica_config(
                &fake,
                dir.path(),
                &deliveries.url,
                &routing_partner.url,
                &namespace,
                index,
            )
        })
        .collect();
    let mut next_config = configs.iter();
    let mut replicas: Vec<Option<ConnectorProcess>> = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(Some(
            ConnectorProcess::start(next_config.next().unwrap()).await,
        ));
    }
    let started = Instant::now();
    while leader(&replicas, None).await.is_none() {
        assert!(started.elapsed() < FAILOVER_LIMIT, "nobody leads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Messages and routing requests keep coming during the chaos.
    let publishing = Arc::new(AtomicBool::new(true));
    let routing_requests: Arc<std::sync::Mutex<Vec<(String, i64)>>> = Arc::default();
    let publisher = {
        let (fake, publishing, routing_requests) =
            (fake.clone(), publishing.clone(), routing_requests.clone());
        tokio::spawn(async move {
            let mut seq = 0_u64;
            while publishing.load(Ordering::SeqCst) {
                seq += 1;
                let conversation = format!("chaos-conversation-{}", seq % CONVERSATIONS);
                fake.publish(&[message_event(&conversation, seq)]).unwrap();
                if seq.is_multiple_of(10) {
                    let routed = format!("2a0c6c2e-1f43-4d1e-9f61-{seq:012}");
                    let work_item = format!("0Mw{seq:012}");
                    fake.interaction().seed_conversation(&routed, &work_item);
                    let event_id = format!("e2e00009-0000-4000-8000-{seq:012}");
                    let payload = routing_request_payload("queue", &routed, &event_id);
                    let created = epoch_ms();
                    fake.publish(&[routing_requested_event(&payload, created)])
                        .unwrap();
                    routing_requests.lock().unwrap().push((routed, created));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seq
        })
    };

    let mut failovers = Vec::new();
    let mut signals = Vec::new();
    for round in 0..ROUNDS {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let old = leader(&replicas, None).await.expect("one leader");
        let since = Instant::now();
        signals.push(since);
        if round % 2 == 0 {
            replicas[old].take().unwrap().kill().await;
            let (_, took) = failover(&replicas, old, since).await;
            failovers.push(("SIGKILL", took));
        } else {
            replicas[old].as_ref().unwrap().signal("STOP");
            let (_, took) = failover(&replicas, old, since).await;
            failovers.push(("SIGSTOP", took));
            let paused = replicas[old].take().unwrap();
            paused.signal("CONT");
            // Resumed, it finds its lease gone and exits non-zero without acting.
            let status = paused.exit_within(Duration::from_secs(10)).await;
            assert!(
                !status.success(),
                "a replica that lost its lease exits non-zero"
            );
        }
        replicas[old] = Some(ConnectorProcess::start(next_config.next().unwrap()).await);
    }
    publishing.store(false, Ordering::SeqCst);
    let published_count = publisher.await.unwrap();

    // Nothing lost: every message arrives, at least once.
    wait_until("every message is delivered", SETTLE_LIMIT, || {
        deliveries.distinct_seqs().len() as u64 == published_count
    })
    .await;
    // Order per conversation: the first delivery of each message comes after the first
    // delivery of every earlier message of its conversation.
    let mut seen = BTreeSet::new();
    let mut last_per_conversation: BTreeMap<String, u64> = BTreeMap::new();
    for received in deliveries.received() {
        let Some(seq) = received.seq else { continue };
        if !seen.insert(seq) {
            continue;
        }
        let last = last_per_conversation
            .entry(received.conversation.clone())
            .or_default();
        assert!(
            seq > *last,
            "{}: {seq} arrived after {last}",
            received.conversation
        );
        *last = seq;
    }
    // Every routing request: exactly one accepted routingResult, inside its window.
    let requests = routing_requests.lock().unwrap().clone();
    wait_until("every routing request is answered", SETTLE_LIMIT, || {
        let calls = fake.interaction().calls_to("routingResult");
        requests.iter().all(|(conversation, _)| {
            calls
                .iter()
                .any(|call| call.body["conversationIdentifier"] == conversation.as_str())
        })
    })
    .await;
    let calls = fake.interaction().calls_to("routingResult");
    for (conversation, created_ms) in &requests {
        let answers: Vec<_> = calls
            .iter()
            .filter(|call| call.body["conversationIdentifier"] == conversation.as_str())
            .collect();
        let accepted: Vec<_> = answers
            .iter()
            .filter(|call| (200..300).contains(&call.status))
            .collect();
        assert!(!accepted.is_empty(), "{conversation}: {answers:?}");
        // A repeat is the same answer, after a signal that cut off the previous post's record.
        for pair in accepted.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            assert_eq!(
                later.body, earlier.body,
                "{conversation}: a repeated routingResult carries the same answer"
            );
            let cut_off = signals.iter().any(|signal| {
                signal.saturating_duration_since(earlier.received_at) <= UNRECORDED_POST_SLACK
                    && earlier.received_at.saturating_duration_since(*signal)
                        <= UNRECORDED_POST_SLACK
                    && later.received_at > *signal
            });
            assert!(
                cut_off,
                "{conversation}: a second accepted routingResult without a leader signalled \
                 right after the first: {answers:?}"
            );
        }
        for call in &answers {
            let age_ms = i64::try_from(call.received_at_ms).unwrap() - created_ms;
            assert!(
                age_ms < 60_000,
                "{conversation}: answered {age_ms} ms after CreatedDate"
            );
        }
    }
    for (kind, took) in &failovers {
        println!("failover after {kind}: {} ms", took.as_millis());
    }
    println!(
        "{published_count} messages, {} routing requests, {ROUNDS} leader failures",
        requests.len()
    );
    for replica in replicas.into_iter().flatten() {
        replica.kill().await;
    }
}
