//! Decoding the merged TOML document into typed sections, with serde's errors rewritten as
//! [`ConfigProblem`]s that name the full key.
//!
//! serde's messages quote the offending value ("invalid type: integer `12345`, expected a
//! string"), which could be a secret, so they are never passed through: only the value's kind
//! and the expected type are kept (guarantee G6). This file knows the section names and the
//! `[auth]` kinds; what each key means lives in the section files.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml::{Table, Value};

use super::env::{set_path, Overrides};
use super::error::{ConfigProblem, Problems};
use super::keys::{example_hint, is_secret, KEY_EXAMPLES};
use crate::auth::AuthConfig;

/// Every top-level section, in the order the documentation lists them.
pub(super) const SECTIONS: &[&str] = &[
    "pubsub",
    "auth",
    "interaction",
    "delivery",
    "channel",
    "pipeline",
    "store",
    "server",
    "ha",
    "routing",
    "capabilities",
    "log",
];

/// The values `auth.kind` accepts, as `crate::auth::AuthConfig` spells its tag.
const AUTH_KINDS: &str = "`jwt-bearer`, `client-credentials` or `static`";

/// Records a problem for every top-level key that is not a section.
pub(super) fn unknown_sections(root: &Table, problems: &mut Problems) {
    for name in root.keys() {
        if !SECTIONS.contains(&name.as_str()) && name != "tenants" {
            problems.push(
                name.as_str(),
                "is not a known section",
                format!(
                    "remove it or fix the spelling; sections are {} and [[tenants]]",
                    SECTIONS.join(", ")
                ),
            );
        }
    }
}

/// Takes `[name]` out of `root` and decodes it; an absent section decodes from an empty table.
pub(super) fn section<T: DeserializeOwned>(
    root: &mut Table,
    name: &str,
    overrides: &Overrides,
    problems: &mut Problems,
) -> Option<T> {
    let table = take_table(root, name, problems)?.unwrap_or_default();
    let (decoded, found) = decode_table(name, table, overrides);
    for problem in found {
        problems.add(problem);
    }
    decoded
}

/// Decodes `[auth]`: `kind` picks the variant of [`AuthConfig`], the other keys fill it.
pub(super) fn auth_section(
    root: &mut Table,
    overrides: &Overrides,
    problems: &mut Problems,
) -> Option<AuthConfig> {
    let Some(mut table) = take_table(root, "auth", problems)? else {
        problems.push(
            "auth",
            "is missing",
            format!("add an [auth] section with kind = {AUTH_KINDS}; see docs/auth.md"),
        );
        return None;
    };
    let kind = match table.remove("kind") {
        Some(Value::String(kind)) => kind,
        Some(other) => {
            problems.push(
                "auth.kind",
                format!("must be a string, found {}", other.type_str()),
                example_hint("auth.kind"),
            );
            return None;
        }
        None => {
            problems.push("auth.kind", "is missing", example_hint("auth.kind"));
            return None;
        }
    };
    // Decoding the variant's own struct (rather than the tagged enum) keeps serde's key path,
    // so problems name `auth.client_id` instead of just `auth`.
    let (decoded, found) = match kind.as_str() {
        "jwt-bearer" => with_variant(
            decode_table("auth", table, overrides),
            AuthConfig::JwtBearer,
        ),
        "client-credentials" => with_variant(
            decode_table("auth", table, overrides),
            AuthConfig::ClientCredentials,
        ),
        "static" => with_variant(decode_table("auth", table, overrides), AuthConfig::Static),
        unknown => (
            None,
            vec![ConfigProblem {
                key: "auth.kind".to_owned(),
                problem: format!("has unknown value `{unknown}`"),
                hint: format!("use one of {AUTH_KINDS}"),
                env_var: None,
            }],
        ),
    };
    for problem in found {
        problems.add(problem);
    }
    decoded
}

/// Wraps a decoded `[auth]` variant in [`AuthConfig`].
fn with_variant<T>(
    (decoded, problems): (Option<T>, Vec<ConfigProblem>),
    variant: fn(T) -> AuthConfig,
) -> (Option<AuthConfig>, Vec<ConfigProblem>) {
    (decoded.map(variant), problems)
}

