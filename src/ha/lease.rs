//! The lease statements, one round trip each, on the database's clock (`now()`): a replica's
//! clock never decides who leads.
//!
//! A lease is taken only when its row is missing or expired, and each take increments the
//! row's token; it is renewed only by its holder with the same token while it has not expired;
//! a release ends it at once, so a standby takes it at its next try. This file knows SQL and
//! the `LEASE_TABLE_DDL` row, nothing about when to call which statement.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tracing::warn;

use super::HaError;
use crate::secret::SecretString;
use crate::store::{Fence, LEASE_TABLE_DDL, SCHEMA_LOCK_KEY};

/// Takes the lease when it is free or expired; each take increments the token.
const ACQUIRE: &str = "INSERT INTO byoc_leases AS lease (namespace, holder, token, expires_at)
     VALUES ($1, $2, 1, now() + $3::float8 * interval '1 second')
     ON CONFLICT (namespace) DO UPDATE
        SET holder = EXCLUDED.holder, token = lease.token + 1, expires_at = EXCLUDED.expires_at
      WHERE lease.expires_at <= now()
     RETURNING token";

/// Extends the lease, only while this holder holds it with this token and it has not expired.
const RENEW: &str = "UPDATE byoc_leases SET expires_at = now() + $4::float8 * interval '1 second'
      WHERE namespace = $1 AND holder = $2 AND token = $3 AND expires_at > now()";

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
        let target = crate::store::parse_target(url.expose());
        let tls = crate::store::PostgresTls::new(target.tls.as_ref())
            .map_err(|error| HaError::Tls(Box::new(error)))?;
        let (mut client, connection) = match tls {
            crate::store::PostgresTls::Plain => {
                let (client, connection) =
                    tokio_postgres::connect(&target.driver_url, tokio_postgres::NoTls)
                        .await
                        .map_err(HaError::Connect)?;
                (client, tokio::spawn(watch_connection(connection)))
            }
            crate::store::PostgresTls::Rustls(rustls) => {
                let (client, connection) = tokio_postgres::connect(&target.driver_url, rustls)
                    .await
                    .map_err(HaError::Connect)?;
                (client, tokio::spawn(watch_connection(connection)))
            }
        };
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
