//! Salesforce access tokens: where they come from, how long they are reused, how they are refreshed.
//!
//! [`TokenProvider`] is built from an [`AuthConfig`] of one of three kinds (`jwt-bearer`,
//! `client-credentials`, `static`) and hands out [`AccessGrant`]s: token, instance URL and
//! [`OrgId`]. Pub/Sub and the Interaction Service client both use it; this module knows nothing
//! about either of them, nor about BYOC payloads. Secrets stay in [`crate::secret::SecretString`].

mod client_credentials;
mod config;
mod error;
mod grant;
mod jwt_bearer;
mod org_id;
mod provider;
mod static_token;
mod token_endpoint;
pub(crate) mod url_policy;

pub use config::{
    AuthConfig, ClientCredentialsConfig, JwtBearerConfig, StaticConfig, DEFAULT_REFRESH_MARGIN,
    DEFAULT_TOKEN_LIFETIME,
};
pub use error::AuthError;
pub use grant::AccessGrant;
pub(crate) use jwt_bearer::load_private_key;
pub use org_id::{OrgId, OrgIdError};
pub use provider::TokenProvider;
pub use url_policy::UrlPolicyError;
