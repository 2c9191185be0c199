//! Integration tests of the pubsub area.

mod replay;
mod resilience;
mod stream;
mod wire;
