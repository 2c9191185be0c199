//! What only the PostgreSQL store does: namespaces that share one database without seeing each
//! other, fencing by the lease table, a newer schema refused, and no password in any error
//! (TLS: `postgres_tls`).

use std::time::Duration;

use crate::support::store::{fresh_namespace, postgres_client, postgres_url};
use byoc_connector::store::{
    AckBatch, CheckpointWriter, Fence, Store, StoreError, StoreSettings, WriterHealth,
    POSTGRES_SCHEMA_VERSION,
};

use super::tables::{dead_letter, replay_id, ORG, TOPIC};

const PASSWORD: &str = "pw-5ecret";

/// The error and every source under it, as one text.
fn chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn open(namespace: &str) -> Store {
    Store::open_postgres(&postgres_url(), namespace, StoreSettings::default()).unwrap()
}

/// Makes `holder` the lease holder of `namespace` with `token`, valid for a minute.
fn hand_lease_to(namespace: &str, holder: &str, token: i64) {
    postgres_client()
        .execute(
            "INSERT INTO byoc_leases (namespace, holder, token, expires_at) \
             VALUES ($1, $2, $3, now() + interval '1 minute') \
             ON CONFLICT (namespace) DO UPDATE SET holder = $2, token = $3, \
             expires_at = EXCLUDED.expires_at",
            &[&namespace, &holder, &token],
        )
        .unwrap();
}

#[test]
fn two_namespaces_in_one_database_never_see_each_others_rows() {
    let (first, second) = (fresh_namespace(), fresh_namespace());
    let one = open(&first);
    let other = open(&second);
    let mut batch = AckBatch::new();
    batch.record_completed("key");
    batch.advance_checkpoint(ORG, TOPIC, replay_id(9));
    batch.put_conversation("conversation", b"state".to_vec());
    one.commit_ack_batch(&batch, std::time::SystemTime::now())
        .unwrap();
    one.put_pending_routing("evt", b"record").unwrap();
    one.put_sidecar_answer("answer", b"a", 1, Duration::MAX, 10)
        .unwrap();
    let letter = one
        .record_dead_letter(&dead_letter(1, "bad"), std::time::SystemTime::now())
        .unwrap();

    assert!(!other.is_completed("key").unwrap());
    assert_eq!(other.completed_key_count().unwrap(), 0);
    assert!(other.list_checkpoints().unwrap().is_empty());
    assert_eq!(other.conversation_state("conversation").unwrap(), None);
    assert!(other.list_pending_routing().unwrap().is_empty());
    assert_eq!(other.sidecar_answer("answer").unwrap(), None);
    assert_eq!(other.count_dead_letters().unwrap(), 0);
    assert_eq!(other.get_dead_letter(letter).unwrap(), None);
    assert!(!other.remove_dead_letter(letter).unwrap());
    assert_eq!(other.remove_all_dead_letters().unwrap(), 0);
    // The same event id is free in the other namespace, and the first keeps its own.
    assert!(other
        .insert_pending_routing_if_absent("evt", b"other")
        .unwrap());
    assert_eq!(
        one.get_pending_routing("evt").unwrap().as_deref(),
        Some(&b"record"[..])
    );
    assert_eq!(one.count_dead_letters().unwrap(), 1);
}

