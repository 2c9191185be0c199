//! The OAuth token endpoint and userinfo calls shared by the jwt-bearer and client-credentials kinds.
//!
//! It posts a form to `{login_url}/services/oauth2/token`, turns the answer into an
//! [`AccessGrant`], and asks `/services/oauth2/userinfo` for the org id when the token response
//! does not carry it. Error texts never include a response body that could hold a token.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::debug;

use crate::auth::{url_policy, AccessGrant, AuthError, OrgId};
use crate::salesforce_clock::SalesforceClock;
use crate::secret::SecretString;

/// Upper bound on one token or userinfo request, connect included.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on establishing the connection to the token endpoint.
const TOKEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A token freshly obtained, with the lifetime the server announced, if any.
#[derive(Debug)]
pub(crate) struct FetchedGrant {
    /// The grant ready for callers.
    pub(crate) grant: AccessGrant,
    /// `expires_in` when the server sent one (Salesforce does not; other servers may).
    pub(crate) expires_in: Option<Duration>,
}

/// Success body of `/services/oauth2/token` (the fields we use).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    instance_url: Option<String>,
    /// Identity URL `https://login.salesforce.com/id/<orgId>/<userId>`.
    id: Option<String>,
    expires_in: Option<u64>,
}

/// Error body of `/services/oauth2/token`.
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Body of `/services/oauth2/userinfo` (the field we use).
#[derive(Deserialize)]
struct UserInfo {
    organization_id: Option<String>,
}

/// The token and userinfo URLs of one login URL, with the HTTP client used for them.
#[derive(Debug, Clone)]
pub(crate) struct TokenEndpoint {
    http: reqwest::Client,
    token_url: Url,
    userinfo_url: Url,
    /// Learns Salesforce's clock from each answer's `Date`.
    clock: SalesforceClock,
}

impl TokenEndpoint {
    /// Endpoints under `login_url`, checked against the TLS rule, trusting
    /// `ca_certificate_pem` on top of the system's roots.
    pub(super) fn new(
        login_url: &str,
        insecure: bool,
        ca_certificate_pem: Option<&str>,
        clock: SalesforceClock,
    ) -> Result<Self, AuthError> {
        let base = url_policy::require_tls_or_loopback("auth.login_url", login_url, insecure)?;
        let join = |path: &str| {
            base.join(path).map_err(|err| AuthError::Config {
                key: "auth.login_url",
                problem: err.to_string(),
            })
        };
        let token_url = join("/services/oauth2/token")?;
        let userinfo_url = join("/services/oauth2/userinfo")?;
        let http = url_policy::client_builder(ca_certificate_pem)
            .map_err(|err| AuthError::Config {
                key: "pubsub.ca_certificate_file",
                problem: format!("is not a usable trust anchor: {err}"),
            })?
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .connect_timeout(TOKEN_CONNECT_TIMEOUT)
            .build()
            .map_err(|err| AuthError::Config {
                key: "auth",
                problem: format!("cannot build the http client: {err}"),
            })?;
        Ok(Self {
            http,
            token_url,
            userinfo_url,
            clock,
        })
    }

    /// Posts `form` to the token endpoint and resolves the grant's org id.
    pub(crate) async fn exchange(&self, form: &[(&str, &str)]) -> Result<FetchedGrant, AuthError> {
        debug!(url = %self.token_url, "requesting access token");
        let sent = std::time::SystemTime::now();
        let response = self
            .http
            .post(self.token_url.clone())
            .form(form)
            .send()
            .await
            .map_err(AuthError::Transport)?;
        let status = response.status();
        self.clock.observe_date(
            response.headers().get(reqwest::header::DATE),
            sent,
            std::time::SystemTime::now(),
        );
        let body = response.bytes().await.map_err(AuthError::Transport)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|err| {
            // serde's message can quote field values, so only its position is reported.
            AuthError::InvalidResponse {
                problem: format!(
                    "token response is not the expected json ({:?} error at line {} column {})",
                    err.classify(),
                    err.line(),
                    err.column()
                ),
            }
        })?;
        let instance_url = parsed
            .instance_url
            .filter(|url| !url.is_empty())
            .ok_or_else(|| AuthError::InvalidResponse {
                problem: "token response has no instance_url".to_owned(),
            })?;
        let org_id = match parsed.id.as_deref().and_then(org_id_from_identity_url) {
            Some(org_id) => org_id,
            None => self.org_id_from_userinfo(&parsed.access_token).await?,
        };
        Ok(FetchedGrant {
            grant: AccessGrant {
                access_token: parsed.access_token,
                instance_url: instance_url.trim_end_matches('/').to_owned(),
                org_id,
            },
            expires_in: parsed.expires_in.map(Duration::from_secs),
        })
    }

    /// Asks `/services/oauth2/userinfo` which org the token belongs to.
    async fn org_id_from_userinfo(&self, token: &SecretString) -> Result<OrgId, AuthError> {
        debug!(url = %self.userinfo_url, "asking userinfo for the org id");
        let response = self
            .http
            .get(self.userinfo_url.clone())
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(AuthError::Transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(AuthError::Transport)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        let info: UserInfo =
            serde_json::from_slice(&body).map_err(|_| AuthError::InvalidResponse {
                problem: "userinfo response is not the expected json".to_owned(),
            })?;
        let org_id = info
            .organization_id
            .ok_or_else(|| AuthError::InvalidResponse {
                problem: "userinfo response has no organization_id".to_owned(),
            })?;
        Ok(OrgId::parse(&org_id)?)
    }
}

/// The org id from an identity URL `…/id/<orgId>/<userId>`, if it has that shape.
fn org_id_from_identity_url(identity_url: &str) -> Option<OrgId> {
    let url = Url::parse(identity_url).ok()?;
    let mut segments = url.path_segments()?;
    segments.find(|segment| *segment == "id")?;
    let org = segments.next()?;
    OrgId::parse(org).ok()
}

/// The error for a non-2xx answer: 5xx is retryable, anything else is a refusal with its reason.
fn refusal(status: StatusCode, body: &[u8]) -> AuthError {
    if status.is_server_error() {
        return AuthError::Unavailable {
            status: status.as_u16(),
        };
    }
    let parsed: Option<OAuthErrorBody> = serde_json::from_slice(body).ok();
    let (error, description) = match parsed {
        Some(body) => (
            body.error.unwrap_or_else(|| "unknown_error".to_owned()),
            body.error_description
                .unwrap_or_else(|| "no error_description given".to_owned()),
        ),
        None => (
            "unknown_error".to_owned(),
            "the error body is not oauth json".to_owned(),
        ),
    };
    AuthError::Rejected {
        status: status.as_u16(),
        error,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_id_is_read_from_the_identity_url() {
        let org = org_id_from_identity_url(
            "https://login.salesforce.com/id/00D5g000004abcdEAA/0055g00000ABCDEAA2",
        )
        .unwrap();
        assert_eq!(org.as_str(), "00D5g000004abcdEAA");
        assert!(org_id_from_identity_url("https://login.salesforce.com/other").is_none());
    }

    #[test]
    fn refusals_keep_the_oauth_reason() {
        let err = refusal(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"audience is invalid"}"#,
        );
        assert!(err.to_string().contains("audience is invalid"));
        assert!(!err.is_retryable());
        assert!(refusal(StatusCode::SERVICE_UNAVAILABLE, b"").is_retryable());
    }
}
