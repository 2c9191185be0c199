//! Integration tests of the config area.

mod errors;
mod load;
mod renamed;
mod store;
mod tenants;
