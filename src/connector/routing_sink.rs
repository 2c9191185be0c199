//! Connects the pipeline to the routing engine.
//!
//! The pipeline only knows its `RoutingSink` trait; this file is where it meets the engine, so
//! neither module depends on the other.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::config::{Config, RoutingStrategy as ConfiguredStrategy};
use crate::events::{DecodedEvent, InteractionEvent};
use crate::pipeline::RoutingSink;
use crate::routing::{RoutingEngine, RoutingRequestInput, RoutingSettings, RoutingStrategy};

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

/// The engine's settings from the `[routing]` and `[interaction]` sections.
pub fn routing_settings(config: &Config) -> RoutingSettings {
    let routing = &config.routing;
    RoutingSettings {
        strategy: match routing.strategy {
            ConfiguredStrategy::Partner => RoutingStrategy::Partner,
            ConfiguredStrategy::Salesforce => RoutingStrategy::Salesforce,
            ConfiguredStrategy::Reject => RoutingStrategy::Reject,
        },
        url: routing.url.clone(),
        secret: routing.secret.clone(),
        decision_timeout: routing.decision_timeout(),
        window: routing.window(),
        rep_user_field: routing.rep_user_field.clone(),
        soql_api_version: routing.soql_api_version.clone(),
        // The SOQL call goes to the instance URL; plaintext only where the Interaction
        // Service is also allowed plaintext (the loopback fake).
        insecure: config.interaction.insecure,
        ..RoutingSettings::default()
    }
}
