//! Integration tests of the interaction area.

mod body_rules;
mod capability_rules;
mod endpoints;
mod field_rules;
mod header_rules;
mod inbound_rules;
mod rate_limit;
mod retry;
