//! App-only access (OAuth client credentials): an organisation's own app registration reaches its mailboxes
//! with no one signing in, proving itself with a certificate (preferred) or a client secret kept in the keyring.
//!
//! The registration (ids, which credential, its expiry) is settings; the private key or secret is only in the
//! keyring. Tokens are asked for per process and kept in memory while they have time left: there is no refresh
//! token to store, and a new one costs one request.

pub mod certificate;

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};

use secrecy::{SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use crate::auth::SignInClient;
use crate::config::{Account, Field, InputError};
use crate::store::{AppCredentialSlot as Slot, TokenStore};
use crate::tokens::{FreshToken, Renew, TokenError};

/// A warning is shown this many days before the certificate or secret stops working.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// How the app proves itself to Microsoft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// A certificate made by mailconnect; the private key never leaves the keyring.
    Certificate,
    /// A client secret made in the Entra admin center.
    Secret,
}

impl CredentialKind {
    pub fn label(self) -> &'static str {
        match self {
            CredentialKind::Certificate => "certificate",
            CredentialKind::Secret => "client secret",
        }
    }
}

/// The organisation's app registration, as settings (nothing secret). What proves it (the certificate's key or
/// the secret) and when that ends are kept together in the keyring: see [`CredentialInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRegistration {
    /// The Application (client) id.
    pub client_id: String,
    /// The tenant id or domain (never common, organizations or consumers: client credentials need the tenant).
    pub tenant: String,
    /// The object id on the Enterprise applications page, for `New-ServicePrincipal` (not the one on App
    /// registrations: that is the documented trap, and Exchange then refuses every sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_object_id: Option<String>,
}

impl AppRegistration {
    /// Every problem with the registration; empty when usable.
    pub fn problems(&self) -> Vec<InputError> {
        let mut problems = Vec::new();
        if let Err(error) = tenant(&self.tenant) {
            problems.push(error);
        }
        if let Err(error) = crate::config::validate::client_id(&self.client_id) {
            problems.push(error);
        }
        if let Some(object_id) = &self.enterprise_object_id
            && crate::config::validate::client_id(object_id).is_err()
        {
            problems.push(InputError {
                field: Field::ClientId,
                message: "The Enterprise application's object id is a GUID like 00000000-0000-0000-0000-000000000000."
                    .to_owned(),
            });
        }
        problems
    }
}

/// What is known about the app's credential without reading the secret: its kind, its end, and for a
/// certificate its thumbprint. Kept in the keyring beside the secret, so the two can never disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    pub kind: CredentialKind,
    /// The last day the certificate or secret works.
    pub expires: chrono::NaiveDate,
    /// `x5t#S256` of the certificate (certificates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint_sha256: Option<String>,
    /// The SHA-1 thumbprint in upper-case hex, as the Entra admin center lists it (certificates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint_sha1_hex: Option<String>,
}

impl CredentialInfo {
    /// Whether the certificate or secret ends soon (or has ended) on `today`.
    pub fn expiry(&self, today: chrono::NaiveDate) -> Expiry {
        let days_left = (self.expires - today).num_days();
        if days_left < 0 {
            Expiry::Expired
        } else if days_left <= EXPIRY_WARNING_DAYS {
            Expiry::Soon { days_left }
        } else {
            Expiry::Fine
        }
    }

    /// The warning for an IT admin, when there is one.
    pub fn expiry_warning(&self, today: chrono::NaiveDate) -> Option<String> {
        let what = self.kind.label();
        let date = self.expires.format("%-d %b %Y");
        let renew = match self.kind {
            CredentialKind::Certificate => {
                "`mailconnect app certificate` makes a new one to upload (the current one keeps working until then)"
            }
            CredentialKind::Secret => {
                "make a new secret in the Entra admin center and give it to `mailconnect app secret`"
            }
        };
        match self.expiry(today) {
            Expiry::Fine => None,
            Expiry::Soon { days_left: 0 } => Some(format!(
                "The app's {what} stops working at the end of today, {date}: {renew}."
            )),
            Expiry::Soon { days_left } => Some(format!(
                "The app's {what} stops working on {date} ({}): {renew}.",
                crate::words::count(days_left as u64, "day left", "days left")
            )),
            Expiry::Expired => Some(format!(
                "The app's {what} stopped working on {date}: {renew}."
            )),
        }
    }
}

