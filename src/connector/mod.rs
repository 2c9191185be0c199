//! The connector: assembles every part from a validated [`Config`] and runs it until
//! shutdown.
//!
//! Startup order follows DESIGN §3: credentials (retried until Salesforce answers, because
//! the checkpoint key needs the org id), the store, the capabilities registration and the
//! inbound sidecar routes; then, with `ha.enabled`, standing by until this replica holds its
//! channel's lease (`leadership`); then the checkpoint, pending routing, the subscriber, the
//! channel and the pipeline. Shutdown (G8) stops intake, drains in-flight work within the
//! grace period, writes the final checkpoint and releases the lease. It owns no protocol
//! logic itself.

pub mod credentials;
mod leadership;
mod preflight;
pub(crate) mod routing_sink;
mod sidecar;
mod startup;
mod tenant;

pub use preflight::preflight;
pub use sidecar::ROLE_HEADER;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::credentials::ProviderCredentials;
use self::sidecar::LateBound;
use self::startup::{soql_client, start_shared, Shared};
use crate::auth::AuthError;
use crate::channel::{AnyChannel, WebhookChannel, WebhookError, WebhookSettings};
use crate::config::Config;
use crate::conversation::{ConversationObserver, ConversationServices, RefusalSettings};
use crate::ha::{KeeperSettings, LeaseShare};
use crate::interaction::InteractionError;
use crate::pipeline::{Pipeline, PipelineError, RoutingSink};
use crate::pubsub::{
    FetchRequestObserver, ReplayId, ReplayStart, Subscriber, SubscriberError, SubscriberSettings,
};
use crate::routing::{RoutingDeps, RoutingEngine, RoutingError, RoutingSettings};
use crate::server::{self, Readiness, ServerState, SidecarAuth};
use crate::store::{StoreError, StoreReleased, WriterHealth};
use crate::telemetry::Telemetry;

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
    /// This replica lost its channel's lease (`ha.enabled`) and stopped acting at once; the
    /// process exits so the orchestrator restarts it as a standby.
    #[error("this replica lost its channel's lease ({reason}) and stopped acting as leader; restart it to stand by")]
    LeadershipLost {
        /// How: `expired`, `taken_over` or `fenced`.
        reason: &'static str,
    },
    /// One tenant of a `[[tenants]]` configuration stopped with an error.
    #[error("tenant {tenant}: {source}")]
    Tenant {
        /// The tenant's name.
        tenant: String,
        /// Why it stopped.
        #[source]
        source: Box<ConnectorError>,
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
    if !config.tenants.is_empty() {
        return tenant::run_tenants(config, listeners, auth, shutdown).await;
    }
    let telemetry = Telemetry::new();
    let readiness = Readiness::new();
    // The sidecar routes exist from the start; each answers 503 until its state is built.
    let late = LateBound::default();
    let servers = Servers::start(
        listeners,
        ServerState::new(readiness.clone(), telemetry.clone()),
        late.routes(),
        auth,
    );
    let outcome = run_pipeline(config, shutdown, &readiness, telemetry, &late, None).await;
    readiness.set_ready(false);
    servers.stop().await;
    let released = late.released.clone();
    drop(late);
    wait_for_release([released]).await;
    outcome
}

/// Longest the connector waits, on its way out, for its store's last user (a commit or read
/// on the blocking pool) to let go.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Waits until every store opened into `stores` is closed, so whoever embeds the connector
/// can open the file again the moment it returns; a store still held after [`RELEASE_WAIT`]
/// is logged and left to its last user.
async fn wait_for_release(stores: impl IntoIterator<Item = Arc<OnceLock<StoreReleased>>>) {
    for store in stores {
        let Some(released) = store.get().cloned() else {
            continue;
        };
        if tokio::time::timeout(RELEASE_WAIT, released.wait())
            .await
            .is_err()
        {
            warn!(
                wait_ms = crate::log_value::millis(RELEASE_WAIT),
                "the store is still in use after the connector stopped; it closes when its last user ends"
            );
        }
    }
}

/// The ops and sidecar servers, running until [`Servers::stop`].
struct Servers {
    ops: tokio::task::JoinHandle<std::io::Result<()>>,
    sidecar: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: CancellationToken,
}

impl Servers {
    /// Serves `state` on the ops listener and `routes` on the sidecar listener.
    fn start(
        listeners: Listeners,
        state: ServerState,
        routes: axum::Router,
        auth: SidecarAuth,
    ) -> Self {
        let stop = CancellationToken::new();
        let ops = tokio::spawn(server::serve_ops(listeners.ops, state, stop.clone()));
        let sidecar = tokio::spawn(server::serve_sidecar(
            listeners.sidecar,
            routes,
            auth,
            stop.clone(),
        ));
        Self { ops, sidecar, stop }
    }

    /// Stops both servers, letting in-flight requests finish; failures are logged.
    async fn stop(self) {
        self.stop.cancel();
        for (name, server) in [("ops", self.ops), ("sidecar", self.sidecar)] {
            match server.await {
                Ok(Err(err)) => warn!(server = name, error = %err, "server failed"),
                Err(join_error) => warn!(server = name, error = %join_error, "server task failed"),
                Ok(Ok(())) => {}
            }
        }
    }
}

