//! Routing: every `RoutingRequested` gets exactly one `POST /api/v1/routingResult`, before
//! `CreatedDate + window` (DESIGN §5, G4).
//!
//! [`RoutingEngine`] takes decoded routing requests from the pipeline, records each durably
//! (keyed by `channelData.eventId`, else the platform event's id) before the pipeline may
//! acknowledge it, and then runs it in a background task: the partner decides (in its answer
//! or through the sidecar endpoint), or the connector routes through Salesforce itself, or it
//! rejects. Files, one concept each: `machine` (one request's life as a pure state machine,
//! `(state, input) → (state, actions)`), `driver` (the thin task that feeds it and carries its
//! actions out), `ports` (the `RoutingPorts` trait the driver calls), `live` (the
//! ports over the real clients), `deadline` (clock and deadlines), `pending` (durable
//! records), `active` (the in-memory claim that makes a decision happen once), `resume`
//! (recovery after a restart), `partner` (the partner delivery and decision body),
//! `ask_limit` (how many asks may be out at once), `strategy` (salesforce and reject),
//! `work_item`, `soql` and `soql_batch` (`workItemId` resolution), `post` (the routingResult
//! call), `cancel` (a cancelled request's cleanup in Salesforce and notice
//! to the partner), `engine` (the public entry points), `sidecar` (the decision endpoints).
//! What happens to each request is logged and counted by the connector's `telemetry`, handed
//! in with [`RoutingDeps`].
//!
//! Routing knows nothing about Pub/Sub or the pipeline: it gets typed events and bytes.

mod active;
mod ask_limit;
mod cancel;
mod deadline;
mod driver;
mod engine;
mod live;
mod machine;
mod partner;
mod pending;
mod ports;
mod post;
mod resume;
mod sidecar;
mod soql;
mod soql_batch;
mod strategy;
mod views;
mod work_item;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::auth::TokenProvider;
use crate::channel::WebhookChannel;
use crate::events::{DecodedEvent, OutboundEvent, RoutingRequestedEvent, ROUTING_WINDOW};
use crate::interaction::InteractionClient;
use crate::secret::SecretString;
use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;

pub use deadline::{Clock, SystemClock};
pub use engine::{RequestStatus, RoutingEngine};
pub use partner::PartnerDecision;
pub use resume::ResumeSummary;
pub(crate) use sidecar::{
    assign_response, decision_response, user_id_from, SIDECAR_ASSIGN_PATH, SIDECAR_DECISION_PATH,
};
pub use strategy::{
    RoutingStrategy, UnknownStrategy, EXTERNAL_CONFERENCE_MESSAGE, NO_FALLBACK_QUEUE_MESSAGE,
    REJECT_MESSAGE, UNTYPED_ROUTING_MESSAGE,
};
pub(crate) use views::SessionLookup;
pub use views::SidecarOutcome;

/// Default time the partner has to decide, counted from `CreatedDate`; less than the window.
pub const DEFAULT_DECISION_TIMEOUT: Duration = Duration::from_secs(45);
/// Default `routingParameters` field carrying a rep's User id (spec §7 gap 3).
pub(crate) const DEFAULT_REP_USER_FIELD: &str = "userId";
/// Default REST API version of the MessagingSession query.
pub(crate) const DEFAULT_SOQL_API_VERSION: &str = "62.0";

