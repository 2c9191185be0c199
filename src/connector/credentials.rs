//! The Pub/Sub subscriber's credentials, taken from the auth token provider.
//!
//! The subscriber asks on every call and reports rejected tokens; the provider caches,
//! refreshes proactively and refreshes single-flight after a rejection. This adapter only
//! translates between the two modules' types.

use crate::auth::{AccessGrant, OrgId, TokenProvider};
use crate::pubsub::{CredentialError, CredentialSource, PubSubCredentials};

/// A [`CredentialSource`] over a [`TokenProvider`].
#[derive(Debug, Clone)]
pub(crate) struct ProviderCredentials(pub TokenProvider);

fn to_pubsub(grant: AccessGrant) -> PubSubCredentials {
    PubSubCredentials {
        access_token: grant.access_token,
        instance_url: grant.instance_url,
        tenant_id: grant.org_id.as_str().to_owned(),
    }
}

impl CredentialSource for ProviderCredentials {
    async fn credentials(&self) -> Result<PubSubCredentials, CredentialError> {
        let grant = self
            .0
            .grant()
            .await
            .map_err(|err| CredentialError(Box::new(err)))?;
        Ok(to_pubsub(grant))
    }

    async fn refresh(
        &self,
        rejected: &PubSubCredentials,
    ) -> Result<PubSubCredentials, CredentialError> {
        let org_id =
            OrgId::parse(&rejected.tenant_id).map_err(|err| CredentialError(Box::new(err)))?;
        let rejected = AccessGrant {
            access_token: rejected.access_token.clone(),
            instance_url: rejected.instance_url.clone(),
            org_id,
        };
        let grant = self
            .0
            .refresh_after_rejection(&rejected)
            .await
            .map_err(|err| CredentialError(Box::new(err)))?;
        Ok(to_pubsub(grant))
    }
}
