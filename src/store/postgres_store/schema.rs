//! The PostgreSQL store's tables, created at open, and the schema version they carry.
//!
//! Every table is prefixed `byoc_` and keyed by namespace first, so several channels share one
//! database. Text keys use the "C" collation: listings come back in byte order, as from the
//! redb file. Creating runs in one transaction under an advisory lock, so replicas starting
//! together do not race on `CREATE TABLE`, and only when the version row says the tables are
//! not all there; a database whose schema version is newer than this build's is refused
//! before anything is touched. It knows nothing about the rows' meaning.

use postgres::Client;

use super::{failed, sql_u64};
use crate::store::{StoreError, LEASE_TABLE_DDL, POSTGRES_SCHEMA_VERSION};

/// The advisory lock (`pg_advisory_xact_lock`) held while tables are created; whoever else
/// creates byoc tables in the same database (the lease keeper) takes it too.
pub const SCHEMA_LOCK_KEY: i64 = 0x6279_6f63_7363_6865;

/// The namespace of rows about the database itself (the schema version); configured
/// namespaces are never empty.
const DATABASE_NAMESPACE: &str = "";

/// The `byoc_meta` name of the schema version (database-wide) row.
const SCHEMA_VERSION: &str = "schema_version";

/// The `byoc_meta` name of a namespace's count of completed keys, kept so pruning by count
/// needs no `count(*)` at each commit.
pub(super) const COMPLETED_KEY_COUNT: &str = "completed_keys";

const META_DDL: &str = r#"CREATE TABLE IF NOT EXISTS byoc_meta (
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (namespace, name)
)"#;

const TABLES_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS byoc_checkpoints (
    namespace text COLLATE "C" NOT NULL,
    org text COLLATE "C" NOT NULL,
    topic text COLLATE "C" NOT NULL,
    replay_id bytea NOT NULL,
    PRIMARY KEY (namespace, org, topic)
);
CREATE TABLE IF NOT EXISTS byoc_completed_keys (
    namespace text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    completed_at_ms bigint NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS byoc_completed_keys_by_age
    ON byoc_completed_keys (namespace, completed_at_ms, key);
CREATE TABLE IF NOT EXISTS byoc_dead_letters (
    namespace text COLLATE "C" NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    replay_id bytea NOT NULL,
    raw bytea NOT NULL,
    decoded_json text,
    reason text NOT NULL,
    attributes text NOT NULL,
    first_attempt_ms bigint NOT NULL,
    last_attempt_ms bigint NOT NULL,
    attempts bigint NOT NULL,
    PRIMARY KEY (namespace, id),
    UNIQUE (namespace, replay_id)
);
CREATE TABLE IF NOT EXISTS byoc_pending_routing (
    namespace text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (namespace, event_id)
);
CREATE TABLE IF NOT EXISTS byoc_conversations (
    namespace text COLLATE "C" NOT NULL,
    conversation text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    active_ms bigint NOT NULL,
    PRIMARY KEY (namespace, conversation)
);
CREATE INDEX IF NOT EXISTS byoc_conversations_by_activity
    ON byoc_conversations (namespace, active_ms);
CREATE TABLE IF NOT EXISTS byoc_sidecar_answers (
    namespace text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    stored_ms bigint NOT NULL,
    answer bytea NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS byoc_sidecar_answers_by_age
    ON byoc_sidecar_answers (namespace, stored_ms, key);
"#;

/// Checks the schema version and creates what is missing, then starts `namespace`'s key count.
///
/// A database already at this version is only read: `CREATE INDEX IF NOT EXISTS` locks its
/// table even when the index exists, which would make every replica's start contend with the
/// leader's commits. Creating (first start, or an older version) runs under the advisory
/// lock, in one transaction that writes the version row with the tables.
pub(super) fn prepare(
    client: &mut Client,
    namespace: &str,
    location: &str,
) -> Result<(), StoreError> {
    let current = read_version(client, location)?;
    if current != Some(POSTGRES_SCHEMA_VERSION) {
        create(client, location)?;
    }
    client
        .execute(
            "INSERT INTO byoc_meta (namespace, name, value) \
             SELECT $1, $2, count(*) FROM byoc_completed_keys WHERE namespace = $1 \
             ON CONFLICT (namespace, name) DO NOTHING",
            &[&namespace, &COMPLETED_KEY_COUNT],
        )
        .map_err(failed("count completed keys"))?;
    Ok(())
}

/// The database's schema version, `None` before the first start; refuses a newer one.
fn read_version(
    client: &mut impl postgres::GenericClient,
    location: &str,
) -> Result<Option<u64>, StoreError> {
    let meta_exists: bool = client
        .query_one("SELECT to_regclass('byoc_meta') IS NOT NULL", &[])
        .map_err(failed("read schema version"))?
        .get(0);
    if !meta_exists {
        return Ok(None);
    }
    let found = client
        .query_opt(
            "SELECT value FROM byoc_meta WHERE namespace = $1 AND name = $2",
            &[&DATABASE_NAMESPACE, &SCHEMA_VERSION],
        )
        .map_err(failed("read schema version"))?
        .map(|row| sql_u64(row.get(0)));
    match found {
        Some(found) if found > POSTGRES_SCHEMA_VERSION => Err(StoreError::NewerDatabaseSchema {
            location: location.to_owned(),
            found,
            supported: POSTGRES_SCHEMA_VERSION,
        }),
        found => Ok(found),
    }
}

/// Creates every missing table under the advisory lock and records this version.
fn create(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let mut transaction = client.transaction().map_err(failed("begin schema check"))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
        .map_err(failed("lock schema"))?;
    // Another replica may have created everything while this one waited for the lock.
    if read_version(&mut transaction, location)? == Some(POSTGRES_SCHEMA_VERSION) {
        return Ok(());
    }
    transaction
        .batch_execute(META_DDL)
        .map_err(failed("create meta table"))?;
    transaction
        .batch_execute(TABLES_DDL)
        .map_err(failed("create tables"))?;
    transaction
        .batch_execute(LEASE_TABLE_DDL)
        .map_err(failed("create lease table"))?;
    // Version 2 changed only the redb file: an older database gets any missing table and the
    // new version row.
    let version = i64::try_from(POSTGRES_SCHEMA_VERSION).unwrap_or(i64::MAX);
    transaction
        .execute(
            "INSERT INTO byoc_meta (namespace, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (namespace, name) DO UPDATE SET value = EXCLUDED.value",
            &[&DATABASE_NAMESPACE, &SCHEMA_VERSION, &version],
        )
        .map_err(failed("write schema version"))?;
    transaction.commit().map_err(failed("commit schema"))
}
