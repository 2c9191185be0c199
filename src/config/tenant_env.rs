//! `BYOC__TENANTS__<NAME>__SECTION__KEY`: environment overrides of one tenant's keys.
//!
//! `<NAME>` is the tenant's name in capitals with `-` and `.` written as `_`; the tenant must be
//! listed (with its name) in the file. The override is recorded as `tenants[<index>].…`, the
//! key problems name, and a tenant's sections see their own overrides over the top-level ones.
//! This file knows the naming rule; which keys exist is the sections' business.

use toml::{Table, Value};

use super::env::{EnvOverride, Overrides};
use super::error::ConfigProblem;

/// The form of a tenant name in an environment variable: lower case, `-` and `.` as `_`
/// (the variable's parts are lower-cased before they are compared).
pub(super) fn env_form(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

impl Overrides {
    /// The overrides a tenant's sections see: the top-level ones, then the tenant's own
    /// (`tenants[<index>].auth.x` as `auth.x`), which win.
    pub(super) fn scoped(&self, prefix: &str) -> Overrides {
        let top = self
            .entries()
            .iter()
            .filter(|entry| {
                entry
                    .path
                    .first()
                    .is_some_and(|first| first != "tenants" && !first.starts_with("tenants["))
            })
            .cloned();
        let own = self
            .entries()
            .iter()
            .filter(|entry| entry.path.first().is_some_and(|first| first == prefix))
            .map(|entry| EnvOverride {
                path: entry.path.get(1..).unwrap_or_default().to_vec(),
                ..entry.clone()
            });
        Overrides::from_entries(top.chain(own).collect())
    }
}

/// Applies the override `path` (`["tenants", "<name>", "auth", "client_secret"]`) to the
/// tenant it names; `Ok` gives the path to record (`["tenants[1]", "auth", "client_secret"]`).
pub(super) fn apply_override(
    root: &mut Table,
    var: &str,
    path: &[String],
    value: Value,
) -> Result<Vec<String>, ConfigProblem> {
    let problem = |problem: String, hint: &str| ConfigProblem {
        key: var.to_owned(),
        problem,
        hint: hint.to_owned(),
        env_var: None,
    };
    let [_, wanted, rest @ ..] = path else {
        return Err(problem(
            "does not name a tenant's key".to_owned(),
            "name it BYOC__TENANTS__<NAME>__SECTION__KEY, e.g. BYOC__TENANTS__ACME__AUTH__CLIENT_SECRET",
        ));
    };
    if rest.len() < 2 {
        return Err(problem(
            "does not name a tenant's key".to_owned(),
            "name it BYOC__TENANTS__<NAME>__SECTION__KEY, e.g. BYOC__TENANTS__ACME__AUTH__CLIENT_SECRET",
        ));
    }
    let Some(Value::Array(entries)) = root.get_mut("tenants") else {
        return Err(problem(
            "sets a tenant's key, but the file has no [[tenants]]".to_owned(),
            "list every tenant with its name in the file; the environment only sets their keys",
        ));
    };
    let mut matching = entries.iter_mut().enumerate().filter_map(|(index, entry)| {
        let table = entry.as_table_mut()?;
        let name = table.get("name")?.as_str()?;
        (env_form(name) == *wanted).then_some((index, table))
    });
    let Some((index, table)) = matching.next() else {
        return Err(problem(
            format!("names no tenant of the file (looked for a name whose variable form is `{}`)", wanted.to_ascii_uppercase()),
            "write the tenant's name in capitals with '-' and '.' as '_', e.g. BYOC__TENANTS__ACME_SMS__… for acme-sms",
        ));
    };
    if let Err(parent) = super::env::set_path(table, rest, value) {
        return Err(problem(
            format!("cannot be set: `tenants[{index}].{parent}` is not a table"),
            "remove that key from the tenant in the file",
        ));
    }
    let mut recorded = vec![format!("tenants[{index}]")];
    recorded.extend(rest.iter().cloned());
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_form_of_a_name_is_lower_case_with_underscores() {
        assert_eq!(env_form("Acme-SMS.eu"), "acme_sms_eu");
    }
}
