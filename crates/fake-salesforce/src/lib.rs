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

#![forbid(unsafe_code)]

pub mod avro;
pub mod channel_definition;
pub mod cli;
pub mod control;
pub mod faults;
pub mod interaction_service;
pub mod oauth;
pub mod pubsub_fake;
pub mod record_id;
mod rest_tls;
pub mod routing_window;
pub mod rpc_id;
pub mod samples;
pub mod session;
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

use axum::Extension;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use self::avro::{EncodeError, EventSchemaSpec};
use self::faults::FaultRequest;
use self::interaction_service::InteractionFake;
use self::oauth::{OAuthFake, OAuthSettings, ServedAt};
use self::pubsub_fake::{PubSubFake, PubSubFakeConfig, PubSubService};
use self::rpc_id::RpcIdLayer;
use self::tls::SelfSignedCertificate;
use self::tokens::TokenRegistry;
use self::topic::{NewEvent, TopicLog};
use crate::proto::pub_sub_server::PubSubServer;
use crate::wire::MAX_MESSAGE_BYTES;

/// Org id of the fake org (18 characters, like Salesforce's).
pub const FAKE_ORG_ID: &str = "00DFAKE0000001AAAA";
/// The channel definition developer name the fake Interaction Service accepts as
/// `AuthorizationContext` unless configured.
pub const FAKE_CHANNEL_DEFINITION: &str = "Byoc_ChannelDefinition1";
/// Retention of the fake topic unless configured (Salesforce: 72 h).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);

/// How to run the fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Pub/Sub gRPC address; loopback only.
    pub pubsub_listen: SocketAddr,
    /// HTTP address (control plane, OAuth, Interaction Service, SOQL); loopback only.
    pub http_listen: SocketAddr,
    /// HTTPS address of the same REST side when `tls` is on; loopback only.
    pub https_listen: SocketAddr,
    /// Serve Pub/Sub, and the REST side on `https_listen` too, over TLS with a generated
    /// self-signed certificate.
    pub tls: bool,
    /// The org tokens belong to.
    pub org_id: String,
    /// A long-lived token to accept; generated when absent.
    pub static_token: Option<String>,
    /// The topic's schema.
    pub schema: EventSchemaSpec,
    /// How long events stay replayable.
    pub retention: Duration,
    /// Stream behaviour.
    pub pubsub: PubSubFakeConfig,
    /// The `AuthorizationContext` the Interaction Service accepts.
    pub channel_definition: String,
    /// Lifetime of tokens the fake OAuth server issues.
    pub token_lifetime: Duration,
    /// The routing window the fake enforces (late routingResults recorded, a failure entry
    /// published on timeout); `None` turns it off.
    pub routing_window: Option<Duration>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        let loopback_any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            pubsub_listen: loopback_any_port,
            http_listen: loopback_any_port,
            https_listen: loopback_any_port,
            tls: false,
            org_id: FAKE_ORG_ID.to_owned(),
            static_token: None,
            schema: EventSchemaSpec::default(),
            retention: DEFAULT_RETENTION,
            pubsub: PubSubFakeConfig::default(),
            channel_definition: FAKE_CHANNEL_DEFINITION.to_owned(),
            token_lifetime: oauth::DEFAULT_TOKEN_LIFETIME,
            routing_window: Some(routing_window::ROUTING_WINDOW),
        }
    }
}

/// Where the running fake can be reached; printed as one JSON line by the CLI.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Pub/Sub gRPC URL (`https://` with TLS, else `http://`).
    pub pubsub: String,
    /// Control plane base URL (plain http).
    pub control: String,
    /// Instance URL for the `instanceurl` header and REST calls (SOQL): `https://` with TLS,
    /// which clients that refuse a plain-http instance accept once they trust the certificate.
    pub instance_url: String,
    /// The same REST side over plain http (the control plane's port), TLS or not.
    pub http_instance_url: String,
    /// OAuth login URL (`/services/oauth2/token`, `/services/oauth2/userinfo`): `https://`
    /// with TLS. Tokens name the instance on the scheme they were asked for on.
    pub login_url: String,
    /// Interaction Service base URL (`/api/v1/...` below it): `https://` with TLS.
    pub interaction: String,
    /// The `AuthorizationContext` the Interaction Service accepts.
    pub authorization_context: String,
    /// The topic to subscribe to.
    pub topic: String,
    /// The long-lived static token.
    pub token: String,
    /// The fake org id.
    pub org_id: String,
    /// Whether Pub/Sub and the REST side use TLS.
    pub tls: bool,
}

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

/// A running fake Salesforce. Dropping it stops its servers; [`FakeSalesforce::shutdown`]
/// also waits for them to finish.
#[derive(Debug)]
pub struct FakeSalesforce {
    pubsub: Arc<PubSubFake>,
    soql: Arc<soql::SoqlFake>,
    routing_window: Option<Arc<routing_window::RoutingWindow>>,
    oauth: Arc<OAuthFake>,
    interaction: Arc<InteractionFake>,
    tokens: Arc<TokenRegistry>,
    endpoints: Endpoints,
    certificate: Option<SelfSignedCertificate>,
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    /// Stops every server when the fake is dropped without [`FakeSalesforce::shutdown`], so a
    /// failing test never leaves a fake serving.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

impl FakeSalesforce {
    /// Binds every port and starts serving.
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
        let shutdown = CancellationToken::new();
        let tokens = Arc::new(TokenRegistry::new(
            config.org_id.clone(),
            config.static_token.clone(),
        ));
        let topic = TopicLog::new(config.schema.clone(), config.retention)?;
        let pubsub = Arc::new(PubSubFake::new(
            topic,
            tokens.clone(),
            config.pubsub.clone(),
            shutdown.clone(),
        ));

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
        let mut builder = tonic::transport::Server::builder();
        if let Some(certificate) = &certificate {
            builder = builder.tls_config(certificate.server_tls_config())?;
        }
        let service = PubSubServer::new(PubSubService(pubsub.clone()))
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
        let grpc_server = tokio::spawn(async move {
            if let Err(err) = grpc_router
                .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
                .await
            {
                tracing::error!(error = %err, "fake pubsub server failed");
            }
        });

