//! Where the Pub/Sub client gets the three auth headers for every RPC.
//!
//! The subscriber asks its [`CredentialSource`] on every call, so a token refreshed by
//! anyone is used at once, and reports a rejected token with
//! [`CredentialSource::refresh`]. This module knows nothing about OAuth: the `auth` module
//! (or a test) supplies the implementation.

use std::future::Future;
use std::sync::Arc;

use crate::secret::SecretString;

/// The values sent as `accesstoken`, `instanceurl` and `tenantid` metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubSubCredentials {
    /// OAuth access token (or session id).
    pub access_token: SecretString,
    /// Instance base URL, e.g. `https://example.my.salesforce.com`.
    pub instance_url: String,
    /// Org id, 15 or 18 characters.
    pub tenant_id: String,
}

/// Why credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("cannot obtain pub/sub credentials: {0}")]
pub struct CredentialError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Supplies credentials for each RPC and replaces rejected ones.
pub trait CredentialSource: Send + Sync + 'static {
    /// The credentials to use for the next call.
    fn credentials(
        &self,
    ) -> impl Future<Output = Result<PubSubCredentials, CredentialError>> + Send;

    /// The server rejected `rejected` (UNAUTHENTICATED): obtain fresh credentials.
    fn refresh(
        &self,
        rejected: &PubSubCredentials,
    ) -> impl Future<Output = Result<PubSubCredentials, CredentialError>> + Send;
}

impl<S: CredentialSource> CredentialSource for Arc<S> {
    fn credentials(
        &self,
    ) -> impl Future<Output = Result<PubSubCredentials, CredentialError>> + Send {
        (**self).credentials()
    }

    fn refresh(
        &self,
        rejected: &PubSubCredentials,
    ) -> impl Future<Output = Result<PubSubCredentials, CredentialError>> + Send {
        (**self).refresh(rejected)
    }
}

/// Fixed credentials; a refresh hands back the same values.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub PubSubCredentials);

impl CredentialSource for StaticCredentials {
    async fn credentials(&self) -> Result<PubSubCredentials, CredentialError> {
        Ok(self.0.clone())
    }

    async fn refresh(
        &self,
        _rejected: &PubSubCredentials,
    ) -> Result<PubSubCredentials, CredentialError> {
        Ok(self.0.clone())
    }
}
