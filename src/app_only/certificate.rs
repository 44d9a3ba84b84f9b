//! The app's certificate credential: a key pair made here (RSA 2048, what Microsoft Entra accepts for client
//! assertions), a self-signed certificate to upload to the app registration, and the signed client assertion
//! (RFC 7523) that proves the app holds the private key.
//!
//! `rsa` generates the key (ring cannot generate RSA keys), `rcgen` writes the certificate and `ring` signs; the
//! private key leaves this module only inside a secret type and is stored only in the keyring.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// How long a generated certificate is valid: two years, then a new one is made and uploaded.
pub const CERTIFICATE_VALIDITY_DAYS: u32 = 730;
/// How long a client assertion may be used: Microsoft accepts up to an hour; ten minutes is plenty for one request.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);
const RSA_BITS: usize = 2048;

/// A key pair and certificate just made. Debug output never shows the private key.
pub struct GeneratedCertificate {
    /// The private key as PKCS#8 DER.
    pub private_key: SecretBox<Vec<u8>>,
    /// The certificate to upload (PEM, public).
    pub certificate_pem: String,
    /// `x5t#S256`: the base64url SHA-256 of the certificate, which the assertion names.
    pub thumbprint_sha256: String,
    /// The SHA-1 thumbprint in upper-case hex, as the Entra admin center lists uploaded certificates (and `x5t`).
    pub thumbprint_sha1_hex: String,
    /// The last day the certificate is valid.
    pub expires: chrono::NaiveDate,
}

impl std::fmt::Debug for GeneratedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCertificate")
            .field("thumbprint_sha256", &self.thumbprint_sha256)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Why a certificate could not be made or an assertion signed.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the key pair could not be generated: {0}")]
    Generate(String),
    #[error("the certificate could not be written: {0}")]
    Certificate(String),
    #[error("the stored private key is not a usable RSA key; make a new certificate")]
    BadKey,
    #[error("the client assertion could not be signed")]
    Sign,
}

/// Makes a key pair and a self-signed certificate named after the app (`CN=mailconnect <client id>`).
pub fn generate(
    client_id: &str,
    today: chrono::NaiveDate,
) -> Result<GeneratedCertificate, CertificateError> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
        .map_err(|error| CertificateError::Generate(error.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|error| CertificateError::Generate(error.to_string()))?;
    let private_key = SecretBox::new(Box::new(pkcs8.as_bytes().to_vec()));
    drop(key);
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(private_key.expose_secret().as_slice());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
        .map_err(|error| CertificateError::Certificate(error.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|error| CertificateError::Certificate(error.to_string()))?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("mailconnect {client_id}"),
    );
    let expires = today + chrono::Days::new(u64::from(CERTIFICATE_VALIDITY_DAYS));
    // A day either side: valid at once in every time zone, and through the whole of its last day.
    // Months and days always fit a byte.
    let day = |date: chrono::NaiveDate| {
        use chrono::Datelike;
        rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
    };
    params.not_before = day(today - chrono::Days::new(1));
    params.not_after = day(expires + chrono::Days::new(1));
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|error| CertificateError::Certificate(error.to_string()))?;
    Ok(GeneratedCertificate {
        private_key,
        certificate_pem: certificate.pem(),
        thumbprint_sha256: thumbprint_sha256(certificate.der()),
        thumbprint_sha1_hex: thumbprint_sha1_hex(certificate.der()),
        expires,
    })
}

/// `x5t#S256` of a DER certificate.
pub fn thumbprint_sha256(certificate_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(certificate_der))
}

/// The SHA-1 thumbprint in upper-case hex: what the Entra admin center lists under Certificates & secrets.
pub fn thumbprint_sha1_hex(certificate_der: &[u8]) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(certificate_der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

/// `x5t` (base64url SHA-1) from the upper-case hex thumbprint.
fn x5t_from_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client assertion for one token request to `token_url`: a JWT signed RS256 with the private key, naming the
/// certificate by `x5t#S256`, `iss` = `sub` = the client id, `aud` = the token endpoint, a fresh `jti`, valid for
/// ten minutes.
pub fn client_assertion(
    private_key: &SecretBox<Vec<u8>>,
    thumbprint_sha256: &str,
    thumbprint_sha1_hex: Option<&str>,
    client_id: &str,
    token_url: &str,
) -> Result<SecretString, CertificateError> {
    let key = ring::signature::RsaKeyPair::from_pkcs8(private_key.expose_secret())
        .map_err(|_| CertificateError::BadKey)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut jti = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut jti);
    let mut header =
        serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": thumbprint_sha256});
    // The older SHA-1 name too, which every Microsoft cloud reads.
    if let Some(hex) = thumbprint_sha1_hex {
        header["x5t"] = serde_json::Value::String(x5t_from_hex(hex));
    }
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": URL_SAFE_NO_PAD.encode(jti),
        "nbf": now,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME.as_secs(),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| CertificateError::Sign)?;
    Ok(SecretString::from(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    )))
}
