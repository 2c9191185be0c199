//! JSON request bodies read strictly: one JSON value and nothing after it, unknown fields
//! refused wherever the type says so, and every failure naming the field it is about. Used by
//! the sidecar's routes; knows nothing about HTTP or what a body means.

use serde::de::DeserializeOwned;

/// Why a body does not parse: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The field as a path (`receipts[0].type`), or `body` for the body as a whole.
    pub(crate) field: String,
    /// The rule it breaks.
    pub(crate) rule: String,
}

/// Parses `body` as `T`, or names the field that broke it.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // serde names a missing field only in its message, at the parent's path.
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.as_str()) {
            (Some(name), ".") => name.to_owned(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => "body".to_owned(),
            (None, path) => path.to_owned(),
        };
        FieldError {
            field,
            rule: without_position(&message).to_owned(),
        }
    })?;
    // A second value, or anything else, after the first would otherwise be ignored.
    deserializer.end().map_err(|error| FieldError {
        field: "body".to_owned(),
        rule: format!(
            "the body must hold one JSON value and nothing after it: {}",
            without_position(&error.to_string())
        ),
    })?;
    Ok(value)
}

/// serde_json's message without its ` at line L column C` suffix.
fn without_position(message: &str) -> &str {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(rule, _)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        kind: String,
    }

    fn field_of(body: &str) -> String {
        parse::<Body>(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn each_failure_names_its_field() {
        assert!(parse::<Body>(br#"{"text":"a","items":[{"kind":"k"}]}"#).is_ok());
        assert_eq!(field_of(r#"{"items":[]}"#), "text");
        assert_eq!(field_of(r#"{"text":"a","items":[{}]}"#), "items[0].kind");
        assert_eq!(field_of(r#"{"text":1,"items":[]}"#), "text");
        assert_eq!(field_of(r#"{"text":"a","items":[],"txet":"b"}"#), "txet");
        assert_eq!(field_of("not json"), "body");
    }

    #[test]
    fn anything_after_the_value_is_refused() {
        let error =
            parse::<Body>(br#"{"text":"a","items":[]}{"text":"b","items":[]}"#).unwrap_err();
        assert_eq!(error.field, "body");
        assert!(error.rule.contains("nothing after it"), "{}", error.rule);
        assert_eq!(field_of(r#"{"text":"a","items":[]} xyz"#), "body");
        assert!(parse::<Body>(b"{\"text\":\"a\",\"items\":[]}\n").is_ok());
    }
}
