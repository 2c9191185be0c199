//! What an operator sees when the configuration is refused.
//!
//! A [`ConfigProblem`] names the full key (`delivery.url`), says what is wrong with its value
//! and gives a hint; [`ConfigError`] prints one problem per line. Problems never carry a
//! secret's value (guarantee G6): the code that builds them only ever describes values by
//! their kind or by non-secret parts. This file knows nothing about which keys exist.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The full key, `section.key`, or the section alone when the problem is about it.
    pub key: String,
    /// What is wrong, phrased to follow the key ("is missing", "must be at least 1, got 0").
    pub problem: String,
    /// What to write instead.
    pub hint: String,
    /// The environment variable that set the key, when one did.
    pub env_var: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.problem)?;
        if let Some(env_var) = &self.env_var {
            write!(f, " (set by {env_var})")?;
        }
        write!(f, "; hint: {}", self.hint)
    }
}

/// Why the configuration cannot be used; `Display` gives one line per problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {reason}; hint: check the path and its permissions", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// The text is not TOML; the message and position come from the parser, never the text.
    #[error("{origin} is not valid toml at line {line}, column {column}: {message}; hint: check the quoting and brackets there")]
    Syntax {
        /// `config file <path>` or `config text`.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The keys or values are wrong; every problem is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl ConfigError {
    /// The individual problems; a read or syntax error has none.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            Self::Invalid(problems) => problems,
            Self::Read { .. } | Self::Syntax { .. } => &[],
        }
    }
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Collects problems while a configuration is decoded and validated.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// Records a problem with `key`.
    pub(super) fn push(
        &mut self,
        key: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(ConfigProblem {
            key: key.into(),
            problem: problem.into(),
            hint: hint.into(),
            env_var: None,
        });
    }

    /// Records a problem built elsewhere.
    pub(super) fn add(&mut self, problem: ConfigProblem) {
        self.0.push(problem);
    }

    /// Records "must be at least `min`" when `value` is smaller.
    pub(super) fn at_least(&mut self, key: &str, value: u64, min: u64, hint: &str) {
        if value < min {
            self.push(key, format!("must be at least {min}, got {value}"), hint);
        }
    }

    /// Records "must be between `min` and `max`" when `value` is outside.
    pub(super) fn within(&mut self, key: &str, value: u64, min: u64, max: u64, hint: &str) {
        if !(min..=max).contains(&value) {
            self.push(
                key,
                format!("must be between {min} and {max}, got {value}"),
                hint,
            );
        }
    }

    /// The recorded problems, in order, one per key: a key that could not be decoded holds
    /// a placeholder while the rest of its section is checked, so a later complaint about
    /// that key would be about the placeholder, not the operator's value.
    pub(super) fn into_vec(self) -> Vec<ConfigProblem> {
        let mut seen = std::collections::HashSet::new();
        self.0
            .into_iter()
            .filter(|problem| seen.insert(problem.key.clone()))
            .collect()
    }
}