/// Everything but the sidecar server: readiness goes on once subscribed and off first on
/// shutdown (G8), then intake stops, in-flight work drains and the checkpoint is written.
/// With `ha.enabled` the replica stands by until it holds the lease, and acts only while it
/// does.
async fn run_pipeline(
    config: Config,
    shutdown: CancellationToken,
    readiness: &Readiness,
    telemetry: Telemetry,
    late: &LateBound,
    share: Option<LeaseShare>,
) -> Result<(), ConnectorError> {
    let Some(shared) = start_shared(&config, &telemetry, late, &shutdown).await? else {
        return Ok(());
    };
    let leading = match config.ha.keeper_settings(&config.store) {
        None => None,
        Some(settings) => {
            let leading = leadership::lead(
                KeeperSettings { share, ..settings },
                &shared.store,
                &shared.interaction,
                readiness,
                &late.role,
                &telemetry,
                &shutdown,
            )
            .await?;
            let Some(leading) = leading else {
                return Ok(());
            };
            Some(leading)
        }
    };
    let outcome = run_leader(
        &config,
        shared,
        shutdown,
        readiness,
        telemetry,
        late,
        leading.as_ref(),
    )
    .await;
    match (leading, outcome) {
        (Some(leading), Err(error)) if leadership::is_fenced(&error) => Err(leading.fenced()),
        (Some(leading), outcome) if leading.lost().is_cancelled() => {
            drop(outcome);
            Err(leading.lost_error())
        }
        (Some(leading), outcome) => {
            leading.release().await;
            outcome
        }
        (None, outcome) => outcome,
    }
}

/// What only the leader (or the single replica) runs: the checkpoint, the subscriber, the
/// routing engine and the pipeline, until shutdown or, with `leading`, the lease's loss.
async fn run_leader(
    config: &Config,
    shared: Shared,
    shutdown: CancellationToken,
    readiness: &Readiness,
    telemetry: Telemetry,
    late: &LateBound,
    leading: Option<&leadership::Leading>,
) -> Result<(), ConnectorError> {
    let Shared {
        provider,
        org_id,
        store,
        interaction,
        writer,
        tracker,
        notifier,
    } = shared;
    // Losing the lease stops everything at once, like a shutdown without the drain.
    let shutdown = match leading {
        Some(leading) => {
            let stop = shutdown.child_token();
            let (lost, on_loss) = (leading.lost().clone(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = lost.cancelled() => on_loss.cancel(),
                    () = on_loss.cancelled() => {}
                }
            });
            stop
        }
        None => shutdown,
    };
    let ca_certificate_pem = config.pubsub.ca_certificate_pem.as_deref();
    let checkpoint = {
        let (org_id, topic) = (org_id.clone(), config.pubsub.topic.clone());
        store
            .run_blocking(move |store| store.load_checkpoint(&org_id, &topic))
            .await?
    };
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
    let settings = config.pipeline_settings(org_id);
    let partner = Option::<WebhookSettings>::from(&config.routing)
        .map(WebhookChannel::new)
        .transpose()?;
    let mut routing_settings = RoutingSettings::from(config);
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
    let subscriber = Subscriber::spawn_preparing(
        subscriber_settings,
        ProviderCredentials(provider.clone()),
        telemetry.clone(),
        intake_stop.clone(),
        settings.decoder(),
    )?;
    let observer = ConversationObserver::new(
        tracker.clone(),
        Some(notifier),
        &RefusalSettings::from(&config.delivery),
    );
    // Set once; a second set cannot happen because run_pipeline runs once per process.
    let _ = late.routing.set(engine.clone());
    let _ = late.conversations.set(ConversationServices {
        tracker: tracker.clone(),
        routing: Some(engine.clone()),
    });

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
    let ran = if let Some(leading) = leading {
        // Fail-stop: no drain once the lease is lost, and routing stops where it stands; the
        // new leader redelivers what was in flight (the partner sees it again with the same
        // Idempotency-Key) and posts the stored decisions.
        let ran = tokio::select! {
            biased;
            () = leading.lost().cancelled() => None,
            ran = pipeline.run(pipeline_stop) => Some(ran),
        };
        // The loss also stops the pipeline (its stop token follows the loss), and the pipeline
        // can end first: still no drain, which could outlast the lease by the grace period.
        match ran {
            Some(Ok(())) if !leading.lost().is_cancelled() => Ok(()),
            Some(Err(error)) => {
                engine.abandon().await;
                return Err(error.into());
            }
            _ => {
                engine.abandon().await;
                return Ok(());
            }
        }
    } else {
        pipeline.run(pipeline_stop).await
    };
    // Routing stops the same way whether the pipeline stopped cleanly or failed: its posts in
    // flight still get the grace, and nothing of it outlives the connector.
    intake_stop.cancel();
    if tokio::time::timeout(grace, engine.shutdown())
        .await
        .is_err()
    {
        warn!(
            "routing did not stop within the grace period; pending requests resume after restart"
        );
        engine.abandon().await;
    }
    // The pipeline had the tracker hand over its changed records before its final commit and
    // closed the writer: what the tracker applies from now on stays in memory only.
    tracker.close().await;
    ran.map_err(ConnectorError::from)
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
