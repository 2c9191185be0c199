//! The connector: assembles every part from a validated [`Config`] and runs it until
//! shutdown.
//!
//! Startup order follows DESIGN §3: credentials (retried until Salesforce answers, because
//! the checkpoint key needs the org id), the store and its checkpoint, the subscriber, the
//! channel, then the pipeline. Shutdown (G8) stops intake, drains in-flight work within
//! the grace period and writes the final checkpoint. It owns no protocol logic itself.

pub mod credentials;
mod preflight;
pub mod routing_sink;

pub use preflight::preflight;

use std::sync::{Arc, OnceLock};

use axum::response::IntoResponse;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::credentials::ProviderCredentials;
use crate::auth::{AccessGrant, AuthError, TokenProvider};
use crate::channel::{AnyChannel, WebhookChannel, WebhookError, WebhookSettings};
use crate::config::{Config, ConsentOwner};
use crate::conversation::{
    self, ConversationObserver, ConversationServices, ConversationTracker, DeliveryFailureNotifier,
    RefusalSettings, SessionLearner,
};
use crate::inbound::{Inbound, InboundSlot};
use crate::interaction::{
    retry_until, CapabilitiesRequest, ClientSettings, ConfigErrorObserver, ErrorClass,
    InteractionClient, InteractionError, RegisteredCapabilities,
};
use crate::pipeline::{Pipeline, PipelineError, RoutingSink};
use crate::pubsub::{
    FetchRequestObserver, ReplayId, ReplayStart, Subscriber, SubscriberError, SubscriberSettings,
};
use crate::routing::{
    assign_response, decision_response, RoutingDeps, RoutingEngine, RoutingError, RoutingSettings,
    SIDECAR_ASSIGN_PATH, SIDECAR_DECISION_PATH,
};
use crate::server::{self, Readiness, ServerState, SidecarAuth};
use crate::store::{CheckpointWriter, Store, StoreError, StoreSettings, WriterHealth};
use crate::telemetry::Telemetry;

/// How long one round of capabilities registration retries before logging and starting over.
const CAPABILITIES_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// Longest wait between attempts to get the first access token.
const MAX_STARTUP_AUTH_BACKOFF: Duration = Duration::from_secs(60);

