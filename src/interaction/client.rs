//! The Interaction Service HTTP client: required headers, one auth retry, response parsing.
//!
//! Every call carries `Authorization: Bearer`, `OrgId` (15 characters), `AuthorizationContext`,
//! `AuthorizationContextType` where the endpoint needs it, a fresh `RequestId` and a
//! `Content-Type`. An auth-class answer refreshes the token through the [`TokenProvider`] once and
//! repeats the call once; 10005 (the AuthorizationContext does not match the token) is a
//! configuration error: never refreshed, logged once naming the key, and reported on every
//! occurrence to the settings' observer. Every answer's `Date` feeds the provider's
//! [`crate::salesforce_clock::SalesforceClock`]. Every attempt first takes a slot of the
//! client's [`RateLimiter`], shared by all clones, and holds it until its answer is read.
//! Retrying other errors is the caller's choice ([`super::retry_until`]). The typed endpoint
//! methods live in the sibling files. It knows nothing about Pub/Sub.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{debug, error, info};
use uuid::Uuid;

use crate::auth::{url_policy, AccessGrant, AuthError, TokenProvider};
use crate::interaction::headers::{
    AuthorizationContextType, AUTHORIZATION_CONTEXT, AUTHORIZATION_CONTEXT_TYPE, ORG_ID, REQUEST_ID,
};
use crate::interaction::streamed::CountedBody;
use crate::interaction::{
    ErrorClass, InteractionError, InteractionsObserver, RateLimiter, StreamedFile,
};
use crate::retry_after::parse_retry_after;

/// Default upper bound on one HTTP exchange with the Interaction Service.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound on establishing a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tunables of [`InteractionClient`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Sent as `AuthorizationContextType` on the endpoints that take it.
    pub authorization_context_type: AuthorizationContextType,
    /// Upper bound on one HTTP exchange.
    pub request_timeout: Duration,
    /// Allow plain http to a loopback base URL (the harness only).
    pub insecure: bool,
    /// PEM certificates trusted on top of the system's roots (`pubsub.ca_certificate_file`).
    pub ca_certificate_pem: Option<String>,
    /// Told of every 10005 (AuthorizationContext does not match the token), e.g. to count it.
    pub on_config_error: ConfigErrorObserver,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            authorization_context_type: AuthorizationContextType::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            insecure: false,
            ca_certificate_pem: None,
            on_config_error: ConfigErrorObserver::default(),
        }
    }
}

/// Called on every 10005 answer; does nothing unless built with [`ConfigErrorObserver::new`].
#[derive(Clone, Default)]
pub struct ConfigErrorObserver(Option<Arc<dyn Fn() + Send + Sync>>);

impl ConfigErrorObserver {
    /// An observer calling `observer` on every 10005.
    pub fn new(observer: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(observer)))
    }

    fn notify(&self) {
        if let Some(observer) = &self.0 {
            observer();
        }
    }
}

impl std::fmt::Debug for ConfigErrorObserver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() {
            "ConfigErrorObserver(set)"
        } else {
            "ConfigErrorObserver(none)"
        })
    }
}

/// A file sent as the `attachments` part of `POST /interactions`.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// File name shown to the rep.
    pub file_name: String,
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// The file's bytes.
    pub bytes: bytes::Bytes,
}

/// One endpoint: method, path under `/api/v1/`, and whether it takes `AuthorizationContextType`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    /// Relative to the API base, without a leading slash, e.g. `routingResult`.
    pub(crate) path: &'static str,
    /// Send `AuthorizationContextType` (required on PATCH /agentWork; documented as optional on
    /// POST /route and PATCH /capabilities; not documented elsewhere, so not sent there).
    pub(crate) sends_context_type: bool,
    /// Only the channel's leader may send it (routing decisions): the [`SendGate`] is asked
    /// immediately before each attempt.
    pub(crate) leader_only: bool,
}

/// Asked immediately before each attempt at a leader-only call (routingResult, route):
/// whether this replica may still send it. Set on the client of a replica that leads.
pub trait SendGate: Send + Sync {
    /// False once this replica may no longer act as the channel's leader.
    fn may_send(&self) -> bool;
}

