//! byoc-connector: connects a partner's messaging channel to Salesforce Bring Your Own
//! Channel for CCaaS.
//!
//! The library holds every part of the connector (the Pub/Sub subscriber, the event
//! model, delivery, routing). With the `harness` feature it also holds `dev`: the demo,
//! the benchmarks and the embedded runner, which use the `fake-salesforce` crate. The
//! binary only parses the command line and calls in here.

#![forbid(unsafe_code)]

pub mod auth;
pub mod channel;
pub mod config;
pub mod connector;
mod conversation;
#[cfg(feature = "harness")]
pub mod dev;
pub mod dlq;
pub mod doctor;
mod error_chain;
pub mod events;
mod fast_hash;
pub mod fuzzing;
pub mod ha;
mod inbound;
pub mod interaction;
mod json_body;
mod json_text;
mod log_value;
pub mod pipeline;
pub mod pubsub;
mod retry_after;
pub mod routing;
mod salesforce_clock;
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
