//! The fake's self-signed TLS certificate, generated at start with rcgen.
//!
//! It names `localhost` and `127.0.0.1`, so a client built for the real endpoint connects
//! unchanged when told to trust this one certificate.

use tonic::transport::{Identity, ServerTlsConfig};

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct SelfSignedCertificate {
    /// The certificate; give it to clients as their extra trust anchor.
    pub certificate_pem: String,
    /// The private key; stays in the fake.
    key_pem: String,
}

impl std::fmt::Debug for SelfSignedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSignedCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate the fake's tls certificate: {0}")]
pub struct CertificateError(#[from] rcgen::Error);

impl SelfSignedCertificate {
    /// Generates a fresh certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Result<Self, CertificateError> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(Self {
            certificate_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
        })
    }

    /// Server TLS settings (tonic advertises ALPN `h2`).
    pub fn server_tls_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.certificate_pem, &self.key_pem))
    }
}
