//! Integration tests of the routing area.

mod cancel;
mod cleanup;
mod clock;
mod load;
mod partner;
mod restart;
mod retries;
mod salesforce;
mod sidecar;
mod tolerant;
mod window_fake;
