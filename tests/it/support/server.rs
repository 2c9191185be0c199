//! Shared helpers for the `server_*` integration tests: start the real server on
//! `127.0.0.1:0` and speak HTTP/1.1 to it over a real socket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use byoc_connector::server::{serve_ops, serve_sidecar, Readiness, ServerState, SidecarAuth};
use byoc_connector::telemetry::Telemetry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Upper bound on waiting for the server, so a broken server fails the test instead of
/// hanging it; no test asserts on how long anything takes.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running server and the handles that drive it.
pub struct RunningServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its readiness flag.
    pub readiness: Readiness,
    /// Its telemetry.
    pub telemetry: Telemetry,
    /// Cancelling it stops the server.
    pub shutdown: CancellationToken,
    /// The serve task.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts the ops server on an ephemeral loopback port.
pub async fn start() -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let readiness = Readiness::new();
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let state = ServerState::new(readiness.clone(), telemetry.clone());
    let task = tokio::spawn(serve_ops(listener, state, shutdown.clone()));
    RunningServer {
        address,
        readiness,
        telemetry,
        shutdown,
        task,
    }
}

/// Starts the sidecar server on an ephemeral loopback port with `routes` behind `auth`.
pub async fn start_sidecar(routes: Router, auth: SidecarAuth) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let readiness = Readiness::new();
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve_sidecar(listener, routes, auth, shutdown.clone()));
    RunningServer {
        address,
        readiness,
        telemetry,
        shutdown,
        task,
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header block, lowercased.
    pub headers: String,
    /// The body.
    pub body: String,
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub async fn request(address: SocketAddr, method: &str, path: &str) -> HttpResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = tokio::time::timeout(PATIENCE, exchange).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    HttpResponse {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// `GET path`.
pub async fn get(address: SocketAddr, path: &str) -> HttpResponse {
    request(address, "GET", path).await
}
