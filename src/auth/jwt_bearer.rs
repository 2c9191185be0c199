//! The OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the app's private key.
//!
//! Claims: `iss` = consumer key, `sub` = username, `aud` = login URL, `exp` = now + 3 minutes.
//! The key is read and parsed once, at construction, so a bad key fails at start. It knows
//! nothing about token caching, which is the provider's job.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::auth::token_endpoint::{FetchedGrant, TokenEndpoint};
use crate::auth::{AuthError, JwtBearerConfig};
use crate::salesforce_clock::SalesforceClock;

/// How far in the future the assertion's `exp` is set; Salesforce accepts at most 3 minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3 * 60);
/// The `grant_type` of the JWT bearer flow.
const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Claims of the assertion, in Salesforce's required set.
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// Reads and parses the RSA private key at `path`; configuration checks call it too, so an
/// unreadable or malformed key is refused before the connector starts anything.
pub(crate) fn load_private_key(path: &std::path::Path) -> Result<EncodingKey, AuthError> {
    let pem = std::fs::read(path).map_err(|err| AuthError::Config {
        key: "auth.private_key_file",
        problem: format!("cannot read {}: {err}", path.display()),
    })?;
    // The parser's error text is not forwarded: it is not needed to fix the problem and we
    // do not want any part of the file to reach a log.
    let not_a_key = || {
        AuthError::Config {
        key: "auth.private_key_file",
        problem: format!(
            "{} is not a pem-encoded rsa private key (pkcs#8 PRIVATE KEY or pkcs#1 RSA PRIVATE KEY; a certificate or a public key will not sign)",
            path.display()
        ),
    }
    };
    let key = EncodingKey::from_rsa_pem(&pem).map_err(|_| not_a_key())?;
    // The parser takes an RSA public key or a certificate as well, and only signing finds
    // out, at the first token request: sign once now so the refusal names the key.
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &KEY_CHECK_CLAIMS, &key)
        .map_err(|_| not_a_key())?;
    Ok(key)
}

/// What the load-time signature signs: nothing of the org's.
const KEY_CHECK_CLAIMS: AssertionClaims<'static> = AssertionClaims {
    iss: "key-check",
    sub: "key-check",
    aud: "key-check",
    exp: 0,
};

/// Signs assertions and exchanges them for access tokens.
pub(crate) struct JwtBearer {
    client_id: String,
    username: String,
    /// The login URL without a trailing slash, as the `aud` claim.
    audience: String,
    /// Parsed once; never printed.
    key: EncodingKey,
    endpoint: TokenEndpoint,
}

impl fmt::Debug for JwtBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearer")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("audience", &self.audience)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl JwtBearer {
    /// Reads and parses the private key file, and checks the login URL.
    ///
    /// Reads a small file synchronously: call at start-up.
    pub(super) fn new(
        config: &JwtBearerConfig,
        ca_certificate_pem: Option<&str>,
        clock: SalesforceClock,
    ) -> Result<Self, AuthError> {
        let endpoint = TokenEndpoint::new(
            &config.login_url,
            config.insecure,
            ca_certificate_pem,
            clock,
        )?;
        let key = load_private_key(&config.private_key_file)?;
        Ok(Self {
            client_id: config.client_id.clone(),
            username: config.username.clone(),
            audience: config.login_url.trim_end_matches('/').to_owned(),
            key,
            endpoint,
        })
    }

    /// Signs a fresh assertion and exchanges it for a token.
    pub(crate) async fn fetch(&self) -> Result<FetchedGrant, AuthError> {
        let assertion = self.sign_assertion()?;
        self.endpoint
            .exchange(&[
                ("grant_type", JWT_BEARER_GRANT_TYPE),
                ("assertion", &assertion),
            ])
            .await
    }

    /// The compact RS256 JWT for one token request.
    fn sign_assertion(&self) -> Result<String, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AuthError::Signing {
                problem: "system clock is before 1970".to_owned(),
            })?;
        let claims = AssertionClaims {
            iss: &self.client_id,
            sub: &self.username,
            aud: &self.audience,
            exp: (now + ASSERTION_LIFETIME).as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|err| {
            AuthError::Signing {
                problem: err.to_string(),
            }
        })
    }
}
