//! Integration tests of the cli area.

mod config;
mod demo;
mod fake_salesforce;
