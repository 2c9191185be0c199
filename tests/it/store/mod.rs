//! Integration tests of the store area.

mod tables;
mod writer;
