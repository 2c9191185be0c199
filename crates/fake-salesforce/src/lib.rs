//! A fake Salesforce for integration tests of Bring Your Own Channel connectors: the Pub/Sub
//! API over gRPC, OAuth, the Interaction Service, SOQL and a control plane, over real sockets
//! on loopback.
//!
//! Start it in process with [`FakeSalesforce::start`] and point your client at
//! [`FakeSalesforce::endpoints`]; publish conversation events with [`FakeSalesforce::publish`]
//! (payloads from [`samples`] or your own), inject faults with [`FakeSalesforce::apply_faults`]
//! and [`interaction_service::InteractionFake::inject_fault`], and read what your client sent from
//! [`FakeSalesforce::interaction`]'s recorded calls. From another language, run the
//! `fake-salesforce` command: it prints one JSON line naming every endpoint, and the control
//! plane (`/_harness/...`) does the same over HTTP.
//!
//! The fake is an independent implementation of Salesforce's side, written from the official
//! API definitions: it refuses what Salesforce refuses (field lengths, headers, error codes),
//! not what a particular client happens to send. It depends on no connector code.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_salesforce::{samples, topic::NewEvent, FakeConfig, FakeSalesforce};
//!
//! let fake = FakeSalesforce::start(FakeConfig::default()).await?;
//! let endpoints = fake.endpoints();
//! println!("subscribe to {} at {}", endpoints.topic, endpoints.pubsub);
//! fake.publish(&[NewEvent {
//!     event_type: Some("Interaction".to_owned()),
//!     payload: Some(samples::text_message_payload("conversation-1", 1, "hello", true)),
//!     ..NewEvent::default()
//! }])?;
//! let calls = fake.interaction().calls();
//! # drop(calls);
//! fake.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Several orgs
//!
//! One fake can serve several orgs on the same ports, as Salesforce serves every org from one
//! Pub/Sub endpoint: list them in [`FakeConfig::extra_orgs`] and reach each through
//! [`FakeSalesforce::org`]. Each org has its own id, tokens, topic and schema, OAuth clients,
//! channel definition (the `AuthorizationContext` it accepts), recorded Interaction Service
//! calls, SOQL answers and routing window. Calls are told apart by their token, so an event
//! published on one org's topic never reaches a subscriber of another, and a token of one org
//! is refused elsewhere with Salesforce's errors: Pub/Sub `PERMISSION_DENIED` when the
//! `tenantid` names another org, `NOT_FOUND` for a topic the token's org does not have; on the
//! Interaction Service 10016 (`OrgId` of another org) or 10005 (another org's
//! `AuthorizationContext`). Control-plane calls pick an org with `?org=<orgId>`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_salesforce::{samples, topic::NewEvent, FakeConfig, FakeOrgConfig, FakeSalesforce};
//!
//! let fake = FakeSalesforce::start(FakeConfig {
//!     extra_orgs: vec![FakeOrgConfig {
//!         channel_definition: "Acme_ChannelDefinition1".to_owned(),
//!         ..FakeOrgConfig::numbered(2)
//!     }],
//!     ..FakeConfig::default()
//! })
//! .await?;
//! let acme = fake.org("00DFAKE0000002AAAA").expect("configured above");
//! // Same Pub/Sub URL as the first org; the token and org id select the org.
//! let endpoints = acme.endpoints();
//! println!("{} with token {} for {}", endpoints.pubsub, endpoints.token, endpoints.org_id);
//! acme.publish(&[NewEvent {
//!     event_type: Some("Interaction".to_owned()),
//!     payload: Some(samples::text_message_payload("conversation-2", 1, "hi", true)),
//!     ..NewEvent::default()
//! }])?;
//! // What a client did with the second org's tokens; `fake.interaction()` is the first org's.
//! let acme_calls = acme.interaction().calls();
//! # drop(acme_calls);
//! fake.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod avro;
pub mod channel_definition;
pub mod cli;
pub mod control;
pub mod faults;
pub mod interaction_service;
pub mod oauth;
pub mod org;
mod org_routing;
pub mod pubsub_fake;
pub mod record_id;
mod rest_tls;
pub mod routing_window;
pub mod rpc_id;
pub mod samples;
pub mod session;
mod settings;
pub mod soql;
pub mod tls;
pub mod tokens;
pub mod topic;
pub mod wire;

/// Code generated from `proto/pubsub_api.proto`: the Pub/Sub API messages and the server side.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("eventbus.v1");
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use self::avro::EncodeError;
use self::faults::FaultRequest;
use self::interaction_service::InteractionFake;
use self::oauth::{OAuthFake, ServedAt};
use self::org::Site;
pub use self::org::{FakeOrg, FakeOrgConfig};
use self::org_routing::{OrgDirectory, OrgRoutedPubSub};
use self::pubsub_fake::PubSubFake;
use self::rpc_id::RpcIdLayer;
pub use self::settings::{Endpoints, FakeConfig};
use self::tls::SelfSignedCertificate;
use self::tokens::TokenRegistry;
use self::topic::NewEvent;
use crate::proto::pub_sub_server::PubSubServer;
use crate::wire::MAX_MESSAGE_BYTES;

