//! Keys that were renamed: the old name still loads, and leaves a notice naming the new one.
//!
//! Before the sections are decoded, a value under an old name (from the file or from
//! `BYOC__SECTION__OLD_KEY`) is moved to its new name, so everything after this sees only the
//! new names. Giving both names is refused: nothing says which value the operator meant. A
//! problem with a moved value names the key as the operator wrote it, so it can be found. The
//! connector logs the notices once at start. This file knows the renames only, not what the keys
//! mean.

use std::fmt;

use toml::{Table, Value};

use super::env::{Overrides, ENV_PREFIX, ENV_SEPARATOR};
use super::error::{ConfigProblem, Problems};

/// `(old key, new key)`: dotted, both in the same section.
const RENAMED_KEYS: &[(&str, &str)] = &[
    // It bounds Pub/Sub flow-control credit, not work in flight.
    ("pubsub.max_in_flight", "pubsub.credit_window"),
    // It bounds conversation lanes, not events in flight.
    (
        "pipeline.max_in_flight",
        "pipeline.max_concurrent_conversations",
    ),
];

/// A renamed key the configuration still uses under its old name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecatedKey {
    /// The old name, as the configuration gives it (`pubsub.max_in_flight`).
    pub old_key: &'static str,
    /// The name to use instead (`pubsub.credit_window`).
    pub new_key: &'static str,
    /// The environment variable that set the old name, when one did.
    pub env_var: Option<String>,
}

impl DeprecatedKey {
    /// The environment variable for the new name, `BYOC__PUBSUB__CREDIT_WINDOW`.
    pub fn new_env_var(&self) -> String {
        let path: Vec<String> = self
            .new_key
            .split('.')
            .map(str::to_ascii_uppercase)
            .collect();
        format!("{ENV_PREFIX}{}", path.join(ENV_SEPARATOR))
    }
}

impl fmt::Display for DeprecatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is deprecated; rename it to {}",
            self.old_key, self.new_key
        )?;
        if let Some(env_var) = &self.env_var {
            write!(f, " (set by {env_var}; use {})", self.new_env_var())?;
        }
        Ok(())
    }
}

/// Moves every old key of `root` to its new name, re-pointing the environment override that
/// set it; records a problem when both names are given.
pub(super) fn apply(
    root: &mut Table,
    overrides: &mut Overrides,
    problems: &mut Problems,
) -> Vec<DeprecatedKey> {
    let mut deprecated = Vec::new();
    for &(old_key, new_key) in RENAMED_KEYS {
        let (Some((section_name, old_leaf)), Some((_, new_leaf))) =
            (old_key.split_once('.'), new_key.split_once('.'))
        else {
            continue;
        };
        // A section that is not a table is reported when it is decoded.
        let Some(Value::Table(section)) = root.get_mut(section_name) else {
            continue;
        };
        let Some(value) = section.remove(old_leaf) else {
            continue;
        };
        if section.contains_key(new_leaf) {
            let new_source = overrides
                .for_key(new_key)
                .map(|entry| format!(" (by {})", entry.var))
                .unwrap_or_default();
            problems.push(
                old_key,
                format!("is the old name of {new_key}, which is also set{new_source}"),
                format!("remove {old_key} and keep {new_key}"),
            );
            continue;
        }
        section.insert(new_leaf.to_owned(), value);
        overrides.rename(old_key, new_key);
        deprecated.push(DeprecatedKey {
            old_key,
            new_key,
            env_var: overrides.for_key(new_key).map(|entry| entry.var.clone()),
        });
    }
    deprecated
}

/// Gives problems about a moved value back the name the operator wrote.
pub(super) fn name_as_written(problems: &mut [ConfigProblem], deprecated: &[DeprecatedKey]) {
    for problem in problems {
        if let Some(used) = deprecated.iter().find(|used| used.new_key == problem.key) {
            problem.key = used.old_key.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rename_stays_inside_its_section() {
        for (old_key, new_key) in RENAMED_KEYS {
            let (old_section, _) = old_key.split_once('.').unwrap();
            let (new_section, _) = new_key.split_once('.').unwrap();
            assert_eq!(old_section, new_section, "{old_key} -> {new_key}");
        }
    }

    #[test]
    fn only_the_new_names_are_documented_keys() {
        let documented = |key: &str| {
            super::super::keys::KEY_EXAMPLES
                .iter()
                .any(|(known, _)| *known == key)
        };
        for (old_key, new_key) in RENAMED_KEYS {
            assert!(
                documented(new_key),
                "{new_key} is missing from KEY_EXAMPLES"
            );
            assert!(!documented(old_key), "{old_key} is still in KEY_EXAMPLES");
        }
    }

    #[test]
    fn the_new_environment_variable_follows_the_naming_rule() {
        let deprecated = DeprecatedKey {
            old_key: "pubsub.max_in_flight",
            new_key: "pubsub.credit_window",
            env_var: None,
        };
        assert_eq!(deprecated.new_env_var(), "BYOC__PUBSUB__CREDIT_WINDOW");
    }
}
