//! The real binary on the PostgreSQL store (`store.kind = "postgres"`): messages reach a real
//! partner in order, and after a SIGKILL the restarted connector resumes from the checkpoint
//! in the database without redelivering what was completed before.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use crate::support::store::{fresh_namespace, postgres_url};
use byoc_connector::store::{Store, StoreSettings};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

const CONVERSATIONS: u64 = 3;

/// Messages `seqs`, spread round-robin over the conversations.
fn messages(seqs: std::ops::Range<u64>) -> Vec<fake_salesforce::topic::NewEvent> {
    seqs.map(|seq| message_event(&conversation_name(seq % CONVERSATIONS), seq))
        .collect()
}

/// A connector config in `dir` on a fresh PostgreSQL namespace, delivering to `partner_url`;
/// the store, opened on the same namespace for the test to read.
fn postgres_config(
    fake: &fake_salesforce::FakeSalesforce,
    dir: &std::path::Path,
    partner_url: &str,
) -> (std::path::PathBuf, Store) {
    let namespace = fresh_namespace();
    let config = write_connector_config(fake, dir, partner_url, REJECT_ROUTING);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[store]\n",
        &format!(
            "[store]\nkind = \"postgres\"\nurl = \"{}\"\nnamespace = \"{namespace}\"\n",
            postgres_url()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let store =
        Store::open_postgres(&postgres_url(), &namespace, StoreSettings::default()).unwrap();
    (config, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_on_postgres_delivers_in_order_and_resumes_after_sigkill_without_redelivering()
{
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = scratch_dir("postgres-store");
    let (config, store) = postgres_config(&fake, &dir, &partner.url);
    fake.publish(&messages(0..30)).unwrap();
    let first_latest = fake.pubsub().topic.latest_id();

    let connector = ConnectorProcess::start(&config).await;
    wait_until(
        "the first 30 are delivered",
        Duration::from_secs(30),
        || partner.distinct_seqs().len() == 30,
    )
    .await;
    wait_until(
        "the checkpoint in postgres passes them",
        Duration::from_secs(30),
        || stored_checkpoint(&store, &fake) == Some(first_latest),
    )
    .await;
    connector.kill().await;
    assert!(!dir.join("state.redb").exists(), "nothing went to a file");

    fake.publish(&messages(30..60)).unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("all 60 are delivered", Duration::from_secs(30), || {
        partner.distinct_seqs().len() == 60
    })
    .await;
    let exit = connector.terminate().await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");

    let received = partner.received();
    assert_eq!(
        received.len(),
        60,
        "each message once: the restart resumed after the postgres checkpoint"
    );
    let mut by_conversation: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for delivery in &received {
        by_conversation
            .entry(delivery.conversation.clone())
            .or_default()
            .push(delivery.seq.expect("numbered message"));
    }
    for (conversation, seqs) in &by_conversation {
        assert!(
            seqs.windows(2).all(|pair| pair[0] < pair[1]),
            "{conversation} out of order: {seqs:?}"
        );
    }
    assert_eq!(
        stored_checkpoint(&store, &fake),
        Some(fake.pubsub().topic.latest_id())
    );
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// With `RUST_LOG=debug`, tokio-postgres would log every statement's parameters, a dead
/// letter's message text among them; it stays at info unless the operator names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_on_postgres_do_not_carry_a_dead_letters_message_text() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::start(std::sync::Arc::new(|_| {
        (axum::http::StatusCode::BAD_REQUEST, Duration::ZERO)
    }))
    .await;
    let dir = scratch_dir("postgres-debug-logs");
    let (config, store) = postgres_config(&fake, &dir, &partner.url);
    fake.publish(&[message_event(&conversation_name(0), 424_242)])
        .unwrap();

    let connector = ConnectorProcess::start_logging(&config, "debug").await;
    wait_until(
        "the refused message is dead-lettered",
        Duration::from_secs(30),
        || !store.list_dead_letters(None, 10).unwrap().is_empty(),
    )
    .await;
    let log = connector.log();
    connector.kill().await;
    assert!(log.contains("DEBUG"), "debug logging is on");
    assert!(
        !log.contains("seq-424242"),
        "the message text reached the log: {}",
        log.lines()
            .filter(|line| line.contains("seq-424242"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
