//! The PostgreSQL backend: the same tables as the redb file, shared by every replica of every
//! channel, each row keyed by the store's namespace.
//!
//! This module owns the connection (`store.url`, over TLS when its `sslmode` asks for it,
//! `postgres_tls.rs`), the schema (created at open under an advisory
//! lock, with the same "newer schema refuses to open" rule as the file) and the fence: while
//! one is set, every write transaction first proves, in the same transaction, that this
//! replica still holds its lease, and rolls back with [`StoreError::Fenced`] when it does not.
//! Connections live on their own threads (`pool`), so calls are safe from async code. It
//! knows nothing about how leases are taken or renewed, nor about the writer.

mod acks;
mod pool;
mod records;
mod schema;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use postgres::{Client, Transaction};

use super::backend::StoreBackend;
use super::{
    AckBatch, Checkpoint, DeadLetter, Fence, NewDeadLetter, PendingRoutingWrite,
    SidecarAnswerWrite, StoreError, StoreSettings,
};
use pool::Pool;
pub use schema::SCHEMA_LOCK_KEY;

/// Connections (and threads) per store: one for the writer's commits, one for everything else
/// meanwhile; many tenants in one process each have their own.
const CONNECTIONS_PER_STORE: usize = 2;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run-time parameters of every store session. A session idle inside a transaction for a
/// second is ended by the server and its transaction rolled back: a replica paused in the
/// middle of a write (SIGSTOP) would otherwise keep its row locks, among them the share lock
/// on the lease row each fenced write takes, and no standby could take the lease over. A
/// second is far longer than any gap between the statements of a live transaction, and shorter
/// than the shortest lease (`ha.takeover_secs = 3`: 2.4 s).
pub const POSTGRES_SESSION_OPTIONS: &str = "-c idle_in_transaction_session_timeout=1000";

/// The `application_name` of the connector's sessions unless the URL names one.
pub(crate) const APPLICATION_NAME: &str = "byoc-connector";

/// The session options a URL gives, with [`POSTGRES_SESSION_OPTIONS`] added.
pub(crate) fn session_options(given: Option<&str>) -> String {
    match given {
        Some(given) => format!("{given} {POSTGRES_SESSION_OPTIONS}"),
        None => POSTGRES_SESSION_OPTIONS.to_owned(),
    }
}

/// Wraps a PostgreSQL error with the operation that hit it.
pub(super) fn failed(operation: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres {
        operation,
        source: Box::new(source),
    }
}

/// Epoch milliseconds as a `bigint`.
fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A non-negative `bigint` (a count, an id) as `u64`.
fn sql_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The open PostgreSQL store of one namespace.
pub(crate) struct PostgresStore {
    pool: Pool,
    namespace: String,
    location: String,
    // The bounds the writes enforce (dedup keys, conversations, dead letters).
    settings: StoreSettings,
    // Set by the lease keeper, read by every write.
    fence: Mutex<Option<Fence>>,
}

impl PostgresStore {
    /// Connects, creates the tables the database lacks, and checks its schema version.
    pub(super) fn open(
        url: &str,
        namespace: &str,
        settings: StoreSettings,
    ) -> Result<Self, StoreError> {
        let requested = super::parse_target(url);
        let tls = super::PostgresTls::new(requested.tls.as_ref())?;
        let mut config: postgres::Config =
            requested
                .driver_url
                .parse()
                .map_err(|error: postgres::Error| StoreError::PostgresUrl {
                    reason: error.to_string(),
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        config.options(&session_options(config.get_options()));
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let target = describe(&config);
        if matches!(tls, super::PostgresTls::Plain) && leaves_the_host_unencrypted(&config) {
            tracing::warn!(
                target = %target,
                "the connection to PostgreSQL is not encrypted: set sslmode=verify-full in store.url, or keep the database on a private network"
            );
        }
        let location = format!("postgres {target} namespace {namespace}");
        let pool = Pool::start(&config, &tls, &target, CONNECTIONS_PER_STORE);
        let store = Self {
            pool,
            namespace: namespace.to_owned(),
            location,
            settings,
            fence: Mutex::new(None),
        };
        let (prepared_namespace, prepared_location) =
            (store.namespace.clone(), store.location.clone());
        store
            .pool
            .run(move |client| schema::prepare(client, &prepared_namespace, &prepared_location))?;
        tracing::debug!(location = %store.location, "store opened");
        Ok(store)
    }

    fn fence(&self) -> Option<Fence> {
        self.fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs a read on a connection thread with this store's namespace.
    fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client, &str) -> Result<T, StoreError> + Send + 'static,
    {
        let namespace = self.namespace.clone();
        self.pool.run(move |client| work(client, &namespace))
    }

    /// Runs a write in one transaction that first checks the fence, if one is set, and
    /// commits only if `work` succeeds.
    fn write<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>, &str) -> Result<T, StoreError> + Send + 'static,
    {
        let namespace = self.namespace.clone();
        let fence = self.fence();
        self.pool.run(move |client| {
            let mut transaction = client.transaction().map_err(failed("begin write"))?;
            if let Some(fence) = &fence {
                check_fence_in(&mut transaction, fence, true)?;
            }
            let value = work(&mut transaction, &namespace)?;
            transaction.commit().map_err(failed(operation))?;
            Ok(value)
        })
    }
}

/// Refuses with [`StoreError::Fenced`] unless `fence`'s holder still holds the lease with its
/// token; `for_share` also locks the lease row until the transaction ends, so a takeover
/// waits for this write instead of passing it.
fn check_fence_in(
    client: &mut impl postgres::GenericClient,
    fence: &Fence,
    for_share: bool,
) -> Result<(), StoreError> {
    let sql = if for_share {
        "SELECT 1 FROM byoc_leases WHERE namespace = $1 AND holder = $2 AND token = $3 \
         AND expires_at > now() FOR SHARE"
    } else {
        "SELECT 1 FROM byoc_leases WHERE namespace = $1 AND holder = $2 AND token = $3 \
         AND expires_at > now()"
    };
    let held = client
        .query_opt(sql, &[&fence.namespace, &fence.holder, &fence.token])
        .map_err(failed("check fence"))?;
    if held.is_none() {
        return Err(StoreError::Fenced {
            namespace: fence.namespace.clone(),
            holder: fence.holder.clone(),
            token: fence.token,
        });
    }
    Ok(())
}

/// `user@host:port/database` of a connection config: enough to tell databases apart in logs,
/// never the password.
/// Whether a connection made from `config` crosses a network in plaintext: some host is reached
/// over TCP and is not a loopback name or address.
fn leaves_the_host_unencrypted(config: &postgres::Config) -> bool {
    config.get_hosts().iter().any(|host| match host {
        postgres::config::Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            let loopback = name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback());
            !loopback
        }
        #[cfg(unix)]
        postgres::config::Host::Unix(_) => false,
    })
}

