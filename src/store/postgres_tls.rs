//! TLS to PostgreSQL, for the store's connections and the HA lease's: what `store.url` asks
//! for, and a rustls connector (aws-lc-rs, like every other TLS connection of the connector)
//! that the `postgres`/`tokio-postgres` drivers accept.
//!
//! The URL's `sslmode` and `sslrootcert` are read here and taken out of the URL before the
//! driver parses it (the driver knows only `disable`, `prefer` and `require`). Every mode that
//! asks for TLS (`require`, `verify-ca`, `verify-full`) verifies the server's certificate
//! chain and host name, against `sslrootcert` when given, else the public web roots; that is
//! stricter than libpq's `require`, which encrypts without verifying, so a password never goes
//! to an impostor. Without those modes nothing changes: `prefer` and `disable` connect in
//! plaintext, and the store warns when the host is beyond loopback. Knows nothing about the
//! store's tables or the lease.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::StoreError;

/// The sslmode values that ask for TLS.
const TLS_SSLMODES: [&str; 3] = ["require", "verify-ca", "verify-full"];

/// What a connection URL asks for: the URL the driver may parse, and the TLS settings taken
/// out of it. Its `Debug` leaves the URL out: it holds the password.
#[derive(Clone)]
pub(crate) struct PostgresTarget {
    /// The URL without `sslmode` (put back as `require` when TLS is asked for) and
    /// `sslrootcert`. Holds the password: never logged.
    pub(crate) driver_url: String,
    /// `Some` when the URL asks for TLS.
    pub(crate) tls: Option<TlsWish>,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresTarget")
            .field("driver_url", &"[redacted]")
            .field("tls", &self.tls)
            .finish()
    }
}

/// The TLS a URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsWish {
    /// The sslmode given (`require`, `verify-ca` or `verify-full`).
    pub(crate) sslmode: String,
    /// `sslrootcert`: a PEM file of the CA certificates to trust instead of the web roots.
    pub(crate) root_certificate: Option<PathBuf>,
}

/// Splits `url` (URL form `postgres://…?k=v&…` or key/value form `host=… k=v`) into what the
/// driver parses and the TLS settings it does not know.
pub(crate) fn parse_target(url: &str) -> PostgresTarget {
    let (keep, taken) = if let Some((base, query)) = url.split_once('?') {
        let (keep, taken) = split_params(query.split('&'));
        let driver_url = if keep.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", keep.join("&"))
        };
        (driver_url, taken)
    } else if url.contains("://") {
        (url.to_owned(), Vec::new())
    } else {
        let (keep, taken) = split_params(url.split_whitespace());
        (keep.join(" "), taken)
    };
    let value = |name: &str| {
        taken
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let sslmode = value("sslmode").map(|mode| mode.to_ascii_lowercase());
    let tls = sslmode
        .filter(|mode| TLS_SSLMODES.contains(&mode.as_str()))
        .map(|sslmode| TlsWish {
            sslmode,
            root_certificate: value("sslrootcert").map(PathBuf::from),
        });
    let driver_url = match (&tls, value("sslmode")) {
        (Some(_), _) => with_param(&keep, url, "sslmode=require"),
        (None, Some(mode)) => with_param(&keep, url, &format!("sslmode={mode}")),
        (None, None) => keep,
    };
    PostgresTarget { driver_url, tls }
}

/// `sslmode` and `sslrootcert` taken out of `params`; the rest kept in order.
fn split_params<'a>(params: impl Iterator<Item = &'a str>) -> (Vec<String>, Vec<(String, String)>) {
    let mut keep = Vec::new();
    let mut taken = Vec::new();
    for param in params.filter(|param| !param.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let key_lowered = key.trim().to_ascii_lowercase();
        if key_lowered == "sslmode" || key_lowered == "sslrootcert" {
            let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
            taken.push((key_lowered, value.to_owned()));
        } else {
            keep.push(param.to_owned());
        }
    }
    (keep, taken)
}

/// `driver_url` with `param` added in the form `original` uses.
fn with_param(driver_url: &str, original: &str, param: &str) -> String {
    if original.contains("://") {
        let separator = if driver_url.contains('?') { '&' } else { '?' };
        format!("{driver_url}{separator}{param}")
    } else if driver_url.is_empty() {
        param.to_owned()
    } else {
        format!("{driver_url} {param}")
    }
}

