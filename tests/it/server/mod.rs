//! Integration tests of the server area.

mod endpoints;
mod health_metrics;
mod telemetry;
