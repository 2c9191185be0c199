//! Integration tests of the channel area.

mod retry;
mod signature;
mod stdout;
mod webhook;
