//! The real `byoc-connector` binary as a child process: its config file, start (waiting for
//! the sidecar address it logs), SIGKILL, SIGTERM, and its log kept in a file per start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use fake_salesforce::FakeSalesforce;
use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncWriteExt;

/// Client id and secret the soak registers with the fake's OAuth server.
pub const CLIENT_ID: &str = "soak-client";
/// See [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "soak-client-secret";
/// Longest the binary may take to log its sidecar address.
const START_LIMIT: Duration = Duration::from_secs(60);
/// Longest a SIGTERMed binary may take to drain and exit.
const TERM_LIMIT: Duration = Duration::from_secs(40);

/// Writes the connector's config into `dir`: Pub/Sub over TLS trusting the fake's certificate,
/// client-credentials auth (so expired tokens are refreshed), partner routing, webhook delivery.
pub fn write_config(
    fake: &FakeSalesforce,
    dir: &Path,
    delivery_url: &str,
    routing_url: &str,
) -> anyhow::Result<PathBuf> {
    let endpoints = fake.endpoints();
    let ca = dir.join("fake-ca.pem");
    std::fs::write(&ca, fake.certificate_pem().context("the fake serves TLS")?)?;
    let config = format!(
        r#"
[pubsub]
endpoint = "{pubsub}"
ca_certificate_file = "{ca}"
topic = "{topic}"
start = "earliest"
min_backoff_ms = 50
max_backoff_ms = 1000

[auth]
kind = "client-credentials"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
login_url = "{login}"
insecure = true

[interaction]
base_url = "{instance}"
authorization_context = "{context}"
insecure = true

[delivery]
url = "{delivery_url}"
request_timeout_ms = 10000

[store]
path = "{store}"

[server]
listen = "127.0.0.1:0"
sidecar_listen = "127.0.0.1:0"

[routing]
strategy = "partner"
url = "{routing_url}"
"#,
        pubsub = endpoints.pubsub,
        ca = ca.display(),
        topic = endpoints.topic,
        login = endpoints.login_url,
        instance = endpoints.instance_url,
        context = endpoints.authorization_context,
        store = dir.join("state.redb").display(),
    );
    let path = dir.join("connector.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// One running start of the binary.
pub struct Connector {
    child: tokio::process::Child,
    /// Where its sidecar API listens.
    pub sidecar: SocketAddr,
}

impl Connector {
    /// Spawns `run --config config`, logging to `log_path`, and waits until the sidecar listens.
    pub async fn start(config: &Path, log_path: &Path) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn,byoc_connector::server=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("the connector binary starts")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let mut log = tokio::fs::File::create(log_path).await?;
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        // Drains stderr into the log file for the life of the process (a full pipe would block
        // it) and hands over the sidecar address once it is logged.
        tokio::spawn(async move {
            let mut address_tx = Some(address_tx);
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(address) = sidecar_address_in(&line) {
                    if let Some(sender) = address_tx.take() {
                        let _ = sender.send(address);
                    }
                }
                let _ = log.write_all(line.as_bytes()).await;
                let _ = log.write_all(b"\n").await;
            }
            let _ = log.flush().await;
        });
        match tokio::time::timeout(START_LIMIT, address_rx).await {
            Ok(Ok(sidecar)) => Ok(Self { child, sidecar }),
            Ok(Err(_)) => bail!(
                "the connector exited before it listened; see {}",
                log_path.display()
            ),
            Err(_) => bail!(
                "the connector did not listen within {START_LIMIT:?}; see {}",
                log_path.display()
            ),
        }
    }

    /// The exit status if the process ended on its own.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, as in a crash, and reap it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// SIGTERM (drain, final checkpoint) and the exit status.
    pub async fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("the connector is still running")?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "SIGTERM could not be sent");
        Ok(tokio::time::timeout(TERM_LIMIT, self.child.wait()).await??)
    }
}

/// The address in the binary's "sidecar server listening" JSON log line.
fn sidecar_address_in(line: &str) -> Option<SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = entry.get("fields").unwrap_or(&entry);
    if fields.get("message")?.as_str()? != "sidecar server listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}
