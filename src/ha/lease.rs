//! The lease statements, one round trip each, on the database's clock (`now()`): a replica's
//! clock never decides who leads.
//!
//! A lease is taken only when its row is missing or expired, and each take increments the
//! row's token; it is renewed only by its holder with the same token while it has not expired;
//! a release ends it at once, so a standby takes it at its next try. Replicas sharing several
//! tenants' leases announce themselves in [`REPLICAS_TABLE_DDL`], and a take within the share
//! counts them. This file knows SQL and the rows, nothing about when to call which statement.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tracing::warn;

use super::{HaError, LeaseShare};
use crate::secret::SecretString;
use crate::store::{Fence, LEASE_TABLE_DDL, SCHEMA_LOCK_KEY};

/// Whether both tables the keeper uses exist already.
const TABLES_EXIST: &str =
    "SELECT to_regclass('byoc_leases') IS NOT NULL AND to_regclass('byoc_replicas') IS NOT NULL";

/// Takes the lease when it is free or expired; each take increments the token.
const ACQUIRE: &str = "INSERT INTO byoc_leases AS lease (namespace, holder, token, expires_at)
     VALUES ($1, $2, 1, now() + $3::float8 * interval '1 second')
     ON CONFLICT (namespace) DO UPDATE
        SET holder = EXCLUDED.holder, token = lease.token + 1, expires_at = EXCLUDED.expires_at
      WHERE lease.expires_at <= now()
     RETURNING token";

/// The replicas of each pool (the replicas serving one list of tenants), with when each last
/// said it is alive: the fair share of leases is counted over the live ones.
pub const REPLICAS_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS byoc_replicas (
    pool text NOT NULL,
    holder text NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (pool, holder)
)";

/// Says this replica of a pool is alive now.
const ANNOUNCE: &str = "INSERT INTO byoc_replicas (pool, holder, seen_at) VALUES ($1, $2, now())
     ON CONFLICT (pool, holder) DO UPDATE SET seen_at = now()";

/// Says this replica of a pool is gone (a clean shutdown), so the others' share grows at once.
const LEAVE: &str = "DELETE FROM byoc_replicas WHERE pool = $1 AND holder = $2";

/// [`ACQUIRE`], for a replica within its fair share: it holds fewer of the pool's leases
/// (`$5`, `$6` of them) than `ceil($6 / live replicas)`, a replica being live while it
/// announced itself within the last `ttl`. Beyond its share it takes only a lease that has
/// been free for longer than the grace period `$7`, so none stays unowned. The inserted
/// token says whether the replica is within its share (1) or not (0): the conflict branch
/// reads it from `EXCLUDED`. A lease never taken is inserted only within the share.
const ACQUIRE_WITHIN_SHARE: &str = "WITH share AS (
    SELECT (SELECT count(*) FROM byoc_leases
             WHERE holder = $2 AND expires_at > now() AND namespace = ANY($5))
         < ceil($6::float8 / GREATEST(1, (SELECT count(*) FROM byoc_replicas
             WHERE pool = $4 AND seen_at > now() - $3::float8 * interval '1 second'))) AS within
    )
    INSERT INTO byoc_leases AS lease (namespace, holder, token, expires_at)
    SELECT $1, $2, CASE WHEN share.within THEN 1 ELSE 0 END,
           now() + $3::float8 * interval '1 second'
      FROM share
     WHERE share.within OR EXISTS (SELECT 1 FROM byoc_leases WHERE namespace = $1)
    ON CONFLICT (namespace) DO UPDATE
       SET holder = EXCLUDED.holder, token = lease.token + 1, expires_at = EXCLUDED.expires_at
     WHERE lease.expires_at <= now()
       AND (EXCLUDED.token = 1 OR lease.expires_at <= now() - $7::float8 * interval '1 second')
    RETURNING token";

/// Extends the lease, only while this holder holds it with this token and it has not expired.
const RENEW: &str = "UPDATE byoc_leases SET expires_at = now() + $4::float8 * interval '1 second'
      WHERE namespace = $1 AND holder = $2 AND token = $3 AND expires_at > now()";

