//! What a caller needs to call Salesforce: the token and where it is valid.
//!
//! It knows nothing about how the token was obtained.

use crate::auth::OrgId;
use crate::secret::SecretString;

/// An access token together with the instance and org it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The bearer token; `Debug` shows it as `[redacted]`.
    pub access_token: SecretString,
    /// Instance URL, e.g. `https://mydomain.my.salesforce.com` (Pub/Sub `instanceurl`).
    pub instance_url: String,
    /// The org the token belongs to, as Salesforce reported it.
    pub org_id: OrgId,
}

impl AccessGrant {
    /// Whether `other` carries the same token (the cheap identity check behind single-flight refresh).
    pub fn same_token(&self, other: &AccessGrant) -> bool {
        self.access_token.expose() == other.access_token.expose()
    }
}
