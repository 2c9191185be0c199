//! The sidecar's partner → Salesforce routes (DESIGN §7): typed JSON calls that the connector
//! turns into Interaction Service calls, so the partner never builds Salesforce headers,
//! multipart bodies or tokens.
//!
//! Every write takes an `Idempotency-Key` (see `idempotency.rs`): the client entry ids derive from
//! it and the first final answer is kept in the store, so a retried call — also after a
//! restart — never creates a second ConversationEntry. Retryable failures (429, 5xx) are
//! retried, `Retry-After` honoured, within the caller's deadline (`Request-Timeout-Ms`). The
//! routes are served before the connector has a token: they answer `503` until
//! [`InboundSlot`] is filled. It knows nothing about Pub/Sub, routing or the server's other
//! routes.

mod answer;
mod attachment;
mod conversation_writes;
mod delivery_failures;
mod history;
mod idempotency;
mod messages;
pub(crate) mod openapi;
mod request;
mod routes;
mod write;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::HeaderMap;

use crate::conversation::{ConversationTracker, DeliveryFailureNotifier};
use crate::interaction::{InteractionClient, RegisteredCapabilities};
use crate::store::Store;
use idempotency::AnswerKeeper;

pub(crate) use attachment::ATTACHMENT_PATH;
#[cfg(test)]
pub(crate) use routes::served;
pub(crate) use routes::{
    router, AGENT_WORK_PATH, CONSENT_PATH, CONVERSATIONS_PATH, DELIVERY_FAILURES_PATH,
    HISTORY_PATH, MESSAGES_PATH, PARTICIPANT_PATH, RECEIPTS_PATH, SESSION_PATH, TYPING_PATH,
};

/// The caller's deadline header: milliseconds the whole call may take, retries included.
pub(crate) const REQUEST_TIMEOUT_HEADER: &str = "request-timeout-ms";
/// The deadline when the caller gives none.
pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// The deadline of an attachment upload when the caller gives none: up to 25 MB must cross
/// twice, so it gets the longest.
pub(crate) const DEFAULT_ATTACHMENT_DEADLINE: Duration = MAX_DEADLINE;
/// The longest deadline a caller may ask for.
pub(crate) const MAX_DEADLINE: Duration = Duration::from_secs(60);

/// What the inbound routes call through; set once the connector has its client and store.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    client: InteractionClient,
    store: Store,
    /// Final answers kept for idempotency, committed in groups: one fsync serves every call
    /// that finished while the previous group was being written.
    answers: AnswerKeeper,
    channel_addresses: Vec<String>,
    /// What Salesforce accepted from `[capabilities]`: messages are checked against it before
    /// they are sent. `None` when nothing was registered.
    capabilities: Option<RegisteredCapabilities>,
    /// Whether the channel's Consent Owner is the partner; the consent route sends only then.
    partner_owns_consent: bool,
    /// The conversation states and the notifier the delivery-failure route uses.
    conversations: Option<(ConversationTracker, DeliveryFailureNotifier)>,
}

impl Inbound {
    /// Routes calling `client`, keeping answers in `store`; `channel_addresses` are the
    /// configured `channel.address_identifiers` (one of them is the default `to`).
    pub(crate) fn new(
        client: InteractionClient,
        store: Store,
        channel_addresses: Vec<String>,
    ) -> Self {
        Self {
            client,
            answers: idempotency::answer_keeper(store.clone()),
            store,
            channel_addresses,
            capabilities: None,
            partner_owns_consent: false,
            conversations: None,
        }
    }

    /// Checks messages against `registered` capabilities before sending them.
    #[must_use]
    pub(crate) fn with_capabilities(mut self, registered: Option<RegisteredCapabilities>) -> Self {
        self.capabilities = registered;
        self
    }

    /// Whether the channel's Consent Owner is the partner (`channel.consent_owner`).
    #[must_use]
    pub(crate) fn with_partner_consent(mut self, partner_owns_consent: bool) -> Self {
        self.partner_owns_consent = partner_owns_consent;
        self
    }

    /// Serves the delivery-failure route: `tracker` names a known conversation's end user and
    /// channel, `notifier` sends and records the failure.
    #[must_use]
    pub(crate) fn with_conversations(
        mut self,
        tracker: ConversationTracker,
        notifier: DeliveryFailureNotifier,
    ) -> Self {
        self.conversations = Some((tracker, notifier));
        self
    }
}

/// Filled once the connector is running; the routes answer `503` before.
pub(crate) type InboundSlot = Arc<OnceLock<Inbound>>;

/// The caller's deadline from `Request-Timeout-Ms` (`default` when it gives none), or the
/// `400` naming the header.
fn deadline_or(headers: &HeaderMap, default: Duration) -> Result<Duration, answer::Answer> {
    let Some(value) = headers.get(REQUEST_TIMEOUT_HEADER) else {
        return Ok(default);
    };
    let max = u64::try_from(MAX_DEADLINE.as_millis()).unwrap_or(u64::MAX);
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|ms| (1..=max).contains(ms))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            answer::Answer::invalid(
                "Request-Timeout-Ms",
                format!("an integer number of milliseconds, 1..={max}"),
            )
        })
}