#[test]
fn a_write_whose_lease_was_taken_over_is_refused_and_changes_nothing() {
    let namespace = fresh_namespace();
    let store = open(&namespace);
    hand_lease_to(&namespace, "replica-a", 1);
    store.set_fence(Some(Fence {
        namespace: namespace.clone(),
        holder: "replica-a".to_owned(),
        token: 1,
    }));
    store.put_pending_routing("before", b"held").unwrap();
    store.check_fence().unwrap();

    hand_lease_to(&namespace, "replica-b", 2);

    let refused = store.put_pending_routing("after", b"late").unwrap_err();
    assert!(
        matches!(&refused, StoreError::Fenced { holder, token: 1, .. } if holder == "replica-a"),
        "{refused:?}"
    );
    assert!(refused.is_fenced());
    let mut batch = AckBatch::new();
    batch.record_completed("late-key");
    batch.advance_checkpoint(ORG, TOPIC, replay_id(5));
    let batch_refused = store
        .commit_ack_batch(&batch, std::time::SystemTime::now())
        .unwrap_err();
    assert!(batch_refused.is_fenced(), "{batch_refused:?}");
    let letter_refused = store
        .record_dead_letter(&dead_letter(1, "late"), std::time::SystemTime::now())
        .unwrap_err();
    assert!(letter_refused.is_fenced(), "{letter_refused:?}");
    assert!(store.check_fence().unwrap_err().is_fenced());

    assert_eq!(store.get_pending_routing("after").unwrap(), None);
    assert!(!store.is_completed("late-key").unwrap());
    assert_eq!(store.load_checkpoint(ORG, TOPIC).unwrap(), None);
    assert_eq!(store.count_dead_letters().unwrap(), 0);
    assert!(store.get_pending_routing("before").unwrap().is_some());
    // Without a fence (maintenance) the same store writes again.
    store.set_fence(None);
    store.put_pending_routing("after", b"operator").unwrap();
}

#[test]
fn an_expired_lease_fences_its_holder_too() {
    let namespace = fresh_namespace();
    let store = open(&namespace);
    hand_lease_to(&namespace, "replica-a", 7);
    postgres_client()
        .execute(
            "UPDATE byoc_leases SET expires_at = now() - interval '1 second' WHERE namespace = $1",
            &[&namespace],
        )
        .unwrap();
    store.set_fence(Some(Fence {
        namespace: namespace.clone(),
        holder: "replica-a".to_owned(),
        token: 7,
    }));

    let error = store.put_pending_routing("evt", b"x").unwrap_err();

    assert!(error.is_fenced(), "{error:?}");
}

#[tokio::test]
async fn a_fenced_commit_stops_the_writer_at_once_without_retrying() {
    let namespace = fresh_namespace();
    let settings = StoreSettings {
        // A retry would wait this long: the timeout below catches it.
        commit_retry_min_delay: Duration::from_secs(60),
        commit_retry_max_delay: Duration::from_secs(60),
        ..StoreSettings::default()
    };
    let store = Store::open_postgres(&postgres_url(), &namespace, settings).unwrap();
    let lease_namespace = namespace.clone();
    // A plain thread: the direct client must not run on a tokio worker.
    std::thread::spawn(move || hand_lease_to(&lease_namespace, "replica-b", 2))
        .join()
        .unwrap();
    store.set_fence(Some(Fence {
        namespace,
        holder: "replica-a".to_owned(),
        token: 1,
    }));
    let writer = CheckpointWriter::spawn(store.clone());
    writer.record_completed("key").await.unwrap();

    let flushed = tokio::time::timeout(Duration::from_secs(20), writer.flush())
        .await
        .expect("a fenced commit is not retried");

    let error = flushed.unwrap_err();
    assert!(error.is_fenced(), "{error:?}");
    assert_eq!(*writer.health().borrow(), WriterHealth::Failed);
    assert!(!store.is_completed("key").unwrap());
}

