//! The HTTP client the webhook channel POSTs with: pooled HTTP/1.1 (or HTTP/2 where TLS
//! negotiates it) to one URL, plain or over TLS checked against the platform's trust store,
//! with a connect timeout (TCP and TLS handshake) and a deadline over the whole request,
//! response body included.
//!
//! It stands on hyper-util's pooled client rather than reqwest: reqwest runs every request
//! through layers the webhook never uses (a redirect policy that re-parses the URL, a retry
//! policy, proxy matching, and a second URL parse for the response), about a fifth of the
//! connector's instructions per event when each event is one POST (docs/benchmarks.md). As
//! with reqwest, credentials in the URL become basic auth, TLS uses rustls-platform-verifier,
//! and no redirect is followed; unlike reqwest, `HTTP(S)_PROXY` is not read: the partner is
//! reached directly. It knows HTTP only: not what a body holds nor how a status is judged.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

/// How long an idle pooled connection is kept (reqwest's default, which the webhook had).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a partner client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PartnerHttpError {
    /// The URL, without its credentials, is not a valid request target.
    #[error("the url is not a valid http request target: {0}")]
    Uri(#[source] http::uri::InvalidUri),
    /// The platform's certificate verifier cannot be set up.
    #[error("the platform's certificate verifier cannot be set up")]
    Verifier(#[source] rustls::Error),
    /// TLS cannot be configured with the default protocol versions.
    #[error("tls cannot be configured")]
    Tls(#[source] rustls::Error),
}

/// Why a request got no (complete) answer. `Display` never holds the URL.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// The request deadline passed, while connecting, waiting or reading the body.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// No connection could be opened (refused, unreachable, DNS, TLS handshake, connect timeout).
    #[error("connect error")]
    Connect(#[source] Cause),
    /// The connection failed while sending the request or reading the response head.
    #[error("transport error")]
    Send(#[source] Cause),
    /// The connection failed while reading the response body.
    #[error("transport error while reading the response body")]
    Body(#[source] Cause),
}

/// The underlying error, shown without hyper-util's own "client error (Kind)" wrapper.
#[derive(Debug)]
pub(crate) struct Cause(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Cause {
    /// The client error's cause when it has one: its own text only names its kind.
    fn of_client(error: hyper_util::client::legacy::Error) -> Self {
        use std::error::Error as _;
        let text = match error.source() {
            Some(cause) => crate::error_chain::render(cause),
            None => error.to_string(),
        };
        Self(text.into())
    }
}

/// A pooled client for POSTs to one URL.
#[derive(Clone)]
pub(crate) struct PartnerHttp {
    client: Client<ConnectWithin<HttpsConnector<HttpConnector>>, Full<Bytes>>,
    uri: Uri,
    // `Authorization: Basic …` from credentials in the URL, as reqwest sent it.
    authorization: Option<HeaderValue>,
    request_timeout: Duration,
}

/// A response whose head has arrived; the body is read within the same deadline.
pub(crate) struct Answer {
    /// The response status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: HeaderMap,
    body: hyper::body::Incoming,
    deadline: Instant,
    request_timeout: Duration,
}

impl PartnerHttp {
    /// A client for `url` (already checked to be http or https).
    pub(crate) fn new(
        url: &reqwest::Url,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, PartnerHttpError> {
        let mut target = url.clone();
        let authorization = take_credentials(&mut target);
        let uri: Uri = target.as_str().parse().map_err(PartnerHttpError::Uri)?;

        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(std::sync::Arc::clone(&provider))
            .map_err(PartnerHttpError::Verifier)?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(PartnerHttpError::Tls)?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
            .with_no_client_auth();

        let mut tcp = HttpConnector::new();
        // hyper-rustls hands https URLs to the TCP connector; it must not refuse them.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = ConnectWithin {
            inner: hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(tcp),
            limit: connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            uri,
            authorization,
            request_timeout,
        })
    }

    /// POSTs `body` with `headers` and waits for the response head, within the deadline.
    pub(crate) async fn post(
        &self,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        let deadline = Instant::now() + self.request_timeout;
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        // Built from parts already valid (the URI parsed once, the headers checked by the
        // caller), so nothing here can fail.
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| TransportError::Timeout(self.request_timeout))?
            .map_err(|error| {
                if error.is_connect() {
                    TransportError::Connect(Cause::of_client(error))
                } else {
                    TransportError::Send(Cause::of_client(error))
                }
            })?;
        let (head, body) = response.into_parts();
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
            deadline,
            request_timeout: self.request_timeout,
        })
    }
}

impl Answer {
    /// Reads at most `limit` bytes of the body, within the request's deadline; the rest is
    /// left unread (and the connection with it, so it is not reused).
    pub(crate) async fn read_prefix(mut self, limit: usize) -> Result<Bytes, TransportError> {
        let mut prefix = BytesMut::new();
        while prefix.len() < limit {
            let frame = tokio::time::timeout_at(self.deadline, self.body.frame())
                .await
                .map_err(|_| TransportError::Timeout(self.request_timeout))?;
            let Some(frame) = frame else {
                break;
            };
            let frame = frame.map_err(|error| TransportError::Body(Cause(Box::new(error))))?;
            // Trailers carry nothing the webhook reads.
            if let Ok(data) = frame.into_data() {
                let wanted = limit - prefix.len();
                prefix.extend_from_slice(&data[..data.len().min(wanted)]);
            }
        }
        Ok(prefix.freeze())
    }
}

/// A connector whose connection, TCP and TLS handshake together, must be ready within `limit`.
#[derive(Clone)]
pub(crate) struct ConnectWithin<C> {
    inner: C,
    limit: Duration,
}

/// The connect timeout's error: its text is the whole message.
#[derive(Debug, thiserror::Error)]
#[error("no connection within {0:?} (TCP connect and TLS handshake)")]
struct ConnectTimedOut(Duration);

impl<C> tower::Service<Uri> for ConnectWithin<C>
where
    C: tower::Service<Uri>,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<C::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let limit = self.limit;
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(ConnectTimedOut(limit).into()),
            }
        })
    }
}

/// Removes a `user:password@` from `url` and returns it as a basic `Authorization` value,
/// percent-decoded as reqwest did; `None` without credentials (or with undecodable ones,
/// which reqwest ignored too).
fn take_credentials(url: &mut reqwest::Url) -> Option<HeaderValue> {
    use base64::Engine as _;
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    };
    let username = decode(url.username())?;
    let password = match url.password() {
        Some(raw) => Some(decode(raw)?),
        None => None,
    };
    if username.is_empty() && password.is_none() {
        return None;
    }
    // Both setters fail only for URLs that cannot hold credentials, which these held.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let credentials = format!("{username}:{}", password.unwrap_or_default());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_leave_the_url() {
        let mut url =
            reqwest::Url::parse("https://Aladdin:open%20sesame@partner.example/hook?a=1").unwrap();
        let value = take_credentials(&mut url).unwrap();
        assert_eq!(value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(value.is_sensitive());
        assert_eq!(url.as_str(), "https://partner.example/hook?a=1");
    }

    #[test]
    fn a_url_without_credentials_gets_no_authorization() {
        let mut url = reqwest::Url::parse("http://127.0.0.1:8080/hook").unwrap();
        assert_eq!(take_credentials(&mut url), None);
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/hook");
    }

    #[test]
    fn a_user_without_a_password_is_sent_with_an_empty_one() {
        let mut url = reqwest::Url::parse("http://token@partner.example/").unwrap();
        assert_eq!(take_credentials(&mut url).unwrap(), "Basic dG9rZW46");
    }
}
