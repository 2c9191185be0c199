//! Turns a serde_json error into the JSON path of the field it is about.
//!
//! Decoding runs serde derive straight over the payload text, so the happy path pays
//! nothing for path tracking. Only when an error occurs do we rescan the text up to the
//! error's position and rebuild the path (`payload.entryPayload.abstractMessage.id`).
//! Errors raised while replaying buffered values (see `tagged.rs`) carry their path
//! inside the message behind a marker, which `locate` unwraps. This file knows JSON
//! text and serde_json errors; it must not know any BYOC type.

use std::fmt;

/// Separates a nested path from its reason inside a custom error message.
const NESTED_PATH_MARKER: char = '\u{1f}';

/// Prefix of serde's missing-field message, whose field name we append to the path.
const MISSING_FIELD_PREFIX: &str = "missing field `";

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A JSON path such as `payload.entries[0].participant`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath(Vec<Segment>);

impl JsonPath {
    /// A path made of one key.
    pub(crate) fn key(name: &str) -> Self {
        Self(vec![Segment::Key(name.to_owned())])
    }

    /// This path followed by `tail`.
    pub(crate) fn join(mut self, tail: JsonPath) -> Self {
        self.0.extend(tail.0);
        self
    }

    fn push_key(&mut self, name: &str) {
        self.0.push(Segment::Key(name.to_owned()));
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(name) if position == 0 => formatter.write_str(name)?,
                Segment::Key(name) => write!(formatter, ".{name}")?,
                Segment::Index(index) => write!(formatter, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What went wrong at a located path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A required field is absent (the path ends with its name).
    Missing,
    /// The value at the path has the wrong type or shape.
    Invalid(String),
    /// The text is not JSON at all.
    Syntax(String),
}

/// An error pinned to the place in the JSON text it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) path: JsonPath,
    pub(crate) problem: Problem,
}

/// Locates `error`, which serde_json raised while parsing `text`.
pub(crate) fn locate(text: &str, error: &serde_json::Error) -> Located {
    let message = message_without_position(error);
    if matches!(
        error.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return Located {
            path: JsonPath::default(),
            problem: Problem::Syntax(message),
        };
    }
    let offset = byte_offset(text, error.line(), error.column());
    let path = path_at(text, offset);
    refine(path, &message)
}

/// Where a nested error's path starts, relative to the position serde_json reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// Raised after the enclosing object closed: the position names the object.
    Object,
    /// Raised while replaying fields buffered before a tag: the position is just
    /// after the tag's value, so it names the tag field, whose parent is the object.
    ReplayedField,
}

/// Builds the message of an error that already knows its path below an object;
/// `locate` later prepends that object's path.
pub(crate) fn nested_error_message(located: &Located, anchor: Anchor) -> String {
    let (problem_flag, reason) = match &located.problem {
        Problem::Missing => ('m', "missing required field"),
        Problem::Invalid(reason) | Problem::Syntax(reason) => ('i', reason.as_str()),
    };
    let anchor_flag = match anchor {
        Anchor::Object => 'o',
        Anchor::ReplayedField => 'r',
    };
    format!(
        "{NESTED_PATH_MARKER}{problem_flag}{anchor_flag}{}{NESTED_PATH_MARKER}{reason}",
        encode_path(&located.path)
    )
}

/// Applies what the message says on top of the path found from the position.
fn refine(mut path: JsonPath, message: &str) -> Located {
    if let Some(nested) = parse_nested(message) {
        if nested.anchor == Anchor::ReplayedField {
            path.0.pop();
        }
        return Located {
            path: path.join(nested.path),
            problem: nested.problem,
        };
    }
    if let Some(rest) = message.strip_prefix(MISSING_FIELD_PREFIX) {
        if let Some(field) = rest.strip_suffix('`') {
            path.push_key(field);
            return Located {
                path,
                problem: Problem::Missing,
            };
        }
    }
    Located {
        path,
        problem: Problem::Invalid(message.to_owned()),
    }
}

struct NestedError {
    anchor: Anchor,
    path: JsonPath,
    problem: Problem,
}

fn parse_nested(message: &str) -> Option<NestedError> {
    let rest = message.strip_prefix(NESTED_PATH_MARKER)?;
    let (flags_and_path, reason) = rest.split_once(NESTED_PATH_MARKER)?;
    let mut chars = flags_and_path.chars();
    let problem = match chars.next()? {
        'm' => Problem::Missing,
        _ => Problem::Invalid(reason.to_owned()),
    };
    let anchor = match chars.next()? {
        'r' => Anchor::ReplayedField,
        _ => Anchor::Object,
    };
    Some(NestedError {
        anchor,
        path: decode_path(chars.as_str()),
        problem,
    })
}

