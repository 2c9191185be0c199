//! Fake Salesforce OAuth: `/services/oauth2/token` (jwt-bearer, client_credentials) and
//! `/services/oauth2/userinfo`.
//!
//! It is an independent implementation that checks the connector's client: it verifies the
//! RS256 assertion against the public key registered for the client id, then `aud`, `sub` and
//! `exp`, answering Salesforce-style `{"error", "error_description"}` bodies with one distinct
//! description per failed check. Tokens come from the shared [`TokenRegistry`] as
//! `<orgId>!<random>`, with a configurable lifetime. It must not import `auth` or `interaction`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::debug;

use crate::tokens::{TokenRegistry, TokenStatus};

/// `grant_type` of the JWT bearer flow.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Token lifetime when none is configured (Salesforce's default session timeout).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
/// Furthest in the future an assertion's `exp` may be (Salesforce: within 3 minutes).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3 * 60);
/// Clock skew tolerated on `exp` in both directions.
const CLOCK_SKEW_LEEWAY: Duration = Duration::from_secs(30);
/// The scopes reported in token responses.
const GRANTED_SCOPES: &str = "interaction_api api refresh_token offline_access";

/// Who the fake OAuth server says it is and who may log in.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The fake's base URL: returned as `instance_url`, used in identity URLs, accepted as `aud`.
    pub base_url: String,
    /// The only username a JWT `sub` may name; also the client credentials run-as user.
    pub username: String,
    /// The user id reported for that user.
    pub user_id: String,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
}

impl OAuthSettings {
    /// Settings for a fake served at `base_url`, with a default user and token lifetime.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            username: "integration@byoc.example".to_owned(),
            user_id: "005000000000001AAA".to_owned(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }
}

/// The base URL of the listener a request arrived on (`http://…` or `https://…`), which the
/// fake sets as a request extension: a token response names the instance on the scheme the
/// client logged in with. Without it, [`OAuthSettings::base_url`] is used.
#[derive(Debug, Clone)]
pub struct ServedAt(pub String);

impl ServedAt {
    /// The base URL of `served`, else `fallback`.
    fn or<'a>(served: Option<&'a Extension<Self>>, fallback: &'a str) -> &'a str {
        served.map_or(fallback, |Extension(Self(base))| base.as_str())
    }
}

/// Why a public key was not accepted for a client.
#[derive(Debug, thiserror::Error)]
pub enum OAuthFakeError {
    /// The PEM is not an RSA public key.
    #[error("public key for client {client_id} is not a pem rsa public key")]
    BadPublicKey {
        /// The client the key was meant for.
        client_id: String,
    },
}

/// Mutable configuration, changed by tests while the fake runs.
struct OAuthState {
    token_lifetime: Duration,
    /// JWT bearer clients: consumer key → the certificate's public key.
    jwt_clients: HashMap<String, DecodingKey>,
    /// Client credentials clients: consumer key → consumer secret.
    secret_clients: HashMap<String, String>,
    /// Accepted `aud` values, without trailing slashes.
    audiences: HashSet<String>,
    /// Whether token responses carry `id` (the identity URL holding the org id). Without it,
    /// clients must ask `/userinfo`.
    identity_url_in_response: bool,
}

/// The fake OAuth server's state; share it as `Arc<OAuthFake>` with [`router`].
pub struct OAuthFake {
    registry: Arc<TokenRegistry>,
    settings: OAuthSettings,
    state: Mutex<OAuthState>,
    /// Every POST to the token endpoint, refused or not.
    token_requests: AtomicU64,
    /// Token requests that issued a token.
    tokens_issued: AtomicU64,
}

impl OAuthFake {
    /// A fake issuing tokens from `registry`; it accepts `settings.base_url` as audience.
    pub fn new(registry: Arc<TokenRegistry>, settings: OAuthSettings) -> Self {
        let audiences = HashSet::from([settings.base_url.clone()]);
        Self {
            registry,
            state: Mutex::new(OAuthState {
                token_lifetime: settings.token_lifetime,
                jwt_clients: HashMap::new(),
                secret_clients: HashMap::new(),
                audiences,
                identity_url_in_response: true,
            }),
            settings,
            token_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
        }
    }

