//! Telling Salesforce (and so the rep) that a message did not reach the end user: a
//! MessageDeliveryFailed entry through `POST /interactions`.
//!
//! Two callers: the partner through the sidecar, naming the code itself, and the connector
//! when the partner's webhook refuses an outbound message for good. A refusal names its code
//! in the partner's response body, `{"errorCode": "2002"}` (see docs/delivery-failures.md);
//! without a valid one the configured default is sent. Retryable answers are retried until
//! [`NOTICE_DEADLINE`]. It knows nothing about the pipeline or HTTP routes.

use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};
use uuid::Uuid;

use super::state::{Change, ReportedFailure, Update};
use super::ConversationTracker;
use crate::interaction::{
    is_messaging_error_code, retry_until, DeliveryFailure, Interaction, InteractionClient,
    InteractionError, InteractionRequest, InteractionResponse,
};

/// How long a notice is retried before it is given up (it only informs the rep).
pub(crate) const NOTICE_DEADLINE: Duration = Duration::from_secs(60);

/// The code sent for a refusal whose response names none: "can't send this message".
pub(crate) const DEFAULT_REFUSAL_ERROR_CODE: &str = "3001";

/// Who reported a failure, for the conversation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportedBy {
    /// The partner, through the sidecar.
    Partner,
    /// The connector, after the partner's webhook refused a delivery.
    Connector,
}

impl ReportedBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Connector => "connector",
        }
    }
}

/// One failed delivery to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureNotice {
    /// The conversation.
    pub conversation: String,
    /// The channel (`to`).
    pub channel_address_identifier: String,
    /// The failure itself.
    pub failure: DeliveryFailure,
}

/// Sends MessageDeliveryFailed entries and records them in the conversation state.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailureNotifier {
    client: InteractionClient,
    tracker: ConversationTracker,
}

impl DeliveryFailureNotifier {
    /// A notifier sending through `client` and recording in `tracker`.
    pub(crate) fn new(client: InteractionClient, tracker: ConversationTracker) -> Self {
        Self { client, tracker }
    }

    /// Sends `notice`, retrying retryable answers until [`NOTICE_DEADLINE`].
    pub(crate) async fn report(
        &self,
        notice: &FailureNotice,
        reported_by: ReportedBy,
    ) -> Result<InteractionResponse, InteractionError> {
        let deadline = tokio::time::Instant::now() + NOTICE_DEADLINE;
        self.report_until(notice, reported_by, deadline).await
    }

    /// Sends `notice`, retrying retryable answers until `deadline`, and records it in the
    /// conversation state once Salesforce accepted it.
    pub(crate) async fn report_until(
        &self,
        notice: &FailureNotice,
        reported_by: ReportedBy,
        deadline: tokio::time::Instant,
    ) -> Result<InteractionResponse, InteractionError> {
        let now_ms = now_ms();
        let request = InteractionRequest {
            to: notice.channel_address_identifier.clone(),
            from: notice.failure.end_user_client_id.clone(),
            routing_attributes: None,
            interactions: vec![Interaction::delivery_failed(&notice.failure, now_ms)],
        };
        let response =
            retry_until(deadline, || self.client.post_interactions(&request, None)).await?;
        info!(
            conversation_id = %notice.conversation,
            error_code = %notice.failure.error_code,
            reported_by = reported_by.as_str(),
            "message delivery failure reported to salesforce"
        );
        self.tracker.update(Update {
            conversation: notice.conversation.clone(),
            channel_address_identifier: Some(notice.channel_address_identifier.clone()),
            end_user_client_id: Some(notice.failure.end_user_client_id.clone()),
            change: Change::FailureReported(ReportedFailure {
                error_code: notice.failure.error_code.clone(),
                failed_entry_identifier: notice.failure.failed_entry_id.clone(),
                reported_by: reported_by.as_str().to_owned(),
                reported_at_ms: now_ms,
            }),
            at_ms: now_ms,
        });
        Ok(response)
    }

    /// Reports `notice` on its own task; failures are logged.
    pub(crate) fn report_in_background(&self, notice: FailureNotice) {
        let notifier = self.clone();
        tokio::spawn(async move {
            if let Err(error) = notifier.report(&notice, ReportedBy::Connector).await {
                warn!(
                    conversation_id = %notice.conversation,
                    error_code = %notice.failure.error_code,
                    status = error.status(),
                    code = error.code(),
                    error = %error,
                    "message delivery failure could not be reported to salesforce"
                );
            }
        });
    }
}

/// The part of a partner's refusal body the connector reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefusalBody {
    error_code: Option<String>,
    error_message: Option<String>,
}

/// The code and message a refusal body names: `errorCode` when it is a messaging error code,
/// else `default_code`; `errorMessage` when it is a string.
pub(crate) fn refusal_code(body: &[u8], default_code: &str) -> (String, Option<String>) {
    let parsed: Option<RefusalBody> = serde_json::from_slice(body).ok();
    let (code, message) = parsed.map_or((None, None), |body| (body.error_code, body.error_message));
    let code = code
        .filter(|code| is_messaging_error_code(code))
        .unwrap_or_else(|| default_code.to_owned());
    (code, message)
}

/// A fresh client-generated entry id.
pub(crate) fn new_entry_id() -> String {
    Uuid::new_v4().to_string()
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_code_or_gets_the_default() {
        assert_eq!(
            refusal_code(br#"{"errorCode":"2002","errorMessage":"blocked"}"#, "3001"),
            ("2002".to_owned(), Some("blocked".to_owned()))
        );
        assert_eq!(refusal_code(br#"{"errorCode":"9999"}"#, "3001").0, "3001");
        assert_eq!(refusal_code(b"not json", "0005").0, "0005");
    }
}
