//! Integration tests of the deploy area: the Dockerfile, the Kubernetes manifests and the
//! systemd unit in `deploy/`, checked against the code they deploy.
//!
//! Each file is parsed and its claims are tested against the real thing: ports against the
//! listener the loaded config opens, probe paths against the routes the server answers,
//! environment variables against the config's key list, commands against the real binary's
//! parser. A manifest that drifts from the code fails here instead of in a cluster.

mod dockerfile;
mod kubernetes;
mod manifests;
mod monitoring;
mod systemd;

use std::path::PathBuf;
use std::process::{Command, Output};

use byoc_connector::config::{key_for_env_var, Config};

/// The variable that names the config file, as `run --config` reads it.
pub const CONFIG_FILE_VAR: &str = "BYOC_CONFIG";

/// `deploy/` in this repository.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The text of `deploy/<relative>`.
pub fn read_deploy_file(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Whether the connector reads the environment variable `name`: the config file's variable,
/// or `BYOC__SECTION__KEY` for a key the configuration accepts.
pub fn config_reads_env_var(name: &str) -> bool {
    name == CONFIG_FILE_VAR
        || key_for_env_var(name).is_some_and(|key| Config::known_keys().any(|known| known == key))
}

/// Runs the real binary with `args` and `--help` appended: clap refuses an unknown
/// subcommand or option before it looks at `--help`, so success means the command line parses.
pub fn help_for(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(args)
        .arg("--help")
        .env_remove(CONFIG_FILE_VAR)
        .output()
        .unwrap()
}

/// Asserts that `args` is a command line the binary accepts; `what` names where it came from.
pub fn assert_binary_accepts(args: &[String], what: &str) {
    let output = help_for(args);
    assert!(
        output.status.success(),
        "{what}: `byoc-connector {}` is not a command line the binary accepts:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The parent directory of the store file the config at `config` uses.
pub fn store_dir(config: &Config) -> PathBuf {
    config
        .store
        .path
        .parent()
        .expect("the store path has a directory")
        .to_owned()
}

#[test]
fn the_config_file_variable_is_the_one_run_reads() {
    let output = help_for(&["run".to_owned()]);

    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains(&format!("[env: {CONFIG_FILE_VAR}")),
        "`run --help` does not name {CONFIG_FILE_VAR}:\n{help}"
    );
}

#[test]
fn only_real_keys_pass_as_config_environment_variables() {
    assert!(config_reads_env_var("BYOC__DELIVERY__SECRET"));
    assert!(config_reads_env_var("BYOC_CONFIG"));
    assert!(!config_reads_env_var("BYOC__DELIVERY__SECRETS"));
    assert!(!config_reads_env_var("BYOC_DELIVERY_SECRET"));
    assert!(!config_reads_env_var("RUST_LOG"));
}