/// How near the credential's end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Fine,
    /// Within [`EXPIRY_WARNING_DAYS`]: days left, counting today.
    Soon {
        days_left: i64,
    },
    Expired,
}

/// Today, as the credential's dates are counted everywhere (UTC), so the window, `status` and `app show` agree.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A tenant for client credentials: a tenant id or domain, never one of the shared endpoints.
pub fn tenant(tenant: &str) -> Result<(), InputError> {
    if ["common", "organizations", "consumers"]
        .iter()
        .any(|shared| tenant.trim().eq_ignore_ascii_case(shared))
    {
        return Err(InputError {
            field: Field::Tenant,
            message: format!(
                "An app signs in to one organisation: give its tenant id or domain (such as contoso.onmicrosoft.com), not \"{}\".",
                tenant.trim()
            ),
        });
    }
    crate::config::validate::tenant(tenant)
}

/// The app's private key or secret as kept in the keyring. Debug output never shows it.
pub enum AppSecret {
    PrivateKey {
        key: SecretBox<Vec<u8>>,
        /// `x5t#S256` of the certificate the key belongs to (public).
        thumbprint_sha256: String,
        /// Its SHA-1 thumbprint in hex (public), for `x5t` and for the admin to compare.
        thumbprint_sha1_hex: Option<String>,
    },
    ClientSecret(SecretString),
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppSecret::PrivateKey {
                thumbprint_sha256, ..
            } => f
                .debug_struct("PrivateKey")
                .field("thumbprint_sha256", thumbprint_sha256)
                .finish_non_exhaustive(),
            AppSecret::ClientSecret(_) => f.write_str("ClientSecret(..)"),
        }
    }
}

/// What the app sends to prove itself in one token request.
pub enum ClientProof {
    Secret(SecretString),
    Assertion(SecretString),
}

/// What this process last got for one (token endpoint, client id, scope): a token, or a refusal.
enum Cached {
    Token {
        token: SecretString,
        ends: SystemTime,
        got: Instant,
    },
    Failed {
        error: crate::auth::SignInError,
        got: Instant,
    },
}

type TokenCache = HashMap<(String, String, String), Cached>;

static TOKENS: LazyLock<tokio::sync::Mutex<TokenCache>> =
    LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

/// A token asked for this recently serves "renew now" too: a thousand mailboxes refused at once (permissions still
/// on their way) cause one new token, not a thousand.
const JUST_GOT: Duration = Duration::from_secs(60);