        let http_base = format!("http://{http_address}");
        let tls_rest_base = tls_rest_listener
            .as_ref()
            .map(|(_, address)| format!("https://{address}"));
        // The REST side's own URL: https when TLS is on, which is what real clients insist on.
        let rest_base = tls_rest_base.clone().unwrap_or_else(|| http_base.clone());
        let mut oauth_settings = OAuthSettings::new(rest_base.clone());
        oauth_settings.token_lifetime = config.token_lifetime;
        let oauth = Arc::new(OAuthFake::new(tokens.clone(), oauth_settings));
        oauth.add_audience(&http_base);
        let interaction = Arc::new(InteractionFake::new(
            tokens.clone(),
            config.channel_definition.clone(),
        ));
        let soql = Arc::new(soql::SoqlFake::new(tokens.clone(), interaction.clone()));
        soql.set_channel_definition(Some(channel_definition::ChannelDefinition::matching(
            &config.schema,
            &config.channel_definition,
        )));
        let publisher: routing_window::Publisher = {
            let pubsub = pubsub.clone();
            Arc::new(move |events: &[NewEvent]| pubsub.topic.publish(events))
        };
        let window = config.routing_window.map(|window| {
            Arc::new(routing_window::RoutingWindow::new(
                window,
                interaction.clone(),
                publisher,
            ))
        });
        let mut http_router = control::router(pubsub.clone(), window.clone())
            .merge(oauth::router(oauth.clone()))
            .merge(interaction_service::router(interaction.clone()))
            .merge(soql::router(soql.clone()));
        let mut servers = Vec::new();
        if let Some(window) = &window {
            http_router = http_router.merge(routing_window::router(window.clone()));
            servers.push(window.spawn(shutdown.clone()));
        }
        if let (Some((listener, address)), Some(certificate), Some(base)) =
            (tls_rest_listener, &certificate, &tls_rest_base)
        {
            let tls = rest_tls::TlsListener::spawn(
                listener,
                address,
                certificate.rest_server_config()?,
                shutdown.clone(),
            );
            let router = http_router.clone().layer(Extension(ServedAt(base.clone())));
            servers.push(serve_http(tls, router, &shutdown));
        }
        let router = http_router.layer(Extension(ServedAt(http_base.clone())));
        let http_server = serve_http(http_listener, router, &shutdown);

        let scheme = if config.tls { "https" } else { "http" };
        let endpoints = Endpoints {
            pubsub: format!("{scheme}://{grpc_address}"),
            control: http_base.clone(),
            instance_url: rest_base.clone(),
            http_instance_url: http_base,
            login_url: rest_base.clone(),
            interaction: rest_base,
            authorization_context: config.channel_definition.clone(),
            topic: pubsub.topic.topic_name().to_owned(),
            token: tokens.static_token().to_owned(),
            org_id: tokens.org_id().to_owned(),
            tls: config.tls,
        };
        Ok(Self {
            pubsub,
            oauth,
            interaction,
            tokens,
            endpoints,
            certificate,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            soql,
            routing_window: window,
            servers: {
                servers.extend([grpc_server, http_server]);
                servers
            },
        })
    }

    /// Where everything is.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The self-signed certificate clients must trust, when TLS is on.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate
            .as_ref()
            .map(|certificate| certificate.certificate_pem.as_str())
    }

    /// The fake Pub/Sub service's state (topic, faults, session logs).
    pub fn pubsub(&self) -> &Arc<PubSubFake> {
        &self.pubsub
    }

    /// The fake OAuth server (register clients, count token requests).
    pub fn oauth(&self) -> &Arc<OAuthFake> {
        &self.oauth
    }

    /// The fake Interaction Service (recorded calls, faults).
    pub fn interaction(&self) -> &Arc<InteractionFake> {
        &self.interaction
    }

    /// The accepted tokens.
    pub fn tokens(&self) -> &Arc<TokenRegistry> {
        &self.tokens
    }

    /// Publishes events in order; returns their replay ids. Routing requests among them
    /// start their routing window.
    pub fn publish(&self, events: &[NewEvent]) -> Result<Vec<u64>, EncodeError> {
        let replay_ids = self.pubsub.topic.publish(events)?;
        if let Some(window) = &self.routing_window {
            window.track_all(events);
        }
        Ok(replay_ids)
    }

    /// The fake SOQL endpoint (MessagingSession look-ups, the ConversationChannelDefinition).
    pub fn soql(&self) -> &Arc<soql::SoqlFake> {
        &self.soql
    }

    /// The routing window the fake enforces, when on.
    pub fn routing_window(&self) -> Option<&Arc<routing_window::RoutingWindow>> {
        self.routing_window.as_ref()
    }

    /// Changes the fault plan.
    pub fn apply_faults(&self, request: &FaultRequest) {
        self.pubsub.apply_faults(request);
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
