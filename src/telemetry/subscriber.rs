//! What happens to the Pub/Sub subscription: the reconnects that follow a stream ending. The
//! subscriber logs why a stream ended; this file counts the reconnect.

use tracing::debug;

use super::metrics::ReasonLabels;
use super::{ReconnectReason, Telemetry};

impl Telemetry {
    /// The subscriber opened a new stream because the previous one ended for `reason`.
    pub fn subscriber_reconnected(&self, reason: ReconnectReason) {
        // The subscriber already logs why the stream ended.
        debug!(reason = reason.as_str(), "pubsub reconnect counted");
        let labels = ReasonLabels {
            reason: reason.as_str(),
        };
        self.metrics
            .subscriber_reconnects
            .get_or_create(&labels)
            .inc();
    }
}
