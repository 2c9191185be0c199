//! The connector: assembles every part from a validated [`Config`] and runs it until
//! shutdown.
//!
//! Startup order follows DESIGN §3: credentials (retried until Salesforce answers, because
//! the checkpoint key needs the org id), the store and its checkpoint, the subscriber, the
//! channel, then the pipeline. Shutdown (G8) stops intake, drains in-flight work within
//! the grace period and writes the final checkpoint. It owns no protocol logic itself.

pub mod credentials;

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::credentials::ProviderCredentials;
use crate::auth::{AccessGrant, AuthError, TokenProvider};
use crate::channel::{AnyChannel, StdoutChannel, WebhookChannel, WebhookError};
use crate::config::Config;
use crate::events::FieldNames;
use crate::pipeline::{Pipeline, PipelineError, PipelineSettings};
use crate::pubsub::{ReplayId, Subscriber, SubscriberError};
use crate::store::{CheckpointWriter, Store, StoreError};

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
}

/// Runs the connector described by `config` until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ConnectorError> {
    let provider = TokenProvider::new(&config.auth)?;
    let Some(grant) = first_grant(&provider, &shutdown).await? else {
        return Ok(());
    };
    let org_id = grant.org_id.as_str().to_owned();
    let topic = config.pubsub.topic.clone();
    let store_path = config.store.path.clone();
    let store = tokio::task::spawn_blocking(move || {
        Store::open(&store_path, config_store_options(&config.store))
    })
    .await
    .map_err(StoreError::TaskFailed)??;
    let checkpoint = {
        let (org_id, topic) = (org_id.clone(), topic.clone());
        store
            .run_blocking(move |store| store.load_checkpoint(&org_id, &topic))
            .await?
    };
    let start = match checkpoint {
        Some(replay_id) => {
            let replay_id = ReplayId::from_bytes(replay_id);
            info!(%replay_id, "resuming after the stored checkpoint");
            crate::pubsub::ReplayStart::After(replay_id)
        }
        None => config.pubsub.replay_start(),
    };
    let channel = Arc::new(match config.delivery.webhook_options() {
        Some(options) => AnyChannel::Webhook(WebhookChannel::new(options)?),
        None => AnyChannel::Stdout(StdoutChannel::new()),
    });
    let intake_stop = shutdown.child_token();
    let subscriber = Subscriber::spawn(
        config.pubsub.subscriber_config(start),
        ProviderCredentials(provider.clone()),
        intake_stop.clone(),
    )?;
    let mut settings = PipelineSettings::new(org_id, topic);
    settings.field_names = FieldNames {
        event_type: config.pubsub.event_type_field.clone(),
        payload: config.pubsub.payload_field.clone(),
    };
    settings.max_in_flight = config.pipeline.max_in_flight;
    settings.max_watermark_lag =
        usize::try_from(config.pipeline.max_watermark_lag).unwrap_or(usize::MAX);
    settings.grace = config.pipeline.grace();
    settings.channel_filter = config
        .channel
        .address_identifiers
        .as_ref()
        .map(|addresses| addresses.iter().cloned().collect());
    let writer = CheckpointWriter::spawn(store);
    let pipeline = Pipeline::new(settings, subscriber, writer, channel, None);
    info!(topic = %config.pubsub.topic, "connector running");
    pipeline.run(shutdown).await?;
    intake_stop.cancel();
    Ok(())
}

fn config_store_options(store: &crate::config::StoreConfig) -> crate::store::StoreOptions {
    store.store_options()
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
                warn!(error = %err, delay_ms = delay.as_millis() as u64, "cannot get an access token yet; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
}
