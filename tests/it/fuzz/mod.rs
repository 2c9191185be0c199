//! The fuzz targets without a fuzzer: every target's entry point over every committed corpus
//! input and every saved crash, plus proptest's arbitrary and mutated inputs. This is the
//! cheap check CI runs; `fuzz/run` does the coverage-guided search (docs/fuzzing.md).

mod regressions;
mod seeds;
mod wiring;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use byoc_connector::fuzzing::Target;
use proptest::prelude::*;

/// Set to `1` to rewrite `fuzz/corpus/<target>/seed-*` from the fixtures instead of checking it.
const WRITE_SEEDS_VAR: &str = "BYOC_WRITE_FUZZ_SEEDS";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly under `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn is_seed(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("seed-"))
}

#[test]
fn the_committed_seed_corpus_is_what_the_fixtures_give() {
    let seeds = seeds::all_seeds();
    let write = std::env::var(WRITE_SEEDS_VAR).is_ok_and(|value| value == "1");
    for seed in &seeds {
        let path = fuzz_dir()
            .join("corpus")
            .join(seed.target.name())
            .join(&seed.name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &seed.bytes).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == seed.bytes,
            "{} is missing or stale: rerun this test with {WRITE_SEEDS_VAR}=1",
            path.display()
        );
    }
    for target in Target::ALL {
        let dir = fuzz_dir().join("corpus").join(target.name());
        for path in files_in(&dir).into_iter().filter(|path| is_seed(path)) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                seeds
                    .iter()
                    .any(|seed| seed.target == target && seed.name == name),
                "{} is no longer a seed: delete it",
                path.display()
            );
        }
    }
}

#[test]
fn every_target_survives_its_corpus_and_every_saved_crash() {
    for target in Target::ALL {
        let corpus = files_in(&fuzz_dir().join("corpus").join(target.name()));
        assert!(
            corpus.iter().filter(|path| is_seed(path)).count() >= 2,
            "{} has seeds",
            target.name()
        );
        let saved = files_in(&fuzz_dir().join("regressions").join(target.name()));
        for path in corpus.iter().chain(&saved) {
            let input = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| target.run(&input));
            assert!(
                outcome.is_ok(),
                "{} panicked on {}",
                target.name(),
                path.display()
            );
        }
    }
}

/// Every seed's bytes, with its target, built once for the mutation property.
fn seed_inputs() -> &'static [(Target, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(Target, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        seeds::all_seeds()
            .into_iter()
            .map(|seed| (seed.target, seed.bytes))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_break_a_target(
        target in proptest::sample::select(Target::ALL.to_vec()),
        input in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        target.run(&input);
    }

    #[test]
    fn a_seed_with_bytes_overwritten_never_breaks_its_target(
        which in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let seeds = seed_inputs();
        let (target, mut input) = seeds[which.index(seeds.len())].clone();
        for (at, byte) in edits {
            let position = at.index(input.len().max(1));
            if let Some(slot) = input.get_mut(position) {
                *slot = byte;
            }
        }
        target.run(&input);
    }
}
