//! Conversation state records expire once the conversation has been quiet for
//! `conversation_max_age`, counted from each record's last write (the commit time passed in,
//! so no test waits).

use std::time::{Duration, SystemTime};

use crate::support::store::{Backend, TestStore};
use byoc_connector::store::{AckBatch, Store, StoreSettings};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Commits one batch writing `conversations`, at `at`.
fn write_at(store: &Store, conversations: &[&str], at: SystemTime) {
    let mut batch = AckBatch::new();
    for conversation in conversations {
        batch.put_conversation(*conversation, conversation.as_bytes().to_vec());
    }
    store.commit_ack_batch(&batch, at).unwrap();
}

fn kept(store: &Store, conversation: &str) -> bool {
    store.conversation_state(conversation).unwrap().is_some()
}

fn a_quiet_conversation_is_pruned_and_recent_or_revived_ones_are_kept(backend: Backend) {
    let place = TestStore::new(backend);
    let settings = StoreSettings {
        conversation_max_age: Some(30 * DAY),
        ..StoreSettings::default()
    };
    let store = place.open(settings);
    let start = SystemTime::now();

    write_at(&store, &["old", "revived"], start);
    write_at(&store, &["recent", "revived"], start + 20 * DAY);
    // Exactly at the age the oldest record is still kept.
    write_at(&store, &[], start + 30 * DAY);
    assert!(kept(&store, "old"));

    write_at(&store, &[], start + 31 * DAY);

    assert!(!kept(&store, "old"), "quiet for 31 days");
    assert!(kept(&store, "recent"), "quiet for 11 days");
    assert!(kept(&store, "revived"), "written again 11 days ago");

    // The revived record's first write no longer counts: it expires 30 days after its last.
    write_at(&store, &[], start + 51 * DAY);
    assert!(!kept(&store, "revived"));
    assert!(!kept(&store, "recent"));
}

fn without_a_max_age_conversations_are_kept_however_quiet(backend: Backend) {
    let place = TestStore::new(backend);
    let settings = StoreSettings {
        conversation_max_age: None,
        ..StoreSettings::default()
    };
    let store = place.open(settings);
    let start = SystemTime::now();

    write_at(&store, &["old"], start);
    write_at(&store, &[], start + 3_650 * DAY);

    assert!(kept(&store, "old"));
}

fn the_activity_survives_reopening_the_store(backend: Backend) {
    let place = TestStore::new(backend);
    let start = SystemTime::now();
    {
        let store = place.open(StoreSettings::default());
        write_at(&store, &["old"], start);
    }
    let store = place.open(StoreSettings::default());
    assert!(kept(&store, "old"));

    write_at(&store, &[], start + 31 * DAY);

    assert!(!kept(&store, "old"), "the default keeps 30 days");
}

contract_tests!(
    a_quiet_conversation_is_pruned_and_recent_or_revived_ones_are_kept,
    without_a_max_age_conversations_are_kept_however_quiet,
    the_activity_survives_reopening_the_store,
);
