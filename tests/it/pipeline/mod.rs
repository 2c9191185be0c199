//! Integration tests of the pipeline area.

mod checkpoints;
mod delivery;
