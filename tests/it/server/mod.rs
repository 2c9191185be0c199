//! Integration tests of the server area.

mod endpoints;
mod telemetry;
