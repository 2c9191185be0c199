//! The sidecar listener's bearer token check (DESIGN §7).
//!
//! With a token configured, every request must carry `Authorization: Bearer <token>`; anything
//! else gets a bare `401` that says nothing about why. Tokens are compared in constant time, so
//! the answer's timing does not reveal how much of a guess was right. It knows nothing about
//! the routes it guards.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::secret::SecretString;

/// The token the sidecar requires, if any; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SidecarAuth {
    token: Option<SecretString>,
}

impl SidecarAuth {
    /// Requires `token` on every request; `None` lets every request through (loopback only).
    pub fn new(token: Option<SecretString>) -> Self {
        Self { token }
    }

    /// Whether a token is required.
    pub(crate) fn is_required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether the `Authorization` header value carries the token (always true without one).
    fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = authorization
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        constant_time_eq(presented, token.expose().as_bytes())
    }
}

/// Compares two byte strings in time that depends on their lengths only, never on where they
/// differ.
pub(crate) fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    // Walk the longer length so a short guess costs the same as a long one; the length
    // difference itself is folded into the result rather than returned early.
    let length = left.len().max(right.len());
    let mut difference = u8::from(left.len() != right.len());
    for index in 0..length {
        let a = left.get(index).copied().unwrap_or(0);
        let b = right.get(index).copied().unwrap_or(0);
        difference |= a ^ b;
    }
    std::hint::black_box(difference) == 0
}

/// axum middleware: `401` with an empty body unless [`SidecarAuth`] admits the request.
pub(crate) async fn require_bearer(
    State(auth): State<SidecarAuth>,
    request: Request,
    next: Next,
) -> Response {
    if auth.admits(request.headers().get(header::AUTHORIZATION)) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_match_and_any_difference_does_not() {
        assert!(constant_time_eq(b"s3cret-token", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret-token", b"s3cret-tokeN"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret-token"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn only_the_bearer_scheme_with_the_token_is_admitted() {
        let auth = SidecarAuth::new(Some(SecretString::new("abc")));
        assert!(auth.admits(Some(&HeaderValue::from_static("Bearer abc"))));
        assert!(!auth.admits(Some(&HeaderValue::from_static("Basic abc"))));
        assert!(!auth.admits(Some(&HeaderValue::from_static("Bearer abcd"))));
        assert!(!auth.admits(None));
        assert!(SidecarAuth::new(None).admits(None));
    }
}
