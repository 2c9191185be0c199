//! A token given directly in the config, for tests, the demo and the harness's static token.
//!
//! It is never refreshed: when Salesforce rejects it, the caller gets
//! [`AuthError::StaticTokenRejected`]. It knows nothing about the token endpoint.

use crate::auth::{AccessGrant, AuthError, StaticConfig};

/// Builds the one grant a static config describes.
pub(crate) fn grant_from_config(config: &StaticConfig) -> Result<AccessGrant, AuthError> {
    if config.token.is_empty() {
        return Err(AuthError::Config {
            key: "auth.token",
            problem: "must not be empty".to_owned(),
        });
    }
    if config.instance_url.trim().is_empty() {
        return Err(AuthError::Config {
            key: "auth.instance_url",
            problem: "must not be empty".to_owned(),
        });
    }
    Ok(AccessGrant {
        access_token: config.token.clone(),
        instance_url: config.instance_url.trim_end_matches('/').to_owned(),
        org_id: config.org_id.clone(),
    })
}