/// Encodes a path for a nested message: segments joined by the unit separator's
/// cousin `\u{1e}`, indexes prefixed by `#`.
fn encode_path(path: &JsonPath) -> String {
    let mut encoded = String::new();
    for (position, segment) in path.0.iter().enumerate() {
        if position > 0 {
            encoded.push('\u{1e}');
        }
        match segment {
            Segment::Key(name) => encoded.push_str(name),
            Segment::Index(index) => {
                encoded.push('\u{1d}');
                encoded.push_str(&index.to_string());
            }
        }
    }
    encoded
}

fn decode_path(encoded: &str) -> JsonPath {
    if encoded.is_empty() {
        return JsonPath::default();
    }
    let segments = encoded
        .split('\u{1e}')
        .map(|part| match part.strip_prefix('\u{1d}') {
            Some(index) => Segment::Index(index.parse().unwrap_or(0)),
            None => Segment::Key(part.to_owned()),
        })
        .collect();
    JsonPath(segments)
}

/// The error's message without serde_json's " at line L column C" suffix.
fn message_without_position(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// serde_json reports 1-based lines and 0-based byte columns; turn them into an offset.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let mut line_start = 0;
    for _ in 1..line {
        match text[line_start..].find('\n') {
            Some(newline) => line_start += newline + 1,
            None => return text.len(),
        }
    }
    (line_start + column).min(text.len())
}

/// One container being scanned.
enum Frame {
    Object {
        key: Option<String>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The path of the value being parsed at `offset` (exclusive) in `text`.
///
/// Closed containers are popped, so right after an object's `}` the path names that
/// object, which is where serde reports a missing field of that object.
fn path_at(text: &str, offset: usize) -> JsonPath {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut position = 0;
    while position < end {
        match bytes[position] {
            b'"' => {
                let string_end = end_of_string(bytes, position);
                if let Some(Frame::Object { key, expecting_key }) = stack.last_mut() {
                    if !*expecting_key {
                        position = string_end;
                        continue;
                    }
                    let quoted = text.get(position..string_end).unwrap_or_default();
                    *key = Some(unquote_key(quoted));
                    *expecting_key = false;
                }
                position = string_end;
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        position += 1;
    }
    let segments = stack
        .into_iter()
        .filter_map(|frame| match frame {
            Frame::Object { key, .. } => key.map(Segment::Key),
            Frame::Array { index } => Some(Segment::Index(index)),
        })
        .collect();
    JsonPath(segments)
}

/// Index just past the closing quote of the string starting at `start`.
fn end_of_string(bytes: &[u8], start: usize) -> usize {
    let mut position = start + 1;
    while position < bytes.len() {
        match bytes[position] {
            b'\\' => position += 2,
            b'"' => return position + 1,
            _ => position += 1,
        }
    }
    bytes.len()
}

fn unquote_key(quoted: &str) -> String {
    match serde_json::from_str::<String>(quoted) {
        Ok(key) => key,
        Err(_) => quoted.trim_matches('"').to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> Located {
        let error = serde_json::from_str::<T>(text).expect_err("the text must not decode");
        locate(text, &error)
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        a: Inner,
        list: Option<Vec<Inner>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        b: String,
    }

    #[test]
    fn missing_nested_field_is_located_by_its_full_path() {
        let located = located_error::<Outer>(r#"{"a":{"c":1}}"#);
        assert_eq!(located.path.to_string(), "a.b");
        assert_eq!(located.problem, Problem::Missing);
    }

    #[test]
    fn missing_field_inside_an_array_element_names_the_index() {
        let located =
            located_error::<Outer>("{\"a\":{\"b\":\"x\"},\n \"list\":[{\"b\":\"y\"}, {}]}");
        assert_eq!(located.path.to_string(), "list[1].b");
    }

    #[test]
    fn wrong_type_is_located_at_the_field() {
        let located = located_error::<Outer>(r#"{"a":{"b":{"deep":[1,2]}}}"#);
        assert_eq!(located.path.to_string(), "a.b");
        assert!(matches!(located.problem, Problem::Invalid(_)));
    }

    #[test]
    fn syntax_error_is_reported_as_syntax() {
        let located = located_error::<Outer>(r#"{"a":"#);
        assert!(matches!(located.problem, Problem::Syntax(_)));
    }

    #[test]
    fn nested_message_path_is_appended_to_the_enclosing_path() {
        let nested = Located {
            path: JsonPath(vec![Segment::Key("x".into()), Segment::Index(2)]),
            problem: Problem::Missing,
        };
        let message = nested_error_message(&nested, Anchor::Object);
        let located = refine(JsonPath::key("outer"), &message);
        assert_eq!(located.path.to_string(), "outer.x[2]");
        assert_eq!(located.problem, Problem::Missing);
        let replayed = nested_error_message(&nested, Anchor::ReplayedField);
        let located = refine(JsonPath::key("outer").join(JsonPath::key("tag")), &replayed);
        assert_eq!(located.path.to_string(), "outer.x[2]");
    }
}
