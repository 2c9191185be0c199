//! The fault soak: the real `byoc-connector` binary, run as its own process against the fake
//! Salesforce (Pub/Sub over TLS) and a real HTTP partner, takes a steady stream of messages
//! across many conversations and RoutingRequested events while a seeded random fault plan
//! resets and stalls the stream, expires tokens, answers the Interaction Service with 429 and
//! 5xx, makes the partner fail and slow, and SIGKILLs and restarts the connector. Then the
//! faults stop, everything goes quiet, and the soak checks G1–G4 (DESIGN.md §4) and prints a
//! summary.
//!
//! Ignored by default. `BYOC_SOAK_SECS` sets the fault phase (default 600), `BYOC_SOAK_SEED`
//! replays a run (the seed is printed first):
//! `BYOC_SOAK_SECS=600 cargo test --release --test soak -- --ignored --nocapture`.
//! The seed fixes the fault plan, the workload and the partner's answers; the timing of a
//! multi-process run is not reproducible, so a replay is close to, not equal to, the original.

// A test binary exports nothing; `pub` only says which helpers other soak modules use.
#![allow(unreachable_pub)]
// Counts and millisecond timestamps are small; a wrong conversion would fail a check.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod chaos;
mod connector;
mod partner;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{samples, FakeConfig, FakeSalesforce};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use chaos::Chaos;
use partner::Partner;
use verdict::{Published, PublishedMessage, PublishedRouting, Verdict};

/// Conversations the messages are spread over.
const CONVERSATIONS: u64 = 48;
/// Pause between two publishes of a batch of messages.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// One RoutingRequested per this many message batches, on average.
const ROUTING_EVERY_BATCHES: u32 = 25;
/// Nothing new for this long (and everything answered) means quiet.
const QUIET_FOR: Duration = Duration::from_secs(5);
/// Longest the soak waits for quiet after the faults stop: past the last routing window.
const QUIESCENCE_LIMIT: Duration = Duration::from_secs(180);

/// A SplitMix64 step: spreads a seed or a hash over all 64 bits.
pub fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Wall-clock Unix epoch milliseconds, the unit of `CreatedDate` and of the fake's recording.
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .with_context(|| format!("{name}={value} is not a whole number"))
        })
        .transpose()
}

/// The soak's own RoutingRequested: the queue fixture moved to `conversation`, keyed `event_id`.
fn routing_event(fixture: &Value, conversation: &str, event_id: &str, created_ms: u64) -> NewEvent {
    let mut payload = fixture["payload"].clone();
    let request = &mut payload["payload"];
    request["conversationIdentifier"] = conversation.into();
    let channel_data = serde_json::json!({
        "eventId": event_id,
        "routerParticipantSubject": "cb1e4929-5a1b-4c7e-9d2f-0e1f2a3b4c5d",
        "routingType": "Transfer",
        "conversationId": conversation,
    });
    request["routingParameters"]["channelData"] = channel_data.to_string().into();
    NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(payload.to_string()),
        created_date: Some(created_ms.cast_signed()),
        ..NewEvent::default()
    }
}

/// Publishes batches of messages and, now and then, a RoutingRequested, until `stop`.
async fn publish(
    fake: Arc<FakeSalesforce>,
    mut rng: StdRng,
    stop: CancellationToken,
) -> anyhow::Result<Published> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/events/routing-requested-queue.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut published = Published::default();
    let (mut seq, mut routed) = (0_u64, 0_u64);
    while !stop.is_cancelled() {
        let mut batch = Vec::new();
        let mut conversations = Vec::new();
        for _ in 0..rng.random_range(1..=10) {
            let conversation = format!(
                "50a40000-0000-4000-8000-{:012}",
                rng.random_range(0..CONVERSATIONS)
            );
            let text = format!("seq-{seq}");
            batch.push(NewEvent {
                event_type: Some("Interaction".to_owned()),
                payload: Some(samples::text_message_payload(
                    &conversation,
                    seq,
                    &text,
                    true,
                )),
                ..NewEvent::default()
            });
            conversations.push((seq, conversation));
            seq += 1;
        }
        let replay_ids = fake.publish(&batch)?;
        for ((seq, conversation), replay_id) in conversations.into_iter().zip(replay_ids) {
            published.messages.insert(
                seq,
                PublishedMessage {
                    conversation,
                    replay_id,
                },
            );
        }
        if rng.random_range(0..ROUTING_EVERY_BATCHES) == 0 {
            let conversation = format!("50a4e0e0-0000-4000-8000-{routed:012}");
            let event_id = format!("e0e0e0e0-0000-4000-8000-{routed:012}");
            fake.interaction()
                .seed_conversation(&conversation, &format!("0MwSK{routed:010}AAA"));
            let created_ms = epoch_ms();
            fake.publish(&[routing_event(
                &fixture,
                &conversation,
                &event_id,
                created_ms,
            )])?;
            published.routing.insert(
                event_id,
                PublishedRouting {
                    conversation,
                    created_ms,
                },
            );
            routed += 1;
        }
        tokio::time::sleep(PUBLISH_EVERY).await;
    }
    Ok(published)
}