#[test]
fn a_database_with_a_newer_schema_is_refused_naming_both_versions() {
    let mut admin = postgres_client();
    let (url, database) = fresh_database(&mut admin, "byoc_newer");
    drop(Store::open_postgres(&url, "default", StoreSettings::default()).unwrap());
    let newer = POSTGRES_SCHEMA_VERSION + 1;
    let mut direct = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    direct
        .execute(
            "UPDATE byoc_meta SET value = $1 WHERE namespace = '' AND name = 'schema_version'",
            &[&i64::try_from(newer).unwrap()],
        )
        .unwrap();
    drop(direct);

    let error = Store::open_postgres(&url, "default", StoreSettings::default()).unwrap_err();

    assert!(
        matches!(error, StoreError::NewerDatabaseSchema { found, supported, .. }
            if found == newer && supported == POSTGRES_SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(message.contains(&database), "{message}");
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .unwrap();
}

#[test]
fn connection_and_url_errors_never_show_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let unreachable = format!("postgres://byoc:{PASSWORD}@127.0.0.1:1/byoc");
    let error =
        Store::open_postgres(&unreachable, "default", StoreSettings::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::PostgresOpen { .. }),
        "{error:?}"
    );
    let text = chain(&error);
    assert!(text.contains("byoc@127.0.0.1:1/byoc"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!format!("{error:?}").contains(PASSWORD), "{error:?}");

    let malformed = format!("postgres://byoc:{PASSWORD}@127.0.0.1:5432/byoc?no_such_option=1");
    let error = Store::open_postgres(&malformed, "default", StoreSettings::default()).unwrap_err();
    assert!(matches!(error, StoreError::PostgresUrl { .. }), "{error:?}");
    assert!(!chain(&error).contains(PASSWORD), "{error}");
}

/// A fresh database on the test cluster, dropped by the caller; its URL.
#[test]
fn a_change_to_the_redb_file_alone_leaves_the_database_at_the_version_older_builds_open() {
    let mut admin = postgres_client();
    let (url, database) = fresh_database(&mut admin, "byoc_version");
    drop(Store::open_postgres(&url, "default", StoreSettings::default()).unwrap());
    let mut direct = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let written: i64 = direct
        .query_one(
            "SELECT value FROM byoc_meta WHERE namespace = '' AND name = 'schema_version'",
            &[],
        )
        .unwrap()
        .get(0);
    drop(direct);
    // Versions 2 and 3 of the redb file changed nothing in PostgreSQL: a build of version 2
    // still opens this database, so a rollback or a rolling upgrade meets no refusal.
    assert_eq!(written, 2);
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .unwrap();
}

fn fresh_database(admin: &mut postgres::Client, prefix: &str) -> (String, String) {
    let database = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let url = postgres_url();
    let (base, _) = url.rsplit_once('/').unwrap();
    (format!("{base}/{database}"), database)
}

#[test]
fn replicas_starting_together_on_an_empty_database_all_open_it() {
    let mut admin = postgres_client();
    let (url, database) = fresh_database(&mut admin, "byoc_race");
    let starts: Vec<_> = (0..6)
        .map(|replica| {
            let url = url.clone();
            std::thread::spawn(move || {
                Store::open_postgres(
                    &url,
                    &format!("replica-{replica}"),
                    StoreSettings::default(),
                )
                .map(drop)
            })
        })
        .collect();

    let outcomes: Vec<_> = starts
        .into_iter()
        .map(|start| start.join().unwrap())
        .collect();

    for outcome in &outcomes {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .unwrap();
}

#[test]
fn a_connection_the_database_closed_is_reopened_by_the_next_call() {
    let application = format!("byoc-reconnect-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}?application_name={application}", postgres_url());
    let store = Store::open_postgres(&url, &fresh_namespace(), StoreSettings::default()).unwrap();
    store.put_pending_routing("before", b"1").unwrap();

    let terminated: i64 = postgres_client()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&application],
        )
        .unwrap()
        .get(0);
    assert!(terminated >= 1, "the store's connection was found");

    // A busy connection meets its end once (each of the store's two may), and the next call
    // on it reconnects: calls after those fail no more.
    let mut failures = 0;
    for call in 0..20 {
        let outcome = if call % 2 == 0 {
            store
                .get_pending_routing("before")
                .map(|record| assert!(record.is_some()))
        } else {
            store.put_pending_routing(&format!("after-{call}"), b"2")
        };
        if let Err(error) = outcome {
            failures += 1;
            assert!(
                failures <= 2,
                "more than one failure per connection: {error:?}"
            );
        }
    }
    assert!(failures >= 1, "the terminated connection was used again");
}

#[test]
fn a_connection_closed_while_the_store_was_idle_is_replaced_before_the_next_call() {
    let application = format!("byoc-idle-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}?application_name={application}", postgres_url());
    let store = Store::open_postgres(&url, &fresh_namespace(), StoreSettings::default()).unwrap();
    store.put_pending_routing("before", b"1").unwrap();
    postgres_client()
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .unwrap();

    // Longer than the idle time after which a connection is checked before use.
    std::thread::sleep(Duration::from_millis(1_500));

    for call in 0..4 {
        store
            .put_pending_routing(&format!("after-{call}"), b"2")
            .unwrap();
    }
}
