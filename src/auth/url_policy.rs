//! The TLS rule for every Salesforce endpoint the connector calls (guarantee G7), and the
//! extra trust anchor its HTTPS clients accept.
//!
//! `https` is always allowed. Plain `http` is allowed only to a loopback host (the harness) and
//! only when the operator said `insecure = true`. The Interaction Service client applies the
//! same rule, so it lives here as a small public function. `pubsub.ca_certificate_file` (e.g.
//! the fake Salesforce's self-signed certificate) is trusted on top of the system's roots by
//! every client built with [`client_builder`]. It knows nothing about tokens.

use std::net::IpAddr;

use reqwest::Url;

/// Why an endpoint URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlPolicyError {
    /// The URL does not parse.
    #[error("{key} is not a valid url: {problem}")]
    Invalid {
        /// Config key the URL came from.
        key: &'static str,
        /// What the parser objected to.
        problem: String,
    },
    /// The URL uses plaintext where TLS is required.
    #[error("{key} must use https (plain http is allowed only to a loopback host with insecure = true), got {url}")]
    PlaintextNotAllowed {
        /// Config key the URL came from.
        key: &'static str,
        /// The refused URL (URLs carry no secrets here).
        url: String,
    },
    /// The URL uses a scheme other than http or https.
    #[error("{key} must be an http(s) url, got scheme {scheme}")]
    UnsupportedScheme {
        /// Config key the URL came from.
        key: &'static str,
        /// The scheme found.
        scheme: String,
    },
}

/// An HTTP client builder trusting `ca_certificate_pem` (PEM certificates, from
/// `pubsub.ca_certificate_file`) on top of the system's roots; the system's roots alone
/// when `None`. Fails when the PEM holds no usable certificate.
pub(crate) fn client_builder(
    ca_certificate_pem: Option<&str>,
) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let builder = reqwest::Client::builder();
    let Some(pem) = ca_certificate_pem else {
        return Ok(builder);
    };
    let anchors = reqwest::Certificate::from_pem_bundle(pem.as_bytes())?;
    Ok(builder.tls_certs_merge(anchors))
}

/// Parses `url` and enforces the TLS rule; `key` names the config key in errors.
pub(crate) fn require_tls_or_loopback(
    key: &'static str,
    url: &str,
    insecure: bool,
) -> Result<Url, UrlPolicyError> {
    let parsed = Url::parse(url).map_err(|err| UrlPolicyError::Invalid {
        key,
        problem: err.to_string(),
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if insecure && is_loopback(&parsed) => Ok(parsed),
        "http" => Err(UrlPolicyError::PlaintextNotAllowed {
            key,
            url: url.to_owned(),
        }),
        other => Err(UrlPolicyError::UnsupportedScheme {
            key,
            scheme: other.to_owned(),
        }),
    }
}

/// Whether the URL's host is `localhost` or a loopback address (127.0.0.0/8, ::1).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // IPv6 hosts come back in brackets ("[::1]").
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_always_allowed() {
        assert!(require_tls_or_loopback("k", "https://login.salesforce.com", false).is_ok());
    }

    #[test]
    fn plaintext_needs_both_loopback_and_insecure() {
        assert!(require_tls_or_loopback("k", "http://127.0.0.1:8080", true).is_ok());
        assert!(require_tls_or_loopback("k", "http://localhost:8080", true).is_ok());
        assert!(require_tls_or_loopback("k", "http://[::1]:8080", true).is_ok());
        assert!(require_tls_or_loopback("k", "http://127.0.0.1:8080", false).is_err());
        assert!(require_tls_or_loopback("k", "http://example.com", true).is_err());
        assert!(require_tls_or_loopback("k", "http://10.0.0.1", true).is_err());
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        assert!(require_tls_or_loopback("k", "ftp://127.0.0.1", true).is_err());
        assert!(require_tls_or_loopback("k", "not a url", true).is_err());
    }
}