/// A request body that can be rebuilt for the retry after a token refresh.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// `application/json`.
    Json(Vec<u8>),
    /// `multipart/form-data` with part `json` and an optional `attachments` part.
    Multipart {
        json: Vec<u8>,
        attachment: Option<Attachment>,
    },
    /// `multipart/form-data` with part `json` and a streamed `attachments` part; the stream
    /// is taken by the first attempt, so it is sent once.
    MultipartStream {
        json: Vec<u8>,
        file: std::sync::Mutex<Option<StreamedFile>>,
    },
}

struct ClientInner {
    http: reqwest::Client,
    /// `{base}/api/v1/`, so endpoint paths join under it.
    api_base: Url,
    authorization_context: String,
    context_type: AuthorizationContextType,
    provider: TokenProvider,
    /// Shared by every clone, so all calls of this org (sidecar and routing) count.
    limiter: RateLimiter,
    /// Told about every accepted `/interactions` answer; set once, after construction, because
    /// the observer is usually built from parts that need this client.
    interactions_observer: OnceLock<Arc<dyn InteractionsObserver>>,
    /// Told about every 10005 (AuthorizationContext mismatch).
    on_config_error: ConfigErrorObserver,
    /// Asked before each leader-only call; none: every call may be sent (a single replica).
    send_gate: OnceLock<Arc<dyn SendGate>>,
    /// Set once the 10005 configuration error has been logged: it is logged once, not per call.
    config_error_logged: AtomicBool,
}

/// Client of the Interaction Service REST API; cheap to clone.
#[derive(Clone)]
pub struct InteractionClient {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for InteractionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionClient")
            .field("api_base", &self.inner.api_base.as_str())
            .field("authorization_context", &self.inner.authorization_context)
            .field("context_type", &self.inner.context_type)
            .finish_non_exhaustive()
    }
}

