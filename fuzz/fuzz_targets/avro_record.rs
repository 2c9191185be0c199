//! Fuzz target: `byoc_connector::fuzzing::Target::AvroRecord` on every input libFuzzer makes,
//! through the public entry point the corpus replay test calls too, so the two cannot drift.
//! `fuzz_target!` expands to the one unsafe block libFuzzer's C entry point needs, so this
//! crate cannot forbid unsafe code; the library it calls does.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| byoc_connector::fuzzing::Target::AvroRecord.run(input));