/// An app-only access token for `account` (one whose `app_only` is set): from this process's memory while it has
/// more than the renewal margin left, otherwise asked for with the credential in the keyring. One request at a time,
/// so a thousand checks starting together cause one token request.
///
/// A pending certificate or secret (made while the current one is in use) is tried first; while Microsoft refuses it
/// (a certificate not uploaded yet, a mistyped secret) the current one is used, and its first token promotes it.
pub async fn access_token(
    account: &Account,
    store: &TokenStore,
    renew: Renew,
    client: impl FnOnce() -> anyhow::Result<SignInClient>,
) -> Result<FreshToken, TokenError> {
    let scope = account
        .app_scope()
        .map_err(|error| TokenError::Setup(anyhow::anyhow!("{}", error.message)))?;
    let token_url = account
        .endpoints()
        .map_err(|error| TokenError::Setup(anyhow::anyhow!("{}", error.message)))?
        .token
        .to_string();
    let client_id = account.client_id.trim().to_ascii_lowercase();
    let key = (token_url.clone(), client_id.clone(), scope.clone());
    let arrived = Instant::now();
    // Held across the request on purpose: the others wait for this answer instead of asking too.
    let mut cache = TOKENS.lock().await;
    match cache.get(&key) {
        Some(Cached::Token { token, ends, got }) => {
            let left = ends.duration_since(SystemTime::now()).unwrap_or_default();
            let fresh_enough = match renew.margin() {
                Some(margin) => left > margin,
                None => got.elapsed() < JUST_GOT && !left.is_zero(),
            };
            if fresh_enough {
                return Ok(handed_out(token.clone()));
            }
        }
        // Refused while this caller waited its turn: the same answer, without asking again (a thousand checks
        // behind a dead endpoint must not each wait for it). A later caller asks anew.
        Some(Cached::Failed { error, got }) if *got >= arrived => {
            return Err(TokenError::Refresh(error.clone()));
        }
        _ => {}
    }
    let client = client().map_err(TokenError::Setup)?;
    let (pending, current) = store
        .run({
            let client_id = client_id.clone();
            move |store| {
                Ok((
                    store.load_app_credential(&client_id, Slot::Pending)?,
                    store.load_app_credential(&client_id, Slot::Current)?,
                ))
            }
        })
        .await?;
    let ask = |secret: &AppSecret| -> Result<ClientProof, TokenError> {
        Ok(match secret {
            AppSecret::ClientSecret(secret) => ClientProof::Secret(secret.clone()),
            AppSecret::PrivateKey {
                key: private_key,
                thumbprint_sha256,
                thumbprint_sha1_hex,
            } => ClientProof::Assertion(
                certificate::client_assertion(
                    private_key,
                    thumbprint_sha256,
                    thumbprint_sha1_hex.as_deref(),
                    &client_id,
                    &token_url,
                )
                .map_err(|error| TokenError::Setup(error.into()))?,
            ),
        })
    };
    // The new credential first; refused for any reason, the one in use answers instead, so a certificate not yet
    // uploaded or a mistyped secret never stops the mailboxes. When both are refused, the new one's refusal is the
    // one that needs the admin's attention.
    let mut pending_refused = None;
    if let Some(pending) = &pending {
        match client.client_credentials(&scope, ask(pending)?).await {
            Ok(tokens) => {
                let promoted = client_id.clone();
                if let Err(error) = store
                    .run(move |store| store.promote_pending_app_credential(&promoted))
                    .await
                {
                    tracing::warn!(
                        code = error.code(),
                        "the new credential works but could not be made current yet"
                    );
                }
                return remember(&mut cache, key, Ok(tokens));
            }
            Err(error) => {
                tracing::warn!(
                    aadsts = error.identity().and_then(|identity| identity.aadsts()),
                    "the app's new credential was refused; the one in use is tried"
                );
                pending_refused = Some(error);
            }
        }
    }
    let answer = match (current, pending_refused) {
        (Some(current), pending_refused) => {
            match client.client_credentials(&scope, ask(&current)?).await {
                Ok(tokens) => Ok(tokens),
                Err(error) => Err(pending_refused.unwrap_or(error)),
            }
        }
        (None, Some(refused)) => Err(refused),
        (None, None) => {
            return Err(TokenError::NoAppCredential {
                client_id: client_id.clone(),
            });
        }
    };
    remember(&mut cache, key, answer)
}

/// Keeps this process's answer for the others waiting, and hands out the token.
fn remember(
    cache: &mut TokenCache,
    key: (String, String, String),
    answer: Result<crate::auth::TokenSet, crate::auth::SignInError>,
) -> Result<FreshToken, TokenError> {
    match answer {
        Ok(tokens) => {
            cache.insert(
                key,
                Cached::Token {
                    token: tokens.access_token.clone(),
                    ends: tokens.expires_at,
                    got: Instant::now(),
                },
            );
            Ok(handed_out(tokens.access_token))
        }
        Err(error) => {
            cache.insert(
                key,
                Cached::Failed {
                    error: error.clone(),
                    got: Instant::now(),
                },
            );
            Err(TokenError::Refresh(error))
        }
    }
}

/// Forgets this process's app tokens (after the credential changed).
pub async fn forget_cached_tokens() {
    TOKENS.lock().await.clear();
}

fn handed_out(access_token: SecretString) -> FreshToken {
    FreshToken {
        access_token,
        refreshed: false,
        warning: None,
    }
}