impl InteractionClient {
    /// A client for `base_url` (`https://<MyDomain>.my.salesforce-scrt.com`, with or without
    /// `/api/v1`), acting for the ConversationChannelDefinition named `authorization_context`.
    pub fn new(
        base_url: &str,
        authorization_context: impl Into<String>,
        provider: TokenProvider,
        settings: ClientSettings,
    ) -> Result<Self, InteractionError> {
        let authorization_context = authorization_context.into();
        if authorization_context.trim().is_empty()
            || HeaderValue::from_str(&authorization_context).is_err()
        {
            return Err(InteractionError::Config {
                problem: "authorization_context must be the channel definition's developer name"
                    .to_owned(),
            });
        }
        let base = url_policy::require_tls_or_loopback(
            "interaction.base_url",
            base_url,
            settings.insecure,
        )?;
        let api_base = api_base(base)?;
        let http = url_policy::client_builder(settings.ca_certificate_pem.as_deref())
            .map_err(|err| InteractionError::Config {
                problem: format!("pubsub.ca_certificate_file is not a usable trust anchor: {err}"),
            })?
            .timeout(settings.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|err| InteractionError::Config {
                problem: format!("cannot build the http client: {err}"),
            })?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                http,
                api_base,
                authorization_context,
                context_type: settings.authorization_context_type,
                provider,
                limiter: RateLimiter::default(),
                interactions_observer: OnceLock::new(),
                on_config_error: settings.on_config_error,
                send_gate: OnceLock::new(),
                config_error_logged: AtomicBool::new(false),
            }),
        })
    }

    /// Sets the observer of accepted `/interactions` answers for this client and all its clones;
    /// false when one was set already (the first one stays).
    pub(crate) fn observe_interactions(&self, observer: Arc<dyn InteractionsObserver>) -> bool {
        self.inner.interactions_observer.set(observer).is_ok()
    }

    /// Sets the gate leader-only calls pass immediately before they are sent, for this client
    /// and all its clones; false when one was set already (the first one stays).
    pub fn set_send_gate(&self, gate: Arc<dyn SendGate>) -> bool {
        self.inner.send_gate.set(gate).is_ok()
    }

    /// The observer of accepted `/interactions` answers, when one is set.
    pub(crate) fn interactions_observer(&self) -> Option<&Arc<dyn InteractionsObserver>> {
        self.inner.interactions_observer.get()
    }

    /// Sends one call; on an auth-class answer refreshes the token once and sends it again.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        body: RequestBody,
    ) -> Result<T, InteractionError> {
        let grant = Box::pin(self.inner.provider.grant())
            .await
            .map_err(InteractionError::Auth)?;
        let first = self.attempt(endpoint, &body, &grant).await;
        let rejection = match first {
            Err(err) if err.class() == ErrorClass::Auth => err,
            other => return other,
        };
        info!(
            path = endpoint.path,
            status = rejection.status(),
            code = rejection.code(),
            "interaction call was refused for auth, refreshing the token once"
        );
        let fresh = Box::pin(self.inner.provider.refresh_after_rejection(&grant))
            .await
            .map_err(InteractionError::Auth)?;
        self.attempt(endpoint, &body, &fresh).await
    }

    /// One HTTP exchange with a fresh `RequestId`.
    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        body: &RequestBody,
        grant: &AccessGrant,
    ) -> Result<T, InteractionError> {
        let url =
            self.inner
                .api_base
                .join(endpoint.path)
                .map_err(|err| InteractionError::Config {
                    problem: format!("cannot build the url for {}: {err}", endpoint.path),
                })?;
        let _slot = self.inner.limiter.acquire().await;
        let request_id = Uuid::new_v4();
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", grant.access_token.expose()))
            .map_err(|_| {
                InteractionError::Auth(AuthError::InvalidResponse {
                    problem: "the access token contains characters not allowed in a header"
                        .to_owned(),
                })
            })?;
        bearer.set_sensitive(true);
        let mut request = self
            .inner
            .http
            .request(endpoint.method.clone(), url)
            .header(AUTHORIZATION, bearer)
            .header(ORG_ID, grant.org_id.as_15())
            .header(AUTHORIZATION_CONTEXT, &self.inner.authorization_context)
            .header(REQUEST_ID, request_id.to_string());
        if endpoint.sends_context_type {
            request = request.header(AUTHORIZATION_CONTEXT_TYPE, self.inner.context_type.as_str());
        }
        request = match body {
            RequestBody::Json(json) => request
                .header(CONTENT_TYPE, "application/json")
                .body(json.clone()),
            RequestBody::Multipart { json, attachment } => {
                request.multipart(multipart_form(json, attachment.as_ref())?)
            }
            RequestBody::MultipartStream { json, file } => {
                let file = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .ok_or_else(|| InteractionError::Config {
                        problem: "a streamed attachment can be sent only once".to_owned(),
                    })?;
                request.multipart(streamed_form(json, file)?)
            }
        };
        // Last, after the rate limiter and the token: nothing that may wait comes between
        // this check and the send.
        if endpoint.leader_only
            && self
                .inner
                .send_gate
                .get()
                .is_some_and(|gate| !gate.may_send())
        {
            return Err(InteractionError::NotLeader);
        }
        let sent = SystemTime::now();
        // The exchange's futures are boxed, like the token's above: a call waits for the
        // limiter first, sometimes by the thousand (a burst of routing requests), and inline
        // they would size every waiter's future (1,936 bytes for a routingResult, 1,048 boxed).
        let response = Box::pin(request.send())
            .await
            .map_err(InteractionError::Transport)?;
        let status = response.status().as_u16();
        self.inner.provider.salesforce_clock().observe_date(
            response.headers().get(DATE),
            sent,
            SystemTime::now(),
        );
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let bytes = Box::pin(response.bytes())
            .await
            .map_err(InteractionError::Transport)?;
        debug!(method = %endpoint.method, path = endpoint.path, %request_id, status, "interaction call answered");
        if !(200..300).contains(&status) {
            let err = InteractionError::from_error_body(status, &bytes, retry_after);
            if err.is_authorization_context_mismatch() {
                self.inner.on_config_error.notify();
            }
            if err.is_authorization_context_mismatch()
                && self.inner.config_error_logged.swap(true, Ordering::Relaxed)
            {
                debug!(method = %endpoint.method, path = endpoint.path, %request_id, "interaction service refused the authorization context again");
            } else if err.is_authorization_context_mismatch() {
                error!(method = %endpoint.method, path = endpoint.path, %request_id, status, code = err.code(), authorization_context = %self.inner.authorization_context, "interaction service refused interaction.authorization_context for this token: set it to the developer name of a channel definition the token's user may act for; not retried");
            } else {
                // The caller reports the outcome (retry, refusal, missed deadline) in one line.
                debug!(method = %endpoint.method, path = endpoint.path, %request_id, status, code = err.code(), error = %err, "interaction call failed");
            }
            return Err(err);
        }
        parse_success(status, &bytes)
    }
}

