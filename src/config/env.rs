//! Environment overrides: `BYOC__SECTION__KEY=value` sets `section.key`, winning over the file.
//!
//! A value becomes a TOML integer, float or boolean when it parses as one (`30`, `2.5`,
//! `true`), a TOML array when it starts with `[` and parses as one (`["a", "b"]`), and a
//! string otherwise. When a key turns out to want a string (`62.0` for `soql_api_version`, a
//! numeric secret), the decoder puts the original text back (see `decode`). This file knows
//! the naming rule only, not which keys exist; values are never echoed in problems.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::{ConfigProblem, Problems};

/// The prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "BYOC__";

/// The separator between the section and the key in an override's name.
pub const ENV_SEPARATOR: &str = "__";

/// One key set from the environment. Its `Debug` leaves the value out: it may be a secret.
#[derive(Clone)]
pub(super) struct EnvOverride {
    /// The variable's name, for problems (`BYOC__DELIVERY__URL`).
    pub(super) var: String,
    /// The key's path (`["delivery", "url"]`).
    pub(super) path: Vec<String>,
    /// The value as given, kept so a string-typed key can get it back verbatim.
    pub(super) raw: String,
    /// Whether the value was stored as something other than a string.
    pub(super) coerced: bool,
}

impl std::fmt::Debug for EnvOverride {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EnvOverride")
            .field("var", &self.var)
            .field("path", &self.path)
            .field("raw", &"[redacted]")
            .field("coerced", &self.coerced)
            .finish()
    }
}

impl EnvOverride {
    /// The dotted key, `delivery.url`.
    pub(super) fn key(&self) -> String {
        self.path.join(".")
    }
}

/// Every override applied to a document.
#[derive(Debug, Clone, Default)]
pub(super) struct Overrides(Vec<EnvOverride>);

impl Overrides {
    /// The override that set `key` (dotted), if any.
    pub(super) fn for_key(&self, key: &str) -> Option<&EnvOverride> {
        self.0.iter().rev().find(|entry| entry.key() == key)
    }

    /// Re-points the overrides that set `old_key` (dotted) at `new_key`, once the value has
    /// moved there, so problems and string retries find them under the new name.
    pub(super) fn rename(&mut self, old_key: &str, new_key: &str) {
        for entry in self.0.iter_mut().filter(|entry| entry.key() == old_key) {
            entry.path = new_key.split('.').map(str::to_owned).collect();
        }
    }

    /// Dotted key → the variable that set it (the last one, when several did).
    pub(super) fn vars_by_key(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|entry| (entry.key(), entry.var.clone()))
            .collect()
    }

    /// Every override, in the order applied.
    pub(super) fn entries(&self) -> &[EnvOverride] {
        &self.0
    }

    /// Overrides made of `entries`, in that order.
    pub(super) fn from_entries(entries: Vec<EnvOverride>) -> Self {
        Self(entries)
    }

    /// How many overrides were stored as non-strings.
    pub(super) fn coerced_count(&self) -> usize {
        self.0.iter().filter(|entry| entry.coerced).count()
    }
}

/// What sets a `BYOC__TENANTS__…` variable in the file's `[[tenants]]` array: the variable,
/// its key path and value in; the dotted key it set out.
pub(super) type TenantOverride =
    fn(&mut Table, &str, &[String], Value) -> Result<Vec<String>, ConfigProblem>;

/// Applies every `BYOC__…` variable of `env` to `root`, in name order; other variables are
/// ignored. `tenant_override` places the `BYOC__TENANTS__…` ones, which name a tenant rather
/// than a key of the file's tables.
pub(super) fn apply_overrides(
    root: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
    tenant_override: TenantOverride,
    problems: &mut Problems,
) -> Overrides {
    let mut variables: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    variables.sort_by(|left, right| left.0.cmp(&right.0));

    let mut applied = Vec::with_capacity(variables.len());
    for (var, raw) in variables {
        let Some(path) = key_path(&var) else {
            problems.push(
                var.as_str(),
                "does not name a config key",
                "name overrides BYOC__SECTION__KEY with double underscores, e.g. BYOC__DELIVERY__URL",
            );
            continue;
        };
        let (value, coerced) = match parse_typed(&raw) {
            Some(value) => (value, true),
            None => (Value::String(raw.clone()), false),
        };
        if path.first().is_some_and(|section| section == "tenants") {
            match tenant_override(root, &var, &path, value) {
                Ok(recorded) => applied.push(EnvOverride {
                    var,
                    path: recorded,
                    raw,
                    coerced,
                }),
                Err(problem) => problems.add(problem),
            }
            continue;
        }
        if let Err(parent) = set_path(root, &path, value) {
            problems.push(
                path.join("."),
                format!("cannot be set from {var}: `{parent}` is not a table"),
                format!("remove `{parent}` from the file or the environment"),
            );
            continue;
        }
        applied.push(EnvOverride {
            var,
            path,
            raw,
            coerced,
        });
    }
    Overrides(applied)
}

