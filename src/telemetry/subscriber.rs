//! What happens to the Pub/Sub subscription: streams that go silent, close, fail or are
//! refused. `pubsub` describes each occurrence through its own
//! [`SubscriberTelemetry`] trait; this file logs it and counts the reconnect that follows.

use tracing::{error, info, trace, warn};

use super::metrics::ReasonLabels;
use super::Telemetry;
use crate::pubsub::{SubscriberOccurrence, SubscriberTelemetry};

impl SubscriberTelemetry for Telemetry {
    fn emit(&self, occurrence: SubscriberOccurrence<'_>) {
        match &occurrence {
            SubscriberOccurrence::StreamSilent { timeout } => warn!(
                timeout_secs = timeout.as_secs(),
                "pubsub stream silent for too long; subscribing again"
            ),
            SubscriberOccurrence::StreamClosed => {
                info!("pubsub stream closed by the server; subscribing again");
            }
            SubscriberOccurrence::CallFailed { error } => {
                warn!(error = %error, "pubsub call could not be made; retrying");
            }
            SubscriberOccurrence::StreamFailed {
                status,
                error_code,
                rpc_id,
            } if needs_an_operator(status.code()) => error!(
                grpc_code = i32::from(status.code()),
                grpc_status = ?status.code(),
                grpc_message = status.message(),
                %error_code,
                %rpc_id,
                "pubsub refused the subscription in a way retrying will not fix: check pubsub.topic and that the integration user may subscribe to it; subscribing again"
            ),
            SubscriberOccurrence::StreamFailed {
                status,
                error_code,
                rpc_id,
            } => warn!(
                grpc_code = i32::from(status.code()),
                grpc_status = ?status.code(),
                grpc_message = status.message(),
                %error_code,
                %rpc_id,
                "pubsub stream failed; subscribing again"
            ),
            SubscriberOccurrence::TokenRejected {
                error_code,
                rpc_id,
                in_a_row: 1,
            } => info!(
                %error_code,
                %rpc_id,
                "pubsub rejected the access token; refreshing it"
            ),
            SubscriberOccurrence::TokenRejected {
                error_code,
                rpc_id,
                in_a_row,
            } => warn!(
                %error_code,
                %rpc_id,
                in_a_row,
                "pubsub rejected a freshly refreshed access token too: check that auth's login URL and org match pubsub's, and that the integration user may use the API; refreshing it again"
            ),
            SubscriberOccurrence::ReplayIdRefused {
                lost_position,
                policy,
                rpc_id,
            } => error!(
                lost_position,
                ?policy,
                rpc_id,
                "stored replay id refused as corrupted or outside retention; events after it may not be replayed"
            ),
        }
        if let Some(reason) = occurrence.reconnect_reason() {
            let labels = ReasonLabels {
                reason: reason.as_str(),
            };
            self.metrics
                .subscriber_reconnects
                .get_or_create(&labels)
                .inc();
        }
    }
}

/// Whether a stream failure with `code` needs someone to change something (a topic that does
/// not exist, a user without access, a request the server cannot take): it is still retried,
/// since the fix happens elsewhere, but logged at error level.
fn needs_an_operator(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::NotFound
            | tonic::Code::PermissionDenied
            | tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::Unimplemented
    )
}

impl Telemetry {
    /// A `FetchRequest` asking for `credit` events left on a Subscribe stream.
    pub fn fetch_request_sent(&self, credit: u32) {
        trace!(credit, "pubsub fetch request sent");
        self.metrics.fetch_requests.inc();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `occurrence` logs.
    fn logged_line(occurrence: SubscriberOccurrence<'_>) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || Telemetry::new().emit(occurrence));
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// The log line `status` gives.
    fn logged(status: &tonic::Status) -> String {
        logged_line(SubscriberOccurrence::StreamFailed {
            status,
            error_code: "",
            rpc_id: "rpc-1",
        })
    }

    /// The log line a token refusal gives, the `in_a_row`th in a row.
    fn logged_refusal(in_a_row: u32) -> String {
        logged_line(SubscriberOccurrence::TokenRejected {
            error_code: "sfdc.platform.eventbus.grpc.service.auth.error",
            rpc_id: "rpc-1",
            in_a_row,
        })
    }

    #[test]
    fn a_refused_token_is_news_once_and_a_warning_when_its_refreshed_successor_is_refused_too() {
        let first = logged_refusal(1);
        assert!(first.contains("INFO"), "{first}");
        let again = logged_refusal(2);
        assert!(again.contains("WARN"), "{again}");
        assert!(again.contains("in_a_row=2"), "{again}");
        assert!(again.contains("login URL"), "{again}");
    }

    #[test]
    fn a_failure_retrying_will_not_fix_is_an_error_naming_what_to_check() {
        let missing = logged(&tonic::Status::not_found("topic not found"));
        assert!(missing.contains("ERROR"), "{missing}");
        assert!(missing.contains("pubsub.topic"), "{missing}");
        let denied = logged(&tonic::Status::permission_denied("no access"));
        assert!(denied.contains("ERROR"), "{denied}");
        let unavailable = logged(&tonic::Status::unavailable("try again"));
        assert!(unavailable.contains("WARN"), "{unavailable}");
    }
}
