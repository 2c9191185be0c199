//! The leader gate through real processes on a real PostgreSQL: only the leader subscribes
//! and routes, a standby is ready and sends routing decisions back to be retried, a clean
//! shutdown hands over at once, and a leader paused (SIGSTOP) mid-request never posts after a
//! standby took over.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::pipeline::{
    epoch_ms, message_event, routing_request_payload, routing_requested_event, wait_until,
    ConnectorProcess, Partner as DeliveryPartner, ScratchDir,
};
use crate::support::routing::{Partner, PartnerReply};
use crate::support::start_fake;
use fake_salesforce::interaction_service::InteractionFault;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use serde_json::json;
use tokio::time::Instant;

use super::{fast_timings, fresh_namespace, leads, replica_config};

/// Longest a test waits for something it expects.
const WAIT: Duration = Duration::from_secs(20);

/// Waits until exactly one of `replicas` leads; its index.
async fn the_leader(replicas: &[&ConnectorProcess]) -> usize {
    let started = Instant::now();
    loop {
        let mut leaders = Vec::new();
        for (index, replica) in replicas.iter().enumerate() {
            if leads(&replica.metrics().await) {
                leaders.push(index);
            }
        }
        if leaders.len() == 1 {
            return leaders[0];
        }
        assert!(started.elapsed() < WAIT, "leaders: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas of one fresh channel over `fake`, in a scratch directory named after `name`:
/// (the one that leads, the standby, the directory, kept while they run).
async fn two_replicas(
    fake: &FakeSalesforce,
    name: &str,
    delivery_url: &str,
    routing_url: &str,
) -> (ConnectorProcess, ConnectorProcess, ScratchDir) {
    let namespace = fresh_namespace();
    let dir = ScratchDir::new(name);
    let config = |index| {
        replica_config(
            fake,
            dir.path(),
            delivery_url,
            routing_url,
            &namespace,
            index,
        )
    };
    let a = ConnectorProcess::start(&config(0)).await;
    let b = ConnectorProcess::start(&config(1)).await;
    let (leader, standby) = if the_leader(&[&a, &b]).await == 0 {
        (a, b)
    } else {
        (b, a)
    };
    (leader, standby, dir)
}

/// Waits until `replica` leads, at most [`WAIT`] after `since`; a timeout shows both logs,
/// the lease rows and the database's sessions.
async fn wait_until_it_leads(
    replica: &ConnectorProcess,
    other: Option<&ConnectorProcess>,
    since: Instant,
) {
    while !leads(&replica.metrics().await) {
        if since.elapsed() >= WAIT {
            let database = tokio::task::spawn_blocking(database_snapshot)
                .await
                .unwrap();
            panic!(
                "the standby never led; its log:\n{}\nthe other replica's log:\n{}\n{database}",
                replica.log(),
                other.map_or_else(|| "(gone)".to_owned(), ConnectorProcess::log),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lease rows and the sessions of the test database, for a failure message.
fn database_snapshot() -> String {
    let mut client = crate::support::store::postgres_client();
    let mut text = String::from("recent leases (namespace, holder, token, expires in s):\n");
    for row in client
        .query(
            "SELECT namespace, holder, token, EXTRACT(EPOCH FROM expires_at - now())::float8
               FROM byoc_leases WHERE expires_at > now() - interval '30 seconds'
              ORDER BY expires_at DESC LIMIT 20",
            &[],
        )
        .unwrap()
    {
        let (namespace, holder, token, left): (String, String, i64, f64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let _ = writeln!(text, "  {namespace} {holder} {token} {left:.3}");
    }
    text.push_str("sessions (pid, state, wait, seconds in state, query):\n");
    for row in client
        .query(
            "SELECT pid, coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''),
                    coalesce(EXTRACT(EPOCH FROM now() - state_change)::float8, 0), query
               FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
    {
        let (pid, state, wait, seconds, query): (i32, String, String, f64, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(text, "  {pid} {state} {wait} {seconds:.1} {query:.120}");
    }
    text
}

async fn status_of(url: String) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&json!({"success": true, "externallyRouted": false}))
        .send()
        .await
        .unwrap();
    let role = response
        .headers()
        .get(byoc_connector::connector::ROLE_HEADER)
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_delivers_and_a_ready_standby_sends_routing_decisions_back() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let deliveries = DeliveryPartner::accepting().await;
    let routing = Partner::always(PartnerReply::accept()).await;
    let (leader, standby, _dir) =
        two_replicas(&fake, "ha-gate", &deliveries.url, &routing.url).await;

    fake.publish(&[
        message_event("gate-conversation", 1),
        message_event("gate-conversation", 2),
    ])
    .unwrap();
    wait_until("both messages arrive", WAIT, || {
        deliveries.distinct_seqs().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(deliveries.received().len(), 2, "one replica delivers, once");

    let ready = reqwest::get(format!("http://{}/readyz", standby.ops))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200, "a standby is ready");
    let (status, role) = status_of(format!(
        "http://{}/v1/routing/unknown-event/result",
        standby.sidecar
    ))
    .await;
    assert_eq!((status, role.as_deref()), (503, Some("standby")));
    let (status, _) = status_of(format!(
        "http://{}/v1/routing/unknown-event/result",
        leader.sidecar
    ))
    .await;
    assert_eq!(status, 404, "the leader's engine answers: no such request");
    leader.kill().await;
    standby.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_with_sigterm_releases_and_a_standby_leads_at_once() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let deliveries = DeliveryPartner::accepting().await;
    let routing = Partner::always(PartnerReply::accept()).await;
    let (leader, standby, _dir) =
        two_replicas(&fake, "ha-release", &deliveries.url, &routing.url).await;

    let stopping = Instant::now();
    assert!(
        leader.terminate().await.success(),
        "a clean shutdown exits 0"
    );
    let drained = stopping.elapsed();
    wait_until_it_leads(&standby, None, stopping).await;
    let handed_over = stopping.elapsed().saturating_sub(drained);
    assert!(
        handed_over < fast_timings().ttl,
        "took {handed_over:?} after the exit: the standby waited for the lease to run out"
    );
    fake.publish(&[message_event("release-conversation", 1)])
        .unwrap();
    wait_until("the new leader delivers", WAIT, || {
        deliveries.distinct_seqs().contains(&1)
    })
    .await;
    standby.kill().await;
}

/// Where the leader is when it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PausePoint {
    /// Waiting for the partner's decision: resumed, its write of the decision is fenced.
    WhileThePartnerDecides,
    /// Retrying a routingResult Salesforce answered 503: resumed, its next attempt finds the
    /// lease's local deadline passed and is never sent.
    WhileRetryingThePost,
}

/// Pauses the leader at `point` of a routing request, lets the standby take over and answer,
/// resumes the old leader, and checks it exits without posting.
async fn pause_the_leader(point: PausePoint, case: u32) {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let deliveries = DeliveryPartner::accepting().await;
    // The paused leader's decision and the new leader's differ, so the posts tell who posted.
    let routing = Partner::start(move |_, attempt| {
        if attempt > 0 {
            return PartnerReply::decide(json!({"success": true, "externallyRouted": false}));
        }
        let mut reply = PartnerReply::decide(json!({
            "success": false, "externallyRouted": false, "errorMessage": "from the paused leader"
        }));
        if point == PausePoint::WhileThePartnerDecides {
            // Answered when the asking leader is already paused.
            reply.delay = Duration::from_secs(1);
        }
        reply
    })
    .await;
    if point == PausePoint::WhileRetryingThePost {
        let mut refused = InteractionFault::status("routingResult", 503, 10_000);
        refused.retry_after_secs = Some(0);
        fake.interaction().inject_fault(refused).unwrap();
    }
    let (leader, standby, _dir) =
        two_replicas(&fake, "ha-paused", &deliveries.url, &routing.url).await;

    let conversation = format!("2a0c6c2e-1f43-4d1e-9f61-000000000{case:03}");
    fake.interaction()
        .seed_conversation(&conversation, &format!("0MwXX0000000{case:03}AAA"));
    let payload = routing_request_payload(
        "queue",
        &conversation,
        &format!("e2e00009-0000-4000-8000-000000000{case:03}"),
    );
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let results = || fake.interaction().calls_to("routingResult");
    match point {
        PausePoint::WhileThePartnerDecides => {
            wait_until("the leader asks the partner", WAIT, || {
                !routing.requests().is_empty()
            })
            .await;
        }
        PausePoint::WhileRetryingThePost => {
            wait_until("the leader retries its post", WAIT, || results().len() >= 2).await;
        }
    }
    leader.signal("STOP");
    let paused = Instant::now();
    fake.interaction().clear_faults();
    let refused_before = results().len();
    wait_until_it_leads(&standby, Some(&leader), paused).await;
    println!(
        "{point:?}: takeover from a paused leader after {} ms",
        paused.elapsed().as_millis()
    );
    wait_until("the new leader posts", WAIT, || {
        results().len() > refused_before
    })
    .await;

    leader.signal("CONT");
    let status = leader.exit_within(Duration::from_secs(10)).await;
    assert!(!status.success(), "the resumed old leader exits non-zero");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = results();
    let accepted: Vec<_> = posted
        .iter()
        .filter(|call| (200..300).contains(&call.status))
        .collect();
    assert_eq!(
        posted.len(),
        refused_before + 1,
        "{point:?}: only the new leader posted after the takeover: {posted:?}"
    );
    assert_eq!(accepted.len(), 1, "{posted:?}");
    if point == PausePoint::WhileThePartnerDecides {
        assert_eq!(
            accepted[0].body["success"], true,
            "the new leader's decision"
        );
    }
    standby.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_while_its_partner_decides_never_posts_after_a_standby_took_over() {
    pause_the_leader(PausePoint::WhileThePartnerDecides, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_while_retrying_its_post_never_posts_after_a_standby_took_over() {
    pause_the_leader(PausePoint::WhileRetryingThePost, 2).await;
}
