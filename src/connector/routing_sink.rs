//! Connects the pipeline to the routing engine.
//!
//! The pipeline only knows its `RoutingSink` trait; this file is where it meets the engine, so
//! neither module depends on the other.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::events::{DecodedEvent, InteractionEvent};
use crate::pipeline::{RoutingSink, RoutingSinkError};
use crate::routing::{RoutingEngine, RoutingRequestInput};

/// The pipeline handed over an event that is not a RoutingRequested.
#[derive(Debug, thiserror::Error)]
#[error("the event is not a routing request")]
struct NotARoutingRequest;

/// The pipeline's view of the routing engine.
#[derive(Debug, Clone)]
pub(crate) struct EngineSink(pub RoutingEngine);

impl RoutingSink for EngineSink {
    fn on_routing_requested(
        &self,
        event: DecodedEvent,
        webhook_body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<(), RoutingSinkError>> + Send + '_>> {
        Box::pin(async move {
            let input = RoutingRequestInput::with_body(event, webhook_body)
                .map_err(|_| RoutingSinkError(Box::new(NotARoutingRequest)))?;
            self.0
                .on_routing_requested(input)
                .await
                .map_err(|err| RoutingSinkError(Box::new(err)))
        })
    }

    fn observe(&self, event: &InteractionEvent) {
        self.0.observe(event);
    }
}
