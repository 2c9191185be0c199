//! Checks of the `[auth]` section that need neither the network nor the machine: each URL's
//! TLS rule, and credentials given but empty.
//!
//! The section's types live in `crate::auth`; this file only turns the auth module's URL
//! rule into [`Problems`] that name the key. Whether the private key file can be read is a
//! start-up check (`connector::preflight`): `config example` must load on any machine.

use super::error::Problems;
use super::keys::example_hint;
use crate::auth::url_policy::require_tls_or_loopback;
use crate::auth::{AuthConfig, UrlPolicyError};
use crate::secret::SecretString;

/// Records every problem of a decoded `[auth]` section.
pub(super) fn validate(auth: &AuthConfig, problems: &mut Problems) {
    match auth {
        AuthConfig::JwtBearer(jwt) => {
            check_url(problems, "auth.login_url", &jwt.login_url, jwt.insecure);
        }
        AuthConfig::ClientCredentials(cc) => {
            check_url(problems, "auth.login_url", &cc.login_url, cc.insecure);
            check_present(
                problems,
                "auth.client_secret",
                &cc.client_secret,
                "the connected app's consumer secret",
            );
        }
        AuthConfig::Static(static_config) => {
            check_present(
                problems,
                "auth.token",
                &static_config.token,
                "an access token for the org",
            );
            // A static token is for tests and the harness, which serve plain http on loopback.
            check_url(
                problems,
                "auth.instance_url",
                &static_config.instance_url,
                true,
            );
        }
    }
}

/// Records a problem when a credential is empty or blank: Salesforce would refuse it at the
/// first call, far from the key that caused it. Never echoes the value.
fn check_present(problems: &mut Problems, key: &'static str, secret: &SecretString, what: &str) {
    if secret.expose().trim().is_empty() {
        problems.push(key, "is empty", format!("set it to {what}"));
    }
}

/// Records a problem when `url` breaks the TLS rule or does not parse.
fn check_url(problems: &mut Problems, key: &'static str, url: &str, insecure: bool) {
    let Err(error) = require_tls_or_loopback(key, url, insecure) else {
        return;
    };
    let problem = match error {
        UrlPolicyError::Invalid { problem, .. } => format!("is not a valid url: {problem}"),
        UrlPolicyError::PlaintextNotAllowed { .. } => {
            "uses plaintext http; only a loopback host with insecure = true may".to_owned()
        }
        UrlPolicyError::UnsupportedScheme { scheme, .. } => {
            format!("must use https, got scheme `{scheme}`")
        }
    };
    problems.push(key, problem, example_hint(key));
}
