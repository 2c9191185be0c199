//! Integration tests of the cli area.

mod demo;
mod fake_salesforce;
