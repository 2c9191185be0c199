//! The integration tests: one binary, one module per area, shared helpers in `support`.
//!
//! Tests drive the connector over real sockets against the fake Salesforce and real HTTP
//! partners; areas that need the `byoc-connector` binary run it as its own process.

// A test binary exports nothing, so every `pub` helper is "unreachable"; `pub` here only
// says which helpers other test modules may use.
#![allow(unreachable_pub)]
// Tests do arithmetic on small known values (millisecond timestamps, counts of a few thousand);
// a conversion that went wrong would fail the assertion it feeds.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]
// Helpers keep one shape for their callers: value builders return the `Option` the config API
// takes, and pipeline starters stay `async` like the other starters; test buffers are tiny.
#![allow(
    clippy::unnecessary_wraps,
    clippy::unused_async,
    clippy::naive_bytecount
)]

mod auth;
mod channel;
mod cli;
mod config;
mod connector;
mod deploy;
mod docs;
mod doctor;
mod events;
mod fuzz;
mod ha;
mod interaction;
mod multi_org;
mod pipeline;
mod pubsub;
mod routing;
mod server;
mod sidecar;
mod state;
mod store;
mod support;
