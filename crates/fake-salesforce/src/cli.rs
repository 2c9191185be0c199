//! The `fake-salesforce` command: flags, start-up and the ready line.
//!
//! Shared by this crate's own binary and the connector's `fake-salesforce` subcommand, so the
//! two can never drift apart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::avro::EventSchemaSpec;
use crate::pubsub_fake::PubSubFakeConfig;
use crate::{
    FakeConfig, FakeOrg, FakeOrgConfig, FakeSalesforce, HarnessError, FAKE_CHANNEL_DEFINITION,
};

/// The command's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Pub/Sub gRPC address (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// HTTP address for the control plane and the REST side (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub http_listen: SocketAddr,
    /// HTTPS address for the REST side with --tls (loopback only)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub https_listen: SocketAddr,
    /// Serve Pub/Sub, and the REST side on --https-listen, over TLS with a generated
    /// self-signed certificate; the ready line's instanceUrl is then https
    #[arg(long)]
    pub tls: bool,
    /// Write the self-signed certificate (PEM) here, for clients to trust
    #[arg(long, requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// Accept this long-lived token (generated when absent)
    #[arg(long)]
    pub static_token: Option<String>,
    /// Platform event API name (the topic is /event/NAME)
    #[arg(long, default_value = "Byoc_Event__e")]
    pub event_name: String,
    /// Name of the event-type field
    #[arg(long, default_value = "EventType__c")]
    pub event_type_field: String,
    /// Name of the payload field
    #[arg(long, default_value = "Payload__c")]
    pub payload_field: String,
    /// Seconds between keepalives on idle streams
    #[arg(long, default_value_t = 60)]
    pub keepalive_secs: u64,
    /// Seconds events stay replayable
    #[arg(long, default_value_t = 72 * 3600)]
    pub retention_secs: u64,
    /// Register a JWT bearer client: CLIENT_ID=PUBLIC_KEY_PEM_FILE (repeatable); with --orgs,
    /// ORG:CLIENT_ID=FILE registers it with org number ORG (1 without a prefix)
    #[arg(long, value_name = "CLIENT_ID=FILE", value_parser = parse_pair)]
    pub jwt_client: Vec<(String, String)>,
    /// Register a client-credentials client: CLIENT_ID=SECRET (repeatable); with --orgs,
    /// ORG:CLIENT_ID=SECRET registers it with org number ORG (1 without a prefix)
    #[arg(long, value_name = "CLIENT_ID=SECRET", value_parser = parse_pair)]
    pub secret_client: Vec<(String, String)>,
    /// Lifetime of tokens the fake OAuth server issues, in seconds
    #[arg(long, default_value_t = 7200)]
    pub token_lifetime_secs: u64,
    /// The AuthorizationContext (channel definition developer name) the fake Interaction
    /// Service accepts
    #[arg(long, default_value = FAKE_CHANNEL_DEFINITION)]
    pub channel_definition: String,
    /// Serve this many orgs on the same ports: org 1 is 00DFAKE0000001AAAA, org N
    /// 00DFAKE<N, 7 digits>AAAA, each with its own generated token, topic, channel definition
    /// (all named as the flags above say) and recorded calls; the ready line lists them all
    /// under "orgs". --static-token applies to org 1; --jwt-client and --secret-client to org
    /// 1 unless prefixed with another org's number (2:CLIENT_ID=…)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9_999))]
    pub orgs: u32,
}

