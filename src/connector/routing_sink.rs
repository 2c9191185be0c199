//! Connects the pipeline to the routing engine and routing metrics to telemetry.
//!
//! The pipeline only knows its `RoutingSink` trait and routing only its `RoutingObserver`;
//! this file is where the two meet, so neither module depends on the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::events::{DecodedEvent, InteractionEvent};
use crate::pipeline::RoutingSink;
use crate::routing::{RoutingEngine, RoutingObserver, RoutingRequestInput};
use crate::telemetry::{RoutingOutcome, Telemetry};

/// The pipeline's view of the routing engine.
#[derive(Debug, Clone)]
pub struct EngineSink(pub RoutingEngine);

impl RoutingSink for EngineSink {
    fn on_routing_requested(
        &self,
        event: DecodedEvent,
        webhook_body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let input = RoutingRequestInput::with_body(event, webhook_body)
                .map_err(|_| "the event is not a routing request".to_owned())?;
            self.0
                .on_routing_requested(input)
                .await
                .map_err(|err| err.to_string())
        })
    }

    fn observe(&self, event: &InteractionEvent) {
        self.0.observe(event);
    }
}

/// Routing occurrences, counted and logged by telemetry.
#[derive(Debug, Clone)]
pub struct TelemetryObserver(pub Telemetry);

impl RoutingObserver for TelemetryObserver {
    fn routing_result_posted(&self, event_id: &str, success: bool, age: Duration) {
        let outcome = if success {
            RoutingOutcome::Success
        } else {
            RoutingOutcome::Failure
        };
        self.0.routing_result_posted(outcome, event_id, age);
    }

    fn routing_deadline_missed(&self, event_id: &str, reason: &str) {
        self.0.routing_deadline_missed(event_id, reason);
    }

    fn routing_decision_timed_out(&self, event_id: &str) {
        self.0.routing_decision_timed_out(event_id);
    }

    fn pending_routing_requests(&self, count: usize) {
        self.0.set_pending_routing_requests(count);
    }
}

/// Shares one observer between the engine and anything else that wants it.
pub fn observer(telemetry: &Telemetry) -> Arc<dyn RoutingObserver> {
    Arc::new(TelemetryObserver(telemetry.clone()))
}
