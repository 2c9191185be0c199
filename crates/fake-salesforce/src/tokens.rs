//! The access tokens the fake Salesforce accepts.
//!
//! One registry is shared by every fake endpoint (Pub/Sub, OAuth, Interaction Service), so
//! a token the fake OAuth server issued works everywhere and an expiry injected by a test
//! hits every endpoint at once. It knows nothing about gRPC or HTTP. Time is tokio's, so
//! tests with paused time can expire tokens without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use tokio::time::Instant;

/// How a presented token compares with what the fake has issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Issued by this fake and not expired.
    Valid,
    /// Issued by this fake, but its lifetime is over or a test expired it.
    Expired,
    /// Never issued by this fake.
    Unknown,
}

/// Tokens issued by the fake, plus one long-lived static token.
#[derive(Debug)]
pub struct TokenRegistry {
    /// The 18-character org id tokens are minted for (`<orgId>!<random>`).
    org_id: String,
    /// Accepted until the process ends, for static-auth clients and tests in any language.
    static_token: String,
    /// Issued token → the instant it stops being accepted.
    issued: Mutex<HashMap<String, Instant>>,
}

impl TokenRegistry {
    /// A registry for `org_id`; generates the static token when none is given.
    pub fn new(org_id: impl Into<String>, static_token: Option<String>) -> Self {
        let org_id = org_id.into();
        let static_token = static_token.unwrap_or_else(|| mint_token(&org_id));
        Self {
            org_id,
            static_token,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// The org id tokens belong to.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The long-lived token that is always accepted.
    pub fn static_token(&self) -> &str {
        &self.static_token
    }

    /// Issues a new token accepted for `lifetime` from now.
    pub fn issue(&self, lifetime: Duration) -> String {
        let token = mint_token(&self.org_id);
        let expires_at = Instant::now() + lifetime;
        self.lock().insert(token.clone(), expires_at);
        token
    }

    /// Whether `token` is currently accepted.
    pub fn status(&self, token: &str) -> TokenStatus {
        if token == self.static_token {
            return TokenStatus::Valid;
        }
        match self.lock().get(token) {
            Some(expires_at) if Instant::now() < *expires_at => TokenStatus::Valid,
            Some(_) => TokenStatus::Expired,
            None => TokenStatus::Unknown,
        }
    }

    /// Expires every issued token now (the static token is unaffected).
    pub fn expire_all_issued(&self) {
        let now = Instant::now();
        for expires_at in self.lock().values_mut() {
            *expires_at = now;
        }
    }

    /// Expires one token now. Expiring the static token is refused: it would break every
    /// static-auth client for the rest of the run.
    pub fn expire(&self, token: &str) -> bool {
        match self.lock().get_mut(token) {
            Some(expires_at) => {
                *expires_at = Instant::now();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // critical section is a single insert or scan), so a poisoned lock is still usable.
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `<orgId>!<random>`, the shape of a real Salesforce access token.
fn mint_token(org_id: &str) -> String {
    let random = Alphanumeric.sample_string(&mut rand::rng(), 40);
    format!("{org_id}!{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn issued_token_expires_after_its_lifetime() {
        let registry = TokenRegistry::new("00D000000000001AAA", None);
        let token = registry.issue(Duration::from_secs(10));
        assert!(token.starts_with("00D000000000001AAA!"));
        assert_eq!(registry.status(&token), TokenStatus::Valid);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(registry.status(&token), TokenStatus::Expired);
        assert_eq!(registry.status("nope"), TokenStatus::Unknown);
        assert_eq!(registry.status(registry.static_token()), TokenStatus::Valid);
    }
}
