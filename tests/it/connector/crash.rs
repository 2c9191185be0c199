//! The real binary is killed with SIGKILL at three random points of a 5,000-event stream
//! and restarted each time. Every event is delivered at least once, first deliveries keep
//! per-conversation order, and re-deliveries repeat the key.
//!
//! The kill points come from a seeded RNG. The seed is printed before the test starts;
//! set `BYOC_CRASH_SEED` to it to replay the same kill points.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use axum::http::StatusCode;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const EVENTS: u64 = 5_000;

/// Names the environment variable that fixes the seed of the kill points.
const SEED_VAR: &str = "BYOC_CRASH_SEED";

/// The seed from [`SEED_VAR`] when set, else one from the clock, so every run tries new
/// kill points but any failing run can be replayed.
fn crash_seed() -> u64 {
    if let Ok(text) = std::env::var(SEED_VAR) {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={text:?} is not a u64"));
    }
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    since_epoch.as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_three_random_points_loses_nothing_and_keeps_keys_and_order() {
    let seed = crash_seed();
    eprintln!(
        "crash test seed {seed}; reproduce with: {SEED_VAR}={seed} cargo test --test it \
         sigkill_at_three_random_points -- --nocapture"
    );
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    // A little partner latency keeps deliveries in flight when the kill lands.
    let partner = Partner::start(Arc::new(|_| (StatusCode::OK, Duration::from_millis(1)))).await;
    let dir = scratch_dir("crash");
    let config_path = write_connector_config(&fake, &dir, &partner.url, REJECT_ROUTING);
    fake.publish(&numbered_messages(EVENTS, 50)).unwrap();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut kill_points: Vec<usize> = (0..3).map(|_| rng.random_range(300..4_700)).collect();
    kill_points.sort_unstable();
    let mut connector = spawn_quiet_connector(&config_path);
    for kill_at in &kill_points {
        wait_until(
            "deliveries reach the kill point",
            Duration::from_secs(120),
            || partner.received.lock().unwrap().len() >= *kill_at,
        )
        .await;
        connector.kill().await.expect("SIGKILL");
        connector = spawn_quiet_connector(&config_path);
    }
    wait_until("every event is delivered", Duration::from_secs(180), || {
        partner.distinct_seqs().len() as u64 == EVENTS
    })
    .await;
    connector.kill().await.ok();

    let received = partner.received();
    let mut key_of_seq: BTreeMap<u64, String> = BTreeMap::new();
    let mut first_seen = BTreeSet::new();
    let mut last_first_by_conversation: BTreeMap<String, u64> = BTreeMap::new();
    let mut redeliveries = 0;
    for delivery in &received {
        let seq = delivery.seq.expect("numbered message");
        match key_of_seq.get(&seq) {
            Some(key) => {
                redeliveries += 1;
                assert_eq!(
                    key, &delivery.idempotency_key,
                    "re-delivery of {seq} keeps its key"
                );
            }
            None => {
                key_of_seq.insert(seq, delivery.idempotency_key.clone());
            }
        }
        if first_seen.insert(seq) {
            if let Some(previous) =
                last_first_by_conversation.insert(delivery.conversation.clone(), seq)
            {
                assert!(
                    previous < seq,
                    "conversation {} got {seq} first after {previous}",
                    delivery.conversation
                );
            }
        }
    }
    assert_eq!(first_seen.len() as u64, EVENTS);
    let distinct_keys: BTreeSet<&String> = key_of_seq.values().collect();
    assert_eq!(
        distinct_keys.len() as u64,
        EVENTS,
        "every event has its own key"
    );
    eprintln!(
        "seed {seed}, kill points {kill_points:?}: {} deliveries, {redeliveries} re-deliveries",
        received.len()
    );
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
