//! The REST side (OAuth, Interaction Service, SOQL, control plane) over TLS with the fake's
//! self-signed certificate, so clients that insist on an `https` instance URL (the npm
//! Pub/Sub client, a connector configured as for a real org) can talk to the fake.
//!
//! It owns the TLS accept loop only: the routes are the plain HTTP side's, unchanged. It knows
//! nothing about what the routes do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Longest a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 64;

/// A listener handing axum connections whose TLS handshake is done. Handshakes run in tasks
/// of their own, so a slow or broken client never holds up the others.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` with `config` until `shutdown`.
    pub(crate) fn spawn(
        listener: TcpListener,
        local: SocketAddr,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> Self {
        let (sender, ready) = mpsc::channel(ACCEPT_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = shutdown.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::debug!(error = %err, "fake https accept failed");
                        // Out of file descriptors and the like: give the system a moment.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Without this, small responses wait on Nagle's algorithm for up to 40 ms.
                let _ = stream.set_nodelay(true);
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            // The server is gone when this fails: nothing left to serve.
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, peer = %peer, "fake https handshake failed");
                        }
                        Err(_) => tracing::debug!(peer = %peer, "fake https handshake timed out"),
                    }
                });
            }
        });
        Self { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop stopped at shutdown; the server's graceful shutdown ends this.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
