//! The token cache every Salesforce caller shares: proactive refresh and single-flight refresh
//! after a rejection.
//!
//! - A fetched token is reused until `lifetime - margin` after it arrived (Salesforce does not
//!   say when it expires, see [`crate::auth::DEFAULT_TOKEN_LIFETIME`]); then the next caller
//!   fetches a new one. If that fails while the old token is still within its assumed lifetime,
//!   the old one is handed out and the failure is logged.
//! - When Salesforce rejects a token (HTTP 401, gRPC UNAUTHENTICATED), callers report it with
//!   [`TokenProvider::refresh_after_rejection`]. Refreshes are serialised by one lock, and a caller
//!   whose rejected token was already replaced gets the replacement without another request.
//!   When the request they waited for failed, the waiters share that failure
//!   ([`AuthError::SharedFailure`]) instead of each repeating it.
//!
//! It knows nothing about Pub/Sub, the Interaction Service or BYOC payloads.

use crate::salesforce_clock::SalesforceClock;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;
use tracing::{info, warn};

use crate::auth::client_credentials::ClientCredentials;
use crate::auth::config::RefreshPolicy;
use crate::auth::jwt_bearer::JwtBearer;
use crate::auth::token_endpoint::FetchedGrant;
use crate::auth::{static_token, AccessGrant, AuthConfig, AuthError, DEFAULT_TOKEN_LIFETIME};

/// Where tokens come from.
#[derive(Debug)]
enum GrantSource {
    JwtBearer(JwtBearer),
    ClientCredentials(ClientCredentials),
    Static(AccessGrant),
}

impl GrantSource {
    fn kind(&self) -> &'static str {
        match self {
            Self::JwtBearer(_) => "jwt-bearer",
            Self::ClientCredentials(_) => "client-credentials",
            Self::Static(_) => "static",
        }
    }
}

/// A fetched token and the instants that govern its reuse.
#[derive(Debug, Clone)]
struct CachedGrant {
    grant: AccessGrant,
    /// From here on, callers fetch a replacement.
    refresh_at: Instant,
    /// Until here, the token may still be handed out if fetching a replacement fails.
    expires_at: Instant,
}

/// What the last token request ended with, kept under the refresh lock.
#[derive(Debug, Default)]
struct LastFetch {
    /// Why it failed, if it did, and whether that was retryable.
    failure: Option<(String, bool)>,
}

struct ProviderInner {
    source: GrantSource,
    policy: RefreshPolicy,
    /// The current token; a std mutex because it is only held for a clone, never across await.
    cached: Mutex<Option<CachedGrant>>,
    /// Held for the whole of a fetch, so only one token request is in flight at a time.
    refresh_lock: tokio::sync::Mutex<LastFetch>,
    /// Token requests finished so far; a waiter that sees it change shares that request's outcome.
    fetches_finished: AtomicU64,
    /// Salesforce's clock as its answers' `Date` headers show it.
    clock: SalesforceClock,
}

