//! `deploy/systemd/byoc-connector.service`: it starts the `run` subcommand with a config file,
//! gives the drain time to finish, does not restart on a bad config, and keeps the store in
//! its state directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use super::{assert_binary_accepts, config_reads_env_var, read_deploy_file, store_dir};
use byoc_connector::config::{Config, PipelineConfig};

/// `[Service]` settings: name → every value given, in order.
fn service_settings() -> BTreeMap<String, Vec<String>> {
    let unit = read_deploy_file("systemd/byoc-connector.service");
    let mut section = String::new();
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            name.clone_into(&mut section);
            continue;
        }
        let (name, value) = line.split_once('=').expect("Name=value");
        if section == "Service" {
            settings
                .entry(name.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    settings
}

/// The single value of `name`.
fn setting(settings: &BTreeMap<String, Vec<String>>, name: &str) -> String {
    match settings.get(name).map(Vec::as_slice) {
        Some([value]) => value.clone(),
        other => panic!("{name} should be set once in [Service], found {other:?}"),
    }
}

/// `30`, `30s`, `1min` → seconds.
fn seconds(value: &str) -> u64 {
    if let Some(minutes) = value.strip_suffix("min") {
        return minutes.trim().parse::<u64>().unwrap() * 60;
    }
    value.trim_end_matches('s').trim().parse().unwrap()
}

#[test]
fn exec_start_runs_the_run_subcommand_with_a_config_file() {
    let settings = service_settings();
    let exec_start = setting(&settings, "ExecStart");
    let words: Vec<String> = exec_start.split_whitespace().map(str::to_owned).collect();

    assert!(
        words[0].starts_with('/'),
        "systemd wants an absolute path: {}",
        words[0]
    );
    assert!(words[0].ends_with("/byoc-connector"), "{}", words[0]);
    assert_eq!(words[1], "run");
    let config_flag = words
        .iter()
        .position(|word| word == "--config")
        .expect("--config FILE");
    assert!(
        words[config_flag + 1].starts_with('/'),
        "an absolute config path"
    );
    assert_binary_accepts(&words[1..], "systemd ExecStart");
}

#[test]
fn a_bad_configuration_is_not_restarted_forever() {
    let settings = service_settings();
    let missing = std::env::temp_dir().join(format!("byoc-missing-{}.toml", uuid::Uuid::new_v4()));
    let output = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["run", "--config", missing.to_str().unwrap()])
        .env_remove(super::CONFIG_FILE_VAR)
        .output()
        .unwrap();
    let bad_config_status = output.status.code().expect("an exit status").to_string();

    assert_eq!(setting(&settings, "Restart"), "on-failure");
    let prevented: Vec<&str> = settings["RestartPreventExitStatus"]
        .iter()
        .flat_map(|value| value.split_whitespace())
        .collect();
    assert!(
        prevented.contains(&bad_config_status.as_str()),
        "a bad config exits {bad_config_status}, RestartPreventExitStatus is {prevented:?}"
    );
}

#[test]
fn stopping_waits_longer_than_the_drain() {
    let settings = service_settings();
    let grace = PipelineConfig::default().grace_secs;
    let example_grace = Config::from_toml_str(Config::example_toml())
        .unwrap()
        .pipeline
        .grace_secs;

    let timeout = seconds(&setting(&settings, "TimeoutStopSec"));
    assert!(
        timeout > grace.max(example_grace),
        "TimeoutStopSec {timeout} vs grace_secs {grace}"
    );
    assert_eq!(setting(&settings, "KillSignal"), "SIGTERM");
}

#[test]
fn the_store_of_the_example_config_is_in_the_writable_state_directory() {
    let settings = service_settings();
    let example = Config::from_toml_str(Config::example_toml()).unwrap();
    let state_dir = PathBuf::from("/var/lib").join(setting(&settings, "StateDirectory"));

    // ProtectSystem=strict leaves only the state directory writable.
    assert_eq!(setting(&settings, "ProtectSystem"), "strict");
    assert_eq!(store_dir(&example), state_dir);
    assert_eq!(
        PathBuf::from(setting(&settings, "WorkingDirectory")),
        state_dir
    );
    assert_eq!(setting(&settings, "DynamicUser"), "yes");
    assert_eq!(setting(&settings, "NoNewPrivileges"), "yes");
}

#[test]
fn every_environment_variable_the_unit_sets_is_one_the_connector_reads() {
    let settings = service_settings();
    for assignment in settings.get("Environment").into_iter().flatten() {
        for pair in assignment.split_whitespace() {
            let (name, _) = pair.trim_matches('"').split_once('=').expect("NAME=value");
            assert!(
                config_reads_env_var(name),
                "Environment={name} is not read by the connector"
            );
        }
    }
}
