//! Building the gRPC channel to the Pub/Sub endpoint, with TLS rules enforced.
//!
//! Production traffic always uses TLS (rustls with aws-lc-rs, public web PKI roots, plus an
//! optional extra trust anchor). Plaintext is refused unless the endpoint is a loopback
//! address *and* the caller set the explicit insecure flag (guarantee G7): that is only for
//! the fake Salesforce in tests and the demo.

use std::net::IpAddr;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Uri};

/// The global Pub/Sub API endpoint.
pub const DEFAULT_PUBSUB_ENDPOINT: &str = "https://api.pubsub.salesforce.com:7443";
/// How long to wait for a TCP + TLS connection before treating the attempt as failed.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest gRPC message we accept: events are up to 1 MB and batches carry several.
pub(crate) const MAX_DECODED_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// `https://host:port`, or `http://` for a loopback fake together with `insecure`.
    pub url: String,
    /// Allows plaintext; accepted only for loopback endpoints.
    pub insecure: bool,
    /// An extra PEM trust anchor (e.g. the fake's self-signed certificate), added to the
    /// public roots.
    pub ca_certificate_pem: Option<String>,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
}

impl Default for EndpointSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_PUBSUB_ENDPOINT.to_owned(),
            insecure: false,
            ca_certificate_pem: None,
            connect_timeout: CONNECT_TIMEOUT,
        }
    }
}

/// Why the endpoint configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The URL does not parse.
    #[error("pubsub endpoint `{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        /// The configured URL.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// Plaintext to a non-loopback host, or without the insecure flag.
    #[error("pubsub endpoint `{url}` uses plaintext: {hint}")]
    PlaintextRefused {
        /// The configured URL.
        url: String,
        /// What to change.
        hint: &'static str,
    },
    /// The scheme is neither https nor http.
    #[error("pubsub endpoint `{url}` must start with https:// (or http:// for a loopback fake)")]
    UnsupportedScheme {
        /// The configured URL.
        url: String,
    },
    /// TLS setup failed.
    #[error("pubsub tls configuration failed: {0}")]
    Tls(#[source] tonic::transport::Error),
}

/// Builds a lazily connecting channel; connection errors surface on the first RPC.
pub fn connect_lazy(config: &EndpointSettings) -> Result<Channel, ConnectionError> {
    let uri: Uri =
        config
            .url
            .parse()
            .map_err(|err: http::uri::InvalidUri| ConnectionError::InvalidUrl {
                url: config.url.clone(),
                reason: err.to_string(),
            })?;
    let host = uri.host().unwrap_or_default().to_owned();
    let mut endpoint = Endpoint::from(uri.clone())
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(60)));
    match uri.scheme_str() {
        Some("https") => {
            let mut tls = ClientTlsConfig::new().with_webpki_roots().domain_name(host);
            if let Some(pem) = &config.ca_certificate_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(ConnectionError::Tls)?;
        }
        Some("http") => {
            if !config.insecure {
                return Err(ConnectionError::PlaintextRefused {
                    url: config.url.clone(),
                    hint: "use https://, or set insecure = true for a loopback test endpoint",
                });
            }
            if !is_loopback_host(&host) {
                return Err(ConnectionError::PlaintextRefused {
                    url: config.url.clone(),
                    hint: "plaintext is allowed only to loopback addresses; use https://",
                });
            }
        }
        _ => {
            return Err(ConnectionError::UnsupportedScheme {
                url: config.url.clone(),
            })
        }
    }
    Ok(endpoint.connect_lazy())
}

/// Whether `host` (from a URI, IPv6 possibly in brackets) is a loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, insecure: bool) -> EndpointSettings {
        EndpointSettings {
            url: url.to_owned(),
            insecure,
            ..EndpointSettings::default()
        }
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.0.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("api.pubsub.salesforce.com"));
    }

    #[tokio::test]
    async fn plaintext_needs_loopback_and_the_insecure_flag() {
        let refused = connect_lazy(&settings("http://127.0.0.1:7011", false)).unwrap_err();
        assert!(refused.to_string().contains("insecure = true"), "{refused}");
        let remote =
            connect_lazy(&settings("http://api.pubsub.salesforce.com:7443", true)).unwrap_err();
        assert!(remote.to_string().contains("only to loopback"), "{remote}");
        connect_lazy(&settings("http://127.0.0.1:7011", true)).unwrap();
    }

    #[tokio::test]
    async fn the_default_endpoint_uses_tls() {
        connect_lazy(&EndpointSettings::default()).unwrap();
        let bad = connect_lazy(&settings("ftp://example.com", false)).unwrap_err();
        assert!(matches!(bad, ConnectionError::UnsupportedScheme { .. }));
    }
}
