//! Integration tests of the pipeline area.

mod batch;
mod checkpoints;
mod credit;
mod dedup;
mod delivery;
mod resume;
mod routing_handoff;
