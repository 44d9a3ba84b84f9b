//! The bridge's own certificate for STARTTLS and implicit TLS: made once for this computer (ECDSA P-256, ten years),
//! its private key kept in the keyring; without a keyring (a service with no session) one is made for this run only
//! and never written anywhere.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::store::StoreAccess;

/// The keyring item holding the key and the certificate (JSON; the key is the secret).
pub const ITEM: &str = "bridge-tls:identity";

#[derive(Serialize, Deserialize)]
struct Identity {
    /// PKCS#8 DER, base64.
    key: String,
    /// DER, base64.
    certificate: String,
}

/// The TLS server configuration with this computer's bridge certificate.
pub async fn server_config(
    store: &StoreAccess,
    host_name: &str,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, CertificateDer<'static>)> {
    // Made anew only when the keyring answers that there is none: a keyring that cannot be read now (locked, no
    // session) gets a certificate for this run, and the stored one is left as it is.
    let opened = store.open();
    let stored = match &opened {
        Ok(store) => store.run(|store| store.named_secret(ITEM)).await,
        Err(error) => Err(error.clone()),
    };
    let identity = match &stored {
        Ok(Some(secret)) => serde_json::from_str::<Identity>(secret.expose_secret()).ok(),
        _ => None,
    };
    let (key, certificate) = match identity {
        Some(identity) => decode(&identity)?,
        None => {
            let (identity, key, certificate) = make(host_name)?;
            match (&opened, &stored) {
                (Ok(store), Ok(_)) => {
                    let json = SecretString::from(serde_json::to_string(&identity)?);
                    let saved = store
                        .run(move |store| {
                            store.save_named_secret(
                                ITEM,
                                "mailconnect bridge certificate key",
                                &json,
                            )
                        })
                        .await;
                    if let Err(error) = saved {
                        tracing::warn!(
                            code = error.code(),
                            "the bridge's certificate is for this run only (the keyring cannot keep its key)"
                        );
                    }
                }
                (_, Err(error)) => tracing::warn!(
                    code = error.code(),
                    "the bridge's certificate is for this run only (the keyring cannot be read now)"
                ),
                (Err(error), _) => tracing::warn!(
                    code = error.code(),
                    "the bridge's certificate is for this run only (no keyring)"
                ),
            }
            (key, certificate)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], PrivateKeyDer::Pkcs8(key))?;
    Ok((Arc::new(config), certificate))
}

/// A TLS client that accepts exactly the bridge's own certificate (and checks the handshake's signatures with
/// it): the window's test message reaches the bridge the way a device on the network does, without trusting
/// anything else.
pub fn client_config_pinned(certificate: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned {
        certificate,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

type KeyAndCertificate = (PrivatePkcs8KeyDer<'static>, CertificateDer<'static>);

fn decode(identity: &Identity) -> anyhow::Result<KeyAndCertificate> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    Ok((
        PrivatePkcs8KeyDer::from(engine.decode(&identity.key)?),
        CertificateDer::from(engine.decode(&identity.certificate)?),
    ))
}

fn make(
    host_name: &str,
) -> anyhow::Result<(
    Identity,
    PrivatePkcs8KeyDer<'static>,
    CertificateDer<'static>,
)> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let key = rcgen::KeyPair::generate()?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !host_name.is_empty() && host_name != "localhost" {
        names.push(host_name.to_owned());
    }
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("mailconnect bridge on {host_name}"),
    );
    let today = chrono::Utc::now().date_naive();
    let day = |date: chrono::NaiveDate| {
        use chrono::Datelike;
        rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
    };
    params.not_before = day(today - chrono::Days::new(1));
    params.not_after = day(today + chrono::Days::new(3650));
    let certificate = params.self_signed(&key)?;
    let key_der = key.serialize_der();
    let identity = Identity {
        key: engine.encode(&key_der),
        certificate: engine.encode(certificate.der()),
    };
    Ok((
        identity,
        PrivatePkcs8KeyDer::from(key_der),
        certificate.der().clone(),
    ))
}
