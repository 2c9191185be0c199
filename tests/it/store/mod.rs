//! Integration tests of the store area.

mod conversations;
mod tables;
mod writer;