/// Lets one keeper of a replica (pool, holder) count and take at a time; see
/// [`LeaseDb::acquire_within_share`]. The two-key form does not share key space with the
/// store's one-key schema lock.
const LOCK_REPLICA_TAKES: &str = "SELECT pg_advisory_lock(hashtext($1), hashtext($2))";

/// Ends [`LOCK_REPLICA_TAKES`].
const UNLOCK_REPLICA_TAKES: &str = "SELECT pg_advisory_unlock(hashtext($1), hashtext($2))";

/// Ends the lease now, so a standby takes it at its next try.
const RELEASE: &str = "UPDATE byoc_leases SET expires_at = now()
      WHERE namespace = $1 AND holder = $2 AND token = $3 AND expires_at > now()";

/// The lease row and how long it has left, on the database's clock.
const CURRENT: &str =
    "SELECT holder, token, GREATEST(EXTRACT(EPOCH FROM expires_at - now()), 0)::float8
       FROM byoc_leases WHERE namespace = $1";

/// A namespace's lease as the database sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRow {
    /// The replica that took it last.
    pub holder: String,
    /// Its token.
    pub token: i64,
    /// Time left before it expires; zero once expired or released.
    pub remaining: Duration,
}

impl LeaseRow {
    /// Whether someone holds it now.
    pub fn is_held(&self) -> bool {
        !self.remaining.is_zero()
    }
}

/// One connection to the database the lease lives in.
pub struct LeaseDb {
    client: Client,
    // Drives the connection; ends when the client is dropped or the connection breaks.
    connection: JoinHandle<()>,
}

impl std::fmt::Debug for LeaseDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseDb")
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

/// Drives the lease database's connection until it ends, and says why when it failed.
async fn watch_connection<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(error) = connection.await {
        warn!(error = %error, "lease database connection ended");
    }
}

impl Drop for LeaseDb {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl LeaseDb {
    /// Connects to `url` (with TLS when its `sslmode` asks for it, verified as the store's
    /// connections are) and creates the lease table when it is missing.
    pub async fn connect(url: &SecretString) -> Result<Self, HaError> {
        let requested = crate::store::parse_target(url.expose());
        let tls = crate::store::PostgresTls::new(requested.tls.as_ref())
            .map_err(|error| HaError::Tls(Box::new(error)))?;
        let mut config: tokio_postgres::Config =
            requested.driver_url.parse().map_err(HaError::Connect)?;
        // As the store's sessions: a transaction left idle by a paused process is ended by the
        // server, so the schema lock taken below never outlives a second.
        config.options(crate::store::session_options(config.get_options()));
        if config.get_application_name().is_none() {
            config.application_name(crate::store::APPLICATION_NAME);
        }
        let (mut client, connection) = match tls {
            crate::store::PostgresTls::Plain => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(HaError::Connect)?;
                (client, tokio::spawn(watch_connection(connection)))
            }
            crate::store::PostgresTls::Rustls(rustls) => {
                let (client, connection) =
                    config.connect(rustls).await.map_err(HaError::Connect)?;
                (client, tokio::spawn(watch_connection(connection)))
            }
        };
        // A keeper connects again after every failed statement; once the tables exist it
        // needs no lock, so a replica stopped inside its own DDL holds up nobody's renewal.
        let exists = client
            .query_one(TABLES_EXIST, &[])
            .await
            .map_err(query_error("create table"))?;
        if exists.get::<_, bool>(0) {
            return Ok(Self { client, connection });
        }
        let transaction = client
            .transaction()
            .await
            .map_err(query_error("create table"))?;
        transaction
            // The store's schema lock: the store creates this table too, and two concurrent
            // `CREATE TABLE IF NOT EXISTS` can collide.
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
            .await
            .map_err(query_error("create table"))?;
        transaction
            .batch_execute(LEASE_TABLE_DDL)
            .await
            .map_err(query_error("create table"))?;
        transaction
            .batch_execute(REPLICAS_TABLE_DDL)
            .await
            .map_err(query_error("create table"))?;
        transaction
            .commit()
            .await
            .map_err(query_error("create table"))?;
        Ok(Self { client, connection })
    }

