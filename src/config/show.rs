//! The effective configuration as `byoc-connector config show` prints it: every key's value
//! and where it came from (the file, an environment variable or the default).
//!
//! Values are taken from the decoded [`Config`], not from the text, so what is shown is what
//! the connector would use, defaults and renamed keys included. Secrets serialize as
//! `[redacted]` and webhook URLs lose their query, as in `Debug` (guarantee G6). The output is
//! TOML with one comment per key; it knows nothing about how the values are used.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use toml::{Table, Value};

use super::decode::SECTIONS;
use super::keys::KEY_EXAMPLES;
use super::tenants::TENANT_SECTIONS;
use super::Config;

/// Where a key's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// The config file (under the key's current or its old name).
    File,
    /// An environment variable, named here.
    Environment(String),
    /// Neither: the connector's default.
    Default,
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => f.write_str("file"),
            Self::Environment(var) => write!(f, "env {var}"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// A loaded configuration together with where each of its values came from.
#[derive(Debug, Clone)]
pub struct EffectiveConfig {
    /// The configuration, exactly as `Config::load` returns it.
    pub config: Config,
    /// What was read: `config file <path>` or `environment`.
    origin: String,
    /// Dotted keys the file set, renamed keys under their new names.
    file_keys: BTreeSet<String>,
    /// Dotted key → the environment variable that set it.
    env_vars: BTreeMap<String, String>,
}

impl EffectiveConfig {
    /// Bundles a configuration with the provenance `Config::parse` collected.
    pub(super) fn new(
        config: Config,
        origin: String,
        file_keys: BTreeSet<String>,
        env_vars: BTreeMap<String, String>,
    ) -> Self {
        Self {
            config,
            origin,
            file_keys,
            env_vars,
        }
    }

    /// Where the value of the dotted `key` came from; the environment wins over the file.
    pub fn source(&self, key: &str) -> ValueSource {
        if let Some(var) = self.env_vars.get(key) {
            return ValueSource::Environment(var.clone());
        }
        let from_file = self.file_keys.contains(key)
            || self
                .config
                .deprecated_keys
                .iter()
                .any(|renamed| renamed.new_key == key && renamed.env_var.is_none());
        if from_file {
            ValueSource::File
        } else {
            ValueSource::Default
        }
    }

    /// One section's keys in the order of the configuration reference, each with its
    /// source; an optional key that is not set says so.
    fn render_section(&self, section: &str, table: Table) -> String {
        self.render_keys("", section, table)
    }

    /// [`Self::render_section`] for the keys under `prefix` (`tenants[1].`, or nothing); a
    /// tenant's key it did not set itself shows where the inherited top-level value came from.
    fn render_keys(&self, prefix: &str, section: &str, mut table: Table) -> String {
        let source_of = |leaf: &str| {
            let own = self.source(&format!("{prefix}{section}.{leaf}"));
            if own == ValueSource::Default && !prefix.is_empty() {
                self.source(&format!("{section}.{leaf}"))
            } else {
                own
            }
        };
        let mut text = String::new();
        let documented = KEY_EXAMPLES.iter().filter_map(|(key, _)| {
            key.strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('.'))
        });
        // Writing to a String cannot fail, hence the ignored results.
        for leaf in documented {
            match table.remove(leaf) {
                Some(value) => {
                    let source = source_of(leaf);
                    let _ = writeln!(text, "{leaf} = {value}  # {source}");
                }
                // `[auth]` holds only the chosen kind's keys; the others do not apply.
                None if section == "auth" => {}
                None => {
                    let _ = writeln!(text, "# {leaf} is not set");
                }
            }
        }
        // A field the reference does not list yet still shows.
        for (leaf, value) in table {
            let source = source_of(&leaf);
            let _ = writeln!(text, "{leaf} = {value}  # {source}");
        }
        text
    }
}

/// TOML with `# <source>` after every value, then the optional keys that are not set.
impl fmt::Display for EffectiveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# byoc-connector: effective configuration")?;
        writeln!(
            f,
            "# read from: {}, then BYOC__ environment variables",
            self.origin
        )?;
        writeln!(
            f,
            "# after each value: where it came from (file, env VARIABLE or default)"
        )?;
        writeln!(
            f,
            "# secrets show as \"[redacted]\", URL queries as ?[redacted]"
        )?;
        for renamed in &self.config.deprecated_keys {
            writeln!(f, "# warning: {renamed}")?;
        }
        let root = match Value::try_from(&self.config) {
            Ok(Value::Table(root)) => root,
            Ok(_) => Table::new(),
            Err(error) => return writeln!(f, "# cannot show the configuration: {error}"),
        };
        let tenants = root.get("tenants").and_then(Value::as_array);
        for section in SECTIONS {
            // With tenants, the channel sections are shown per tenant, as they take effect.
            if tenants.is_some() && TENANT_SECTIONS.contains(section) {
                continue;
            }
            writeln!(f)?;
            writeln!(f, "[{section}]")?;
            let table = match root.get(*section) {
                Some(Value::Table(table)) => table.clone(),
                _ => Table::new(),
            };
            f.write_str(&self.render_section(section, table))?;
        }
        for (index, tenant) in tenants.into_iter().flatten().enumerate() {
            let Some(tenant) = tenant.as_table() else {
                continue;
            };
            writeln!(f)?;
            writeln!(f, "[[tenants]]")?;
            if let Some(name) = tenant.get("name") {
                writeln!(f, "name = {name}  # file")?;
            }
            for section in SECTIONS {
                let Some(Value::Table(table)) = tenant.get(*section) else {
                    continue;
                };
                writeln!(f)?;
                writeln!(f, "[tenants.{section}]")?;
                let prefix = format!("tenants[{index}].");
                f.write_str(&self.render_keys(&prefix, section, table.clone()))?;
            }
        }
        Ok(())
    }
}