fn describe(config: &postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{database}")
}

impl StoreBackend for PostgresStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.lock().unwrap_or_else(PoisonError::into_inner) = fence;
    }

    fn check_fence(&self) -> Result<(), StoreError> {
        let Some(fence) = self.fence() else {
            return Ok(());
        };
        self.pool
            .run(move |client| check_fence_in(client, &fence, false))
    }

    fn commit_ack_batch(&self, batch: &AckBatch, now_ms: u64) -> Result<(), StoreError> {
        acks::commit_ack_batch(self, batch, now_ms)
    }

    fn load_checkpoint(&self, org: &str, topic: &str) -> Result<Option<Vec<u8>>, StoreError> {
        acks::load_checkpoint(self, org, topic)
    }

    fn list_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        acks::list_checkpoints(self)
    }

    fn set_checkpoint(
        &self,
        org: &str,
        topic: &str,
        replay_id: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        acks::set_checkpoint(self, org, topic, replay_id)
    }

    fn delete_checkpoint(&self, org: &str, topic: &str) -> Result<bool, StoreError> {
        acks::delete_checkpoint(self, org, topic)
    }

    fn is_completed(&self, idempotency_key: &str) -> Result<bool, StoreError> {
        acks::is_completed(self, idempotency_key)
    }

    fn answers_completed_from_memory(&self) -> bool {
        false
    }

    fn completed_key_fingerprints(&self) -> Result<Vec<u64>, StoreError> {
        acks::completed_key_fingerprints(self)
    }

    fn completed_key_count(&self) -> Result<u64, StoreError> {
        acks::completed_key_count(self)
    }

    fn record_dead_letter(
        &self,
        letter: &NewDeadLetter,
        attempted_ms: u64,
    ) -> Result<u64, StoreError> {
        records::record_dead_letter(self, letter, attempted_ms)
    }

    fn get_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        records::get_dead_letter(self, id)
    }

    fn list_dead_letters(
        &self,
        after_id: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        records::list_dead_letters(self, after_id, limit)
    }

    fn count_dead_letters(&self) -> Result<u64, StoreError> {
        records::count_dead_letters(self)
    }

    fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        records::remove_dead_letter(self, id)
    }

    fn remove_all_dead_letters(&self) -> Result<u64, StoreError> {
        records::remove_all_dead_letters(self)
    }

    fn write_pending_routing_batch(
        &self,
        writes: &[PendingRoutingWrite],
    ) -> Result<Vec<bool>, StoreError> {
        records::write_pending_routing_batch(self, writes)
    }

    fn get_pending_routing(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        records::get_pending_routing(self, event_id)
    }

    fn remove_pending_routing(&self, event_id: &str) -> Result<bool, StoreError> {
        records::remove_pending_routing(self, event_id)
    }

    fn list_pending_routing(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        records::list_pending_routing(self)
    }

    fn conversation_state(&self, conversation: &str) -> Result<Option<Vec<u8>>, StoreError> {
        acks::conversation_state(self, conversation)
    }

    fn sidecar_answer(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        records::sidecar_answer(self, key)
    }

    fn put_sidecar_answers(
        &self,
        writes: &[SidecarAnswerWrite],
        max_age: Duration,
        max_keys: u64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        records::put_sidecar_answers(self, writes, max_age, max_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unencrypted(url: &str) -> bool {
        leaves_the_host_unencrypted(&url.parse().unwrap())
    }

    #[test]
    fn only_a_host_beyond_loopback_counts_as_crossing_a_network_in_plaintext() {
        assert!(unencrypted("postgres://byoc@db.internal:5432/byoc"));
        assert!(unencrypted("postgres://byoc@10.0.0.7/byoc"));
        assert!(!unencrypted("postgres://byoc@127.0.0.1:55432/postgres"));
        assert!(!unencrypted("postgres://byoc@localhost/byoc"));
        assert!(!unencrypted("postgres://byoc@[::1]:5432/byoc"));
        assert!(!unencrypted("host=/var/run/postgresql user=byoc"));
    }
}