/// Org id of the fake org (18 characters, like Salesforce's).
pub const FAKE_ORG_ID: &str = "00DFAKE0000001AAAA";
/// The channel definition developer name the fake Interaction Service accepts as
/// `AuthorizationContext` unless configured.
pub const FAKE_CHANNEL_DEFINITION: &str = "Byoc_ChannelDefinition1";
/// Retention of the fake topic unless configured (Salesforce: 72 h).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An address is not loopback.
    #[error("the fake salesforce listens on loopback only, not {0}")]
    NotLoopback(SocketAddr),
    /// Binding a port failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Two orgs have the same id (compared in the 15-character form).
    #[error("two orgs of the fake have the org id {0}; each org needs its own")]
    DuplicateOrg(String),
    /// Two orgs were given the same static token, so a call could not tell them apart.
    #[error("orgs {first} and {second} were given the same static token; each org needs its own")]
    SharedToken {
        /// The first org given that token.
        first: String,
        /// The second.
        second: String,
    },
    /// The schema is unusable.
    #[error(transparent)]
    Schema(#[from] EncodeError),
    /// Certificate generation failed.
    #[error(transparent)]
    Certificate(#[from] tls::CertificateError),
    /// The gRPC server could not be configured.
    #[error("cannot configure the fake pubsub server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A running fake Salesforce serving one org or more. Dropping it stops its servers;
/// [`FakeSalesforce::shutdown`] also waits for them to finish.
///
/// The methods that name no org ([`FakeSalesforce::endpoints`], [`FakeSalesforce::publish`],
/// [`FakeSalesforce::interaction`], …) act on the first org (the one [`FakeConfig`]'s top-level
/// fields describe); [`FakeSalesforce::org`] gives any org's own.
#[derive(Debug)]
pub struct FakeSalesforce {
    /// The first org, also at the head of `orgs`.
    first: FakeOrg,
    orgs: Vec<FakeOrg>,
    certificate: Option<SelfSignedCertificate>,
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    /// Stops every server when the fake is dropped without [`FakeSalesforce::shutdown`], so a
    /// failing test never leaves a fake serving.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl FakeSalesforce {
    /// Binds every port and starts serving every org of `config`.
    pub async fn start(config: FakeConfig) -> Result<Self, HarnessError> {
        for address in [
            config.pubsub_listen,
            config.http_listen,
            config.https_listen,
        ] {
            if !address.ip().is_loopback() {
                return Err(HarnessError::NotLoopback(address));
            }
        }
        let org_configs: Vec<FakeOrgConfig> = std::iter::once(config.first_org())
            .chain(config.extra_orgs.iter().cloned())
            .collect();
        check_distinct(&org_configs)?;
        let shutdown = CancellationToken::new();

        let grpc_listener = bind(config.pubsub_listen).await?;
        let grpc_address = local_address(&grpc_listener, config.pubsub_listen)?;
        let http_listener = bind(config.http_listen).await?;
        let http_address = local_address(&http_listener, config.http_listen)?;
        let tls_rest_listener = if config.tls {
            let listener = bind(config.https_listen).await?;
            let address = local_address(&listener, config.https_listen)?;
            Some((listener, address))
        } else {
            None
        };
        let certificate = config
            .tls
            .then(SelfSignedCertificate::generate)
            .transpose()?;

        let http_base = format!("http://{http_address}");
        let tls_rest_base = tls_rest_listener
            .as_ref()
            .map(|(_, address)| format!("https://{address}"));
        let scheme = if config.tls { "https" } else { "http" };
        let site = Site {
            pubsub_url: format!("{scheme}://{grpc_address}"),
            // The REST side's own URL: https when TLS is on, which is what real clients insist on.
            rest_base: tls_rest_base.clone().unwrap_or_else(|| http_base.clone()),
            http_base: http_base.clone(),
            tls: config.tls,
            pubsub: config.pubsub.clone(),
        };
        let mut servers = Vec::new();
        let mut orgs_with_routes = Vec::with_capacity(org_configs.len());
        for org_config in &org_configs {
            let (org, routes, watcher) = FakeOrg::start(org_config, &site, &shutdown)?;
            servers.extend(watcher);
            orgs_with_routes.push((org, routes));
        }
        let orgs: Vec<FakeOrg> = orgs_with_routes
            .iter()
            .map(|(org, _)| org.clone())
            .collect();
        let directory = Arc::new(OrgDirectory::new(orgs_with_routes));

        let mut builder = tonic::transport::Server::builder();
        if let Some(certificate) = &certificate {
            builder = builder.tls_config(certificate.server_tls_config())?;
        }
        let service = PubSubServer::new(OrgRoutedPubSub(directory.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let mut layered = builder.layer(RpcIdLayer);
        let grpc_router = layered.add_service(service);
        let incoming = TcpListenerStream::new(grpc_listener).map(|connection| {
            if let Ok(stream) = &connection {
                // Without this, small responses wait on Nagle's algorithm for up to 40 ms.
                let _ = stream.set_nodelay(true);
            }
            connection
        });
        let grpc_shutdown = shutdown.clone();
        servers.push(tokio::spawn(async move {
            if let Err(err) = grpc_router
                .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
                .await
            {
                tracing::error!(error = %err, "fake pubsub server failed");
            }
        }));

        if let (Some((listener, address)), Some(certificate), Some(base)) =
            (tls_rest_listener, &certificate, tls_rest_base)
        {
            let tls = rest_tls::TlsListener::spawn(
                listener,
                address,
                certificate.rest_server_config()?,
                shutdown.clone(),
            );
            let front = org_routing::http_router(directory.clone(), ServedAt(base));
            servers.push(serve_http(tls, front, &shutdown));
        }
        let front = org_routing::http_router(directory, ServedAt(http_base));
        servers.push(serve_http(http_listener, front, &shutdown));

        Ok(Self {
            first: orgs[0].clone(),
            orgs,
            certificate,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            servers,
        })
    }

    /// Where everything of the first org is.
    pub fn endpoints(&self) -> &Endpoints {
        self.first.endpoints()
    }

    /// The org `org_id` names (its 15- or 18-character id), if this fake serves it.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use fake_salesforce::{FakeConfig, FakeOrgConfig, FakeSalesforce};
    ///
    /// let fake = FakeSalesforce::start(FakeConfig {
    ///     extra_orgs: vec![FakeOrgConfig::numbered(2)],
    ///     ..FakeConfig::default()
    /// })
    /// .await?;
    /// let second = fake.org("00DFAKE0000002AAA").expect("the second org");
    /// println!("org 2: token {} on {}", second.endpoints().token, second.endpoints().topic);
    /// let calls = second.interaction().calls(); // only calls made with org 2's tokens
    /// # drop(calls);
    /// # Ok(())
    /// # }
    /// ```
    pub fn org(&self, org_id: &str) -> Option<&FakeOrg> {
        self.orgs.iter().find(|org| org.is(org_id))
    }

    /// Every org, the first one first, then [`FakeConfig::extra_orgs`] in order.
    pub fn orgs(&self) -> &[FakeOrg] {
        &self.orgs
    }

    /// The self-signed certificate clients must trust, when TLS is on.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate
            .as_ref()
            .map(|certificate| certificate.certificate_pem.as_str())
    }

    /// The first org's Pub/Sub state (topic, faults, session logs).
    pub fn pubsub(&self) -> &Arc<PubSubFake> {
        self.first.pubsub()
    }

    /// The first org's OAuth server (register clients, count token requests).
    pub fn oauth(&self) -> &Arc<OAuthFake> {
        self.first.oauth()
    }

    /// The first org's Interaction Service (recorded calls, faults).
    pub fn interaction(&self) -> &Arc<InteractionFake> {
        self.first.interaction()
    }

    /// The first org's accepted tokens.
    pub fn tokens(&self) -> &Arc<TokenRegistry> {
        self.first.tokens()
    }

    /// Publishes events on the first org's topic in order; returns their replay ids. Routing
    /// requests among them start their routing window.
    pub fn publish(&self, events: &[NewEvent]) -> Result<Vec<u64>, EncodeError> {
        self.first.publish(events)
    }

    /// The first org's SOQL endpoint (MessagingSession look-ups, the
    /// ConversationChannelDefinition).
    pub fn soql(&self) -> &Arc<soql::SoqlFake> {
        self.first.soql()
    }

    /// The routing window the first org enforces, when on.
    pub fn routing_window(&self) -> Option<&Arc<routing_window::RoutingWindow>> {
        self.first.routing_window()
    }

    /// Changes the first org's fault plan.
    pub fn apply_faults(&self, request: &FaultRequest) {
        self.first.apply_faults(request);
    }

    /// Stops every server and stream.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for server in self.servers {
            // A server task that panicked has nothing left to stop.
            let _ = server.await;
        }
    }
}

/// Refuses two orgs with one id, or one static token given to two orgs.
fn check_distinct(orgs: &[FakeOrgConfig]) -> Result<(), HarnessError> {
    for (index, org) in orgs.iter().enumerate() {
        for earlier in &orgs[..index] {
            if org::same_org(&earlier.org_id, org.org_id.get(..15).unwrap_or(&org.org_id)) {
                return Err(HarnessError::DuplicateOrg(org.org_id.clone()));
            }
            if org.static_token.is_some() && org.static_token == earlier.static_token {
                return Err(HarnessError::SharedToken {
                    first: earlier.org_id.clone(),
                    second: org.org_id.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Serves `router` on `listener` until `shutdown`.
fn serve_http<L>(listener: L, router: axum::Router, shutdown: &CancellationToken) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %err, "fake salesforce http server failed");
        }
    })
}

async fn bind(address: SocketAddr) -> Result<TcpListener, HarnessError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| HarnessError::Bind { address, source })
}

fn local_address(listener: &TcpListener, address: SocketAddr) -> Result<SocketAddr, HarnessError> {
    listener
        .local_addr()
        .map_err(|source| HarnessError::Bind { address, source })
}

/// Installs aws-lc-rs as the process-wide rustls provider; later calls are no-ops.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
