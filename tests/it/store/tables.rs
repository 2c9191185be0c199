//! The store's tables, read back after each write and after reopening the store: one contract,
//! run against the redb file and PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::support::store::{Backend, TestStore};
use byoc_connector::store::{AckBatch, NewDeadLetter, StoreSettings};

pub(super) const ORG: &str = "00Dxx0000001gEREAY";
pub(super) const TOPIC: &str = "/event/Byoc_Outbound__e";

pub(super) fn replay_id(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn batch_advancing_to(value: u64) -> AckBatch {
    let mut batch = AckBatch::new();
    batch.advance_checkpoint(ORG, TOPIC, replay_id(value));
    batch
}

pub(super) fn dead_letter(replay: u64, reason: &str) -> NewDeadLetter {
    NewDeadLetter {
        replay_id: replay_id(replay),
        raw: vec![0x00, 0xff, 0x0a, 0x80],
        decoded_json: None,
        reason: reason.to_owned(),
        attributes: BTreeMap::new(),
    }
}

fn checkpoints_round_trip_per_org_and_topic_and_survive_reopening(backend: Backend) {
    let place = TestStore::new(backend);
    {
        let store = place.open(StoreSettings::default());
        let mut batch = AckBatch::new();
        batch.advance_checkpoint(ORG, TOPIC, replay_id(7));
        batch.advance_checkpoint(ORG, "/event/Other__e", replay_id(3));
        store.commit_ack_batch(&batch, SystemTime::now()).unwrap();
    }
    let store = place.open(StoreSettings::default());
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(replay_id(7))
    );
    assert_eq!(
        store.load_checkpoint(ORG, "/event/Other__e").unwrap(),
        Some(replay_id(3))
    );
    assert_eq!(store.load_checkpoint("00Dother", TOPIC).unwrap(), None);
    assert_eq!(store.list_checkpoints().unwrap().len(), 2);
    assert!(store.delete_checkpoint(ORG, TOPIC).unwrap());
    assert_eq!(store.load_checkpoint(ORG, TOPIC).unwrap(), None);
}

fn a_checkpoint_moves_forward_by_big_endian_order(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    // 0x00ff < 0x0100: byte order and numeric order agree for equal lengths.
    for value in [0x00ff_u64, 0x0100, 0x01_0000_0000] {
        store
            .commit_ack_batch(&batch_advancing_to(value), SystemTime::now())
            .unwrap();
        assert_eq!(
            store.load_checkpoint(ORG, TOPIC).unwrap(),
            Some(replay_id(value))
        );
    }
}

/// Debug builds catch the caller's bug with `debug_assert!`; release builds keep the stored one.
fn a_checkpoint_never_moves_backwards(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    store
        .commit_ack_batch(&batch_advancing_to(10), SystemTime::now())
        .unwrap();
    store
        .commit_ack_batch(&batch_advancing_to(9), SystemTime::now())
        .unwrap();
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(replay_id(10))
    );
}

fn completed_keys_beyond_the_count_bound_are_pruned_oldest_first(backend: Backend) {
    let place = TestStore::new(backend);
    let options = StoreSettings {
        dedup_max_keys: 3,
        ..StoreSettings::default()
    };
    let store = place.open(options);
    let start = SystemTime::now();
    for (second, key) in ["k1", "k2", "k3", "k4", "k5"].into_iter().enumerate() {
        let mut batch = AckBatch::new();
        batch.record_completed(key);
        let at = start + Duration::from_secs(second as u64);
        store.commit_ack_batch(&batch, at).unwrap();
    }
    assert_eq!(store.completed_key_count().unwrap(), 3);
    assert!(!store.is_completed("k1").unwrap());
    assert!(!store.is_completed("k2").unwrap());
    for kept in ["k3", "k4", "k5"] {
        assert!(store.is_completed(kept).unwrap(), "{kept} is kept");
    }
}

