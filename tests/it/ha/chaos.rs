//! Chaos through real processes: three `byoc-connector run` replicas serving two tenants (two
//! orgs of one fake Salesforce, `[[tenants]]`) on a real PostgreSQL, a stream of messages and
//! routing requests on both orgs, and a tenant's leader SIGKILLed and SIGSTOPped again and
//! again. Afterwards nothing is lost, each conversation's messages reached the partner in
//! order, and every routing request got exactly one accepted routingResult, from its own org,
//! inside its window — or, when the leader that posted it was signalled before it could record
//! the acceptance, the same answer once more from the new leader (a post and its record cannot
//! be one atomic step; `connector::routing_crash` pins the same case for a single process).
//! Failover times are printed.

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
use crate::support::tenants;
use fake_salesforce::{FakeConfig, FakeOrg, FakeOrgConfig, FakeSalesforce};
use serde_json::json;
use tokio::time::Instant;

use super::{fresh_namespace, postgres_url, FAST_TAKEOVER_SECS};

/// Replicas running at any time.
const REPLICAS: usize = 3;
/// Leader failures: SIGKILL and SIGSTOP alternate.
const ROUNDS: usize = 6;
/// Conversations the messages of each org are spread over.
const CONVERSATIONS: u64 = 4;
/// The tenants, one per org of the fake, in the fake's order of orgs.
const TENANTS: [&str; 2] = ["acme", "globex"];
/// Longest one failover may take before the test gives up: takeover plus subscribing.
const FAILOVER_LIMIT: Duration = Duration::from_secs(15);
/// Longest everything published may take to arrive after the chaos.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How close to a leader's signal an accepted routingResult must be for the new leader to
/// repeat it: the old leader had posted, and the signal landed before it recorded the answer.
/// Recording takes one store commit, milliseconds here; the slack covers a loaded machine.
const UNRECORDED_POST_SLACK: Duration = Duration::from_secs(1);