    /// Registers a JWT bearer client and the PEM public key its assertions must verify with.
    pub fn add_jwt_client(
        &self,
        client_id: impl Into<String>,
        public_key_pem: &str,
    ) -> Result<(), OAuthFakeError> {
        let client_id = client_id.into();
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes()).map_err(|_| {
            OAuthFakeError::BadPublicKey {
                client_id: client_id.clone(),
            }
        })?;
        self.lock().jwt_clients.insert(client_id, key);
        Ok(())
    }

    /// Registers a client credentials client.
    pub fn add_secret_client(
        &self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) {
        self.lock()
            .secret_clients
            .insert(client_id.into(), client_secret.into());
    }

    /// Whether `client_id` is a registered JWT bearer or client credentials client.
    pub fn knows_client(&self, client_id: &str) -> bool {
        let state = self.lock();
        state.jwt_clients.contains_key(client_id) || state.secret_clients.contains_key(client_id)
    }

    /// Accepts one more JWT audience, e.g. `https://login.salesforce.com`.
    pub fn add_audience(&self, audience: &str) {
        self.lock()
            .audiences
            .insert(audience.trim_end_matches('/').to_owned());
    }

    /// Changes the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Whether token responses include `id`; without it clients must call `/userinfo`.
    pub fn set_identity_url_in_response(&self, included: bool) {
        self.lock().identity_url_in_response = included;
    }

    /// How many token requests arrived, refused ones included.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::SeqCst)
    }

    /// The identity URL of the configured user.
    pub fn identity_url(&self) -> String {
        self.identity_url_at(&self.settings.base_url)
    }

    /// The identity URL of the configured user under `base`.
    fn identity_url_at(&self, base: &str) -> String {
        format!(
            "{base}/id/{}/{}",
            self.registry.org_id(),
            self.settings.user_id
        )
    }

    fn lock(&self) -> MutexGuard<'_, OAuthState> {
        // Each critical section is a single read or insert, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a JWT bearer assertion in Salesforce's order: client, signature, aud, sub, exp.
    fn check_assertion(&self, assertion: &str) -> Result<(), OAuthRefusal> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| OAuthRefusal::grant("invalid assertion: not a jwt"))?;
        if header.alg != Algorithm::RS256 {
            return Err(OAuthRefusal::grant("invalid assertion: alg must be RS256"));
        }
        let claims: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
            .map_err(|_| OAuthRefusal::grant("invalid assertion: claims are not a json object"))?;
        let client_id = claims.iss.as_deref().unwrap_or_default();
        let (key, audiences) = {
            let state = self.lock();
            let key = state.jwt_clients.get(client_id).cloned();
            (key, state.audiences.clone())
        };
        let key = key.ok_or(OAuthRefusal::new(
            "invalid_client_id",
            "client identifier invalid",
        ))?;
        let mut signature_only = Validation::new(Algorithm::RS256);
        signature_only.validate_exp = false;
        signature_only.validate_aud = false;
        signature_only.required_spec_claims = HashSet::new();
        jsonwebtoken::decode::<Value>(assertion, &key, &signature_only).map_err(|_| {
            OAuthRefusal::grant(
                "invalid assertion: signature does not verify with the certificate registered for this client",
            )
        })?;
        let audience_ok = match &claims.aud {
            Some(Value::String(aud)) => audiences.contains(aud.trim_end_matches('/')),
            _ => false,
        };
        if !audience_ok {
            return Err(OAuthRefusal::grant("audience is invalid"));
        }
        if claims.sub.as_deref() != Some(self.settings.username.as_str()) {
            return Err(OAuthRefusal::grant(
                "invalid subject: user is unknown or not pre-authorized for this app",
            ));
        }
        check_exp(claims.exp.as_ref())
    }

    /// A new token and the Salesforce-shaped success body naming the instance at `base`.
    fn issue(&self, grant_type: &str, base: &str) -> Response {
        let (lifetime, with_identity_url) = {
            let state = self.lock();
            (state.token_lifetime, state.identity_url_in_response)
        };
        let token = self.registry.issue(lifetime);
        self.tokens_issued.fetch_add(1, Ordering::SeqCst);
        debug!(grant_type, "fake oauth issued a token");
        let issued_at_ms = unix_now().as_millis().to_string();
        let mut body = json!({
            "access_token": token,
            "instance_url": base,
            "token_type": "Bearer",
            "issued_at": issued_at_ms,
            "signature": Alphanumeric.sample_string(&mut rand::rng(), 43),
            "scope": GRANTED_SCOPES,
        });
        if with_identity_url {
            body["id"] = Value::String(self.identity_url_at(base));
        }
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// The claims the fake looks at, each optional so a missing one gets its own description.
#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<Value>,
}

/// The client a token request body (`application/x-www-form-urlencoded`) names: its
/// `client_id`, else its JWT assertion's `iss` (read without verifying, only to pick the org
/// that then verifies it).
pub(crate) fn requested_client_id(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let field = |name: &str| {
        text.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decoded(value))
    };
    if let Some(client_id) = field("client_id") {
        return Some(client_id);
    }
    let assertion = field("assertion")?;
    jsonwebtoken::dangerous::insecure_decode_claims::<AssertionClaims>(&assertion)
        .ok()?
        .iss
}

