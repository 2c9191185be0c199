//! What can go wrong while getting an access token.
//!
//! Messages name the config key or the token endpoint's own `error` and `error_description`,
//! never a token, a secret or key material (guarantee G6). It knows nothing about callers.

use crate::auth::{OrgIdError, UrlPolicyError};

/// Failure to obtain or refresh an access token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A config value is unusable (unreadable key file, bad key, bad URL).
    #[error("auth config {key}: {problem}")]
    Config {
        /// The config key at fault.
        key: &'static str,
        /// What is wrong with it; never contains the value of a secret.
        problem: String,
    },
    /// A URL breaks the TLS rule or does not parse.
    #[error(transparent)]
    Url(#[from] UrlPolicyError),
    /// The token endpoint refused the request (4xx); `description` says why.
    #[error("token endpoint refused the request (http {status}): {error}: {description}")]
    Rejected {
        /// HTTP status of the refusal.
        status: u16,
        /// OAuth `error`, e.g. `invalid_grant`.
        error: String,
        /// OAuth `error_description`, e.g. `audience is invalid`.
        description: String,
    },
    /// The token endpoint failed on its side (5xx); worth retrying.
    #[error("token endpoint is unavailable (http {status})")]
    Unavailable {
        /// HTTP status of the failure.
        status: u16,
    },
    /// The request never got an HTTP answer (connect, TLS, timeout); worth retrying.
    #[error("token endpoint could not be reached: {0}")]
    Transport(#[source] reqwest::Error),
    /// The answer was not the expected JSON or lacked a field.
    #[error("token endpoint gave an unusable answer: {problem}")]
    InvalidResponse {
        /// What was missing or malformed.
        problem: String,
    },
    /// The org id reported by Salesforce is malformed.
    #[error("salesforce reported an invalid org id: {0}")]
    OrgId(#[from] OrgIdError),
    /// Signing the JWT assertion failed.
    #[error("could not sign the jwt assertion: {problem}")]
    Signing {
        /// The signer's complaint (contains no key material).
        problem: String,
    },
    /// The token request this caller waited for (made by a concurrent caller) failed.
    #[error("the shared token request failed: {reason}")]
    SharedFailure {
        /// The failure's message (it never contains a secret).
        reason: String,
        /// Whether the failure was retryable.
        retryable: bool,
    },
    /// A static token was rejected; there is nothing to refresh it with.
    #[error("the static access token was rejected and cannot be refreshed")]
    StaticTokenRejected,
}

impl AuthError {
    /// Whether trying again later may succeed (transport failures and 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Transport(_) => true,
            Self::SharedFailure { retryable, .. } => *retryable,
            _ => false,
        }
    }
}