/// Waits until every message was accepted, every routing request answered (or its window
/// closed) and nothing new happened for [`QUIET_FOR`]; returns whether it got there.
async fn quiesce(fake: &FakeSalesforce, partner: &Partner, published: &Published) -> bool {
    let limit = Instant::now() + QUIESCENCE_LIMIT;
    while Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = epoch_ms();
        let calls = fake.interaction().calls_to("routingResult");
        let last_call = calls
            .iter()
            .map(|call| call.received_at_ms)
            .max()
            .unwrap_or(0);
        let log = partner.log.lock().unwrap();
        let delivered: std::collections::HashSet<u64> = log
            .deliveries
            .iter()
            .filter(|delivery| delivery.accepted)
            .filter_map(|delivery| delivery.seq)
            .collect();
        let all_delivered = published.messages.keys().all(|seq| delivered.contains(seq));
        let all_routed = published.routing.values().all(|request| {
            request.created_ms + 62_000 < now
                || calls.iter().any(|call| {
                    (200..300).contains(&call.status)
                        && call.body["conversationIdentifier"] == request.conversation.as_str()
                })
        });
        let quiet_since = log.last_request_ms.max(last_call);
        if all_delivered && all_routed && quiet_since + QUIET_FOR.as_millis() as u64 <= now {
            return true;
        }
    }
    false
}

async fn soak() -> anyhow::Result<Verdict> {
    let seed = match env_u64("BYOC_SOAK_SEED")? {
        Some(seed) => seed,
        None => rand::random(),
    };
    let secs = env_u64("BYOC_SOAK_SECS")?.unwrap_or(600);
    println!("soak seed {seed} (replay with BYOC_SOAK_SEED={seed}), faults for {secs} s");
    let started = Instant::now();
    byoc_connector::install_crypto_provider();
    let fake = Arc::new(
        FakeSalesforce::start(FakeConfig {
            tls: true,
            ..FakeConfig::default()
        })
        .await?,
    );
    fake.oauth()
        .add_secret_client(connector::CLIENT_ID, connector::CLIENT_SECRET);
    let partner = Arc::new(Partner::start(seed).await?);
    let dir = std::env::temp_dir().join(format!("byoc-soak-{seed}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("connector logs and store in {}", dir.display());
    let config = connector::write_config(&fake, &dir, &partner.delivery_url, &partner.routing_url)?;

    let mut rng = StdRng::seed_from_u64(seed);
    let stop = CancellationToken::new();
    let publishing = tokio::spawn(publish(
        fake.clone(),
        StdRng::seed_from_u64(rng.random()),
        stop.clone(),
    ));
    let chaos = Chaos::start(
        fake.clone(),
        partner.clone(),
        config,
        dir.clone(),
        StdRng::seed_from_u64(rng.random()),
    )
    .await?;
    let chaos = tokio::spawn(chaos.run(stop.clone()));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.cancel();
    let published = publishing.await??;
    let (connector, report) = chaos.await??;
    let fault_phase = started.elapsed();

    let quiet = quiesce(&fake, &partner, &published).await;
    let exit = connector.terminate().await?;
    let calls = fake.interaction().calls_to("routingResult");
    let window = fake.routing_window().map(|window| window.report());
    let mut verdict = Verdict::default();
    verdict.summary.push(format!(
        "seed {seed}; faults for {} s, quiet after {} s more; exit on SIGTERM: {exit}",
        fault_phase.as_secs(),
        started.elapsed().saturating_sub(fault_phase).as_secs()
    ));
    {
        let log = partner.log.lock().unwrap();
        verdict::judge_messages(&published, &log, &mut verdict);
        verdict::judge_routing(
            seed,
            &published,
            &log,
            &calls,
            &report,
            window.as_ref(),
            &mut verdict,
        );
    }
    let faults: u32 = report.counts.values().sum();
    verdict
        .summary
        .push(format!("faults: {faults} injected {:?}", report.counts));
    verdict.summary.push(format!(
        "restarts: {} ({} SIGKILLs, {} unexpected exits)",
        report.restarts,
        report.kills_ms.len(),
        report.unexpected_exits.len()
    ));
    if !quiet {
        verdict.violations.push(format!(
            "not quiet {} s after the faults stopped",
            QUIESCENCE_LIMIT.as_secs()
        ));
    }
    if !exit.success() {
        verdict
            .violations
            .push(format!("G8: the connector exited {exit} on SIGTERM"));
    }
    for exit in &report.unexpected_exits {
        verdict
            .violations
            .push(format!("the connector exited on its own: {exit}"));
    }
    if verdict.violations.is_empty() {
        // Logs are kept only when something went wrong.
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Ok(fake) = Arc::try_unwrap(fake) {
        fake.shutdown().await;
    }
    Ok(verdict)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a long fault soak; see docs/benchmarks.md for the command"]
async fn fault_soak() {
    let verdict = soak().await.expect("the soak ran to the end");
    println!("---- soak summary ----");
    for line in &verdict.summary {
        println!("{line}");
    }
    for line in &verdict.violations {
        println!("VIOLATION {line}");
    }
    assert!(
        verdict.violations.is_empty(),
        "the soak found {} violation(s); the seed and the connector logs' directory are printed above",
        verdict.violations.len()
    );
}