/// Why the connector stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Credentials are misconfigured (retrying cannot help).
    #[error("cannot authenticate: {0}")]
    Auth(#[from] AuthError),
    /// The store could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The delivery channel is misconfigured.
    #[error("cannot build the delivery channel: {0}")]
    Channel(#[from] WebhookError),
    /// The subscriber could not start or gave up.
    #[error(transparent)]
    Subscriber(#[from] SubscriberError),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The Interaction Service client is misconfigured.
    #[error("cannot build the interaction service client: {0}")]
    Interaction(#[from] InteractionError),
    /// Routing could not resume its pending requests.
    #[error("cannot resume pending routing requests: {0}")]
    Routing(#[from] RoutingError),
    /// Salesforce refused the `[capabilities]` registration (retrying cannot help).
    #[error("salesforce refused the capabilities registration (PATCH /capabilities): {0}; check the [capabilities] section")]
    Capabilities(#[source] InteractionError),
    /// A listener could not be bound.
    #[error("cannot listen on {key} {address}: {source}")]
    Listen {
        /// The config key: `server.listen` or `server.sidecar_listen`.
        key: &'static str,
        /// The configured address.
        address: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The sidecar listens beyond loopback without `server.sidecar_token`.
    #[error("server.sidecar_token is required: the sidecar API listens on {address}, which is not a loopback address")]
    UnprotectedSidecar {
        /// Where the sidecar listens.
        address: std::net::SocketAddr,
    },
}

/// The two bound listeners the connector serves on (DESIGN §7).
#[derive(Debug)]
pub struct Listeners {
    /// `/livez`, `/readyz`, `/metrics`.
    pub ops: TcpListener,
    /// The sidecar API.
    pub sidecar: TcpListener,
}

impl Listeners {
    /// Binds `server.listen` and `server.sidecar_listen`.
    pub async fn bind(config: &crate::config::ServerConfig) -> Result<Self, ConnectorError> {
        let bind = |key: &'static str, address: std::net::SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .map_err(|source| ConnectorError::Listen {
                    key,
                    address,
                    source,
                })
        };
        Ok(Self {
            ops: bind("server.listen", config.listen).await?,
            sidecar: bind("server.sidecar_listen", config.sidecar_listen).await?,
        })
    }

    /// Two listeners on fresh loopback ports, for harnesses that need the addresses first.
    pub async fn loopback() -> std::io::Result<Self> {
        let localhost = (std::net::Ipv4Addr::LOCALHOST, 0);
        Ok(Self {
            ops: TcpListener::bind(localhost).await?,
            sidecar: TcpListener::bind(localhost).await?,
        })
    }
}

/// Runs the connector described by `config` until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ConnectorError> {
    let listeners = Listeners::bind(&config.server).await?;
    run_on(config, listeners, shutdown).await
}

/// [`run`], serving on `listeners` instead of binding `server.listen` and
/// `server.sidecar_listen`, so an embedding harness can bind port 0 and know the addresses
/// before the connector starts.
pub async fn run_on(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), ConnectorError> {
    warn_about_deprecated_keys(&config);
    let auth = SidecarAuth::new(config.server.sidecar_token.clone());
    if let Ok(address) = listeners.sidecar.local_addr() {
        if !address.ip().is_loopback() && !auth.is_required() {
            return Err(ConnectorError::UnprotectedSidecar { address });
        }
    }
    let telemetry = Telemetry::new();
    let readiness = Readiness::new();
    let server_stop = CancellationToken::new();
    // The sidecar routes exist from the start; they answer 503 until routing is running.
    let sidecar: Arc<OnceLock<RoutingEngine>> = Arc::default();
    // The dead letters are read through the store the pipeline opens; 503 until then.
    let dead_letter_store: Arc<OnceLock<Store>> = Arc::default();
    let inbound: InboundSlot = Arc::default();
    let conversations: Arc<OnceLock<ConversationServices>> = Arc::default();
    let late = LateBound {
        routing: sidecar.clone(),
        inbound: inbound.clone(),
        conversations: conversations.clone(),
        dead_letters: dead_letter_store.clone(),
    };
    let ops = tokio::spawn(server::serve_ops(
        listeners.ops,
        ServerState::new(readiness.clone(), telemetry.clone()),
        server_stop.clone(),
    ));
    let sidecar_server = tokio::spawn(server::serve_sidecar(
        listeners.sidecar,
        sidecar_routes(
            sidecar.clone(),
            inbound.clone(),
            conversations.clone(),
            dead_letter_store,
        ),
        auth,
        server_stop.clone(),
    ));
    let outcome = run_pipeline(config, shutdown, &readiness, telemetry, &late).await;
    readiness.set_ready(false);
    server_stop.cancel();
    for (name, server) in [("ops", ops), ("sidecar", sidecar_server)] {
        match server.await {
            Ok(Err(err)) => warn!(server = name, error = %err, "server failed"),
            Err(join_error) => warn!(server = name, error = %join_error, "server task failed"),
            Ok(Ok(())) => {}
        }
    }
    outcome
}

/// What the sidecar routes use, set once `run_pipeline` has built it.
struct LateBound {
    /// The decision endpoint's engine.
    routing: Arc<OnceLock<RoutingEngine>>,
    /// The inbound partner → Salesforce routes' state.
    inbound: InboundSlot,
    /// The store the dead-letter routes read, once the pipeline opened it.
    dead_letters: Arc<OnceLock<Store>>,
    /// The conversation routes' services.
    conversations: Arc<OnceLock<ConversationServices>>,
}

/// Everything but the sidecar server: readiness goes on once subscribed and off first on
/// shutdown (G8), then intake stops, in-flight work drains and the checkpoint is written.
async fn run_pipeline(
    config: Config,
    shutdown: CancellationToken,
    readiness: &Readiness,
    telemetry: Telemetry,
    late: &LateBound,
) -> Result<(), ConnectorError> {
    // One trust anchor for every connection to Salesforce, Pub/Sub and REST alike.
    let ca_certificate_pem = config.pubsub.ca_certificate_pem.as_deref();
    let provider = TokenProvider::with_ca_certificate(&config.auth, ca_certificate_pem)?;
    let Some(grant) = first_grant(&provider, &shutdown).await? else {
        return Ok(());
    };
    let org_id = grant.org_id.as_str().to_owned();
    let store_location = config.store.location();
    let store_settings = StoreSettings::from(&config.store);
    let store =
        tokio::task::spawn_blocking(move || Store::open_at(&store_location, store_settings))
            .await
            .map_err(StoreError::TaskFailed)??;
    let checkpoint = {
        let (org_id, topic) = (org_id.clone(), config.pubsub.topic.clone());
        store
            .run_blocking(move |store| store.load_checkpoint(&org_id, &topic))
            .await?
    };
    let dead_letters = store.run_blocking(Store::count_dead_letters).await?;
    telemetry.set_dead_letters(dead_letters);
    // Set once; run_pipeline runs once per process.
    let _ = late.dead_letters.set(store.clone());
    let skew = telemetry.clone();
    provider
        .salesforce_clock()
        .on_estimate(move |seconds| skew.set_clock_skew(seconds));
    let mut client_settings = ClientSettings::from(&config.interaction);
    client_settings.ca_certificate_pem = config.pubsub.ca_certificate_pem.clone();
    let mismatches = telemetry.clone();
    client_settings.on_config_error =
        ConfigErrorObserver::new(move || mismatches.authorization_context_mismatch());
    let interaction = InteractionClient::new(
        &config.interaction.base_url,
        config.interaction.authorization_context.clone(),
        provider.clone(),
        client_settings,
    )?;
    // Before subscribing: readiness waits for the registration, and a refusal stops the
    // connector before it consumes anything.
    let registration = config.capabilities.request(
        grant.org_id.as_15(),
        &config.interaction.authorization_context,
    );
    // What Salesforce accepted: the sidecar's sends are checked against it.
    let mut registered = None;
    if let Some(request) = registration {
        let Some(accepted) = register_capabilities(&interaction, &request, &shutdown).await? else {
            return Ok(());
        };
        registered = Some(accepted);
    }
    let mut subscriber_settings = SubscriberSettings::from(&config.pubsub);
    if let Some(replay_id) = checkpoint {
        let replay_id = ReplayId::from_bytes(replay_id);
        info!(%replay_id, "resuming after the stored checkpoint");
        subscriber_settings.start = ReplayStart::After(replay_id);
    }
    let channel = Arc::new(AnyChannel::try_from(&config.delivery)?);
    let intake_stop = shutdown.child_token();
    let fetches = telemetry.clone();
    subscriber_settings.on_fetch_request =
        FetchRequestObserver::new(move |credit| fetches.fetch_request_sent(credit));
    let subscriber = Subscriber::spawn(
        subscriber_settings,
        ProviderCredentials(provider.clone()),
        telemetry.clone(),
        intake_stop.clone(),
    )?;
    let settings = config.pipeline_settings(org_id);
    let partner = Option::<WebhookSettings>::from(&config.routing)
        .map(WebhookChannel::new)
        .transpose()?;
    let writer = CheckpointWriter::spawn(store.clone());
    let tracker = ConversationTracker::spawn(writer.clone());
    let mut routing_settings = RoutingSettings::from(&config);
    // Deadlines count from CreatedDate, stamped on Salesforce's clock.
    routing_settings.clock = Arc::new(provider.salesforce_clock().clone());
    let engine = RoutingEngine::new(
        routing_settings,
        RoutingDeps {
            interaction: interaction.clone(),
            store: store.clone(),
            partner,
            token_provider: provider.clone(),
            http: soql_client(ca_certificate_pem)?,
            telemetry: telemetry.clone(),
        },
    );
    // The engine logs the resume summary itself.
    engine.resume().await?;
    engine.set_session_lookup(Arc::new(tracker.clone()));
    let notifier = DeliveryFailureNotifier::new(interaction.clone(), tracker.clone());
    let observer = ConversationObserver::new(
        tracker.clone(),
        Some(notifier.clone()),
        &RefusalSettings::from(&config.delivery),
    );
    interaction.observe_interactions(Arc::new(SessionLearner(tracker.clone())));
    // Set once; a second set cannot happen because run_pipeline runs once per process.
    let _ = late.routing.set(engine.clone());
    let _ = late.conversations.set(ConversationServices {
        tracker: tracker.clone(),
        routing: Some(engine.clone()),
    });
    // Set once, like the routing engine; the same client, so its rate limiter counts the
    // sidecar's calls and routing's together.
    let _ = late.inbound.set(
        Inbound::new(
            interaction.clone(),
            store.clone(),
            config
                .channel
                .address_identifiers
                .clone()
                .unwrap_or_default(),
        )
        .with_capabilities(registered)
        .with_partner_consent(config.channel.consent_owner == ConsentOwner::Partner)
        .with_conversations(tracker.clone(), notifier.clone()),
    );

    let routing: Arc<dyn RoutingSink> = Arc::new(routing_sink::EngineSink(engine.clone()));
    let mut stream_open = subscriber.stream_open();
    tokio::spawn(mirror_stream_state(
        subscriber.stream_open(),
        telemetry.clone(),
    ));
    let mut store_health = writer.health();
    let pipeline = Pipeline::new(
        settings,
        subscriber,
        writer,
        channel,
        Some(routing),
        telemetry,
    )
    .with_observer(Arc::new(observer));
    let pipeline_stop = CancellationToken::new();
    {
        let (readiness, shutdown, pipeline_stop) =
            (readiness.clone(), shutdown.clone(), pipeline_stop.clone());
        tokio::spawn(async move {
            // Ready once the first stream is open, and it stays ready while later streams
            // reconnect, but not while the store fails its writes; not ready from the first
            // moment of shutdown. Waiting fails only when the subscriber is gone without ever
            // opening a stream.
            let opened = tokio::select! {
                () = shutdown.cancelled() => false,
                opened = async { stream_open.wait_for(|open| *open).await.is_ok() } => opened,
            };
            if opened {
                follow_store_health(&readiness, &mut store_health, &shutdown).await;
            }
            readiness.set_ready(false);
            pipeline_stop.cancel();
        });
    }
    info!(topic = %config.pubsub.topic, "connector running");
    let grace = config.pipeline.grace();
    pipeline.run(pipeline_stop).await?;
    intake_stop.cancel();
    if tokio::time::timeout(grace, engine.shutdown())
        .await
        .is_err()
    {
        warn!(
            "routing did not stop within the grace period; pending requests resume after restart"
        );
    }
    // The writer is closed by now: what the tracker still applies stays in memory only.
    tracker.close().await;
    Ok(())
}

/// Keeps `byoc_pubsub_stream_connected` equal to whether a Subscribe stream is open, until
/// the subscriber is gone.
async fn mirror_stream_state(
    mut stream_open: tokio::sync::watch::Receiver<bool>,
    telemetry: Telemetry,
) {
    loop {
        let open = *stream_open.borrow_and_update();
        telemetry.set_stream_connected(open);
        if stream_open.changed().await.is_err() {
            telemetry.set_stream_connected(false);
            return;
        }
    }
}

/// Keeps readiness on while the store commits and off while its writes fail, until shutdown.
async fn follow_store_health(
    readiness: &Readiness,
    store_health: &mut tokio::sync::watch::Receiver<WriterHealth>,
    shutdown: &CancellationToken,
) {
    loop {
        let healthy = *store_health.borrow_and_update() == WriterHealth::Healthy;
        readiness.set_ready(healthy);
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = store_health.changed() => {
                if changed.is_err() {
                    // The writer is gone (the pipeline stopped): nothing changes any more.
                    shutdown.cancelled().await;
                    return;
                }
            }
        }
    }
}

/// One warning per renamed key the configuration still gives under its old name.
fn warn_about_deprecated_keys(config: &Config) {
    for deprecated in &config.deprecated_keys {
        warn!(
            old_key = deprecated.old_key,
            new_key = deprecated.new_key,
            env_var = deprecated.env_var.as_deref(),
            "config key is deprecated; rename it to the new key"
        );
    }
}

/// Every sidecar route: the routing decision and assignment, the inbound partner → Salesforce
/// routes, the conversation routes, the dead letters and the OpenAPI document.
fn sidecar_routes(
    engine: Arc<OnceLock<RoutingEngine>>,
    inbound: InboundSlot,
    conversations: Arc<OnceLock<ConversationServices>>,
    dead_letters: Arc<OnceLock<Store>>,
) -> axum::Router {
    late_bound_sidecar(engine)
        .merge(crate::inbound::router(inbound))
        .merge(conversation::router(conversations))
        .merge(crate::dlq::router(dead_letters))
        .merge(crate::inbound::openapi::router())
}

/// Serves the sidecar routing endpoints (decision and assignment), answering `503` until the
/// routing engine exists.
///
/// The engine is late-bound rather than its router: a router called from inside another
/// route's handler would see the outer route's path parameters as well as its own, and its
/// `Path` extractor would then refuse every call with a `500`.
fn late_bound_sidecar(engine: Arc<OnceLock<RoutingEngine>>) -> axum::Router {
    let assign_engine = engine.clone();
    let decide = move |axum::extract::Path(event_id): axum::extract::Path<String>,
                       body: axum::body::Bytes| {
        let engine = engine.clone();
        async move {
            match engine.get() {
                Some(engine) => decision_response(engine, event_id, &body).await,
                None => routing_starting(),
            }
        }
    };
    let assign = move |axum::extract::Path(event_id): axum::extract::Path<String>,
                       body: axum::body::Bytes| {
        let engine = assign_engine.clone();
        async move {
            match engine.get() {
                Some(engine) => assign_response(engine, event_id, &body).await,
                None => routing_starting(),
            }
        }
    };
    axum::Router::new()
        .route(SIDECAR_DECISION_PATH, axum::routing::post(decide))
        .route(SIDECAR_ASSIGN_PATH, axum::routing::post(assign))
}

/// The sidecar's answer while the routing engine is not built yet.
fn routing_starting() -> axum::response::Response {
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        "routing is starting",
    )
        .into_response()
}

