//! The fake's self-signed TLS certificate, generated at start with rcgen, and the server
//! settings that present it: tonic's for Pub/Sub, rustls's for the REST side.
//!
//! It names `localhost` and `127.0.0.1`, so a client built for the real endpoint connects
//! unchanged when told to trust this one certificate.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tonic::transport::{Identity, ServerTlsConfig};

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct SelfSignedCertificate {
    /// The certificate; give it to clients as their extra trust anchor.
    pub certificate_pem: String,
    /// The certificate in DER, for rustls.
    certificate_der: Vec<u8>,
    /// The private key; stays in the fake.
    key_pem: String,
    /// The private key in PKCS#8 DER, for rustls.
    key_der: Vec<u8>,
}

impl std::fmt::Debug for SelfSignedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSignedCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Why a certificate could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// rcgen could not generate it.
    #[error("cannot generate the fake's tls certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused it for the REST side's server settings.
    #[error("cannot use the fake's tls certificate for https: {0}")]
    Rustls(#[from] rustls::Error),
}

impl SelfSignedCertificate {
    /// Generates a fresh certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Result<Self, CertificateError> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(Self {
            certificate_pem: certified.cert.pem(),
            certificate_der: certified.cert.der().to_vec(),
            key_pem: certified.signing_key.serialize_pem(),
            key_der: certified.signing_key.serialize_der(),
        })
    }

    /// Server TLS settings for Pub/Sub (tonic advertises ALPN `h2`).
    pub fn server_tls_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.certificate_pem, &self.key_pem))
    }

    /// Server TLS settings for the REST side: aws-lc-rs whatever the process default is,
    /// ALPN `h2` and `http/1.1`, as Salesforce's REST endpoints offer both.
    pub fn rest_server_config(&self) -> Result<Arc<rustls::ServerConfig>, CertificateError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.certificate_der.clone())],
                key,
            )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