/// Why the command could not start.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The fake itself could not start.
    #[error("cannot start the fake salesforce: {0}")]
    Start(#[from] HarnessError),
    /// A `--jwt-client` key file could not be read.
    #[error("--jwt-client {client_id}: cannot read {path}: {source}")]
    KeyFile {
        /// The client id the key was given for.
        client_id: String,
        /// The file named.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `--jwt-client` key file is not an RSA public key in PEM.
    #[error("--jwt-client {client_id}: {path} is not an RSA public key in PEM")]
    BadKey {
        /// The client id the key was given for.
        client_id: String,
        /// The file named.
        path: String,
    },
    /// A client was given for an org the fake does not serve.
    #[error("client {client_id} is for org {org}, but the fake serves orgs 1 to {orgs} (--orgs)")]
    NoSuchOrg {
        /// The client id.
        client_id: String,
        /// The org number given.
        org: u32,
        /// How many orgs the fake serves.
        orgs: u32,
    },
    /// The certificate could not be written.
    #[error("cannot write the certificate to {path}: {source}")]
    CertOut {
        /// The file named by `--cert-out`.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// `NAME=VALUE`, both non-empty.
fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Ok((name.to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// The org index (from 0) and client id of a client flag's `[ORG:]CLIENT_ID`, the org checked
/// against the `orgs` served.
fn org_client(name: &str, orgs: u32) -> Result<(usize, &str), CliError> {
    let (org, client_id) = match name.split_once(':') {
        Some((number, client_id))
            if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            (number.parse::<u32>().unwrap_or(u32::MAX), client_id)
        }
        _ => (1, name),
    };
    if !(1..=orgs).contains(&org) {
        return Err(CliError::NoSuchOrg {
            client_id: client_id.to_owned(),
            org,
            orgs,
        });
    }
    Ok((usize::try_from(org - 1).unwrap_or(usize::MAX), client_id))
}

impl Args {
    /// The fake's configuration these flags describe.
    #[must_use]
    pub fn fake_config(&self) -> FakeConfig {
        // Every org is set up alike from the flags; only its number (id, token) differs.
        let org = |number| FakeOrgConfig {
            schema: EventSchemaSpec {
                event_name: self.event_name.clone(),
                event_type_field: self.event_type_field.clone(),
                payload_field: self.payload_field.clone(),
            },
            retention: Duration::from_secs(self.retention_secs),
            token_lifetime: Duration::from_secs(self.token_lifetime_secs),
            channel_definition: self.channel_definition.clone(),
            ..FakeOrgConfig::numbered(number)
        };
        let first = org(1);
        FakeConfig {
            pubsub_listen: self.listen,
            http_listen: self.http_listen,
            https_listen: self.https_listen,
            tls: self.tls,
            static_token: self.static_token.clone(),
            schema: first.schema,
            retention: first.retention,
            token_lifetime: first.token_lifetime,
            channel_definition: first.channel_definition,
            pubsub: PubSubFakeConfig {
                keepalive_interval: Duration::from_secs(self.keepalive_secs.max(1)),
                ..PubSubFakeConfig::default()
            },
            extra_orgs: (2..=self.orgs).map(org).collect(),
            ..FakeConfig::default()
        }
    }
}

/// Starts the fake as the flags say, registers the OAuth clients, writes the certificate and
/// returns the running fake with its ready line: one JSON object naming the first org's
/// endpoints, and under `orgs` every org's (the first included).
///
/// Key files are read before anything binds, so a bad flag fails without side effects.
pub async fn start(args: &Args) -> Result<(FakeSalesforce, serde_json::Value), CliError> {
    let mut jwt_keys = Vec::with_capacity(args.jwt_client.len());
    for (name, path) in &args.jwt_client {
        let (org, client_id) = org_client(name, args.orgs)?;
        let pem = std::fs::read_to_string(path).map_err(|source| CliError::KeyFile {
            client_id: client_id.to_owned(),
            path: path.clone(),
            source,
        })?;
        jwt_keys.push((org, client_id, path, pem));
    }
    let mut secret_clients = Vec::with_capacity(args.secret_client.len());
    for (name, secret) in &args.secret_client {
        let (org, client_id) = org_client(name, args.orgs)?;
        secret_clients.push((org, client_id, secret));
    }
    let fake = FakeSalesforce::start(args.fake_config()).await?;
    for (org, client_id, path, pem) in jwt_keys {
        if fake.orgs()[org]
            .oauth()
            .add_jwt_client(client_id, &pem)
            .is_err()
        {
            fake.shutdown().await;
            return Err(CliError::BadKey {
                client_id: client_id.to_owned(),
                path: path.clone(),
            });
        }
    }
    for (org, client_id, secret) in secret_clients {
        fake.orgs()[org]
            .oauth()
            .add_secret_client(client_id, secret.clone());
    }
    let mut ready = serde_json::to_value(fake.endpoints()).unwrap_or_default();
    let orgs: Vec<_> = fake.orgs().iter().map(FakeOrg::endpoints).collect();
    ready["orgs"] = serde_json::to_value(orgs).unwrap_or_default();
    if let (Some(path), Some(pem)) = (&args.cert_out, fake.certificate_pem()) {
        if let Err(source) = std::fs::write(path, pem) {
            fake.shutdown().await;
            return Err(CliError::CertOut {
                path: path.display().to_string(),
                source,
            });
        }
        ready["certificate"] = serde_json::Value::String(path.display().to_string());
    }
    Ok((fake, ready))
}

/// Runs the command: start, print the ready line on stdout, serve until `stop` completes.
pub async fn run(args: &Args, stop: impl std::future::Future<Output = ()>) -> Result<(), CliError> {
    let (fake, ready) = start(args).await?;
    println!("{ready}");
    stop.await;
    fake.shutdown().await;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