/// Registers `request`, retrying retryable answers until it is accepted, refused or shutdown
/// fires (`None`).
async fn register_capabilities(
    interaction: &InteractionClient,
    request: &CapabilitiesRequest,
    shutdown: &CancellationToken,
) -> Result<Option<RegisteredCapabilities>, ConnectorError> {
    loop {
        let deadline = tokio::time::Instant::now() + CAPABILITIES_RETRY_WINDOW;
        let attempt = retry_until(deadline, || interaction.patch_capabilities(request));
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(_) => {
                let registered = RegisteredCapabilities::from_registration(&request.capabilities);
                info!(
                    formats = registered.formats.len(),
                    "capabilities registered with salesforce"
                );
                return Ok(Some(registered));
            }
            Err(error)
                if error.class() == ErrorClass::Retryable
                    || matches!(error, InteractionError::DeadlineExceeded) =>
            {
                warn!(error = %error, "capabilities not registered yet; retrying");
            }
            Err(error) => {
                error!(status = error.status(), code = error.code(), error = %error, "salesforce refused the capabilities registration");
                return Err(ConnectorError::Capabilities(error));
            }
        }
    }
}

/// Gets the first token, retrying transient failures until it works or shutdown fires;
/// `None` means shutdown came first.
/// The REST API client (SOQL), trusting the same extra anchor as every Salesforce call.
fn soql_client(ca_certificate_pem: Option<&str>) -> Result<reqwest::Client, ConnectorError> {
    crate::auth::url_policy::client_builder(ca_certificate_pem)
        .and_then(reqwest::ClientBuilder::build)
        .map_err(|err| {
            ConnectorError::Interaction(InteractionError::Config {
                problem: format!("cannot build the rest api client: {err}"),
            })
        })
}

async fn first_grant(
    provider: &TokenProvider,
    shutdown: &CancellationToken,
) -> Result<Option<AccessGrant>, ConnectorError> {
    let mut backoff = ExponentialBuilder::default()
        .with_jitter()
        .with_max_delay(MAX_STARTUP_AUTH_BACKOFF)
        .without_max_times()
        .build();
    loop {
        match provider.grant().await {
            Ok(grant) => return Ok(Some(grant)),
            Err(err) if err.is_retryable() => {
                let delay = backoff.next().unwrap_or(MAX_STARTUP_AUTH_BACKOFF);
                warn!(error = %err, delay_ms = crate::log_value::millis(delay), "cannot get an access token yet; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
}
