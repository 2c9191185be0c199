//! The lease against a real PostgreSQL: one leader, takeover only after expiry and with a
//! larger token, stale tokens refused, release handing over at once, and a leader whose
//! renewals stopped (a paused process) giving up before anyone can take over.

use std::time::Duration;

use byoc_connector::ha::{Leadership, LeaseDb, LostReason};
use byoc_connector::store::{Fence, SCHEMA_LOCK_KEY};
use byoc_connector::telemetry::Telemetry;
use tokio::time::{sleep, Instant};

use super::{fast_timings, fresh_namespace, is_leader, keeper, leads_within, postgres_url};

/// Time for the first take, connection included.
const FIRST_TAKE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn two_keepers_of_one_channel_elect_exactly_one_leader() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let (a, b) = (
        keeper(&namespace, "replica-a", &telemetry),
        keeper(&namespace, "replica-b", &telemetry),
    );
    let guard = tokio::select! {
        guard = a.wait_for_leadership() => guard,
        guard = b.wait_for_leadership() => guard,
    }
    .expect("someone leads");
    // Several renewals and polls later, still exactly one, and the same one.
    sleep(fast_timings().ttl * 2).await;
    assert!(is_leader(&a) ^ is_leader(&b), "exactly one leader");
    assert!(guard.is_valid());
    let row = LeaseDb::connect(&postgres_url())
        .await
        .unwrap()
        .current(&namespace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.holder, guard.fence().holder);
    assert_eq!(row.token, 1);
    assert!(row.is_held());
    assert!(telemetry
        .encode()
        .unwrap()
        .contains("byoc_ha_takeovers_total 1"));
    a.release().await;
    b.release().await;
}

#[tokio::test]
async fn a_standby_takes_over_only_after_a_dead_leaders_lease_expired_with_a_larger_token() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let a = keeper(&namespace, "replica-a", &telemetry);
    let old = leads_within(&a, FIRST_TAKE).await;
    let b = keeper(&namespace, "replica-b", &telemetry);
    sleep(fast_timings().poll * 2).await;
    assert!(
        !is_leader(&b),
        "a standby must not lead while the lease is held"
    );

    let died = Instant::now();
    a.abandon();
    let new = leads_within(&b, Duration::from_secs(10)).await;
    let waited = died.elapsed();
    let timings = fast_timings();
    // The last renewal was at most `renew` before the death, so the lease ran at least
    // `ttl - renew` longer; the standby tries every `poll`.
    assert!(
        waited >= timings.ttl.saturating_sub(timings.renew),
        "took over after {waited:?}, before the lease could have expired"
    );
    assert!(
        waited <= timings.ttl + timings.poll + Duration::from_secs(1),
        "took over after {waited:?}"
    );
    assert!(new.fence().token > old.fence().token);
    println!("takeover after a dead leader: {} ms", waited.as_millis());
    b.release().await;
}

#[tokio::test]
async fn a_leader_whose_renewals_stopped_gives_up_before_anyone_can_take_over() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let a = keeper(&namespace, "replica-a", &telemetry);
    let paused = leads_within(&a, FIRST_TAKE).await;
    let b = keeper(&namespace, "replica-b", &telemetry);
    // Like SIGSTOP: nothing of A runs any more, but its guard is what a resumed A would check.
    a.abandon();
    while paused.is_valid() {
        sleep(Duration::from_millis(10)).await;
    }
    let gave_up = Instant::now();
    let db = LeaseDb::connect(&postgres_url()).await.unwrap();
    let row = db.current(&namespace).await.unwrap().unwrap();
    assert_eq!(row.holder, "replica-a");
    assert!(
        row.is_held(),
        "the database still holds A's lease when A's guard runs out"
    );
    leads_within(&b, Duration::from_secs(10)).await;
    let gap = gave_up.elapsed();
    assert!(
        gap >= fast_timings().margin / 2,
        "B led only {gap:?} after A's guard ran out"
    );
    b.release().await;
}

