//! The fuzz crate's wiring to the connector, which `cargo test --workspace` does not build:
//! every target has its binary, calls the connector through the public entry point this
//! module's replay tests call, and is built from the dependency versions the connector ships.
//! CI's `cargo check --manifest-path fuzz/Cargo.toml` is what proves it compiles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use byoc_connector::fuzzing::Target;

use super::fuzz_dir;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Each package's versions in a `Cargo.lock`.
fn locked_versions(path: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let lock: toml::Table = read(path).parse().unwrap();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in lock["package"].as_array().unwrap() {
        versions
            .entry(package["name"].as_str().unwrap().to_owned())
            .or_default()
            .insert(package["version"].as_str().unwrap().to_owned());
    }
    versions
}

#[test]
fn every_target_has_a_binary_that_calls_its_public_entry_point() {
    let manifest: toml::Table = read(&fuzz_dir().join("Cargo.toml")).parse().unwrap();
    let bins: Vec<(&str, &str)> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bin| (bin["name"].as_str().unwrap(), bin["path"].as_str().unwrap()))
        .collect();
    let script = read(&fuzz_dir().join("run"));
    for target in Target::ALL {
        let name = target.name();
        let (_, path) = bins
            .iter()
            .find(|(bin, _)| *bin == name)
            .unwrap_or_else(|| panic!("fuzz/Cargo.toml has no [[bin]] named {name}"));
        let source = read(&fuzz_dir().join(path));
        let call = format!("byoc_connector::fuzzing::Target::{target:?}.run(input)");
        assert!(
            source.contains(&call),
            "fuzz/{path} must call `{call}`, the entry point the corpus replay tests call"
        );
        assert!(
            script
                .lines()
                .any(|line| line.starts_with("all_targets=(") && line.contains(name)),
            "fuzz/run's all_targets lacks {name}"
        );
    }
    assert_eq!(
        bins.len(),
        Target::ALL.len(),
        "a fuzz binary without a Target"
    );
}

#[test]
fn the_fuzz_lockfile_pins_the_versions_the_connector_ships() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = locked_versions(&root.join("Cargo.lock"));
    let fuzzed = locked_versions(&fuzz_dir().join("Cargo.lock"));
    let mut differing = Vec::new();
    for (name, versions) in &fuzzed {
        if let Some(ours) = shipped.get(name) {
            if !versions.is_subset(ours) {
                differing.push(format!("{name} {versions:?} (shipped: {ours:?})"));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "fuzz/Cargo.lock fuzzes other versions than Cargo.lock ships (bring it along: `cp \
         Cargo.lock fuzz/Cargo.lock && cargo check --manifest-path fuzz/Cargo.toml --bins`): {}",
        differing.join(", ")
    );
}
