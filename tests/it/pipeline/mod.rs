//! Integration tests of the pipeline area.

mod checkpoints;
mod credit;
mod delivery;
mod resume;
