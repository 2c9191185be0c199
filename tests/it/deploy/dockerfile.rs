//! `deploy/Dockerfile`: the lean build CI checks, a non-root runtime with the store on a
//! volume, the listener's port, and a command the binary accepts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{assert_binary_accepts, config_reads_env_var, read_deploy_file, store_dir};
use byoc_connector::config::{Config, DEFAULT_SERVER_LISTEN, DEFAULT_SIDECAR_LISTEN};

/// One instruction, continuation lines joined: `("RUN", "cargo build …")`.
struct Instruction {
    keyword: String,
    arguments: String,
}

fn instructions() -> Vec<Instruction> {
    let text = read_deploy_file("Dockerfile");
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
        } else {
            pending.push_str(trimmed);
            joined.push(std::mem::take(&mut pending));
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (keyword, arguments) = line.split_once(' ').unwrap_or((&line, ""));
            Instruction {
                keyword: keyword.to_ascii_uppercase(),
                arguments: arguments.trim().to_owned(),
            }
        })
        .collect()
}

fn arguments_of<'a>(instructions: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    instructions
        .iter()
        .filter(|instruction| instruction.keyword == keyword)
        .map(|instruction| instruction.arguments.as_str())
        .collect()
}

/// The instructions of the last stage: what the image is.
fn runtime_stage(instructions: &[Instruction]) -> &[Instruction] {
    let last_from = instructions
        .iter()
        .rposition(|instruction| instruction.keyword == "FROM")
        .expect("a FROM");
    &instructions[last_from..]
}

/// A JSON-form (exec) argument list, `["a", "b"]`.
fn exec_form(arguments: &str) -> Vec<String> {
    serde_json::from_str(arguments)
        .unwrap_or_else(|error| panic!("`{arguments}` is not an exec-form list: {error}"))
}

/// The cargo options that pick the package and its features: what makes a build "lean".
fn package_and_feature_flags(words: &[&str]) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match *word {
            "--no-default-features" | "--all-features" => {
                flags.insert((*word).to_owned());
            }
            "-p" | "--package" | "-F" | "--features" => {
                let value = words.next().expect("a value after the flag");
                flags.insert(format!("{word} {value}"));
            }
            _ if word.starts_with("--features=") || word.starts_with("--package=") => {
                flags.insert((*word).to_owned());
            }
            _ => {}
        }
    }
    flags
}

/// The words of `command` from `cargo` up to the end of that command.
fn cargo_words<'a>(line: &'a str, subcommand: &str) -> Vec<&'a str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let start = words
        .windows(2)
        .position(|pair| pair == ["cargo", subcommand])
        .unwrap_or_else(|| panic!("no `cargo {subcommand}` in `{line}`"));
    words[start..]
        .iter()
        .take_while(|word| !matches!(**word, "&&" | ";" | "||" | "--"))
        .copied()
        .collect()
}

/// The build command of the lean daemon in `.ci/run`.
fn ci_lean_build_line() -> String {
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    ci.lines()
        .find(|line| {
            line.trim_start().starts_with("cargo ") && line.contains("--no-default-features")
        })
        .expect(".ci/run checks the lean daemon")
        .to_owned()
}

#[test]
fn the_image_is_built_like_the_lean_daemon_ci_checks() {
    let instructions = instructions();
    let builds: Vec<&str> = arguments_of(&instructions, "RUN")
        .into_iter()
        .filter(|run| run.contains("cargo build"))
        .collect();
    assert_eq!(builds.len(), 1, "one cargo build in the Dockerfile");
    let build = cargo_words(builds[0], "build");
    let ci_line = ci_lean_build_line();
    let ci_words: Vec<&str> = ci_line.split_whitespace().collect();
    let ci_command = ci_words.iter().position(|word| *word == "cargo").unwrap();
    let ci = cargo_words(&ci_line, ci_words[ci_command + 1]);

    // The production profile: release with link-time optimisation (Cargo.toml).
    assert!(
        build
            .windows(2)
            .any(|pair| pair == ["--profile", "production"]),
        "{build:?}"
    );
    assert!(
        builds[0].contains("install -D -m 0755 target/production/byoc-connector "),
        "the image takes the binary the build made: {}",
        builds[0]
    );
    assert!(build.contains(&"--locked"), "{build:?}");
    assert_eq!(
        package_and_feature_flags(&build),
        package_and_feature_flags(&ci),
        "the Dockerfile builds `{}` but CI checks `{}`",
        build.join(" "),
        ci.join(" ")
    );
    assert!(package_and_feature_flags(&build).contains("--no-default-features"));
}

