//! The daemon's allocator: mimalloc, built to commit its arenas on demand.
//!
//! `.cargo/config.toml` sets the compiled-in default through `CFLAGS`; nothing in Rust would
//! notice if that stopped reaching mimalloc's build (a renamed macro, a CFLAGS of the
//! builder's own), only the resident memory would grow. mimalloc prints its options at start
//! when `MIMALLOC_VERBOSE=1`, which this reads.

use std::process::Command;

#[test]
fn the_binary_runs_on_mimalloc_with_arenas_committed_on_demand() {
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .env_remove("MIMALLOC_ARENA_EAGER_COMMIT")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("option 'arena_eager_commit': 0"),
        "mimalloc's options, as it printed them:\n{stderr}"
    );
}
