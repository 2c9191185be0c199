//! The integration tests: one binary, one module per area, shared helpers in `support`.
//!
//! Tests drive the connector over real sockets against the fake Salesforce and real HTTP
//! partners; areas that need the `byoc-connector` binary run it as its own process.

// A test binary exports nothing, so every `pub` helper is "unreachable"; `pub` here only
// says which helpers other test modules may use.
#![allow(unreachable_pub)]

mod auth;
mod channel;
mod cli;
mod config;
mod connector;
mod deploy;
mod events;
mod interaction;
mod pipeline;
mod pubsub;
mod routing;
mod server;
mod store;
mod support;