fn completed_keys_older_than_the_age_bound_are_pruned(backend: Backend) {
    let place = TestStore::new(backend);
    let options = StoreSettings {
        dedup_max_age: Duration::from_secs(60),
        ..StoreSettings::default()
    };
    let store = place.open(options);
    let start = SystemTime::now();
    let commit_at = |key: &str, seconds: u64| {
        let mut batch = AckBatch::new();
        batch.record_completed(key);
        store
            .commit_ack_batch(&batch, start + Duration::from_secs(seconds))
            .unwrap();
    };
    commit_at("old", 0);
    commit_at("middle", 30);
    assert!(store.is_completed("old").unwrap());
    commit_at("new", 61);
    assert!(!store.is_completed("old").unwrap());
    assert!(store.is_completed("middle").unwrap());
    assert!(store.is_completed("new").unwrap());
}

fn dead_letters_keep_raw_bytes_exactly(backend: Backend) {
    let place = TestStore::new(backend);
    let every_byte: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let letter = NewDeadLetter {
        replay_id: replay_id(42),
        raw: every_byte.clone(),
        decoded_json: Some(r#"{"b":1,"a":"\n"}"#.to_owned()),
        reason: "avro decode failed: unexpected end of input".to_owned(),
        attributes: BTreeMap::from([("schema_id".to_owned(), "abc".to_owned())]),
    };
    let recorded_at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let id = {
        let store = place.open(StoreSettings::default());
        store.record_dead_letter(&letter, recorded_at).unwrap()
    };
    let store = place.open(StoreSettings::default());
    let stored = store.get_dead_letter(id).unwrap().unwrap();
    assert_eq!(stored.raw, every_byte);
    assert_eq!(stored.replay_id, replay_id(42));
    assert_eq!(stored.decoded_json, letter.decoded_json);
    assert_eq!(stored.reason, letter.reason);
    assert_eq!(stored.attributes, letter.attributes);
    assert_eq!(stored.first_attempt_at, recorded_at);
    assert_eq!(stored.last_attempt_at, recorded_at);
    assert_eq!(stored.attempts, 1);
}

fn re_recording_a_replay_id_bumps_attempts_and_last_attempt_time(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    let first = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let second = first + Duration::from_secs(60);
    let id = store
        .record_dead_letter(&dead_letter(5, "partner rejected with 400"), first)
        .unwrap();
    let same_id = store
        .record_dead_letter(&dead_letter(5, "partner rejected with 422"), second)
        .unwrap();
    assert_eq!(id, same_id);
    let stored = store.get_dead_letter(id).unwrap().unwrap();
    assert_eq!(stored.attempts, 2);
    assert_eq!(stored.first_attempt_at, first);
    assert_eq!(stored.last_attempt_at, second);
    assert_eq!(stored.reason, "partner rejected with 422");
    assert_eq!(store.count_dead_letters().unwrap(), 1);
}

fn dead_letters_are_listed_in_pages_removed_and_their_ids_never_reused(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    let now = SystemTime::now();
    let ids: Vec<u64> = (1..=5)
        .map(|replay| {
            store
                .record_dead_letter(&dead_letter(replay, "bad"), now)
                .unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));

    let first_page = store.list_dead_letters(None, 2).unwrap();
    let second_page = store.list_dead_letters(Some(first_page[1].id), 10).unwrap();
    let listed: Vec<u64> = first_page
        .iter()
        .chain(&second_page)
        .map(|l| l.id)
        .collect();
    assert_eq!(listed, ids);

    assert!(store.remove_dead_letter(ids[0]).unwrap());
    assert!(!store.remove_dead_letter(ids[0]).unwrap());
    assert_eq!(store.get_dead_letter(ids[0]).unwrap(), None);
    assert_eq!(store.remove_all_dead_letters().unwrap(), 4);
    assert_eq!(store.count_dead_letters().unwrap(), 0);

    // The replay id index went with the letters: the same event becomes a new letter.
    let next = store
        .record_dead_letter(&dead_letter(1, "bad"), now)
        .unwrap();
    assert!(next > ids[4]);
    assert_eq!(store.get_dead_letter(next).unwrap().unwrap().attempts, 1);
}

fn pending_routing_records_round_trip_and_survive_reopening(backend: Backend) {
    let place = TestStore::new(backend);
    {
        let store = place.open(StoreSettings::default());
        store
            .put_pending_routing("evt-2", br#"{"state":"waiting"}"#)
            .unwrap();
        store.put_pending_routing("evt-1", b"\x00binary").unwrap();
        store
            .put_pending_routing("evt-2", br#"{"state":"posting"}"#)
            .unwrap();
    }
    let store = place.open(StoreSettings::default());
    assert_eq!(
        store.get_pending_routing("evt-2").unwrap().as_deref(),
        Some(&br#"{"state":"posting"}"#[..])
    );
    let listed = store.list_pending_routing().unwrap();
    let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["evt-1", "evt-2"]);
    assert!(store.remove_pending_routing("evt-1").unwrap());
    assert!(!store.remove_pending_routing("evt-1").unwrap());
    assert_eq!(store.get_pending_routing("evt-1").unwrap(), None);
}

fn inserting_a_pending_routing_record_if_absent_never_overwrites(backend: Backend) {
    let place = TestStore::new(backend);
    let store = place.open(StoreSettings::default());
    assert!(store
        .insert_pending_routing_if_absent("evt", b"first")
        .unwrap());
    assert!(!store
        .insert_pending_routing_if_absent("evt", b"second")
        .unwrap());
    assert_eq!(
        store.get_pending_routing("evt").unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

fn recording_a_dead_letter_removes_the_oldest_beyond_the_configured_count(backend: Backend) {
    let place = TestStore::new(backend);
    let settings = StoreSettings {
        dead_letter_max_count: Some(2),
        ..StoreSettings::default()
    };
    let store = place.open(settings);
    let now = SystemTime::now();
    let ids: Vec<u64> = (1..=3)
        .map(|replay| {
            store
                .record_dead_letter(&dead_letter(replay, "bad"), now)
                .unwrap()
        })
        .collect();

    assert_eq!(store.count_dead_letters().unwrap(), 2);
    assert!(store.get_dead_letter(ids[0]).unwrap().is_none());
    assert!(store.get_dead_letter(ids[2]).unwrap().is_some());
    // The removed letter's replay id is free again: recording it makes a new letter.
    let again = store
        .record_dead_letter(&dead_letter(1, "bad again"), now)
        .unwrap();
    assert!(again > ids[2]);
}

fn recording_a_dead_letter_removes_those_older_than_the_configured_age(backend: Backend) {
    let place = TestStore::new(backend);
    let settings = StoreSettings {
        dead_letter_max_age: Some(Duration::from_secs(7 * 24 * 3600)),
        ..StoreSettings::default()
    };
    let store = place.open(settings);
    let now = SystemTime::now();
    let old = store
        .record_dead_letter(
            &dead_letter(1, "old"),
            now - Duration::from_secs(8 * 24 * 3600),
        )
        .unwrap();
    let recent = store
        .record_dead_letter(
            &dead_letter(2, "recent"),
            now - Duration::from_secs(24 * 3600),
        )
        .unwrap();

    store
        .record_dead_letter(&dead_letter(3, "new"), now)
        .unwrap();

    assert!(store.get_dead_letter(old).unwrap().is_none());
    assert!(store.get_dead_letter(recent).unwrap().is_some());
    assert_eq!(store.count_dead_letters().unwrap(), 2);
}

contract_tests!(
    checkpoints_round_trip_per_org_and_topic_and_survive_reopening,
    a_checkpoint_moves_forward_by_big_endian_order,
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "a new checkpoint is never before the stored one")
    )]
    a_checkpoint_never_moves_backwards,
    completed_keys_beyond_the_count_bound_are_pruned_oldest_first,
    completed_keys_older_than_the_age_bound_are_pruned,
    dead_letters_keep_raw_bytes_exactly,
    re_recording_a_replay_id_bumps_attempts_and_last_attempt_time,
    dead_letters_are_listed_in_pages_removed_and_their_ids_never_reused,
    pending_routing_records_round_trip_and_survive_reopening,
    inserting_a_pending_routing_record_if_absent_never_overwrites,
    recording_a_dead_letter_removes_the_oldest_beyond_the_configured_count,
    recording_a_dead_letter_removes_those_older_than_the_configured_age,
);
