//! Integration tests of the channel area.

mod batch;
mod retry;
mod signature;
mod stdout;
mod webhook;