/// `Some(None)` when absent, `Some(Some(table))` when a table, `None` (problem recorded)
/// otherwise: three outcomes, so the nested option is the honest type.
#[allow(clippy::option_option)]
fn take_table(root: &mut Table, name: &str, problems: &mut Problems) -> Option<Option<Table>> {
    match root.remove(name) {
        None => Some(None),
        Some(Value::Table(table)) => Some(Some(table)),
        Some(other) => {
            problems.push(
                name,
                format!("must be a table, found {}", other.type_str()),
                format!("write it as a [{name}] section"),
            );
            None
        }
    }
}

/// How many keys of one section can be reported before decoding gives up on it; far more
/// than any real mistake, it only bounds the loop.
const MAX_PROBLEMS_PER_SECTION: usize = 64;

/// Decodes one table whose keys live under `prefix`, reporting every bad key, not just the
/// first one serde stops at.
///
/// After each refusal the offending key is taken out (a wrong or unknown value) or filled
/// with its documented example (a missing one) and the table is decoded again, so the next
/// problem shows too. The value that comes back then holds placeholders; it is only returned
/// so the section's own checks can run on its other keys, and the problems keep the whole
/// configuration from loading. An environment value stored as a number or boolean for a key
/// that wants a string is put back as the original text and the table decoded again, once
/// per such value at most.
fn decode_table<T: DeserializeOwned>(
    prefix: &str,
    mut table: Table,
    overrides: &Overrides,
) -> (Option<T>, Vec<ConfigProblem>) {
    let mut retries_left = overrides.coerced_count();
    let mut problems: Vec<ConfigProblem> = Vec::new();
    while problems.len() < MAX_PROBLEMS_PER_SECTION {
        let error = match serde_path_to_error::deserialize(Value::Table(table.clone())) {
            Ok(decoded) => return (Some(decoded), problems),
            Err(error) => error,
        };
        let key = full_key(prefix, error.path());
        let (shape, problem) = describe(&key, error.inner().message());
        if shape == Shape::WrongType && retries_left > 0 {
            if let Some(entry) = overrides.for_key(&key).filter(|entry| entry.coerced) {
                let relative = entry.path.get(1..).unwrap_or_default();
                if set_path(&mut table, relative, Value::String(entry.raw.clone())).is_ok() {
                    retries_left -= 1;
                    continue;
                }
            }
        }
        let already_reported = problems.iter().any(|known| known.key == problem.key);
        let repaired = !already_reported && repair(&mut table, prefix, shape, &problem.key);
        if !already_reported {
            problems.push(problem);
        }
        if !repaired {
            break;
        }
    }
    (None, problems)
}

/// Changes `table` so the problem with `key` cannot stop decoding again: a missing key gets
/// its example value, any other bad key is removed. `false` when neither is possible.
fn repair(table: &mut Table, prefix: &str, shape: Shape, key: &str) -> bool {
    let Some(relative) = key
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
    else {
        return false;
    };
    // `address_identifiers[0]` → the whole `address_identifiers` goes.
    let relative = relative.split('[').next().unwrap_or(relative);
    let path: Vec<&str> = relative.split('.').collect();
    let Some((leaf, parents)) = path.split_last() else {
        return false;
    };
    let mut parent = &mut *table;
    for part in parents {
        match parent.get_mut(*part) {
            Some(Value::Table(next)) => parent = next,
            _ => return false,
        }
    }
    if shape == Shape::Missing {
        return match example_value(key) {
            Some(example) => parent.insert((*leaf).to_owned(), example).is_none(),
            None => false,
        };
    }
    parent.remove(*leaf).is_some()
}

/// The documented example of `key` as a TOML value (`"\"62.0\""` → the string `62.0`).
fn example_value(key: &str) -> Option<Value> {
    let (_, example) = KEY_EXAMPLES.iter().find(|(known, _)| *known == key)?;
    // Examples may carry a remark after the value: `"static" (or "stdout")`.
    let literal = example.split(" (").next().unwrap_or(example);
    let document: Table = format!("value = {literal}").parse().ok()?;
    document.get("value").cloned()
}

/// `prefix` followed by the map keys and sequence indices of `path`.
fn full_key(prefix: &str, path: &serde_path_to_error::Path) -> String {
    let mut key = prefix.to_owned();
    for segment in path {
        match segment {
            Segment::Map { key: part } | Segment::Enum { variant: part } => {
                key.push('.');
                key.push_str(part);
            }
            Segment::Seq { index } => {
                let _ = write!(key, "[{index}]");
            }
            Segment::Unknown => {}
        }
    }
    key
}

