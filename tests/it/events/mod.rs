//! Integration tests of the events area.

mod avro;
mod end_to_end;
mod envelope;
mod errors;
mod model;
mod properties;
