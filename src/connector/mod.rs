//! The connector: assembles every part from a validated [`Config`] and runs it until
//! shutdown.
//!
//! Startup order follows DESIGN §3: credentials (retried until Salesforce answers, because
//! the checkpoint key needs the org id), the store and its checkpoint, the subscriber, the
//! channel, then the pipeline. Shutdown (G8) stops intake, drains in-flight work within
//! the grace period and writes the final checkpoint. It owns no protocol logic itself.

pub mod credentials;
pub mod routing_sink;

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
use crate::config::Config;
use crate::conversation::{
    self, ConversationObserver, ConversationServices, ConversationTracker, DeliveryFailureNotifier,
    RefusalSettings, SessionLearner,
};
use crate::interaction::{
    retry_until, CapabilitiesRequest, ErrorClass, InteractionClient, InteractionError,
    RegisteredCapabilities,
};
use crate::pipeline::{Pipeline, PipelineError, RoutingSink};
use crate::pubsub::{
    FetchRequestObserver, ReplayId, ReplayStart, Subscriber, SubscriberError, SubscriberSettings,
};
use crate::routing::{
    decision_response, RoutingDeps, RoutingEngine, RoutingError, SIDECAR_DECISION_PATH,
};
use crate::server::{self, Readiness, ServerState};
use crate::store::{CheckpointWriter, Store, StoreError, StoreSettings};
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
    /// The sidecar server could not listen.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The configured `server.listen`.
        address: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the connector described by `config` until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ConnectorError> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ConnectorError::Listen {
            address: config.server.listen,
            source,
        })?;
    run_on(config, listener, shutdown).await
}

/// [`run`], serving the sidecar API on `listener` instead of binding `server.listen`, so an
/// embedding harness can bind port 0 and know the address before the connector starts.
pub async fn run_on(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ConnectorError> {
    warn_about_deprecated_keys(&config);
    let telemetry = Telemetry::new();
    let readiness = Readiness::new();
    let server_stop = CancellationToken::new();
    // The sidecar routes exist from the start; they answer 503 until routing is running.
    let sidecar: Arc<OnceLock<RoutingEngine>> = Arc::default();
    let conversations: Arc<OnceLock<ConversationServices>> = Arc::default();
    let late = LateBound {
        routing: sidecar.clone(),
        conversations: conversations.clone(),
        capabilities: Arc::default(),
    };
    let routes =
        late_bound_sidecar(sidecar.clone()).merge(conversation::router(conversations.clone()));
    let server = tokio::spawn(server::serve(
        listener,
        ServerState::new(readiness.clone(), telemetry.clone()),
        routes,
        server_stop.clone(),
    ));
    let outcome = run_pipeline(config, shutdown, &readiness, telemetry, &late).await;
    readiness.set_ready(false);
    server_stop.cancel();
    match server.await {
        Ok(Err(err)) => warn!(error = %err, "sidecar server failed"),
        Err(join_error) => warn!(error = %join_error, "sidecar server task failed"),
        Ok(Ok(())) => {}
    }
    outcome
}

/// What the sidecar routes use, set once `run_pipeline` has built it.
struct LateBound {
    /// The decision endpoint's engine.
    routing: Arc<OnceLock<RoutingEngine>>,
    /// The conversation routes' services.
    conversations: Arc<OnceLock<ConversationServices>>,
    /// What Salesforce accepted from `[capabilities]`: the send-message route checks a
    /// message's format, text length and attachment type and size against it. Unset when
    /// nothing is registered.
    capabilities: Arc<OnceLock<RegisteredCapabilities>>,
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
    let provider = TokenProvider::new(&config.auth)?;
    let Some(grant) = first_grant(&provider, &shutdown).await? else {
        return Ok(());
    };
    let org_id = grant.org_id.as_str().to_owned();
    let store_path = config.store.path.clone();
    let store_settings = StoreSettings::from(&config.store);
    let store = tokio::task::spawn_blocking(move || Store::open(&store_path, store_settings))
        .await
        .map_err(StoreError::TaskFailed)??;
    let checkpoint = {
        let (org_id, topic) = (org_id.clone(), config.pubsub.topic.clone());
        store
            .run_blocking(move |store| store.load_checkpoint(&org_id, &topic))
            .await?
    };
    let interaction = InteractionClient::new(
        &config.interaction.base_url,
        config.interaction.authorization_context.clone(),
        provider.clone(),
        (&config.interaction).into(),
    )?;
    // Before subscribing: readiness waits for the registration, and a refusal stops the
    // connector before it consumes anything.
    let registration = config.capabilities.request(
        grant.org_id.as_15(),
        &config.interaction.authorization_context,
    );
    if let Some(request) = registration {
        let Some(registered) = register_capabilities(&interaction, &request, &shutdown).await?
        else {
            return Ok(());
        };
        let _ = late.capabilities.set(registered);
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
    let engine = RoutingEngine::new(
        (&config).into(),
        RoutingDeps {
            interaction: interaction.clone(),
            store: store.clone(),
            partner,
            token_provider: provider.clone(),
            http: reqwest::Client::new(),
            telemetry: telemetry.clone(),
        },
    );
    let resumed = engine.resume().await?;
    info!(?resumed, "pending routing requests resumed");
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
        notifier,
        routing: Some(engine.clone()),
    });
    let routing: Arc<dyn RoutingSink> = Arc::new(routing_sink::EngineSink(engine.clone()));
    let mut stream_open = subscriber.stream_open();
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
            // reconnect; not ready from the first moment of shutdown. Waiting fails only when
            // the subscriber is gone without ever opening a stream.
            tokio::select! {
                () = shutdown.cancelled() => {}
                opened = async { stream_open.wait_for(|open| *open).await.is_ok() } => {
                    if opened {
                        readiness.set_ready(true);
                    }
                    shutdown.cancelled().await;
                }
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

/// Serves the sidecar decision endpoint, answering `503` until the routing engine exists.
///
/// The engine is late-bound rather than its router: a router called from inside another
/// route's handler would see the outer route's path parameters as well as its own, and its
/// `Path` extractor would then refuse every call with a `500`.
fn late_bound_sidecar(engine: Arc<OnceLock<RoutingEngine>>) -> axum::Router {
    let handler = move |axum::extract::Path(event_id): axum::extract::Path<String>,
                        body: axum::body::Bytes| {
        let engine = engine.clone();
        async move {
            match engine.get() {
                Some(engine) => decision_response(engine, event_id, &body).await,
                None => (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    "routing is starting",
                )
                    .into_response(),
            }
        }
    };
    axum::Router::new().route(SIDECAR_DECISION_PATH, axum::routing::post(handler))
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
                warn!(error = %err, delay_ms = delay.as_millis(), "cannot get an access token yet; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
}