/// Which kind of serde failure a problem came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The value has the wrong type; an environment value may deserve a second try as a string.
    WrongType,
    /// A required key is absent.
    Missing,
    /// Anything else.
    Other,
}

/// Rewrites one serde message about `key` as a problem that never quotes the value.
fn describe(key: &str, message: &str) -> (Shape, ConfigProblem) {
    let problem = |key: String, problem: String, hint: String| ConfigProblem {
        key,
        problem,
        hint,
        env_var: None,
    };
    if let Some((field, tail)) = quoted_after(message, "unknown field `") {
        let hint = match tail.trim_start_matches(", ") {
            expected if expected.starts_with("expected") => {
                format!("remove it or fix the spelling; {expected}")
            }
            _ => "remove it; this section takes no keys".to_owned(),
        };
        let key = child_key(key, field);
        return (
            Shape::Other,
            problem(key, "is not a known key".into(), hint),
        );
    }
    if let Some((field, _)) = quoted_after(message, "missing field `") {
        let key = child_key(key, field);
        let hint = example_hint(&key);
        return (Shape::Missing, problem(key, "is missing".into(), hint));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = split_expected(rest);
        let text = format!("must be {}, found {}", friendly(expected), kind_of(found));
        return (
            Shape::WrongType,
            problem(key.to_owned(), text, example_hint(key)),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (_, expected) = split_expected(rest);
        let text = format!("is out of range, expected {}", friendly(expected));
        return (
            Shape::Other,
            problem(key.to_owned(), text, example_hint(key)),
        );
    }
    if let Some((variant, tail)) = quoted_after(message, "unknown variant `") {
        let text = if is_secret(key) {
            "has an unknown value".to_owned()
        } else {
            format!("has unknown value `{variant}`")
        };
        let hint = match tail.trim_start_matches(", ") {
            expected if expected.starts_with("expected") => {
                format!("use a valid value; {expected}")
            }
            _ => example_hint(key),
        };
        return (Shape::Other, problem(key.to_owned(), text, hint));
    }
    // A custom message (an address that does not parse, a malformed org id): safe to show
    // unless the key is a secret.
    let text = if is_secret(key) {
        "is not a valid value".to_owned()
    } else {
        format!("is not valid: {message}")
    };
    (
        Shape::Other,
        problem(key.to_owned(), text, example_hint(key)),
    )
}

/// For `prefix`-led messages like "unknown field `x`, expected …": `("x", ", expected …")`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    message.strip_prefix(prefix)?.split_once('`')
}

/// `key.field`, unless the path already ends with `field`.
fn child_key(key: &str, field: &str) -> String {
    if key.rsplit('.').next() == Some(field) {
        key.to_owned()
    } else {
        format!("{key}.{field}")
    }
}

/// Splits "<found>, expected <what>" at the last ", expected ".
fn split_expected(rest: &str) -> (&str, &str) {
    rest.rsplit_once(", expected ")
        .unwrap_or((rest, "another type"))
}

/// The kind of an unexpected value, without the value: "integer `5`" → "an integer".
fn kind_of(found: &str) -> String {
    let kind = found.split(['`', '"']).next().unwrap_or_default().trim();
    match kind {
        "" => "another type".to_owned(),
        "integer" => "an integer".to_owned(),
        "map" => "a table".to_owned(),
        "sequence" => "an array".to_owned(),
        "floating point" => "a float".to_owned(),
        other => format!("a {other}"),
    }
}

/// serde's type names in operator words: "u32" → "a whole number".
fn friendly(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_problems_name_the_kind_but_never_the_value() {
        let (shape, problem) = describe(
            "delivery.secret",
            "invalid type: integer `987654321`, expected a string",
        );
        assert_eq!(shape, Shape::WrongType);
        assert_eq!(problem.problem, "must be a string, found an integer");
        assert!(!problem.to_string().contains("987654321"));
    }

    #[test]
    fn unknown_fields_are_named_with_their_section() {
        let (_, problem) = describe(
            "pubsub",
            "unknown field `tpoic`, expected one of `endpoint`, `topic`",
        );
        assert_eq!(problem.key, "pubsub.tpoic");
        assert!(problem.hint.contains("`topic`"));
    }
}
