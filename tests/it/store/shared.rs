//! The rest of the contract: the sidecar's answers, a restart that keeps everything, and reads
//! called straight from async code on either tokio runtime.

use std::time::{Duration, SystemTime};

use crate::support::store::{Backend, TestStore};
use byoc_connector::store::{AckBatch, StoreSettings};

use super::tables::{dead_letter, replay_id, ORG, TOPIC};

const HOUR_MS: u64 = 60 * 60 * 1000;

fn the_first_sidecar_answer_wins_and_old_or_surplus_answers_are_pruned(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    let max_age = Duration::from_secs(24 * 60 * 60);
    let start = 1_700_000_000_000;

    let first = store
        .put_sidecar_answer("k1", b"first", start, max_age, 2)
        .unwrap();
    let again = store
        .put_sidecar_answer("k1", b"second", start + 1, max_age, 2)
        .unwrap();
    assert_eq!(first, b"first");
    assert_eq!(again, b"first", "a retried call gets the first answer");

    store
        .put_sidecar_answer("k2", b"two", start + HOUR_MS, max_age, 2)
        .unwrap();
    store
        .put_sidecar_answer("k3", b"three", start + 2 * HOUR_MS, max_age, 2)
        .unwrap();
    assert_eq!(
        store.sidecar_answer("k1").unwrap(),
        None,
        "beyond the count"
    );
    assert_eq!(
        store.sidecar_answer("k2").unwrap().as_deref(),
        Some(&b"two"[..])
    );

    store
        .put_sidecar_answer("k4", b"four", start + 26 * HOUR_MS, max_age, 2)
        .unwrap();
    assert_eq!(
        store.sidecar_answer("k2").unwrap(),
        None,
        "older than a day"
    );
    assert!(store.sidecar_answer("k3").unwrap().is_some());
    assert!(store.sidecar_answer("k4").unwrap().is_some());
}

fn dropping_and_reopening_the_store_keeps_every_kind_of_record(backend: Backend) {
    let place = TestStore::new(backend);
    let now = SystemTime::now();
    let letter_id = {
        let store = place.open(StoreSettings::default());
        let mut batch = AckBatch::new();
        batch.record_completed("key-1");
        batch.advance_checkpoint(ORG, TOPIC, replay_id(77));
        batch.put_conversation("conversation-1", b"state".to_vec());
        store.commit_ack_batch(&batch, now).unwrap();
        store.put_pending_routing("evt-1", b"pending").unwrap();
        store
            .put_sidecar_answer("answer-1", b"answer", 1, Duration::MAX, 10)
            .unwrap();
        store
            .record_dead_letter(&dead_letter(5, "bad"), now)
            .unwrap()
    };

    let store = place.open(StoreSettings::default());

    assert!(store.is_completed("key-1").unwrap());
    assert_eq!(store.completed_key_count().unwrap(), 1);
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(replay_id(77))
    );
    assert_eq!(
        store
            .conversation_state("conversation-1")
            .unwrap()
            .as_deref(),
        Some(&b"state"[..])
    );
    assert_eq!(
        store.get_pending_routing("evt-1").unwrap().as_deref(),
        Some(&b"pending"[..])
    );
    assert_eq!(
        store.sidecar_answer("answer-1").unwrap().as_deref(),
        Some(&b"answer"[..])
    );
    let letter = store.get_dead_letter(letter_id).unwrap().unwrap();
    assert_eq!(letter.reason, "bad");
    assert_eq!(store.count_dead_letters().unwrap(), 1);
}

fn a_fence_never_stops_the_redb_file_and_checks_nothing_without_one(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    assert!(store.check_fence().is_ok(), "no fence set");
    if backend == Backend::Redb {
        // One process owns the file: there is no lease to lose.
        store.set_fence(Some(byoc_connector::store::Fence {
            namespace: "default".to_owned(),
            holder: "nobody".to_owned(),
            token: 1,
        }));
        assert!(store.check_fence().is_ok());
    }
    store.put_pending_routing("evt", b"record").unwrap();
    assert!(store.get_pending_routing("evt").unwrap().is_some());
}

contract_tests!(
    the_first_sidecar_answer_wins_and_old_or_surplus_answers_are_pruned,
    dropping_and_reopening_the_store_keeps_every_kind_of_record,
    a_fence_never_stops_the_redb_file_and_checks_nothing_without_one,
);

/// Calls from async code, in their own module so their tests get their own names.
mod from_async {
    use super::*;

    /// Reads and writes called straight from a tokio task, as the dispatcher and the sidecar
    /// routes do: no runtime inside a runtime, on either flavour.
    async fn store_calls_work_straight_from_async_code(backend: Backend) {
        let place = TestStore::new(backend);
        let store = place.open(StoreSettings::default());
        let mut batch = AckBatch::new();
        batch.advance_checkpoint(ORG, TOPIC, replay_id(3));
        store.commit_ack_batch(&batch, SystemTime::now()).unwrap();

        assert_eq!(
            store.load_checkpoint(ORG, TOPIC).unwrap(),
            Some(replay_id(3))
        );
        assert_eq!(store.conversation_state("none").unwrap(), None);
        assert!(!store.is_completed("none").unwrap());
        let spawned = store.clone();
        let from_task = tokio::spawn(async move { spawned.list_checkpoints().unwrap().len() })
            .await
            .unwrap();
        assert_eq!(from_task, 1);
    }

    async fn store_calls_work_from_a_current_thread_runtime(backend: Backend) {
        store_calls_work_straight_from_async_code(backend).await;
    }

    async_contract_tests!(
        #[tokio::test(flavor = "multi_thread")]
        store_calls_work_straight_from_async_code,
        #[tokio::test(flavor = "current_thread")]
        store_calls_work_from_a_current_thread_runtime,
    );
}
