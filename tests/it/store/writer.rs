//! The batching checkpoint writer: when it commits, and what a flush guarantees, on both
//! backends; and that a lost lease stops it at once.

use std::time::Duration;

use crate::support::store::{Backend, StoreDirectory, TestStore};
use byoc_connector::store::{CheckpointWriter, Store, StoreError, StoreSettings};

const ORG: &str = "00Dxx0000001gEREAY";
const TOPIC: &str = "/event/Byoc_Outbound__e";

/// Upper bound on polls while waiting for a commit; each poll sleeps 1 ms of (paused) time.
const MAX_POLLS: usize = 5_000;

fn settings(max_acks: usize, max_delay: Duration) -> StoreSettings {
    StoreSettings {
        ack_batch_max_acks: max_acks,
        ack_batch_max_delay: max_delay,
        ..StoreSettings::default()
    }
}

/// Polls the committed state (not the writer's pending set) until `key` is there.
async fn wait_until_committed(store: &Store, key: &str) {
    for _ in 0..MAX_POLLS {
        if store.is_completed(key).unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{key} was never committed");
}

async fn a_batch_is_committed_as_soon_as_it_holds_max_acks(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(settings(3, Duration::from_secs(3600)));
    let writer = CheckpointWriter::spawn(store.clone());
    let started = tokio::time::Instant::now();

    writer.record_completed("k1").await.unwrap();
    writer.record_completed("k2").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        !store.is_completed("k1").unwrap(),
        "two acks are not a batch yet"
    );

    writer
        .advance_checkpoint(ORG, TOPIC, 9u64.to_be_bytes())
        .await
        .unwrap();
    wait_until_committed(&store, "k2").await;
    assert!(store.is_completed("k1").unwrap());
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(9u64.to_be_bytes().to_vec())
    );
    assert!(
        started.elapsed() < Duration::from_secs(3600),
        "not the delay"
    );
}

async fn a_batch_is_committed_once_its_max_delay_has_passed(backend: Backend) {
    let place = TestStore::new(backend);
    let max_delay = Duration::from_millis(50);
    let store = place.open(settings(1_000, max_delay));
    let writer = CheckpointWriter::spawn(store.clone());
    let started = tokio::time::Instant::now();

    writer.record_completed("k1").await.unwrap();
    tokio::time::sleep(max_delay / 2).await;
    assert!(
        !store.is_completed("k1").unwrap(),
        "the delay has not passed"
    );

    wait_until_committed(&store, "k1").await;
    assert!(started.elapsed() >= max_delay);
}

async fn flush_is_a_durable_barrier(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(settings(1_000, Duration::from_secs(3600)));
    let writer = CheckpointWriter::spawn(store.clone());
    writer.record_completed("delivered-1").await.unwrap();
    writer
        .advance_checkpoint(ORG, TOPIC, 42u64.to_be_bytes())
        .await
        .unwrap();
    assert!(!store.is_completed("delivered-1").unwrap());

    writer.flush().await.unwrap();

    assert!(store.is_completed("delivered-1").unwrap());
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(42u64.to_be_bytes().to_vec())
    );
}

async fn the_writer_reports_keys_of_the_open_batch_as_completed(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(settings(1_000, Duration::from_secs(3600)));
    let writer = CheckpointWriter::spawn(store.clone());
    writer.record_completed("pending").await.unwrap();
    assert!(writer.is_completed("pending").await.unwrap());
    assert!(!store.is_completed("pending").unwrap());
    assert!(!writer.is_completed("never-seen").await.unwrap());
}

async fn close_commits_what_is_pending_and_releases_the_store(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(settings(1_000, Duration::from_secs(3600)));
    let writer = CheckpointWriter::spawn(store.clone());
    let other_handle = writer.clone();
    writer.record_completed("last").await.unwrap();
    writer.close().await.unwrap();

    let error = other_handle.record_completed("too-late").await.unwrap_err();
    assert!(matches!(error, StoreError::WriterStopped(_)), "{error:?}");

    drop(other_handle);
    drop(store);
    let reopened = place.open(StoreSettings::default());
    assert!(reopened.is_completed("last").unwrap());
}

async_contract_tests!(
    #[tokio::test(start_paused = true)]
    a_batch_is_committed_as_soon_as_it_holds_max_acks,
    #[tokio::test(start_paused = true)]
    a_batch_is_committed_once_its_max_delay_has_passed,
    #[tokio::test]
    flush_is_a_durable_barrier,
    #[tokio::test]
    the_writer_reports_keys_of_the_open_batch_as_completed,
    #[tokio::test]
    close_commits_what_is_pending_and_releases_the_store,
);

/// A copy of the redb file taken right after a flush is what a crash would leave on disk.
#[tokio::test]
async fn a_redb_file_copied_right_after_a_flush_holds_everything_flushed() {
    let directory = StoreDirectory::new();
    let path = directory.store_path();
    let store = Store::open(&path, settings(1_000, Duration::from_secs(3600))).unwrap();
    let writer = CheckpointWriter::spawn(store.clone());
    writer.record_completed("delivered-1").await.unwrap();
    writer
        .advance_checkpoint(ORG, TOPIC, 41u64.to_be_bytes())
        .await
        .unwrap();
    writer.record_completed("delivered-2").await.unwrap();
    writer
        .advance_checkpoint(ORG, TOPIC, 42u64.to_be_bytes())
        .await
        .unwrap();

    writer.flush().await.unwrap();

    let copy = path.with_file_name("crashed-copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    let reopened = Store::open(&copy, StoreSettings::default()).unwrap();
    assert!(reopened.is_completed("delivered-1").unwrap());
    assert!(reopened.is_completed("delivered-2").unwrap());
    assert_eq!(
        reopened.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(42u64.to_be_bytes().to_vec())
    );
}
