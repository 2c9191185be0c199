//! The `[auth]` configuration: which credential kind to use and its keys.
//!
//! Every key is documented in `docs/auth.md`. Secrets are [`SecretString`]s, so printing a
//! config never shows them. It knows nothing about how tokens are fetched.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::OrgId;
use crate::secret::SecretString;

/// Lifetime assumed for a fetched token when the operator does not set one.
///
/// Salesforce token responses carry no `expires_in`: the token lives as long as the session
/// timeout of the connected app or profile (2 hours by default, 15 minutes at the shortest).
/// We assume the shortest, and a rejected token is refreshed on demand anyway.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// How long before the assumed expiry a token is replaced by default.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How the connector gets its Salesforce access token (`kind` selects the variant).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuthConfig {
    /// OAuth 2.0 JWT bearer flow with an RSA key: the default for daemons.
    JwtBearer(JwtBearerConfig),
    /// OAuth 2.0 client credentials flow with a consumer key and secret.
    ClientCredentials(ClientCredentialsConfig),
    /// A token given directly, for tests and the demo; it is never refreshed.
    Static(StaticConfig),
}

/// Keys of `kind = "jwt-bearer"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtBearerConfig {
    /// Consumer key of the External Client App or connected app (the JWT `iss`).
    pub client_id: String,
    /// Salesforce username the token is issued for (the JWT `sub`).
    pub username: String,
    /// `https://login.salesforce.com`, `https://test.salesforce.com` or the My Domain URL (the JWT `aud`).
    pub login_url: String,
    /// PEM file with the RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub private_key_file: PathBuf,
    /// Assumed token lifetime in seconds (Salesforce does not say).
    #[serde(default = "default_token_lifetime_secs")]
    pub token_lifetime_secs: u64,
    /// Seconds before the assumed expiry at which the token is replaced.
    #[serde(default = "default_refresh_margin_secs")]
    pub refresh_margin_secs: u64,
    /// Allow plain http to a loopback `login_url` (the harness only).
    #[serde(default)]
    pub insecure: bool,
}

/// Keys of `kind = "client-credentials"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    /// Consumer key of the External Client App or connected app.
    pub client_id: String,
    /// Consumer secret of the app.
    pub client_secret: SecretString,
    /// The org's My Domain URL (the client credentials flow does not work on login.salesforce.com).
    pub login_url: String,
    /// Assumed token lifetime in seconds (Salesforce does not say).
    #[serde(default = "default_token_lifetime_secs")]
    pub token_lifetime_secs: u64,
    /// Seconds before the assumed expiry at which the token is replaced.
    #[serde(default = "default_refresh_margin_secs")]
    pub refresh_margin_secs: u64,
    /// Allow plain http to a loopback `login_url` (the harness only).
    #[serde(default)]
    pub insecure: bool,
}

/// Keys of `kind = "static"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// The access token, used as is.
    pub token: SecretString,
    /// Instance URL the token belongs to, e.g. `https://mydomain.my.salesforce.com`.
    pub instance_url: String,
    /// Org id, 15 or 18 characters.
    pub org_id: OrgId,
}

/// When a fetched token is replaced: after `lifetime - margin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshPolicy {
    /// How long a token is assumed to be accepted after we receive it.
    pub(crate) lifetime: Duration,
    /// How long before that assumed expiry the token is replaced.
    pub(crate) margin: Duration,
}

impl RefreshPolicy {
    /// The policy from config seconds; a margin at least as long as the lifetime is clamped to half of it.
    pub(crate) fn from_secs(lifetime_secs: u64, margin_secs: u64) -> Self {
        let lifetime = Duration::from_secs(lifetime_secs.max(1));
        let margin = Duration::from_secs(margin_secs);
        let margin = if margin >= lifetime {
            lifetime / 2
        } else {
            margin
        };
        Self { lifetime, margin }
    }

    /// Delay after receipt at which the token should be replaced.
    pub(crate) fn refresh_after(&self) -> Duration {
        self.lifetime.saturating_sub(self.margin)
    }
}

fn default_token_lifetime_secs() -> u64 {
    DEFAULT_TOKEN_LIFETIME.as_secs()
}

fn default_refresh_margin_secs() -> u64 {
    DEFAULT_REFRESH_MARGIN.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_selected_by_the_kind_key() {
        let config: AuthConfig = serde_json::from_value(serde_json::json!({
            "kind": "client-credentials",
            "client_id": "3MVG9",
            "client_secret": "s3cret",
            "login_url": "https://example.my.salesforce.com"
        }))
        .unwrap();
        let AuthConfig::ClientCredentials(cc) = config else {
            panic!("wrong kind");
        };
        assert_eq!(cc.token_lifetime_secs, DEFAULT_TOKEN_LIFETIME.as_secs());
        assert!(!format!("{cc:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let result: Result<AuthConfig, _> = serde_json::from_value(serde_json::json!({
            "kind": "static", "token": "t", "instance_url": "https://x", "org_id": "00D000000000001",
            "tokn": "typo"
        }));
        assert!(result.is_err());
    }

    #[test]
    fn margin_longer_than_lifetime_is_clamped() {
        let policy = RefreshPolicy::from_secs(10, 60);
        assert_eq!(policy.refresh_after(), Duration::from_secs(5));
    }
}
