//! `byoc-connector bench` as a developer runs it: bad flags are refused, named, before
//! anything starts.

use std::process::Command;

#[test]
fn bench_process_refuses_a_connector_binary_that_is_not_a_file_naming_it() {
    let missing = std::env::temp_dir().join(format!("byoc-no-such-binary-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["bench", "process", "--events", "10", "--connector-binary"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "--connector-binary {}: no such file",
            missing.display()
        )),
        "{stderr}"
    );
}

#[test]
fn bench_process_refuses_a_harness_without_workers_naming_the_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args([
            "bench",
            "process",
            "--events",
            "10",
            "--harness-workers",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--harness-workers"), "{stderr}");
}
