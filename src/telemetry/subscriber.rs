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
            } => warn!(
                grpc_code = i32::from(status.code()),
                grpc_status = ?status.code(),
                grpc_message = status.message(),
                %error_code,
                %rpc_id,
                "pubsub stream failed; subscribing again"
            ),
            SubscriberOccurrence::TokenRejected { error_code, rpc_id } => info!(
                %error_code,
                %rpc_id,
                "pubsub rejected the access token; refreshing it"
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

impl Telemetry {
    /// A `FetchRequest` asking for `credit` events left on a Subscribe stream.
    pub fn fetch_request_sent(&self, credit: u32) {
        trace!(credit, "pubsub fetch request sent");
        self.metrics.fetch_requests.inc();
    }
}
