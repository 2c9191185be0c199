//! Everything that runs the connector against the fake Salesforce inside this process: the
//! `demo`, the `bench` scenarios and the embedded runner they share.
//!
//! Compiled only with the `harness` feature; the production daemon carries none of it. The
//! connector's own modules never import this one.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod embedded;
pub mod samples;
