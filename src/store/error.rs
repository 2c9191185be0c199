//! Everything that can go wrong with the store, in one enum for both backends, so callers
//! match on what happened (locked, newer schema, fenced…) and not on which engine said it.
//! Texts never carry a PostgreSQL password. It knows nothing about what the tables hold.

use std::path::PathBuf;

use super::writer;

/// Everything that can go wrong with the store, whichever backend keeps it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file was written by a newer build; opening it could corrupt data that build relies on.
    #[error(
        "store file {path} has schema version {found}, but this build supports up to version {supported}; \
         upgrade byoc-connector or point the store path at another file",
        path = path.display()
    )]
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// The schema version recorded in the file.
        found: u64,
        /// The newest schema version this build understands.
        supported: u64,
    },
    /// The file does not exist and the caller asked not to create one.
    #[error("store file {path} does not exist", path = path.display())]
    NotFound {
        /// The store file.
        path: PathBuf,
    },
    /// A running connector holds the file, in another process or in this one.
    #[error(
        "store file {path} is in use by a running connector; stop the connector that uses it first",
        path = path.display()
    )]
    Locked {
        /// The store file.
        path: PathBuf,
    },
    /// The file exists but cannot be opened as a store.
    #[error("cannot open store file {path}", path = path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// A read or a write of the redb file failed.
    #[error("store {operation} failed")]
    Database {
        /// What the store was doing, for example `commit ack batch`.
        operation: &'static str,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
    /// A stored record cannot be decoded.
    #[error("store record {key} in table {table} is corrupt: {reason}")]
    Corrupt {
        /// The table holding the record.
        table: &'static str,
        /// The record's key, printable.
        key: String,
        /// Why it cannot be decoded.
        reason: String,
    },
    /// The checkpoint writer stopped, after a failed commit or a close.
    #[error("checkpoint writer stopped: {0}")]
    WriterStopped(#[source] writer::WriterStop),
    /// This replica's lease was taken over (or expired): it is no longer the leader and must not
    /// write. Not retried.
    #[error(
        "store write refused: replica {holder} no longer holds the lease of namespace {namespace} with token {token}"
    )]
    Fenced {
        /// The namespace whose lease was lost.
        namespace: String,
        /// This replica.
        holder: String,
        /// The token this replica held.
        token: i64,
    },
    /// A PostgreSQL read or write failed (the text names the operation, never the URL).
    #[error("store {operation} failed")]
    Postgres {
        /// What the store was doing, for example `commit ack batch`.
        operation: &'static str,
        /// What PostgreSQL or the connection reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL store cannot be reached or prepared.
    #[error("cannot open the PostgreSQL store {target}")]
    PostgresOpen {
        /// User, host, port and database, never the password.
        target: String,
        /// What the connection reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `store.url` cannot be read as a PostgreSQL connection URL.
    #[error("store.url is not a usable PostgreSQL URL: {reason}")]
    PostgresUrl {
        /// What is wrong with it; never its text, which may hold a password.
        reason: String,
    },
    /// `store.url`'s `sslrootcert` cannot be used as the CA certificates to trust.
    #[error(
        "store.url's sslrootcert {} cannot be used: {reason}; give a PEM file of the CA \
         certificates that signed the database's certificate",
        path.display()
    )]
    PostgresTlsRoots {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database's byoc tables were created by a newer build.
    #[error(
        "the PostgreSQL store {location} has schema version {found}, but this build supports up to version {supported}; \
         upgrade byoc-connector on every replica"
    )]
    NewerDatabaseSchema {
        /// User, host, port, database and namespace.
        location: String,
        /// The schema version recorded in the database.
        found: u64,
        /// The newest schema version this build understands.
        supported: u64,
    },
    /// The threads that hold the PostgreSQL connections are gone.
    #[error("the PostgreSQL store's connection threads stopped")]
    PostgresStopped,
    /// A blocking store task panicked or was cancelled.
    #[error("store task did not finish")]
    TaskFailed(#[source] tokio::task::JoinError),
}

impl StoreError {
    /// Whether this replica lost its lease (directly, or as the reason the writer stopped):
    /// retrying cannot help, and the replica must stop writing.
    pub fn is_fenced(&self) -> bool {
        match self {
            Self::Fenced { .. } => true,
            Self::WriterStopped(writer::WriterStop::CommitFailed(error)) => error.is_fenced(),
            _ => false,
        }
    }
}