/// Replica `index`'s config: both tenants, each on its own org of `fake` and its own
/// namespace `<namespace>-<tenant>`, with shared delivery and routing partners.
fn replica_config(
    fake: &FakeSalesforce,
    dir: &std::path::Path,
    delivery_url: &str,
    routing_url: &str,
    namespace: &str,
    index: usize,
) -> PathBuf {
    let mut text = format!(
        r#"{connections}
[delivery]
kind = "webhook"
url = "{delivery_url}"

[routing]
strategy = "partner"
url = "{routing_url}"
decision_timeout_secs = 45
window_secs = 60

[store]
kind = "postgres"
url = "{url}"
ack_batch_max_delay_ms = 20

[ha]
enabled = true
replica_id = "replica-{index}"
takeover_secs = {FAST_TAKEOVER_SECS}

[server]
listen = "127.0.0.1:0"
sidecar_listen = "127.0.0.1:0"
"#,
        connections = tenants::CONNECTION_SECTIONS,
        url = postgres_url().expose(),
    );
    for (tenant, org) in TENANTS.iter().zip(fake.orgs()) {
        text.push_str(&tenants::tenant_toml(
            tenant,
            org.endpoints(),
            &tenants::static_auth(org.endpoints()),
            &format!("store = {{ namespace = \"{namespace}-{tenant}\" }}"),
        ));
    }
    let path = dir.join(format!("replica-{index}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Whether a replica's `/metrics` says it leads `tenant`.
fn leads(metrics: &str, tenant: &str) -> bool {
    let line = format!("byoc_ha_leader{{tenant=\"{tenant}\"}} 1");
    metrics.lines().any(|candidate| candidate == line)
}

/// The index of the replica that leads `tenant` now, if exactly one answers that it does;
/// `skip` (a stopped replica, which cannot answer) is not asked.
async fn leader(
    replicas: &[Option<ConnectorProcess>],
    tenant: &str,
    skip: Option<usize>,
) -> Option<usize> {
    let mut leaders = Vec::new();
    for (index, replica) in replicas.iter().enumerate() {
        if Some(index) == skip {
            continue;
        }
        if let Some(replica) = replica {
            if leads(&replica.metrics().await, tenant) {
                leaders.push(index);
            }
        }
    }
    (leaders.len() == 1).then(|| leaders[0])
}

/// Waits until some replica other than `old` leads `tenant`; how long that took.
async fn failover(
    replicas: &[Option<ConnectorProcess>],
    tenant: &str,
    old: usize,
    since: Instant,
) -> (usize, Duration) {
    loop {
        if let Some(new) = leader(replicas, tenant, Some(old)).await {
            return (new, since.elapsed());
        }
        assert!(
            since.elapsed() < FAILOVER_LIMIT,
            "no replica took {tenant} over within {FAILOVER_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every tenant has exactly one leader.
async fn every_tenant_led(replicas: &[Option<ConnectorProcess>]) {
    let started = Instant::now();
    for tenant in TENANTS {
        while leader(replicas, tenant, None).await.is_none() {
            assert!(started.elapsed() < FAILOVER_LIMIT, "nobody leads {tenant}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A published routing request: the org it went to, its conversation, its `CreatedDate`.
type RoutingRequest = (usize, String, i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaders_of_two_tenants_killed_and_paused_repeatedly_lose_nothing_and_answer_each_routing_request_once(
) {
    byoc_connector::install_crypto_provider();
    let namespace = fresh_namespace();
    let fake = Arc::new(
        FakeSalesforce::start(FakeConfig {
            extra_orgs: vec![FakeOrgConfig::numbered(2)],
            ..FakeConfig::default()
        })
        .await
        .expect("fake salesforce starts"),
    );
    let deliveries = DeliveryPartner::accepting().await;
    let routing_partner = Partner::always(PartnerReply::decide(
        json!({"success": true, "externallyRouted": false}),
    ))
    .await;
    let dir = ScratchDir::new("ha-chaos");
    let configs: Vec<PathBuf> = (0..REPLICAS + ROUNDS)
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
    every_tenant_led(&replicas).await;

    // Messages and routing requests keep coming during the chaos, on both orgs.
    let publishing = Arc::new(AtomicBool::new(true));
    let routing_requests: Arc<std::sync::Mutex<Vec<RoutingRequest>>> = Arc::default();
    let publisher = {
        let (fake, publishing, routing_requests) =
            (fake.clone(), publishing.clone(), routing_requests.clone());
        tokio::spawn(async move {
            let orgs: Vec<&FakeOrg> = fake.orgs().iter().collect();
            let mut seq = 0_u64;
            while publishing.load(Ordering::SeqCst) {
                seq += 1;
                let org = usize::try_from(seq % 2).unwrap();
                let conversation = format!(
                    "chaos-{}-conversation-{}",
                    TENANTS[org],
                    seq % CONVERSATIONS
                );
                orgs[org]
                    .publish(&[message_event(&conversation, seq)])
                    .unwrap();
                if seq.is_multiple_of(10) {
                    let org = usize::try_from((seq / 10) % 2).unwrap();
                    let routed = format!("2a0c6c2e-1f43-4d1e-9f61-{seq:012}");
                    let work_item = format!("0Mw{seq:012}");
                    orgs[org]
                        .interaction()
                        .seed_conversation(&routed, &work_item);
                    let event_id = format!("e2e00009-0000-4000-8000-{seq:012}");
                    let payload = routing_request_payload("queue", &routed, &event_id);
                    let created = epoch_ms();
                    orgs[org]
                        .publish(&[routing_requested_event(&payload, created)])
                        .unwrap();
                    routing_requests
                        .lock()
                        .unwrap()
                        .push((org, routed, created));
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
        // SIGKILL and SIGSTOP alternate, each tenant's leader twice in turn.
        let tenant = TENANTS[(round / 2) % TENANTS.len()];
        let old = leader(&replicas, tenant, None)
            .await
            .unwrap_or_else(|| panic!("one leader of {tenant}"));
        let since = Instant::now();
        signals.push(since);
        if round % 2 == 0 {
            replicas[old].take().unwrap().kill().await;
            let (_, took) = failover(&replicas, tenant, old, since).await;
            failovers.push(("SIGKILL", tenant, took));
        } else {
            replicas[old].as_ref().unwrap().signal("STOP");
            let (_, took) = failover(&replicas, tenant, old, since).await;
            failovers.push(("SIGSTOP", tenant, took));
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
        every_tenant_led(&replicas).await;
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
    // Every routing request: exactly one accepted routingResult, from its own org, inside its
    // window.
    let requests = routing_requests.lock().unwrap().clone();
    let orgs: Vec<&FakeOrg> = fake.orgs().iter().collect();
    let answers_to = |org: usize, conversation: &str| {
        orgs[org]
            .interaction()
            .calls_to("routingResult")
            .into_iter()
            .filter(|call| call.body["conversationIdentifier"] == conversation)
            .collect::<Vec<_>>()
    };
    wait_until("every routing request is answered", SETTLE_LIMIT, || {
        requests
            .iter()
            .all(|(org, conversation, _)| !answers_to(*org, conversation).is_empty())
    })
    .await;
    for (org, conversation, created_ms) in &requests {
        let answers = answers_to(*org, conversation);
        assert!(
            answers_to(1 - org, conversation).is_empty(),
            "{conversation}: answered to the other org"
        );
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
    for (kind, tenant, took) in &failovers {
        println!("failover of {tenant} after {kind}: {} ms", took.as_millis());
    }
    println!(
        "{published_count} messages, {} routing requests, {ROUNDS} leader failures, {} tenants",
        requests.len(),
        TENANTS.len()
    );
    for replica in replicas.into_iter().flatten() {
        replica.kill().await;
    }
}