/// Hands out access tokens; cheap to clone, and clones share one cache.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<ProviderInner>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("kind", &self.inner.source.kind())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// Builds a provider; reads and parses the private key file of `jwt-bearer` (call at start-up).
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        Self::with_ca_certificate(config, None)
    }

    /// [`TokenProvider::new`], its token endpoint also trusting `ca_certificate_pem` (the
    /// content of `pubsub.ca_certificate_file`) on top of the system's roots.
    pub(crate) fn with_ca_certificate(
        config: &AuthConfig,
        ca_certificate_pem: Option<&str>,
    ) -> Result<Self, AuthError> {
        let clock = SalesforceClock::default();
        let (source, policy) = match config {
            AuthConfig::JwtBearer(jwt) => (
                GrantSource::JwtBearer(JwtBearer::new(jwt, ca_certificate_pem, clock.clone())?),
                RefreshPolicy::from_secs(jwt.token_lifetime_secs, jwt.refresh_margin_secs),
            ),
            AuthConfig::ClientCredentials(cc) => (
                GrantSource::ClientCredentials(ClientCredentials::new(
                    cc,
                    ca_certificate_pem,
                    clock.clone(),
                )?),
                RefreshPolicy::from_secs(cc.token_lifetime_secs, cc.refresh_margin_secs),
            ),
            AuthConfig::Static(static_config) => (
                GrantSource::Static(static_token::grant_from_config(static_config)?),
                // Never consulted: a static grant is never refreshed.
                RefreshPolicy::from_secs(DEFAULT_TOKEN_LIFETIME.as_secs(), 0),
            ),
        };
        Ok(Self {
            inner: Arc::new(ProviderInner {
                source,
                policy,
                cached: Mutex::new(None),
                refresh_lock: tokio::sync::Mutex::new(LastFetch::default()),
                fetches_finished: AtomicU64::new(0),
                clock,
            }),
        })
    }

    /// Salesforce's clock, learnt from the `Date` of token responses and of every call made
    /// with this provider's tokens.
    pub fn salesforce_clock(&self) -> &SalesforceClock {
        &self.inner.clock
    }

    /// The configured kind: `jwt-bearer`, `client-credentials` or `static`.
    pub fn kind(&self) -> &'static str {
        self.inner.source.kind()
    }

    /// A token to use now: the cached one, or a new one when it is due for refresh.
    pub async fn grant(&self) -> Result<AccessGrant, AuthError> {
        if let GrantSource::Static(grant) = &self.inner.source {
            return Ok(grant.clone());
        }
        if let Some(fresh) = self.cached_if_fresh() {
            return Ok(fresh);
        }
        let seen = self.inner.fetches_finished.load(Ordering::SeqCst);
        let mut last_fetch = self.inner.refresh_lock.lock().await;
        // Another caller may have refreshed while we waited for the lock.
        if let Some(fresh) = self.cached_if_fresh() {
            return Ok(fresh);
        }
        match self.fetch_once(seen, &mut last_fetch).await {
            Ok(grant) => Ok(grant),
            Err(err) => match self.cached_if_unexpired() {
                Some(still_usable) => {
                    warn!(kind = self.kind(), error = %err, "proactive token refresh failed, keeping the current token");
                    Ok(still_usable)
                }
                None => Err(err),
            },
        }
    }

    /// A replacement for `rejected`, which Salesforce refused (401 or UNAUTHENTICATED).
    ///
    /// Single-flight: concurrent callers reporting the same token wait for one refresh, and a
    /// caller whose token was already replaced gets the current token without a new request.
    pub async fn refresh_after_rejection(
        &self,
        rejected: &AccessGrant,
    ) -> Result<AccessGrant, AuthError> {
        if let GrantSource::Static(_) = &self.inner.source {
            return Err(AuthError::StaticTokenRejected);
        }
        let seen = self.inner.fetches_finished.load(Ordering::SeqCst);
        let mut last_fetch = self.inner.refresh_lock.lock().await;
        if let Some(current) = self.lock_cache().as_ref() {
            if !current.grant.same_token(rejected) {
                return Ok(current.grant.clone());
            }
        }
        info!(
            kind = self.kind(),
            "access token rejected, fetching a new one"
        );
        // The rejected token must not be handed out again, even if the refresh fails.
        self.lock_cache().take();
        self.fetch_once(seen, &mut last_fetch).await
    }

    /// Fetches a token, unless a fetch finished while this caller waited for the lock (its
    /// counter moved past `seen`) and failed: then that failure is shared instead of repeating
    /// the request once per waiter. Callers hold `refresh_lock`, whose value is `last_fetch`.
    async fn fetch_once(
        &self,
        seen: u64,
        last_fetch: &mut LastFetch,
    ) -> Result<AccessGrant, AuthError> {
        let finished_meanwhile = self.inner.fetches_finished.load(Ordering::SeqCst) != seen;
        if let (true, Some((reason, retryable))) = (finished_meanwhile, &last_fetch.failure) {
            return Err(AuthError::SharedFailure {
                reason: reason.clone(),
                retryable: *retryable,
            });
        }
        let outcome = self.fetch_and_store().await;
        last_fetch.failure = outcome
            .as_ref()
            .err()
            .map(|err| (err.to_string(), err.is_retryable()));
        self.inner.fetches_finished.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    /// Fetches a token from the source and caches it. Callers hold `refresh_lock`.
    async fn fetch_and_store(&self) -> Result<AccessGrant, AuthError> {
        let fetched = match &self.inner.source {
            GrantSource::JwtBearer(jwt) => jwt.fetch().await,
            GrantSource::ClientCredentials(cc) => cc.fetch().await,
            GrantSource::Static(grant) => {
                return Ok(grant.clone());
            }
        };
        let FetchedGrant { grant, expires_in } = match fetched {
            Ok(fetched) => fetched,
            Err(err) => {
                warn!(kind = self.kind(), error = %err, "access token request failed");
                return Err(err);
            }
        };
        let received_at = Instant::now();
        let policy = self.effective_policy(expires_in);
        let cached = CachedGrant {
            grant: grant.clone(),
            refresh_at: received_at + policy.refresh_after(),
            expires_at: received_at + policy.lifetime,
        };
        *self.lock_cache() = Some(cached);
        info!(
            kind = self.kind(),
            instance_url = %grant.instance_url,
            org_id = %grant.org_id,
            assumed_lifetime_secs = policy.lifetime.as_secs(),
            "obtained access token"
        );
        Ok(grant)
    }

    /// The configured policy, shortened when the server announced a shorter `expires_in`.
    fn effective_policy(&self, expires_in: Option<std::time::Duration>) -> RefreshPolicy {
        let configured = self.inner.policy;
        match expires_in {
            Some(announced) if announced < configured.lifetime => {
                RefreshPolicy::from_secs(announced.as_secs(), configured.margin.as_secs())
            }
            _ => configured,
        }
    }

    fn cached_if_fresh(&self) -> Option<AccessGrant> {
        let now = Instant::now();
        self.lock_cache()
            .as_ref()
            .filter(|cached| now < cached.refresh_at)
            .map(|cached| cached.grant.clone())
    }

    fn cached_if_unexpired(&self) -> Option<AccessGrant> {
        let now = Instant::now();
        self.lock_cache()
            .as_ref()
            .filter(|cached| now < cached.expires_at)
            .map(|cached| cached.grant.clone())
    }

    fn lock_cache(&self) -> MutexGuard<'_, Option<CachedGrant>> {
        // Every critical section is a single read or assignment, so a poisoned lock still
        // holds a consistent value.
        self.inner
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
