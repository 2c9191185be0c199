//! Integration tests of the connector area.

mod crash;
mod dlq;
mod embedded;
mod lifecycle;
mod readiness;
mod routing;
mod routing_e2e;
mod store_failure;
