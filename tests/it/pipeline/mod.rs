//! Integration tests of the pipeline area.

mod checkpoints;
mod credit;
mod dedup;
mod delivery;
mod resume;
mod routing_handoff;
