//! The `partner` strategy's half of the conversation with the partner: delivering the
//! `routing.requested` envelope to `routing.url` and reading the decision in its answer, plus
//! the decision body both that answer and the sidecar endpoint carry.
//!
//! `200` with a decision body decides; `202` (or a 2xx without a decision) means "wait for the
//! sidecar"; 408, 429, 5xx and transport errors are retried with jittered backoff until the
//! decision deadline; any other 4xx is a refusal, answered at once with `success=false`.
//! Knows nothing about the store, Salesforce or Pub/Sub.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::channel::{Delivery, DeliveryError, WebhookChannel};

use super::pending::Decision;

/// The webhook `type` and `X-Byoc-Event-Type` of a routing request (DESIGN §6).
pub(crate) const ROUTING_REQUESTED_TYPE: &str = "routing.requested";

/// First delay between deliveries to the partner (jitter adds up to 100%).
const PARTNER_RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
/// Longest delay between deliveries to the partner.
const PARTNER_RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

/// Message posted when the partner decides `success=false` without saying why.
const PARTNER_FAILURE_WITHOUT_MESSAGE: &str = "the partner did not route the conversation";

/// A routing decision as the partner sends it, in a `200` answer or to the sidecar:
/// `{"success": bool, "externallyRouted": bool, "errorMessage"?: str}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerDecision {
    /// Whether the partner routed the conversation.
    pub success: bool,
    /// Whether it went outside this org; `false` when absent.
    #[serde(default)]
    pub externally_routed: bool,
    /// Why routing failed; shown to the rep. Ignored on success.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl PartnerDecision {
    /// Parses a decision body; the error says what is wrong, for a `400` answer.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|error| format!("invalid decision body: {error}"))
    }

    /// The routingResult this decision asks for.
    pub(crate) fn into_decision(self) -> Decision {
        if self.success {
            return Decision::Routed {
                externally_routed: self.externally_routed,
            };
        }
        let error_message = self
            .error_message
            .filter(|message| !message.trim().is_empty())
            .unwrap_or_else(|| PARTNER_FAILURE_WITHOUT_MESSAGE.to_owned());
        Decision::Failed {
            error_message,
            externally_routed: self.externally_routed,
        }
    }
}

/// How the partner answered the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PartnerAnswer {
    /// It decided in its answer.
    Decided(Decision),
    /// It took the request and will decide through the sidecar.
    Accepted,
    /// It refused the request for good (a 4xx other than 408 and 429).
    Refused(String),
    /// It could not be reached before the decision deadline.
    Unreachable(String),
}

/// Delivers `body` to the partner until it answers or `decision_at` passes.
pub(super) async fn ask_partner(
    partner: &WebhookChannel,
    event_id: &str,
    idempotency_key: &str,
    body: Bytes,
    decision_at: Instant,
) -> PartnerAnswer {
    let delivery = Delivery {
        idempotency_key: idempotency_key.to_owned(),
        event_type: ROUTING_REQUESTED_TYPE.into(),
        body,
    };
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(PARTNER_RETRY_MIN_DELAY)
        .with_max_delay(PARTNER_RETRY_MAX_DELAY)
        .with_jitter()
        .without_max_times()
        .build();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let answered = tokio::time::timeout_at(decision_at, partner.post(&delivery)).await;
        let error = match answered {
            Err(_elapsed) => {
                return PartnerAnswer::Unreachable(
                    "the partner did not answer before the decision deadline".to_owned(),
                )
            }
            Ok(Ok(response)) => return read_answer(event_id, response.status, &response.body),
            Ok(Err(error)) => error,
        };
        let retry_after = match error {
            DeliveryError::Permanent(failure) => {
                warn!(event_id, reason = %failure.reason, "partner refused the routing request");
                return PartnerAnswer::Refused(failure.reason);
            }
            DeliveryError::Closed { reason } => return PartnerAnswer::Unreachable(reason),
            DeliveryError::Retryable {
                reason,
                retry_after,
                ..
            } => {
                warn!(event_id, attempt, reason = %reason, "routing request delivery failed, retrying");
                retry_after
            }
        };
        let backoff = delays.next().unwrap_or(PARTNER_RETRY_MAX_DELAY);
        let delay = retry_after.map_or(backoff, |asked| asked.max(backoff));
        if Instant::now() + delay >= decision_at {
            return PartnerAnswer::Unreachable(format!(
                "the partner could not be reached after {attempt} attempts"
            ));
        }
        tokio::time::sleep(delay).await;
    }
}

/// Reads a 2xx answer: a decision, or a promise to decide through the sidecar.
fn read_answer(event_id: &str, status: StatusCode, body: &[u8]) -> PartnerAnswer {
    if status == StatusCode::ACCEPTED {
        debug!(
            event_id,
            "partner accepted the routing request, waiting for its decision"
        );
        return PartnerAnswer::Accepted;
    }
    match PartnerDecision::from_json(body) {
        Ok(decision) => PartnerAnswer::Decided(decision.into_decision()),
        Err(problem) => {
            warn!(
                event_id,
                status = status.as_u16(),
                problem = %problem,
                "partner answered without a decision, waiting for the sidecar"
            );
            PartnerAnswer::Accepted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_body_becomes_the_routing_result_salesforce_accepts() {
        let routed = PartnerDecision::from_json(br#"{"success":true,"externallyRouted":true}"#)
            .unwrap()
            .into_decision();
        assert_eq!(
            routed,
            Decision::Routed {
                externally_routed: true
            }
        );
        let failed = PartnerDecision::from_json(br#"{"success":false,"errorMessage":" "}"#)
            .unwrap()
            .into_decision();
        assert_eq!(failed, Decision::failed(PARTNER_FAILURE_WITHOUT_MESSAGE));
        let failed_outside = PartnerDecision::from_json(
            br#"{"success":false,"externallyRouted":true,"errorMessage":"busy"}"#,
        )
        .unwrap()
        .into_decision();
        assert_eq!(
            failed_outside,
            Decision::Failed {
                error_message: "busy".to_owned(),
                externally_routed: true
            }
        );
        assert!(PartnerDecision::from_json(br#"{"externallyRouted":true}"#).is_err());
        assert!(PartnerDecision::from_json(b"not json").is_err());
    }

    #[test]
    fn only_a_decision_body_decides() {
        assert_eq!(
            read_answer("e", StatusCode::ACCEPTED, br#"{"success":true}"#),
            PartnerAnswer::Accepted
        );
        assert_eq!(
            read_answer("e", StatusCode::OK, b""),
            PartnerAnswer::Accepted
        );
        assert_eq!(
            read_answer("e", StatusCode::OK, br#"{"success":true}"#),
            PartnerAnswer::Decided(Decision::Routed {
                externally_routed: false
            })
        );
    }
}