#[test]
fn the_runtime_stage_is_small_and_runs_as_a_non_root_user() {
    let instructions = instructions();
    let stages = arguments_of(&instructions, "FROM");
    assert!(
        stages.len() >= 2,
        "a builder and a runtime stage: {stages:?}"
    );
    let runtime = runtime_stage(&instructions);
    let base = &runtime[0].arguments;
    assert!(
        !base.contains("rust:"),
        "the runtime must not be the Rust image: {base}"
    );

    let users = arguments_of(runtime, "USER");
    assert_eq!(users.len(), 1, "one USER in the runtime stage");
    let user = users[0].split(':').next().unwrap();
    assert!(
        !matches!(user, "0" | "root") && user.parse::<u32>().is_ok(),
        "USER must be a numeric non-root id, so runAsNonRoot can check it: {user}"
    );
}

#[test]
fn the_store_of_every_shipped_config_is_on_the_image_volume() {
    let instructions = instructions();
    let runtime = runtime_stage(&instructions);
    let volumes: BTreeSet<PathBuf> = arguments_of(runtime, "VOLUME")
        .into_iter()
        .flat_map(exec_form)
        .map(PathBuf::from)
        .collect();
    let example = Config::from_toml_str(Config::example_toml()).unwrap();
    let mut store_dirs = vec![("the example config".to_owned(), store_dir(&example))];
    for pod in super::manifests::connector_pods() {
        // A PostgreSQL store keeps nothing on the pod's disk.
        if pod.config.store.kind == byoc_connector::config::StoreKind::Redb {
            store_dirs.push((format!("kubernetes/{}", pod.layout), store_dir(&pod.config)));
        }
    }

    for (what, dir) in store_dirs {
        assert!(
            volumes.contains(&dir),
            "{what} keeps its store in {}, not a VOLUME {volumes:?}",
            dir.display()
        );
    }
}

#[test]
fn the_image_exposes_the_ops_and_sidecar_ports_of_every_shipped_config() {
    let instructions = instructions();
    let runtime = runtime_stage(&instructions);
    let exposed: BTreeSet<u16> = arguments_of(runtime, "EXPOSE")
        .into_iter()
        .flat_map(str::split_whitespace)
        .map(|port| port.trim_end_matches("/tcp").parse().unwrap())
        .collect();

    let mut expected =
        BTreeSet::from([DEFAULT_SERVER_LISTEN.port(), DEFAULT_SIDECAR_LISTEN.port()]);
    for pod in super::manifests::connector_pods() {
        expected.insert(pod.config.server.listen.port());
        expected.insert(pod.config.server.sidecar_listen.port());
    }
    assert_eq!(
        exposed, expected,
        "EXPOSE vs server.listen and server.sidecar_listen"
    );
}

#[test]
fn the_entrypoint_is_the_copied_binary_and_the_command_parses() {
    let instructions = instructions();
    let runtime = runtime_stage(&instructions);
    let entrypoint = exec_form(arguments_of(runtime, "ENTRYPOINT")[0]);
    let command = exec_form(arguments_of(runtime, "CMD")[0]);
    let copied_binary = arguments_of(runtime, "COPY")
        .into_iter()
        .filter_map(|copy| copy.split_whitespace().last())
        .any(|destination| destination == entrypoint[0]);

    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    assert!(entrypoint[0].ends_with("/byoc-connector"), "{entrypoint:?}");
    assert!(
        copied_binary,
        "{} is not where the binary is copied",
        entrypoint[0]
    );
    assert_eq!(command[0], "run", "the image runs the daemon");
    assert_binary_accepts(&command, "Dockerfile CMD");
}

#[test]
fn every_environment_variable_of_the_image_is_one_the_connector_reads() {
    let instructions = instructions();
    for env in arguments_of(runtime_stage(&instructions), "ENV") {
        let (name, _) = env.split_once('=').expect("ENV NAME=value");
        assert!(
            config_reads_env_var(name),
            "Dockerfile ENV {name} is not read by the connector"
        );
    }
}
