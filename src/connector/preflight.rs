//! Start-up checks that need the machine but not the network: the ones validation can
//! foresee but a pure configuration loader cannot make.
//!
//! `server.listen` must be free, the JWT private key readable and the store's directory
//! usable. Each failure is a
//! [`ConfigProblem`] naming the key, so `run` exits 64 with every problem at once before the
//! connector binds or connects anything. This file knows nothing about what the connector
//! does once running.

use std::net::TcpListener;
use std::path::Path;

use crate::auth::{load_private_key, AuthConfig, AuthError};
use crate::config::{Config, ConfigError, ConfigProblem};

/// Checks what the configuration names on this machine; `Err` lists every problem.
pub fn preflight(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    // Bound and released at once: the port is taken for real moments later by `run`.
    if let Err(error) = TcpListener::bind(config.server.listen) {
        problems.push(problem(
            "server.listen",
            format!("cannot be bound ({}): {error}", config.server.listen),
            "another process (another connector?) listens there, or the address is not this \
             machine's; choose a free port or stop the other process",
        ));
    }
    for (index, (tenant, channel)) in config.channels().iter().enumerate() {
        // A tenant's keys are named as the file writes them: `tenants[1].auth.…`.
        let key_of = |key: &str| match tenant {
            Some(_) => format!("tenants[{index}].{key}"),
            None => key.to_owned(),
        };
        if let AuthConfig::JwtBearer(jwt) = &channel.auth {
            if let Err(AuthError::Config { key, problem: text }) =
                load_private_key(&jwt.private_key_file)
            {
                problems.push(problem(
                    &key_of(key),
                    format!("is unusable: {text}"),
                    "point it at the PEM file holding the RSA key whose certificate the External \
                     Client App has, readable by the connector's user",
                ));
            }
        }
        if let Some(mut store_problem) = store_directory_problem(&channel.store.path) {
            store_problem.key = key_of(&store_problem.key);
            problems.push(store_problem);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// A problem when the store's directory exists but is not a writable directory.
fn store_directory_problem(store_path: &Path) -> Option<ConfigProblem> {
    let directory = store_path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())?;
    let metadata = std::fs::metadata(directory).ok()?;
    if !metadata.is_dir() {
        return Some(problem(
            "store.path",
            format!(
                "is inside {}, which is not a directory",
                directory.display()
            ),
            "point it at a file in a directory the connector may write",
        ));
    }
    if metadata.permissions().readonly() {
        return Some(problem(
            "store.path",
            format!("is inside {}, which is read-only", directory.display()),
            "give the connector's user write access, or mount a volume there",
        ));
    }
    None
}

fn problem(key: &str, problem: String, hint: &str) -> ConfigProblem {
    ConfigProblem {
        key: key.to_owned(),
        problem,
        hint: hint.to_owned(),
        env_var: None,
    }
}
