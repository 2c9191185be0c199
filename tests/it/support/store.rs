//! Helpers for the store tests: a fresh place for one test's store on either backend, so each
//! contract test is written once over a `Store` and run against the redb file and PostgreSQL.

use std::path::PathBuf;

use byoc_connector::secret::SecretString;
use byoc_connector::store::{Location, Store, StoreError, StoreSettings};

/// The variable `scripts/test` sets to its throwaway PostgreSQL's URL.
pub const POSTGRES_URL_VARIABLE: &str = "BYOC_TEST_POSTGRES_URL";

/// The test database's URL. Panics without it: a Postgres test never skips.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| {
        panic!("{POSTGRES_URL_VARIABLE} is not set: run scripts/test (it starts a throwaway PostgreSQL)")
    })
}

/// The variable `scripts/test` sets to the CA certificate (PEM) that signed its PostgreSQL's
/// TLS certificate.
pub const POSTGRES_CA_VARIABLE: &str = "BYOC_TEST_POSTGRES_CA";

/// The test database's URL asking for TLS: `sslmode` as given, verified against the test CA
/// when `trust_test_ca`, else against the public web roots only; `tag` goes into
/// `application_name`, so the test can find its own sessions in `pg_stat_ssl`.
pub fn postgres_tls_url(sslmode: &str, trust_test_ca: bool, tag: &str) -> String {
    let ca = std::env::var(POSTGRES_CA_VARIABLE).unwrap_or_else(|_| {
        panic!("{POSTGRES_CA_VARIABLE} is not set: run scripts/test (its PostgreSQL speaks TLS)")
    });
    let base = postgres_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}application_name={tag}&sslmode={sslmode}");
    if trust_test_ca {
        format!("{url}&sslrootcert={ca}")
    } else {
        url
    }
}

/// A namespace no other test uses, so tests share the database and run in parallel.
pub fn fresh_namespace() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

/// A direct connection to the test database, for what a test arranges behind the store's back
/// (a lease taken over, a newer schema). Call it from a plain thread, not a tokio worker.
pub fn postgres_client() -> postgres::Client {
    postgres::Client::connect(&postgres_url(), postgres::NoTls).unwrap()
}

/// Which backend a contract test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A redb file in a fresh temp directory.
    Redb,
    /// A fresh namespace in the test PostgreSQL.
    Postgres,
}

/// One test's store place: reopening it finds what was written before.
pub struct TestStore {
    location: Location,
    // Removes the redb file's directory when the test ends.
    _directory: StoreDirectory,
}

impl TestStore {
    /// A new, empty place on `backend`.
    pub fn new(backend: Backend) -> Self {
        let directory = StoreDirectory::new();
        let location = match backend {
            Backend::Redb => Location::File(directory.store_path()),
            Backend::Postgres => Location::Postgres {
                url: SecretString::from(postgres_url()),
                namespace: fresh_namespace(),
            },
        };
        Self {
            location,
            _directory: directory,
        }
    }

    /// Opens (or reopens) the store with `settings`.
    pub fn open(&self, settings: StoreSettings) -> Store {
        self.try_open(settings).unwrap()
    }

    /// Opens (or reopens) the store with `settings`, or says why not.
    pub fn try_open(&self, settings: StoreSettings) -> Result<Store, StoreError> {
        Store::open_at(&self.location, settings)
    }
}

/// A fresh directory for one test's store file, removed when the test ends. It does not
/// exist until `Store::open` creates it, so tests can check that it does.
pub struct StoreDirectory(PathBuf);

impl StoreDirectory {
    /// A new, not yet created directory under the system temp dir.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("byoc-store-test-{}", uuid::Uuid::new_v4()));
        Self(path)
    }

    /// The store file's path inside it.
    pub fn store_path(&self) -> PathBuf {
        self.0.join("store.redb")
    }
}

impl Drop for StoreDirectory {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
