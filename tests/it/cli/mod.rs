//! Integration tests of the cli area.

mod allocator;
mod bench;
mod checkpoint;
mod config;
mod config_errors;
mod demo;
mod fake_salesforce;
mod logs;
