//! Channels: where a delivery goes, and how a failed delivery is classified.
//!
//! This module owns the [`Channel`] trait, the [`Delivery`] it carries and the
//! [`DeliveryError`] classes, plus the channels: `webhook` (HTTP POST to the partner,
//! signed), its batched form `batch` (many events per POST, each with its own result) and
//! `stdout` (one JSON line per delivery). Retrying is separate from sending: the
//! `retry` module decides what is retryable and how long to wait. A channel sees only bytes and
//! two header values; it knows nothing about Pub/Sub, gRPC or the BYOC payload inside the body.
//!
//! The set of channels is fixed at compile time, so [`AnyChannel`] is an enum rather than a
//! boxed trait object: the trait keeps a plain `async fn`-style signature, and no delivery pays
//! for a boxed future.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

mod batch;
mod partner_http;
pub mod retry;
pub mod signature;
mod stdout;
mod webhook;

#[cfg(feature = "harness")]
pub(crate) use batch::BATCHES_IN_FLIGHT;
pub(crate) use batch::BATCH_MAX_EVENTS_LIMIT;
pub use batch::{BatchedWebhook, BATCH_SIZE_HEADER};
pub use partner_http::PartnerHttpError;
pub use retry::{
    deliver_with_retry, deliver_with_retry_observed, RetryNotice, RetryPolicy, RetryStopped,
};
pub use stdout::StdoutChannel;
pub(crate) use webhook::{
    redacted_url, WEBHOOK_CONNECT_TIMEOUT, WEBHOOK_REQUEST_TIMEOUT,
    WEBHOOK_RESPONSE_BODY_LIMIT_BYTES,
};
pub use webhook::{PartnerResponse, WebhookChannel, WebhookError, WebhookSettings};

/// How much of a rejecting response's body a [`PermanentFailure`] keeps.
pub(crate) const PERMANENT_FAILURE_BODY_PREFIX_BYTES: usize = 1024;

/// One event on its way to the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Stable across redeliveries, so the partner can drop duplicates.
    pub idempotency_key: String,
    /// The envelope's `type`, sent as a header so partners can route without parsing;
    /// borrowed when it is one of the connector's own names, so a clone allocates nothing.
    pub event_type: Cow<'static, str>,
    /// The envelope, already serialized as compact JSON (no raw newline).
    pub body: Bytes,
}

/// A delivery the partner refused for good; the event goes to the dead-letter store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PermanentFailure {
    /// The HTTP status, when the partner answered.
    pub status: Option<http::StatusCode>,
    /// The first `PERMANENT_FAILURE_BODY_PREFIX_BYTES` of the response body.
    pub body_prefix: Bytes,
    /// Why the delivery failed, for logs and the dead letter.
    pub reason: String,
}

/// Why a delivery failed, classified by what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later; the partner may have asked for a delay.
    #[error("delivery failed, will retry: {reason}")]
    Retryable {
        /// What went wrong.
        reason: String,
        /// The partner's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The HTTP status that failed; `None` for connect errors, timeouts and local I/O.
        status: Option<http::StatusCode>,
    },
    /// Do not try again; dead-letter the event.
    #[error("delivery failed permanently: {0}")]
    Permanent(PermanentFailure),
    /// The destination is gone for good (stdout's reader closed the pipe): no event can be
    /// delivered any more, so the connector stops without completing this one.
    #[error("the delivery channel is closed: {reason}")]
    Closed {
        /// Why, for the operator.
        reason: String,
    },
}

impl DeliveryError {
    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// The delay the partner asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Permanent(_) | Self::Closed { .. } => None,
        }
    }
}

/// A destination for deliveries.
pub trait Channel: Send + Sync {
    /// Delivers once; retrying is the caller's job (see [`deliver_with_retry`]).
    fn deliver(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// The channel chosen by configuration.
#[derive(Debug)]
pub enum AnyChannel {
    /// HTTP POST to the partner's webhook, one event per request.
    Webhook(WebhookChannel),
    /// HTTP POST to the partner's webhook, up to `delivery.batch_max_events` per request.
    BatchedWebhook(BatchedWebhook),
    /// One JSON line per delivery on standard output.
    Stdout(StdoutChannel),
}

impl AnyChannel {
    /// Whether a delivery only queues its event for a task or thread of the channel's own
    /// and waits for the answer, doing next to no work itself (batched webhook, stdout).
    pub(crate) fn delivers_on_its_own_task(&self) -> bool {
        match self {
            Self::Webhook(_) => false,
            Self::BatchedWebhook(_) | Self::Stdout(_) => true,
        }
    }
}

impl Channel for AnyChannel {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        match self {
            // The HTTP request's future is large; boxed, it does not size the others'.
            Self::Webhook(channel) => Box::pin(channel.deliver(delivery)).await,
            Self::BatchedWebhook(channel) => channel.deliver(delivery).await,
            Self::Stdout(channel) => channel.deliver(delivery).await,
        }
    }
}