/// How routing behaves; `connector::routing_sink` builds it from `config::RoutingConfig`.
#[derive(Clone)]
pub struct RoutingSettings {
    /// Who decides: `partner`, `salesforce` or `reject`.
    pub strategy: RoutingStrategy,
    /// The partner's routing endpoint; used only when `RoutingDeps::partner` is `None`.
    pub url: Option<String>,
    /// Signs partner deliveries built from `url`; used only with `url`.
    pub secret: Option<SecretString>,
    /// Time the partner has to decide, from `CreatedDate`; must be less than `window`.
    pub decision_timeout: Duration,
    /// Salesforce's routing window, from `CreatedDate` (60 s; tests shrink it).
    pub window: Duration,
    /// The `routingParameters` field carrying a rep's User id.
    pub rep_user_field: String,
    /// A flow transfer's fallback queue (`00G…`) when the request names none.
    pub fallback_queue_id: Option<String>,
    /// REST API version of the MessagingSession query, e.g. `62.0`.
    pub soql_api_version: String,
    /// Allow plain http to a loopback instance URL for the query (the harness only, G7).
    pub insecure: bool,
    /// Wall clock for `CreatedDate` arithmetic; tests inject their own.
    pub clock: Arc<dyn Clock>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            strategy: RoutingStrategy::default(),
            url: None,
            secret: None,
            decision_timeout: DEFAULT_DECISION_TIMEOUT,
            window: ROUTING_WINDOW,
            rep_user_field: DEFAULT_REP_USER_FIELD.to_owned(),
            fallback_queue_id: None,
            soql_api_version: DEFAULT_SOQL_API_VERSION.to_owned(),
            insecure: false,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for RoutingSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RoutingSettings")
            .field("strategy", &self.strategy)
            .field("url", &self.url.as_ref().map(|_| "[set]"))
            .field("secret", &self.secret)
            .field("decision_timeout", &self.decision_timeout)
            .field("window", &self.window)
            .field("rep_user_field", &self.rep_user_field)
            .field("fallback_queue_id", &self.fallback_queue_id)
            .field("soql_api_version", &self.soql_api_version)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// What the engine calls.
#[derive(Debug, Clone)]
pub struct RoutingDeps {
    /// The Interaction Service (routingResult, route, agentWork).
    pub interaction: InteractionClient,
    /// The store holding pending routing requests.
    pub store: Store,
    /// The partner's routing endpoint, for strategy `partner`.
    pub partner: Option<WebhookChannel>,
    /// Tokens and the instance URL for the MessagingSession query.
    pub token_provider: TokenProvider,
    /// HTTP client for the MessagingSession query.
    pub http: reqwest::Client,
    /// Logs and counts what happens to each request.
    pub telemetry: Telemetry,
}

/// One routing request as the pipeline hands it over.
#[derive(Debug, Clone)]
pub struct RoutingRequestInput {
    /// The decoded request.
    pub event: Box<RoutingRequestedEvent>,
    /// The platform event's `CreatedDate`, epoch ms: the window counts from it.
    pub created_date_ms: i64,
    /// The Pub/Sub replay id.
    pub replay_id: Vec<u8>,
    /// The delivery's `Idempotency-Key`.
    pub idempotency_key: String,
    /// The `routing.requested` webhook body, built by the events envelope.
    pub webhook_body: Bytes,
}

impl RoutingRequestInput {
    /// The input for a decoded routing request, building its webhook body; gives back any
    /// other event.
    pub fn from_decoded(decoded: DecodedEvent) -> Result<Self, Box<DecodedEvent>> {
        if !matches!(decoded.event, OutboundEvent::RoutingRequested(_)) {
            return Err(Box::new(decoded));
        }
        let webhook_body = decoded.webhook_body();
        Self::with_body(decoded, webhook_body)
    }

    /// The input for a decoded routing request whose `routing.requested` body the caller
    /// already built; gives back any other event.
    pub(crate) fn with_body(
        decoded: DecodedEvent,
        webhook_body: Bytes,
    ) -> Result<Self, Box<DecodedEvent>> {
        let DecodedEvent {
            event,
            created_date_ms,
            idempotency_key,
            replay_id,
        } = decoded;
        match event {
            OutboundEvent::RoutingRequested(event) => Ok(Self {
                event,
                created_date_ms,
                replay_id,
                idempotency_key,
                webhook_body,
            }),
            other @ OutboundEvent::Interaction(_) => Err(Box::new(DecodedEvent {
                event: other,
                created_date_ms,
                idempotency_key,
                replay_id,
            })),
        }
    }
}

/// Why the engine could not take a routing request.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// The store failed; the request is not recorded, so the event must not be acknowledged.
    #[error("routing store could not {operation}")]
    Store {
        /// What the engine was doing.
        operation: &'static str,
        /// What the store reported (boxed: store errors are large).
        #[source]
        source: Box<StoreError>,
    },
    /// A stored record cannot be read or written.
    #[error("pending routing record {event_id} is corrupt: {reason}")]
    CorruptRecord {
        /// The record's event id.
        event_id: String,
        /// What is wrong.
        reason: String,
    },
}
