//! The doctor's store step: can the connector write its store?
//!
//! A PostgreSQL store is opened as the connector opens it: connected to, its tables created
//! when missing and its schema version checked (and the namespace's key count row started);
//! nothing else is written, and a running connector sharing the database is not disturbed.
//! For the redb file, an existing store is opened the way the `dlq` commands open it, and
//! closed at once; when a running connector holds it (redb allows one open handle), the step
//! passes with that note and does not touch the file: the running connector is writing it. A
//! missing store is not created; a file is created and removed in the nearest existing
//! directory instead, since the connector creates the missing directories and the file
//! itself. It knows nothing about the store's tables.

use std::path::{Path, PathBuf};

use super::Outcome;
use crate::config::{StoreConfig, StoreKind};
use crate::store::{Store, StoreError};

/// The hint of every failure but a newer schema.
const HINT: &str = "store.path must name a file in a directory the connector's user may write \
                    (mount a volume there), and not a directory or a file of another program";

/// The hint of every PostgreSQL failure but a newer schema.
const POSTGRES_HINT: &str = "store.url must reach a PostgreSQL database (with the TLS its \
                             sslmode asks for) as a role that may create tables in it, or whose \
                             byoc_ tables exist already (docs/operations.md)";

/// Step 8: the store writable, or in use by a running connector.
pub(super) async fn check(config: &StoreConfig) -> Outcome {
    let config = config.clone();
    tokio::task::spawn_blocking(move || match config.kind {
        StoreKind::Redb => check_blocking(&config.path),
        StoreKind::Postgres => check_postgres(&config),
    })
    .await
    .unwrap_or_else(|error| Outcome::fail(format!("the store check stopped: {error}"), HINT))
}

fn check_postgres(config: &StoreConfig) -> Outcome {
    match Store::open_existing_at(&config.location()) {
        Ok(store) => Outcome::Pass(format!("{} opened, tables ready", store.location())),
        Err(error @ StoreError::NewerDatabaseSchema { .. }) => Outcome::fail(
            error.to_string(),
            "upgrade byoc-connector on every replica, or point store.url at another database",
        ),
        Err(error) => Outcome::fail(crate::error_chain::render(&error), POSTGRES_HINT),
    }
}

fn check_blocking(path: &Path) -> Outcome {
    let shown = path.display();
    if path.exists() {
        return match Store::open_existing(path) {
            Ok(store) => {
                drop(store);
                Outcome::Pass(format!("{shown} opened for writing"))
            }
            Err(StoreError::Locked { .. }) => Outcome::Pass(format!(
                "{shown} is in use by a running connector (not opened; that connector writes it)"
            )),
            Err(error @ StoreError::NewerSchema { .. }) => Outcome::fail(
                error.to_string(),
                "upgrade byoc-connector, or point store.path at another file",
            ),
            Err(error) => Outcome::fail(crate::error_chain::render(&error), HINT),
        };
    }
    let Some(directory) = nearest_existing_ancestor(path) else {
        return Outcome::fail(format!("no directory of {shown} exists"), HINT);
    };
    if !directory.is_dir() {
        return Outcome::fail(
            format!(
                "{shown} cannot be created: {} is not a directory",
                directory.display()
            ),
            HINT,
        );
    }
    let probe = directory.join(format!(".byoc-doctor-{}", uuid::Uuid::new_v4()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(file) => {
            drop(file);
            // Best effort: a leftover empty probe file is harmless.
            let _ = std::fs::remove_file(&probe);
            Outcome::Pass(format!(
                "{shown} does not exist yet; {} is writable, so the connector can create it",
                directory.display()
            ))
        }
        Err(error) => Outcome::fail(
            format!(
                "{shown} cannot be created: {} is not writable: {error}",
                directory.display()
            ),
            HINT,
        ),
    }
}

/// The store's nearest ancestor that exists (a directory, or a file in the way).
fn nearest_existing_ancestor(path: &Path) -> Option<PathBuf> {
    let mut current = path.parent();
    while let Some(candidate) = current {
        let candidate = if candidate.as_os_str().is_empty() {
            Path::new(".")
        } else {
            candidate
        };
        if candidate.exists() {
            return Some(candidate.to_owned());
        }
        current = candidate.parent();
    }
    None
}
