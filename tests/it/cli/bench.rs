//! `byoc-connector bench` as a developer runs it: bad flags are refused, named, before
//! anything starts; a connector that cannot start ends the run at once, saying why; and the
//! bench's connector takes no fixed port, so it runs beside a connector of the developer's.

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

#[test]
fn bench_process_stops_when_the_connector_exits_naming_its_status_and_last_line() {
    let dir = std::env::temp_dir().join(format!("byoc-bench-exits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A connector that says why it cannot start and exits 3, as a refused config or a taken
    // port does.
    let connector = dir.join("exits.sh");
    std::fs::write(
        &connector,
        "#!/bin/sh\necho 'byoc-connector: cannot listen on server.sidecar_listen' >&2\nexit 3\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&connector).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&connector, permissions).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["bench", "process", "--events", "10", "--delivery", "stdout"])
        .arg("--connector-binary")
        .arg(&connector)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the connector exited (exit status: 3)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot listen on server.sidecar_listen"),
        "{stderr}"
    );
}

#[test]
fn bench_process_runs_beside_a_connector_on_the_default_sidecar_port() {
    // Held here, or by someone else already: either way the bench's connector must not need it.
    let _held = std::net::TcpListener::bind("127.0.0.1:9465").ok();
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args([
            "bench",
            "process",
            "--events",
            "200",
            "--delivery",
            "stdout",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("200 events in"), "{stdout}");
}
