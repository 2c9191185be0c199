//! Integration tests of the connector area.

mod clock;
mod crash;
mod dlq;
mod embedded;
mod https_rest;
mod lifecycle;
mod postgres_store;
mod readiness;
mod routing;
mod routing_assign;
mod routing_cancel;
mod routing_crash;
mod routing_e2e;
mod stdout;
mod store_failure;
mod tenants;