#[tokio::test]
async fn a_renewal_or_release_with_a_stale_token_is_refused() {
    let namespace = fresh_namespace();
    let db = LeaseDb::connect(&postgres_url()).await.unwrap();
    let ttl = Duration::from_millis(300);
    let old_token = db
        .acquire(&namespace, "replica-a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.acquire(&namespace, "replica-b", ttl).await.unwrap(),
        None,
        "a held lease is not taken"
    );
    sleep(ttl + Duration::from_millis(100)).await;
    let new_token = db
        .acquire(&namespace, "replica-b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new_token, old_token + 1);
    let stale = Fence {
        namespace: namespace.clone(),
        holder: "replica-a".to_owned(),
        token: old_token,
    };
    assert!(!db.renew(&stale, ttl).await.unwrap());
    assert!(!db.release(&stale).await.unwrap());
    let current = Fence {
        holder: "replica-b".to_owned(),
        token: new_token,
        ..stale
    };
    assert!(db.renew(&current, ttl).await.unwrap());
    let row = db.current(&namespace).await.unwrap().unwrap();
    assert_eq!((row.holder.as_str(), row.token), ("replica-b", new_token));
}

#[tokio::test]
async fn a_released_lease_is_taken_over_at_once() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let a = keeper(&namespace, "replica-a", &telemetry);
    let old = leads_within(&a, FIRST_TAKE).await;
    let b = keeper(&namespace, "replica-b", &telemetry);
    sleep(fast_timings().poll).await;
    let released = Instant::now();
    a.release().await;
    assert!(!old.is_valid(), "a released guard is never valid again");
    let new = leads_within(&b, Duration::from_secs(10)).await;
    let waited = released.elapsed();
    assert!(
        waited < fast_timings().ttl,
        "took {waited:?}: the standby waited for the lease to expire"
    );
    assert!(new.fence().token > old.fence().token);
    b.release().await;
}

#[tokio::test]
async fn a_leader_whose_lease_was_taken_over_reports_it_lost() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let a = keeper(&namespace, "replica-a", &telemetry);
    let guard = leads_within(&a, FIRST_TAKE).await;
    let (client, connection) =
        tokio_postgres::connect(postgres_url().expose(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE byoc_leases SET holder = 'thief', token = token + 1 WHERE namespace = $1",
            &[&namespace],
        )
        .await
        .unwrap();
    let mut leadership = a.leadership();
    let lost = tokio::time::timeout(
        Duration::from_secs(5),
        leadership.wait_for(|state| matches!(state, Leadership::Lost(_))),
    )
    .await
    .expect("the loss is noticed at the next renewal")
    .unwrap()
    .clone();
    assert!(matches!(lost, Leadership::Lost(LostReason::TakenOver)));
    assert!(!guard.is_valid());
    let metrics = telemetry.encode().unwrap();
    assert!(
        metrics.contains("byoc_ha_leases_lost_total{reason=\"taken_over\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("byoc_ha_leader 0"), "{metrics}");
}

#[tokio::test]
async fn a_standby_takes_over_from_a_leader_paused_inside_a_fenced_write() {
    let namespace = fresh_namespace();
    let telemetry = Telemetry::new();
    let a = keeper(&namespace, "replica-a", &telemetry);
    let guard = leads_within(&a, FIRST_TAKE).await;
    // What a store session of the paused leader holds: a write transaction that took the share
    // lock on its lease row, left idle because the process stopped.
    let mut config: tokio_postgres::Config = postgres_url().expose().parse().unwrap();
    config.options(byoc_connector::store::POSTGRES_SESSION_OPTIONS);
    let (paused_session, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    paused_session
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM byoc_leases WHERE namespace = '{namespace}' AND token = {} FOR SHARE",
            guard.fence().token
        ))
        .await
        .unwrap();
    a.abandon();

    let b = keeper(&namespace, "replica-b", &telemetry);
    let took_over = Instant::now();
    let new = leads_within(&b, Duration::from_secs(10)).await;
    assert!(new.fence().token > guard.fence().token);
    assert!(
        took_over.elapsed() < fast_timings().ttl + fast_timings().poll + Duration::from_secs(2),
        "took {:?}",
        took_over.elapsed()
    );
    assert!(
        paused_session.is_closed() || paused_session.simple_query("SELECT 1").await.is_err(),
        "the server ended the paused session"
    );
    b.release().await;
}

#[tokio::test]
async fn a_keeper_reconnects_while_a_stopped_replica_holds_the_schema_lock() {
    // The tables exist once anything connected.
    drop(LeaseDb::connect(&postgres_url()).await.unwrap());
    // What a replica stopped (SIGSTOP) in the middle of creating the tables holds.
    let (stopped, connection) =
        tokio_postgres::connect(postgres_url().expose(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    stopped
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK_KEY])
        .await
        .unwrap();
    let reconnected =
        tokio::time::timeout(Duration::from_secs(3), LeaseDb::connect(&postgres_url())).await;
    stopped
        .execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK_KEY])
        .await
        .unwrap();
    assert!(
        reconnected.is_ok(),
        "a keeper's connection waited for the schema lock"
    );
    reconnected.unwrap().unwrap();
}
