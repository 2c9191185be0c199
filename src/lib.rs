//! byoc-connector: connects a partner's messaging channel to Salesforce Bring Your Own
//! Channel for CCaaS.
//!
//! The library holds every part of the connector (the Pub/Sub subscriber, the event
//! model, delivery, routing) and the fake Salesforce used by tests and the demo. The
//! binary only parses the command line and calls in here.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod auth;
pub mod bench;
pub mod bench_events;
pub mod channel;
pub mod config;
pub mod connector;
pub mod demo;
pub mod dlq;
pub mod embedded;
pub mod events;
pub mod harness;
pub mod interaction;
pub mod pipeline;
pub mod pubsub;
pub mod routing;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;

/// Installs aws-lc-rs as the process-wide rustls provider. Call first in `main` and in
/// tests; later calls are no-ops.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
