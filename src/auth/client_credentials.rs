//! The OAuth 2.0 client credentials flow: consumer key and secret, run as the app's execution user.
//!
//! Salesforce accepts this flow only on the org's My Domain URL, with "Enable Client Credentials
//! Flow" and a run-as user set on the app. It knows nothing about token caching.

use std::fmt;

use crate::auth::token_endpoint::{FetchedGrant, TokenEndpoint};
use crate::auth::{AuthError, ClientCredentialsConfig};
use crate::salesforce_clock::SalesforceClock;
use crate::secret::SecretString;

/// Exchanges the consumer key and secret for access tokens.
pub(crate) struct ClientCredentials {
    client_id: String,
    client_secret: SecretString,
    endpoint: TokenEndpoint,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// Checks the login URL and keeps the credentials.
    pub(super) fn new(
        config: &ClientCredentialsConfig,
        ca_certificate_pem: Option<&str>,
        clock: SalesforceClock,
    ) -> Result<Self, AuthError> {
        if config.client_secret.is_empty() {
            return Err(AuthError::Config {
                key: "auth.client_secret",
                problem: "must not be empty".to_owned(),
            });
        }
        Ok(Self {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            endpoint: TokenEndpoint::new(
                &config.login_url,
                config.insecure,
                ca_certificate_pem,
                clock,
            )?,
        })
    }

    /// Requests a token with the client credentials grant.
    pub(crate) async fn fetch(&self) -> Result<FetchedGrant, AuthError> {
        self.endpoint
            .exchange(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose()),
            ])
            .await
    }
}