/// A form value with `+` and `%XX` decoded; a malformed escape is kept as it is.
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| value.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                index += 3;
                continue;
            }
            (b'+', None) => decoded.push(b' '),
            (byte, None) => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `exp` must be a number, not past, and at most [`MAX_ASSERTION_LIFETIME`] away.
fn check_exp(exp: Option<&Value>) -> Result<(), OAuthRefusal> {
    let exp = exp.and_then(Value::as_u64).ok_or(OAuthRefusal::grant(
        "invalid assertion: exp is missing or not a number",
    ))?;
    let now = unix_now().as_secs();
    if exp + CLOCK_SKEW_LEEWAY.as_secs() < now {
        return Err(OAuthRefusal::grant("expired assertion: exp is in the past"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME.as_secs() + CLOCK_SKEW_LEEWAY.as_secs() {
        return Err(OAuthRefusal::grant(
            "invalid assertion: exp is more than 3 minutes away",
        ));
    }
    Ok(())
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A Salesforce-style OAuth error answer.
#[derive(Debug, Clone, Copy)]
struct OAuthRefusal {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl OAuthRefusal {
    fn new(error: &'static str, description: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
        }
    }

    fn grant(description: &'static str) -> Self {
        Self::new("invalid_grant", description)
    }
}

impl IntoResponse for OAuthRefusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        (self.status, Json(body)).into_response()
    }
}

/// The fake's OAuth routes: `POST /services/oauth2/token`, `GET /services/oauth2/userinfo`.
pub fn router(state: Arc<OAuthFake>) -> Router {
    Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/userinfo", get(userinfo))
        .with_state(state)
}

async fn token(
    State(fake): State<Arc<OAuthFake>>,
    served: Option<Extension<ServedAt>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    fake.token_requests.fetch_add(1, Ordering::SeqCst);
    let Ok(Form(form)) = form else {
        return OAuthRefusal::new(
            "invalid_request",
            "body must be application/x-www-form-urlencoded",
        )
        .into_response();
    };
    let grant_type = form
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or_default();
    let outcome = match grant_type {
        JWT_BEARER_GRANT_TYPE => match form.get("assertion") {
            Some(assertion) => fake.check_assertion(assertion),
            None => Err(OAuthRefusal::new("invalid_request", "assertion is missing")),
        },
        "client_credentials" => check_client_secret(&fake, &form),
        _ => Err(OAuthRefusal::new(
            "unsupported_grant_type",
            "grant type not supported",
        )),
    };
    match outcome {
        Ok(()) => fake.issue(
            grant_type,
            ServedAt::or(served.as_ref(), &fake.settings.base_url),
        ),
        Err(refusal) => {
            debug!(
                grant_type,
                error = refusal.error,
                description = refusal.description,
                "fake oauth refused a token request"
            );
            refusal.into_response()
        }
    }
}

fn check_client_secret(
    fake: &OAuthFake,
    form: &HashMap<String, String>,
) -> Result<(), OAuthRefusal> {
    let client_id = form
        .get("client_id")
        .map(String::as_str)
        .unwrap_or_default();
    let presented = form.get("client_secret").map(String::as_str);
    let matches = fake
        .lock()
        .secret_clients
        .get(client_id)
        .is_some_and(|secret| Some(secret.as_str()) == presented);
    if matches {
        Ok(())
    } else {
        Err(OAuthRefusal::new(
            "invalid_client",
            "invalid client credentials",
        ))
    }
}

async fn userinfo(
    State(fake): State<Arc<OAuthFake>>,
    served: Option<Extension<ServedAt>>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let valid = token.is_some_and(|token| fake.registry.status(token) == TokenStatus::Valid);
    if !valid {
        let refusal = OAuthRefusal {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: "access token is missing, unknown or expired",
        };
        return refusal.into_response();
    }
    let body = json!({
        "sub": fake.identity_url_at(ServedAt::or(served.as_ref(), &fake.settings.base_url)),
        "user_id": fake.settings.user_id,
        "organization_id": fake.registry.org_id(),
        "preferred_username": fake.settings.username,
        "name": "Integration User",
        "email": fake.settings.username,
    });
    (StatusCode::OK, Json(body)).into_response()
}

impl std::fmt::Debug for OAuthFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthFake")
            .field("base_url", &self.settings.base_url)
            .finish_non_exhaustive()
    }
}
