//! The connector run inside this process against the fake Salesforce, for `bench` and `demo`:
//! loopback listeners, a scratch directory for the store, and a connector whose partner
//! answers deliveries at `/events` and routing requests at `/routing`.
//!
//! It only wires existing parts together and knows nothing of what the caller measures or
//! prints.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::{ConnectorError, Listeners};
use crate::dev::samples::{connector_config_toml, with_settings};
use fake_salesforce::FakeSalesforce;

/// Why starting or stopping failed.
pub(crate) type EmbeddedError = Box<dyn std::error::Error + Send + Sync>;

/// A fresh directory named after `name` under the system temp dir.
pub fn scratch_dir(name: &str) -> Result<PathBuf, EmbeddedError> {
    let dir = std::env::temp_dir().join(format!("byoc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A listener on a fresh loopback port.
pub(crate) async fn loopback_listener() -> std::io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await
}

/// Serves `app` on a fresh loopback port for the rest of the process; returns the address.
pub(crate) async fn serve_loopback(app: axum::Router) -> std::io::Result<SocketAddr> {
    let listener = loopback_listener().await?;
    let address = listener.local_addr()?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        // A partner that waits on Nagle's algorithm would measure itself, not the connector.
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        // The process exits when the bench or demo ends.
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}

/// A connector running in this process.
pub(crate) struct EmbeddedConnector {
    dir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ConnectorError>>,
}

impl EmbeddedConnector {
    /// Starts a connector on `fake` with strategy `partner`, serving on `listeners` and its
    /// store in a scratch directory named after `name`. The partner at
    /// `partner` takes deliveries at `/events` and routing requests at `/routing`.
    pub(crate) fn start(
        fake: &FakeSalesforce,
        name: &str,
        listeners: Listeners,
        partner: SocketAddr,
    ) -> Result<Self, EmbeddedError> {
        Self::start_with(fake, name, listeners, partner, &[])
    }

    /// [`EmbeddedConnector::start`] with each `(section, key, value)` of `settings` set in its
    /// config.
    pub(crate) fn start_with(
        fake: &FakeSalesforce,
        name: &str,
        listeners: Listeners,
        partner: SocketAddr,
        settings: &[(&str, &str, toml::Value)],
    ) -> Result<Self, EmbeddedError> {
        let dir = scratch_dir(name)?;
        let routing = format!("strategy = \"partner\"\nurl = \"http://{partner}/routing\"");
        let text = with_settings(
            &connector_config_toml(
                fake,
                &format!("http://{partner}/events"),
                &dir.join("state.redb"),
                &routing,
            ),
            settings,
        )?;
        let config = Config::from_toml_str(&text)?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(crate::connector::run_on(
            config,
            listeners,
            shutdown.clone(),
        ));
        Ok(Self {
            dir,
            shutdown,
            task,
        })
    }

    /// The directory holding its store.
    pub(crate) fn store_dir(&self) -> &Path {
        &self.dir
    }

    /// Shuts it down gracefully, removes its scratch directory and says how it ended.
    pub(crate) async fn stop(self) -> Result<(), EmbeddedError> {
        self.shutdown.cancel();
        let ended = self.task.await;
        std::fs::remove_dir_all(&self.dir).ok();
        Ok(ended??)
    }
}