    /// Whether the connection is gone (the keeper then connects again).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Takes `namespace`'s lease for `holder` for `ttl` when nobody holds it: its new token, or
    /// `None` while another holder's lease runs.
    pub async fn acquire(
        &self,
        namespace: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, HaError> {
        let row = self
            .client
            .query_opt(ACQUIRE, &[&namespace, &holder, &ttl.as_secs_f64()])
            .await
            .map_err(query_error("acquire"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// [`LeaseDb::acquire`] within `share`: beyond this replica's fair share only a lease free
    /// for longer than its grace period is taken.
    ///
    /// A replica's keepers (one per tenant) take turns, under a session advisory lock on
    /// (pool, holder): each counts the leases the replica holds, and two counting at once
    /// would both see room and the replica would take more than its share. The lock goes
    /// with the connection, which the keeper drops on any failure or timeout.
    pub async fn acquire_within_share(
        &self,
        namespace: &str,
        holder: &str,
        ttl: Duration,
        share: &LeaseShare,
    ) -> Result<Option<i64>, HaError> {
        self.client
            .execute(LOCK_REPLICA_TAKES, &[&share.pool, &holder])
            .await
            .map_err(query_error("acquire"))?;
        let taken = self.acquire_counted(namespace, holder, ttl, share).await;
        self.client
            .execute(UNLOCK_REPLICA_TAKES, &[&share.pool, &holder])
            .await
            .map_err(query_error("acquire"))?;
        taken
    }

    /// [`ACQUIRE_WITHIN_SHARE`], with this replica's takes locked.
    async fn acquire_counted(
        &self,
        namespace: &str,
        holder: &str,
        ttl: Duration,
        share: &LeaseShare,
    ) -> Result<Option<i64>, HaError> {
        let tenants = f64::from(u32::try_from(share.namespaces.len()).unwrap_or(u32::MAX));
        let row = self
            .client
            .query_opt(
                ACQUIRE_WITHIN_SHARE,
                &[
                    &namespace,
                    &holder,
                    &ttl.as_secs_f64(),
                    &share.pool,
                    &share.namespaces,
                    &tenants,
                    &share.grace.as_secs_f64(),
                ],
            )
            .await
            .map_err(query_error("acquire"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Says `holder` of `pool` is alive now.
    pub async fn announce(&self, pool: &str, holder: &str) -> Result<(), HaError> {
        self.client
            .execute(ANNOUNCE, &[&pool, &holder])
            .await
            .map_err(query_error("announce"))?;
        Ok(())
    }

    /// Says `holder` of `pool` is gone.
    pub async fn leave(&self, pool: &str, holder: &str) -> Result<(), HaError> {
        self.client
            .execute(LEAVE, &[&pool, &holder])
            .await
            .map_err(query_error("leave"))?;
        Ok(())
    }

    /// Extends the lease `fence` names by `ttl`; false when it is no longer held with that
    /// token (expired, released or taken over).
    pub async fn renew(&self, fence: &Fence, ttl: Duration) -> Result<bool, HaError> {
        let updated = self
            .client
            .execute(
                RENEW,
                &[
                    &fence.namespace,
                    &fence.holder,
                    &fence.token,
                    &ttl.as_secs_f64(),
                ],
            )
            .await
            .map_err(query_error("renew"))?;
        Ok(updated == 1)
    }

    /// Ends the lease `fence` names now; false when it had already ended.
    pub async fn release(&self, fence: &Fence) -> Result<bool, HaError> {
        let updated = self
            .client
            .execute(RELEASE, &[&fence.namespace, &fence.holder, &fence.token])
            .await
            .map_err(query_error("release"))?;
        Ok(updated == 1)
    }

    /// `namespace`'s lease row, if it was ever taken.
    pub async fn current(&self, namespace: &str) -> Result<Option<LeaseRow>, HaError> {
        let row = self
            .client
            .query_opt(CURRENT, &[&namespace])
            .await
            .map_err(query_error("read"))?;
        Ok(row.map(|row| LeaseRow {
            holder: row.get(0),
            token: row.get(1),
            remaining: Duration::try_from_secs_f64(row.get(2)).unwrap_or(Duration::ZERO),
        }))
    }
}

fn query_error(operation: &'static str) -> impl FnOnce(tokio_postgres::Error) -> HaError {
    move |source| HaError::Query { operation, source }
}
