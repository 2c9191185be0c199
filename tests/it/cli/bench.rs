//! `byoc-connector bench` as a developer runs it: bad flags are refused, named, before
//! anything starts; a connector that cannot start ends the run at once, saying why; and the
//! bench's connector takes no fixed port, so it runs beside a connector of the developer's;
//! without `node` or the npm client's packages the comparison is skipped, saying why.

use std::path::{Path, PathBuf};
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

#[test]
fn bench_process_refuses_an_npm_script_that_is_not_a_file_naming_it() {
    let missing =
        std::env::temp_dir().join(format!("byoc-no-such-script-{}.mjs", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["bench", "process", "--events", "10", "--npm-script"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--npm-script {}: no such file", missing.display())),
        "{stderr}"
    );
}

/// A stand-in for `bench/npm/consume.mjs` in a directory of its own, with no packages.
fn uninstalled_npm_script(label: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("byoc-bench-npm-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("consume.mjs");
    std::fs::write(&script, "import 'salesforce-pubsub-api-client';\n").unwrap();
    (dir, script)
}

fn node_runs() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs a 200-event stdout bench with `script` as the npm comparison (and `path` as PATH, when
/// given); checks the connector was measured and returns the report.
fn bench_with_npm_script(script: &Path, path: Option<&Path>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
    command
        .args([
            "bench",
            "process",
            "--events",
            "200",
            "--delivery",
            "stdout",
        ])
        .arg("--npm-script")
        .arg(script);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("200 events in"), "{stdout}");
    stdout
}

#[test]
fn bench_process_without_node_measures_the_connector_and_says_the_npm_run_was_skipped() {
    let (dir, script) = uninstalled_npm_script("no-node");
    // A PATH where no `node` can be found.
    let stdout = bench_with_npm_script(&script, Some(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stdout.contains("npm comparison skipped: `node` is not on PATH"),
        "{stdout}"
    );
}

#[test]
fn bench_process_with_the_npm_packages_not_installed_says_how_to_install_them() {
    let (dir, script) = uninstalled_npm_script("uninstalled");
    let stdout = bench_with_npm_script(&script, None);
    let _ = std::fs::remove_dir_all(&dir);
    let reason = if node_runs() {
        format!(
            "npm comparison skipped: salesforce-pubsub-api-client is not installed for {} (run `npm install` in {})",
            script.display(),
            dir.display()
        )
    } else {
        "npm comparison skipped: `node` is not on PATH".to_owned()
    };
    assert!(stdout.contains(&reason), "{stdout}");
}
