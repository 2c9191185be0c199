//! What every replica builds before it may lead: the first access token, the store, the
//! Interaction Service client with the registered capabilities, the conversation tracker and
//! the inbound sidecar routes.
//!
//! These need no leadership: a standby (`ha.enabled`) serves the partner → Salesforce writes
//! with them while another replica leads. Knows nothing about the lease or the pipeline.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::sidecar::LateBound;
use super::ConnectorError;
use crate::auth::{AccessGrant, TokenProvider};
use crate::config::{Config, ConsentOwner};
use crate::conversation::{ConversationTracker, DeliveryFailureNotifier, SessionLearner};
use crate::inbound::Inbound;
use crate::interaction::{
    retry_until, CapabilitiesRequest, ClientSettings, ConfigErrorObserver, ErrorClass,
    InteractionClient, InteractionError, RegisteredCapabilities,
};
use crate::store::{CheckpointWriter, Store, StoreError, StoreSettings};
use crate::telemetry::Telemetry;

/// How long one round of capabilities registration retries before logging and starting over.
const CAPABILITIES_RETRY_WINDOW: Duration = Duration::from_secs(60);

/// Longest wait between attempts to get the first access token.
const MAX_STARTUP_AUTH_BACKOFF: Duration = Duration::from_secs(60);

/// What every replica runs, leader or standby: the token provider, the store, the
/// Interaction Service client with its registered capabilities, and the inbound routes.
pub(super) struct Shared {
    pub(super) provider: TokenProvider,
    pub(super) org_id: String,
    pub(super) store: Store,
    pub(super) interaction: InteractionClient,
    pub(super) writer: CheckpointWriter,
    pub(super) tracker: ConversationTracker,
    pub(super) notifier: DeliveryFailureNotifier,
}

/// Builds what every replica runs; `None` when shutdown came before the first token.
pub(super) async fn start_shared(
    config: &Config,
    telemetry: &Telemetry,
    late: &LateBound,
    shutdown: &CancellationToken,
) -> Result<Option<Shared>, ConnectorError> {
    // One trust anchor for every connection to Salesforce, Pub/Sub and REST alike.
    let ca_certificate_pem = config.pubsub.ca_certificate_pem.as_deref();
    let provider = TokenProvider::with_ca_certificate(&config.auth, ca_certificate_pem)?;
    let Some(grant) = first_grant(&provider, shutdown).await? else {
        return Ok(None);
    };
    let org_id = grant.org_id.as_str().to_owned();
    let store_location = config.store.location();
    let store_settings = StoreSettings::from(&config.store);
    let store =
        tokio::task::spawn_blocking(move || Store::open_at(&store_location, store_settings))
            .await
            .map_err(StoreError::TaskFailed)??;
    let dead_letters = store.run_blocking(Store::count_dead_letters).await?;
    telemetry.set_dead_letters(dead_letters);
    // Set once; run_pipeline runs once per process.
    let _ = late.released.set(store.released());
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
    // connector before it consumes anything. Every replica registers the same capabilities,
    // so a standby's sidecar checks messages against them too.
    let registration = config.capabilities.request(
        grant.org_id.as_15(),
        &config.interaction.authorization_context,
    );
    // What Salesforce accepted: the sidecar's sends are checked against it.
    let mut registered = None;
    if let Some(request) = registration {
        let Some(accepted) = register_capabilities(&interaction, &request, shutdown).await? else {
            return Ok(None);
        };
        registered = Some(accepted);
    }
    let writer = CheckpointWriter::spawn(store.clone());
    let tracker = ConversationTracker::spawn(writer.clone());
    let notifier = DeliveryFailureNotifier::new(interaction.clone(), tracker.clone());
    interaction.observe_interactions(Arc::new(SessionLearner(tracker.clone())));
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
    Ok(Some(Shared {
        provider,
        org_id,
        store,
        interaction,
        writer,
        tracker,
        notifier,
    }))
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

/// The REST API client (SOQL), trusting the same extra anchor as every Salesforce call.
pub(super) fn soql_client(
    ca_certificate_pem: Option<&str>,
) -> Result<reqwest::Client, ConnectorError> {
    crate::auth::url_policy::client_builder(ca_certificate_pem)
        .and_then(reqwest::ClientBuilder::build)
        .map_err(|err| {
            ConnectorError::Interaction(InteractionError::Config {
                problem: format!("cannot build the rest api client: {err}"),
            })
        })
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
