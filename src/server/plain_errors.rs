//! The sidecar's error shape for answers axum gives before any handler runs: a body over the
//! size limit (`413`), a path segment that is not UTF-8 (`400`), an unknown path (`404`) or
//! method (`405`). Handlers answer `{"error": {"kind", "field"?, "rule"?|"message"?}}`; these
//! came as plain text or empty, so a partner's client could not read what was wrong. Knows
//! nothing about the routes.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

/// Longest plain-text answer read to rewrite it (axum's are one line).
const MAX_PLAIN_ANSWER_BYTES: usize = 4 * 1024;

/// Rewrites a plain-text or empty `4xx` answer into the sidecar's JSON error shape; passes
/// every other answer through untouched.
pub(super) async fn as_json(response: Response) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let plain = content_type.is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !status.is_client_error() || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_ANSWER_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => json!({
            "kind": "invalid_request",
            "field": "body",
            "rule": format!("the body is larger than this route takes ({text})"),
        }),
        // A route may say what it did not find (a tenant's routes name the tenant).
        StatusCode::NOT_FOUND if !text.is_empty() => json!({"kind": "not_found", "message": text}),
        StatusCode::NOT_FOUND => json!({"kind": "not_found", "message": "no such route"}),
        StatusCode::METHOD_NOT_ALLOWED => {
            json!({"kind": "method_not_allowed", "message": "this route does not take that method"})
        }
        _ => json!({
            "kind": "invalid_request",
            // axum names a bad path parameter in backticks: "Invalid UTF-8 in `event_id`".
            "field": named_parameter(&text).map_or_else(|| "path".to_owned(), camel_case),
            "rule": text,
        }),
    };
    let body = json!({ "error": error }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// A route's parameter name (`conversation_identifier`) as the API spells the field
/// (`conversationIdentifier`).
fn camel_case(name: &str) -> String {
    let mut words = name.split('_');
    let mut camel = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut letters = word.chars();
        if let Some(first) = letters.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(letters.as_str());
        }
    }
    camel
}

/// The first name in backticks in `text`, if any.
fn named_parameter(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rewritten(
        status: StatusCode,
        content_type: Option<&str>,
        text: &str,
    ) -> serde_json::Value {
        let mut builder = Response::builder().status(status);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let response = as_json(builder.body(Body::from(text.to_owned())).unwrap()).await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn plain_client_errors_become_json_naming_what_is_wrong() {
        let too_large = rewritten(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("text/plain; charset=utf-8"),
            "Failed to buffer the request body: length limit exceeded",
        )
        .await;
        assert_eq!(too_large["error"]["field"], "body");
        let bad_path = rewritten(
            StatusCode::BAD_REQUEST,
            Some("text/plain; charset=utf-8"),
            "Invalid URL: Invalid UTF-8 in `conversation_identifier`",
        )
        .await;
        assert_eq!(bad_path["error"]["field"], "conversationIdentifier");
        assert_eq!(
            rewritten(StatusCode::NOT_FOUND, None, "").await["error"]["kind"],
            "not_found"
        );
        let named = rewritten(
            StatusCode::NOT_FOUND,
            Some("text/plain; charset=utf-8"),
            "no tenant named `initech`",
        )
        .await;
        assert_eq!(named["error"]["message"], "no tenant named `initech`");
    }

    #[tokio::test]
    async fn json_answers_and_successes_pass_through() {
        let json_answer = Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"error":{"kind":"invalid_request"}}"#))
            .unwrap();
        let passed = as_json(json_answer).await;
        let bytes = axum::body::to_bytes(passed.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(&bytes[..], br#"{"error":{"kind":"invalid_request"}}"#);
        let ok = as_json(Response::new(Body::from("ok"))).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