/// What the drivers connect with: plaintext (the drivers' own `NoTls`, so `sslmode=prefer`
/// still falls back to plaintext as libpq does), or rustls verifying as [`TlsWish`] says.
#[derive(Debug, Clone)]
pub(crate) enum PostgresTls {
    /// No TLS asked for.
    Plain,
    /// TLS, verified.
    Rustls(MakeRustlsConnect),
}

impl PostgresTls {
    /// The connector for `wish`: reads `sslrootcert` now, so a missing or unreadable file
    /// fails at start, naming the file.
    pub(crate) fn new(wish: Option<&TlsWish>) -> Result<Self, StoreError> {
        let Some(wish) = wish else {
            return Ok(Self::Plain);
        };
        let mut roots = rustls::RootCertStore::empty();
        match &wish.root_certificate {
            Some(path) => {
                let certificates = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|error| StoreError::PostgresTlsRoots {
                        path: path.clone(),
                        reason: error.to_string(),
                    })?;
                let (added, _ignored) = roots.add_parsable_certificates(certificates);
                if added == 0 {
                    return Err(StoreError::PostgresTlsRoots {
                        path: path.clone(),
                        reason: "it holds no usable CA certificate".to_owned(),
                    });
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| StoreError::PostgresTlsRoots {
                path: wish.root_certificate.clone().unwrap_or_default(),
                reason: error.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::Rustls(MakeRustlsConnect(Arc::new(config))))
    }
}

/// rustls for the drivers: one [`RustlsConnect`] per connection.
#[derive(Clone)]
pub(crate) struct MakeRustlsConnect(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for MakeRustlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MakeRustlsConnect")
    }
}

/// One connection's TLS handshake, for this server name.
pub(crate) struct RustlsConnect(tokio_rustls::TlsConnector, ServerName<'static>);

/// A connection's TLS stream.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        Ok(RustlsConnect(
            tokio_rustls::TlsConnector::from(Arc::clone(&self.0)),
            name,
        ))
    }
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Self(connector, name) = self;
        Box::pin(async move {
            let stream = connector.connect(name, stream).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding: the certificate check is what stops an impostor;
        // binding would need the server certificate's hash algorithm parsed.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().0.as_mut()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_printed_for_debugging_keeps_its_password_out() {
        let target = parse_target("postgres://byoc:s3cret-pw@db.internal:5432/byoc");
        assert!(!format!("{target:?}").contains("s3cret-pw"), "{target:?}");
    }

    #[test]
    fn verify_full_and_its_root_file_are_taken_out_of_a_url() {
        let target = parse_target(
            "postgres://byoc:secret@db.internal:5432/byoc?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
        );
        assert_eq!(
            target.driver_url,
            "postgres://byoc:secret@db.internal:5432/byoc?application_name=x&sslmode=require"
        );
        assert_eq!(
            target.tls,
            Some(TlsWish {
                sslmode: "verify-full".to_owned(),
                root_certificate: Some(PathBuf::from("/etc/ca.pem")),
            })
        );
    }

    #[test]
    fn key_value_urls_and_plaintext_modes_keep_their_shape() {
        let target = parse_target("host=db user=byoc sslmode='require'");
        assert_eq!(target.driver_url, "host=db user=byoc sslmode=require");
        assert_eq!(target.tls.unwrap().root_certificate, None);

        let plain = parse_target("postgres://byoc@127.0.0.1/byoc?sslmode=disable");
        assert_eq!(
            plain.driver_url,
            "postgres://byoc@127.0.0.1/byoc?sslmode=disable"
        );
        assert!(plain.tls.is_none());
        assert!(parse_target("postgres://byoc@127.0.0.1/byoc").tls.is_none());
    }

    #[test]
    fn a_missing_root_file_is_refused_naming_it() {
        let wish = TlsWish {
            sslmode: "verify-full".to_owned(),
            root_certificate: Some(PathBuf::from("/nonexistent/ca.pem")),
        };
        let error = PostgresTls::new(Some(&wish)).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
