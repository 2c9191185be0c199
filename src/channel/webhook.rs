//! The webhook channel: POST each delivery to the partner's URL (DESIGN §6).
//!
//! One pooled client (`partner_http`) is reused for every delivery. Each request
//! carries `Content-Type: application/json`, `Idempotency-Key`, `X-Byoc-Event-Type` and, when
//! a secret is configured, `X-Byoc-Signature`. The response is classified by the `retry`
//! module; this file only sends and reads. It knows nothing about what the body holds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::partner_http::{PartnerHttp, PartnerHttpError};
use super::retry::{classify_status, classify_transport_error, parse_retry_after};
use super::signature::{Signer, SIGNATURE_HEADER};
use super::{
    Channel, Delivery, DeliveryError, PermanentFailure, PERMANENT_FAILURE_BODY_PREFIX_BYTES,
};
use crate::secret::SecretString;

/// Default limit for opening a connection to the partner.
pub(crate) const WEBHOOK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default limit for one request, from connecting to the end of the response body.
pub(crate) const WEBHOOK_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest successful response body read; the rest is dropped with the connection.
pub(crate) const WEBHOOK_RESPONSE_BODY_LIMIT_BYTES: usize = 64 * 1024;

/// The header carrying the delivery's idempotency key.
pub(crate) const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The header carrying the envelope's `type`.
pub(crate) const EVENT_TYPE_HEADER: &str = "x-byoc-event-type";

pub(super) const USER_AGENT_VALUE: &str = concat!("byoc-connector/", env!("CARGO_PKG_VERSION"));

/// How to reach the partner.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Where deliveries are POSTed.
    pub url: String,
    /// The signing secret; no `X-Byoc-Signature` without one.
    pub secret: Option<SecretString>,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for one request, response body included.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &redacted_url(&self.url))
            .field("secret", &self.secret)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// The URL without its query or credentials, which may hold tokens.
pub(crate) fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let query = if parsed.query().is_some() {
                "?[redacted]"
            } else {
                ""
            };
            format!(
                "{}{}{query}",
                parsed.origin().ascii_serialization(),
                parsed.path()
            )
        }
        Err(_) => "[unparseable url]".to_owned(),
    }
}

impl WebhookSettings {
    /// Settings for `url` with default timeouts and no secret.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: None,
            connect_timeout: WEBHOOK_CONNECT_TIMEOUT,
            request_timeout: WEBHOOK_REQUEST_TIMEOUT,
        }
    }
}

/// Why a webhook channel cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse or is not http(s).
    #[error("webhook url is invalid: {reason}")]
    InvalidUrl {
        /// What is wrong with it (the URL itself is not repeated: it may hold a token).
        reason: String,
    },
    /// The HTTP client cannot be built, for example without TLS roots.
    #[error("webhook http client cannot be built")]
    Client(#[source] PartnerHttpError),
}

/// A successful (2xx) answer from the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerResponse {
    /// The 2xx status.
    pub status: StatusCode,
    /// The response body, up to `WEBHOOK_RESPONSE_BODY_LIMIT_BYTES`.
    pub body: Bytes,
}

/// Delivers by HTTP POST to the partner, reusing connections.
#[derive(Clone)]
pub struct WebhookChannel {
    client: PartnerHttp,
    // Kept for `Debug`, redacted.
    url: reqwest::Url,
    // Prepared once from the secret; `None` means unsigned deliveries.
    signer: Option<Signer>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &redacted_url(self.url.as_str()))
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookChannel {
    /// Builds the channel and its connection pool.
    pub fn new(settings: WebhookSettings) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(&settings.url).map_err(|error| WebhookError::InvalidUrl {
            reason: error.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::InvalidUrl {
                reason: format!("scheme {} is not http or https", url.scheme()),
            });
        }
        let client = PartnerHttp::new(&url, settings.connect_timeout, settings.request_timeout)
            .map_err(WebhookError::Client)?;
        let signer = settings
            .secret
            .as_ref()
            .filter(|secret| !secret.is_empty())
            .map(Signer::new);
        Ok(Self {
            client,
            url,
            signer,
        })
    }

    /// Sends one delivery and returns the partner's 2xx answer; routing reads its body.
    pub async fn post(&self, delivery: &Delivery) -> Result<PartnerResponse, DeliveryError> {
        let headers = self.headers(delivery)?;
        let response = self
            .client
            .post(headers, delivery.body.clone())
            .await
            .map_err(classify_transport_error)?;
        let status = response.status;
        if status.is_success() {
            let body = response
                .read_prefix(WEBHOOK_RESPONSE_BODY_LIMIT_BYTES)
                .await
                .map_err(classify_transport_error)?;
            return Ok(PartnerResponse { status, body });
        }
        let retry_after = response
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        // The body only explains the failure; an error while reading it must not hide the status.
        let body_prefix = response
            .read_prefix(PERMANENT_FAILURE_BODY_PREFIX_BYTES)
            .await
            .unwrap_or_default();
        // Only non-2xx statuses reach this point, so this is always an error.
        classify_status(status, retry_after, body_prefix).map(|()| PartnerResponse {
            status,
            body: Bytes::new(),
        })
    }

    fn headers(&self, delivery: &Delivery) -> Result<HeaderMap, DeliveryError> {
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert(
            IDEMPOTENCY_KEY_HEADER,
            header_value("Idempotency-Key", &delivery.idempotency_key)?,
        );
        headers.insert(
            EVENT_TYPE_HEADER,
            header_value("X-Byoc-Event-Type", &delivery.event_type)?,
        );
        self.sign_into(&mut headers, &delivery.body)?;
        Ok(headers)
    }

    /// Adds `X-Byoc-Signature` over `body` when a secret is configured.
    pub(super) fn sign_into(
        &self,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), DeliveryError> {
        if let Some(signer) = &self.signer {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs();
            let signature = signer.sign(timestamp, body);
            headers.insert(
                SIGNATURE_HEADER,
                header_value("X-Byoc-Signature", &signature)?,
            );
        }
        Ok(())
    }

    /// The pooled HTTP client.
    pub(super) fn client(&self) -> &PartnerHttp {
        &self.client
    }
}

impl Channel for WebhookChannel {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        self.post(delivery).await.map(drop)
    }
}

/// A header value, or a permanent failure: a value that cannot be sent never will be.
fn header_value(name: &str, value: &str) -> Result<HeaderValue, DeliveryError> {
    HeaderValue::from_str(value).map_err(|_| {
        DeliveryError::Permanent(PermanentFailure {
            status: None,
            body_prefix: Bytes::new(),
            reason: format!("{name} holds characters not allowed in an http header"),
        })
    })
}