/// The dotted key an override variable sets: `BYOC__DELIVERY__URL` → `delivery.url`; `None`
/// for a name that does not follow the `BYOC__SECTION__KEY` rule. Whether the key exists is
/// checked when the configuration is loaded.
pub fn key_for_env_var(var: &str) -> Option<String> {
    key_path(var).map(|path| path.join("."))
}

/// `BYOC__DELIVERY__URL` → `["delivery", "url"]`; `None` unless there are at least two
/// non-empty parts.
fn key_path(var: &str) -> Option<Vec<String>> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    let path: Vec<String> = rest
        .split(ENV_SEPARATOR)
        .map(str::to_ascii_lowercase)
        .collect();
    let well_formed = path.len() >= 2 && path.iter().all(|part| !part.is_empty());
    well_formed.then_some(path)
}

/// The value as a TOML integer, float, boolean or array, when it is exactly one of those.
fn parse_typed(raw: &str) -> Option<Value> {
    // Parsing a one-key document reuses TOML's own number and boolean grammar. A value with a
    // newline could smuggle in more keys, so exactly one key must come back.
    let document: Table = format!("value = {raw}").parse().ok()?;
    if document.len() != 1 {
        return None;
    }
    match document.get("value")? {
        value @ (Value::Integer(_) | Value::Float(_) | Value::Boolean(_)) => Some(value.clone()),
        value @ Value::Array(_) if raw.trim_start().starts_with('[') => Some(value.clone()),
        _ => None,
    }
}

/// Sets `path` in `root`, creating tables on the way; `Err` names a non-table parent.
pub(super) fn set_path(root: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((leaf, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut table = root;
    for (depth, part) in parents.iter().enumerate() {
        let entry = table
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(next) = entry else {
            return Err(path[..=depth].join("."));
        };
        table = next;
    }
    table.insert(leaf.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_printed_for_debugging_keeps_its_value_out() {
        let set = EnvOverride {
            var: "BYOC__AUTH__CLIENT_SECRET".to_owned(),
            path: vec!["auth".to_owned(), "client_secret".to_owned()],
            raw: "s3cret-value".to_owned(),
            coerced: false,
        };
        let printed = format!("{set:?}");
        assert!(!printed.contains("s3cret-value"), "{printed}");
        assert!(printed.contains("BYOC__AUTH__CLIENT_SECRET"), "{printed}");
    }

    #[test]
    fn names_split_on_double_underscores_and_lowercase() {
        assert_eq!(
            key_path("BYOC__AUTH__CLIENT_SECRET"),
            Some(vec!["auth".to_owned(), "client_secret".to_owned()])
        );
        assert_eq!(key_path("BYOC__AUTH"), None);
        assert_eq!(key_path("BYOC____URL"), None);
    }

    #[test]
    fn numbers_and_booleans_are_typed_and_everything_else_is_a_string() {
        assert_eq!(parse_typed("30"), Some(Value::Integer(30)));
        assert_eq!(parse_typed("true"), Some(Value::Boolean(true)));
        assert_eq!(parse_typed("2.5"), Some(Value::Float(2.5)));
        assert_eq!(parse_typed("https://x.example"), None);
        assert_eq!(parse_typed("\"quoted\""), None);
        assert_eq!(parse_typed("1\nother = 2"), None);
        assert!(matches!(parse_typed("[\"a\"]"), Some(Value::Array(_))));
    }
}
