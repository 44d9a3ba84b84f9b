//! Which certificate authorities are trusted: the platform's roots plus, optionally, one extra CA file.
//!
//! There is deliberately no way to accept any certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why the trusted roots could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("The extra certificate authority file {path} cannot be read: {detail}")]
    ExtraCaUnreadable { path: PathBuf, detail: String },
    #[error("The extra certificate authority file {path} holds no PEM certificate")]
    ExtraCaEmpty { path: PathBuf },
    #[error("No trusted certificate authorities were found on this computer")]
    NoRoots,
    #[error("The TLS library cannot be set up: {0}")]
    Provider(String),
}

/// The TLS client configuration every connection of the program uses (IMAP, SMTP and HTTPS).
#[derive(Clone)]
pub struct Trust {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

impl Trust {
    /// The platform's roots, plus every certificate in `extra_ca_file` when given.
    pub fn new(extra_ca_file: Option<&Path>) -> Result<Trust, TrustError> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "skipping an unreadable platform certificate");
        }
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = extra_ca_file {
            let unreadable = |detail: String| TrustError::ExtraCaUnreadable {
                path: path.to_owned(),
                detail,
            };
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|error| unreadable(error.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|error| unreadable(error.to_string()))?;
            if certificates.is_empty() {
                return Err(TrustError::ExtraCaEmpty {
                    path: path.to_owned(),
                });
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|error| unreadable(error.to_string()))?;
            }
        }
        if roots.is_empty() {
            return Err(TrustError::NoRoots);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TrustError::Provider(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            config: Arc::new(config),
        })
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }
}

/// A certificate problem in words a person can act on, or `None` when the error is not about the certificate.
pub fn describe_certificate_error(error: &std::io::Error) -> Option<String> {
    let rustls_error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    use rustls::CertificateError as C;
    let text = match rustls_error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate was issued by an authority this computer does not trust"
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "the server's certificate is for a different server name (check the host name)",
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired"
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check this computer's date and time)"
        }
        rustls::Error::InvalidCertificate(C::Revoked) => {
            "the server's certificate has been revoked"
        }
        rustls::Error::InvalidCertificate(_) => "the server's certificate is not valid",
        rustls::Error::AlertReceived(_) | rustls::Error::PeerIncompatible(_) => {
            "the server and this computer could not agree on a secure connection"
        }
        _ => return None,
    };
    Some(text.to_owned())
}
