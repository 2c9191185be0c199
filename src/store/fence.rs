//! Fencing for replicas that share one PostgreSQL store: the lease table's shape and the token a
//! leader carries.
//!
//! One replica per namespace holds the lease; each takeover increments the lease's token. A
//! store with a [`Fence`] refuses every durable write unless that lease is still held by the
//! fence's holder with the fence's token, so a paused old leader can never write after a new one
//! took over. This file only defines the shared shapes; taking and renewing leases is the `ha`
//! module's job, checking them the PostgreSQL store's. redb stores are single-process and ignore
//! fences.

/// The lease table, created by whichever of the store or the lease keeper starts first. One row
/// per namespace; `token` only ever grows, and `expires_at` is the database's clock, never a
/// replica's.
pub(crate) const LEASE_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS byoc_leases (
    namespace text PRIMARY KEY,
    holder text NOT NULL,
    token bigint NOT NULL,
    expires_at timestamptz NOT NULL
)";

/// The proof of leadership a durable write carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The namespace (tenant) the lease is for: `store.namespace`.
    pub namespace: String,
    /// The replica holding the lease.
    pub holder: String,
    /// The lease's token when this replica took it.
    pub token: i64,
}
