//! TLS for the API (`api.tls`), with rustls on its ring provider, the only crypto provider
//! compiled in. The certificate chain and key are PEM files, read and checked when the
//! configuration is; a handshake that does not finish within the read timeout closes the
//! connection.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A server certificate and key, ready to accept connections.
#[derive(Clone)]
pub struct TlsConfig(pub(crate) Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Why a certificate or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The certificate file holds no PEM certificate, or a broken one.
    #[error("no valid PEM certificate: {0}")]
    Certificate(String),
    /// The key file holds no PEM private key, or a broken one.
    #[error("no valid PEM private key (PKCS#8, PKCS#1 or SEC1): {0}")]
    Key(String),
    /// rustls refused the pair (a key that does not match the certificate).
    #[error("the certificate and key cannot be used together: {0}")]
    Pair(String),
}

impl TlsConfig {
    /// A configuration from a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Certificate("the file holds no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
        // ring has no post-quantum key exchange (rustls marks its provider deprecated for
        // that); aws-lc-rs would add a C toolchain dependency at build time. One provider.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Pair(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Pair(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self(Arc::new(config)))
    }
}