/// Serialises a request body as JSON.
pub(crate) fn json_body<T: serde::Serialize>(request: &T) -> Result<RequestBody, InteractionError> {
    serde_json::to_vec(request)
        .map(RequestBody::Json)
        .map_err(|err| InteractionError::Config {
            problem: format!("cannot serialise the request body: {err}"),
        })
}

/// The body of a 2xx answer, unless it says `success: false`.
fn parse_success<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, InteractionError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|err| InteractionError::InvalidResponse {
            status,
            problem: format!("body is not json: {err}"),
        })?
    };
    if value.get("success") == Some(&Value::Bool(false)) {
        return Err(InteractionError::from_unsuccessful(status, &value));
    }
    serde_json::from_value(value).map_err(|err| InteractionError::InvalidResponse {
        status,
        problem: format!("unexpected body: {err}"),
    })
}

/// The multipart body of `POST /interactions`.
fn multipart_form(
    json: &[u8],
    attachment: Option<&Attachment>,
) -> Result<reqwest::multipart::Form, InteractionError> {
    let json_part = reqwest::multipart::Part::bytes(json.to_vec())
        .mime_str("application/json")
        .map_err(|err| InteractionError::Config {
            problem: format!("json part: {err}"),
        })?;
    let mut form = reqwest::multipart::Form::new().part("json", json_part);
    if let Some(attachment) = attachment {
        let file_part = reqwest::multipart::Part::stream_with_length(
            attachment.bytes.clone(),
            attachment.bytes.len() as u64,
        )
        .file_name(attachment.file_name.clone())
        .mime_str(&attachment.mime_type)
        .map_err(|err| InteractionError::Config {
            problem: format!("attachment mime type {:?}: {err}", attachment.mime_type),
        })?;
        form = form.part("attachments", file_part);
    }
    Ok(form)
}

/// The multipart body of `POST /interactions` with a streamed file.
fn streamed_form(
    json: &[u8],
    file: StreamedFile,
) -> Result<reqwest::multipart::Form, InteractionError> {
    let json_part = reqwest::multipart::Part::bytes(json.to_vec())
        .mime_str("application/json")
        .map_err(|err| InteractionError::Config {
            problem: format!("json part: {err}"),
        })?;
    let body = reqwest::Body::wrap(CountedBody::new(file.body, file.length));
    let file_part = reqwest::multipart::Part::stream_with_length(body, file.length)
        .file_name(file.file_name)
        .mime_str(&file.mime_type)
        .map_err(|err| InteractionError::Config {
            problem: format!("attachment mime type {:?}: {err}", file.mime_type),
        })?;
    Ok(reqwest::multipart::Form::new()
        .part("json", json_part)
        .part("attachments", file_part))
}

/// `{base}/api/v1/` whether or not the configured base already ends in `/api/v1`.
fn api_base(mut base: Url) -> Result<Url, InteractionError> {
    let trimmed = base.path().trim_end_matches('/').to_owned();
    let path = if trimmed.ends_with("/api/v1") {
        format!("{trimmed}/")
    } else {
        format!("{trimmed}/api/v1/")
    };
    base.set_path(&path);
    if base.cannot_be_a_base() {
        return Err(InteractionError::Config {
            problem: "interaction.base_url cannot be a base url".to_owned(),
        });
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_is_the_same_with_or_without_the_api_path() {
        let plain = api_base(Url::parse("https://x.my.salesforce-scrt.com").unwrap()).unwrap();
        let with =
            api_base(Url::parse("https://x.my.salesforce-scrt.com/api/v1/").unwrap()).unwrap();
        assert_eq!(plain.as_str(), "https://x.my.salesforce-scrt.com/api/v1/");
        assert_eq!(plain, with);
        assert_eq!(
            plain.join("routingResult").unwrap().as_str(),
            "https://x.my.salesforce-scrt.com/api/v1/routingResult"
        );
    }

    #[test]
    fn an_empty_2xx_body_is_an_empty_object_and_success_false_is_an_error() {
        let empty: Value = parse_success(202, b"").unwrap();
        assert_eq!(empty, serde_json::json!({}));
        let err = parse_success::<Value>(
            200,
            br#"{"success":false,"errorReason":"SESSION_NOT_FOUND"}"#,
        )
        .unwrap_err();
        assert_eq!(err.message(), Some("SESSION_NOT_FOUND"));
        assert_eq!(err.status(), Some(200));
    }
}
