//! Faults the fake Interaction Service injects on demand: "the next N calls to path P fail
//! with status S", for 429 `Interaction request rate limit exceeded` and 5xx.
//!
//! The type is serde-deserializable so a control plane can forward JSON to
//! [`super::InteractionFake::inject_fault`]. It knows nothing about the connector's client.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use crate::interaction_service::checks::{ErrorShape, Refusal, RetryAfter};
use crate::interaction_service::Endpoint;

/// "The next `count` calls to `path` fail with `status`", for 429 and 5xx on demand; or, with
/// `unsuccessful`, "answer `status` (2xx) with the endpoint's `success: false` body".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InteractionFault {
    /// `/api/v1/routingResult` or `routingResult`; absent means any endpoint.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP method to match; absent means any.
    #[serde(default)]
    pub method: Option<String>,
    /// Status to answer: 400–599 (429 and 5xx are the intended uses), or 200–299 with
    /// `unsuccessful`.
    pub status: u16,
    /// How many matching calls fail.
    #[serde(default = "one")]
    pub count: u32,
    /// Code in the body; defaults to the status (Salesforce's table lists 500 as a code).
    #[serde(default)]
    pub code: Option<i64>,
    /// Message in the body; defaults by status (429: `Interaction request rate limit exceeded`).
    #[serde(default)]
    pub message: Option<String>,
    /// `Retry-After` seconds to send (Salesforce's use of it is undocumented).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// `Retry-After` in its other HTTP form, a date this many seconds after the answer; wins
    /// over `retry_after_secs`. A date has whole seconds, so the wait is up to one less.
    #[serde(default)]
    pub retry_after_date_in_secs: Option<u64>,
    /// Answer a 2xx whose body says `success: false`, in the shape the YAML gives the
    /// endpoint's response: `/route`'s `{success, errors: {errorMessage, errorType,
    /// apiErrorCode}, reasonForNotRouting}`, `/messagingSession`'s `{success, errorReason}` (the
    /// message is the reason, one of `MessagingSessionOperationErrorReason`), and
    /// `{success, errorDetail: {message, code}}` elsewhere (routingResult, agentWork, consent).
    #[serde(default)]
    pub unsuccessful: bool,
}

fn one() -> u32 {
    1
}

impl InteractionFault {
    /// The next `count` calls to `path` answer 429 `Interaction request rate limit exceeded`.
    pub fn rate_limit(path: &str, count: u32) -> Self {
        Self::status(path, 429, count)
    }

    /// The next `count` calls to `path` answer `status` with the default body.
    pub fn status(path: &str, status: u16, count: u32) -> Self {
        Self {
            path: Some(path.to_owned()),
            method: None,
            status,
            count,
            code: None,
            message: None,
            retry_after_secs: None,
            retry_after_date_in_secs: None,
            unsuccessful: false,
        }
    }

    /// The next `count` calls to `path` answer `status` (2xx) with a `success: false` body
    /// carrying `code` and `message`.
    pub fn unsuccessful(path: &str, status: u16, code: i64, message: &str, count: u32) -> Self {
        Self {
            code: Some(code),
            message: Some(message.to_owned()),
            unsuccessful: true,
            ..Self::status(path, status, count)
        }
    }

    /// The statuses this fault may answer with.
    pub(super) fn status_is_valid(&self) -> bool {
        if self.unsuccessful {
            (200..=299).contains(&self.status)
        } else {
            (400..=599).contains(&self.status)
        }
    }

    pub(super) fn matches(&self, endpoint: Endpoint) -> bool {
        let path_ok = self.path.as_deref().is_none_or(|path| {
            let wanted = path.trim_start_matches("/api/v1/").trim_start_matches('/');
            endpoint.path().trim_start_matches("/api/v1/") == wanted
        });
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|method| method.eq_ignore_ascii_case(endpoint.method().as_str()));
        path_ok && method_ok && self.count > 0
    }

    pub(super) fn refusal(&self, endpoint: Endpoint) -> Refusal {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let default_message = if status == StatusCode::TOO_MANY_REQUESTS {
            "Interaction request rate limit exceeded"
        } else {
            "An internal server error occurred. Please contact Salesforce Support."
        };
        let message = self.message.as_deref().unwrap_or(default_message);
        let default_code = if self.unsuccessful {
            500
        } else {
            i64::from(self.status)
        };
        let mut refusal = Refusal::new(status, self.code.unwrap_or(default_code), message);
        if self.unsuccessful {
            refusal = refusal.shaped(match endpoint {
                Endpoint::PostRoute => ErrorShape::Route,
                Endpoint::PostMessagingSession => ErrorShape::Reason,
                _ => ErrorShape::Detail,
            });
        }
        refusal.retry_after = match (self.retry_after_date_in_secs, self.retry_after_secs) {
            (Some(ahead), _) => Some(RetryAfter::DateIn(Duration::from_secs(ahead))),
            (None, Some(seconds)) => Some(RetryAfter::Seconds(seconds)),
            (None, None) => None,
        };
        refusal
    }
}

/// Why a fault was not queued.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The status does not fit the fault: 400–599, or 200–299 for an `unsuccessful` one.
    #[error("fault status must be 400-599 (200-299 with unsuccessful), got {0}")]
    BadStatus(u16),
}

/// "Hold the answer of the next `count` calls to `path` for `hold_ms`": the call is checked,
/// answered and recorded at once (so a test sees it), and only the response is sent late. A
/// client killed meanwhile never learns what Salesforce made of its call; queue an
/// [`InteractionFault`] beside the hold to make that answer a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseHold {
    /// `/api/v1/routingResult` or `routingResult`; absent means any endpoint.
    #[serde(default)]
    pub path: Option<String>,
    /// How long the response is held, in milliseconds.
    pub hold_ms: u64,
    /// How many matching calls are held.
    #[serde(default = "one")]
    pub count: u32,
}

impl ResponseHold {
    /// Holds the answers of the next `count` calls to `path` for `hold`.
    pub fn new(path: &str, hold: Duration, count: u32) -> Self {
        Self {
            path: Some(path.to_owned()),
            hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
            count,
        }
    }

    pub(super) fn matches(&self, endpoint: Endpoint) -> bool {
        let path_ok = self.path.as_deref().is_none_or(|path| {
            let wanted = path.trim_start_matches("/api/v1/").trim_start_matches('/');
            endpoint.path().trim_start_matches("/api/v1/") == wanted
        });
        path_ok && self.count > 0
    }
}
