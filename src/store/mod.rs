//! Tokens and Basic Auth passwords in the OS keyring (Secret Service, Windows Credential Manager, macOS Keychain).
//!
//! # Schema
//! Every item has the attributes `service = "mailconnect"` and `username = <name>`, where `<name>` is:
//! - `<mailbox>:tokens`: a JSON manifest (no secret in it): `generation`, `access_token_parts`,
//!   `refresh_token_parts`, `access_token_expires_at` (Unix seconds), `signed_in_as`, `saved_at`.
//! - `<mailbox>:access-token:<generation>:<n>` and `<mailbox>:refresh-token:<generation>:<n>` for n = 1, 2, ...:
//!   the token split into parts of at most [`PART_CHARS`] characters, so each item fits Windows Credential Manager's
//!   2560-byte limit (it stores text as UTF-16). Concatenating the parts in order gives the token.
//! - `<mailbox>:basic-password`: the old Basic Auth password, while the account still has one.
//!
//! `<mailbox>` is the address in lower case. A save writes the new generation's parts first and the manifest last,
//! so a crash at any moment leaves the manifest pointing at a complete set of parts.

mod split;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use split::{PART_CHARS, split_into_parts};

use crate::troubleshoot::Advice;

/// The Secret Service `service` attribute of every item mailconnect stores.
pub const SERVICE: &str = "mailconnect";
/// How long one keyring call may take: a locked keyring can otherwise wait forever on an unlock prompt.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(20);
const MANIFEST_SCHEMA: u32 = 1;

/// Tokens as stored for one mailbox. Debug output never shows the tokens.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub access_token_expires_at: SystemTime,
    /// The account that signed in (the delegate, for a shared mailbox).
    pub signed_in_as: Option<String>,
    pub saved_at: SystemTime,
}

/// What the manifest item holds: where the parts are, and nothing secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub schema: u32,
    pub generation: u64,
    pub access_token_parts: u32,
    pub refresh_token_parts: u32,
    pub access_token_expires_at: u64,
    #[serde(default)]
    pub signed_in_as: Option<String>,
    pub saved_at: u64,
}

/// Why the keyring could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("No keyring is available on this computer ({detail})")]
    Unavailable { detail: String },
    #[error("The keyring is locked ({detail})")]
    Locked { detail: String },
    #[error("The keyring did not answer within {} seconds", KEYRING_TIMEOUT.as_secs())]
    TimedOut,
    #[error("The saved sign-in for {mailbox} is incomplete or damaged ({what})")]
    Damaged { mailbox: String, what: String },
    #[error("The keyring refused the item {name}: {detail}")]
    Refused { name: String, detail: String },
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "keyring-unavailable",
            StoreError::Locked { .. } => "keyring-locked",
            StoreError::TimedOut => "keyring-timeout",
            StoreError::Damaged { .. } => "keyring-damaged",
            StoreError::Refused { .. } => "keyring-refused",
        }
    }

    pub fn advice(&self) -> Advice {
        match self {
            StoreError::Unavailable { .. } => Advice {
                cause: "This computer has no keyring service running, so the sign-in cannot be saved securely. Nothing was written to disk.",
                steps: &[
                    "On Linux, install and start GNOME Keyring or KeePassXC with Secret Service enabled, or log in to a desktop session.",
                    "Then choose \"Try again\"; you do not need to sign in again.",
                ],
            },
            StoreError::Locked { .. } | StoreError::TimedOut => Advice {
                cause: "The keyring is locked, so the sign-in cannot be saved yet. Nothing was written to disk.",
                steps: &[
                    "Unlock the keyring: on Linux open \"Passwords and Keys\" and unlock \"Login\"; on Windows sign in to Windows again; on a Mac unlock the login keychain in Keychain Access.",
                    "Then choose \"Try again\"; you do not need to sign in again.",
                ],
            },
            StoreError::Damaged { .. } => Advice {
                cause: "The saved sign-in for this mailbox is incomplete.",
                steps: &["Sign in again; the new sign-in replaces the damaged one."],
            },
            StoreError::Refused { .. } => Advice {
                cause: "The keyring refused to store the sign-in.",
                steps: &[
                    "Choose \"Try again\". If it fails again, copy the support report and send it to support.",
                ],
            },
        }
    }
}

/// Which secret an item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn item_word(self) -> &'static str {
        match self {
            TokenKind::Access => "access-token",
            TokenKind::Refresh => "refresh-token",
        }
    }
}

/// The keyring as mailconnect uses it. Every method blocks; async callers use [`TokenStore::run`].
#[derive(Clone)]
pub struct TokenStore {
    store: Arc<CredentialStore>,
    service: &'static str,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("vendor", &self.store.vendor())
            .field("service", &self.service)
            .finish()
    }
}

impl TokenStore {
    /// Connects to the platform's keyring.
    pub fn open() -> Result<TokenStore, StoreError> {
        TokenStore::open_for_service(SERVICE)
    }

    /// Connects to the platform's keyring, storing items under another `service` (the demo keeps its practice
    /// mailbox apart from real ones this way).
    pub fn open_for_service(service: &'static str) -> Result<TokenStore, StoreError> {
        let unavailable = |error: keyring_core::Error| StoreError::Unavailable {
            detail: describe(&error),
        };
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "ios", target_os = "android"))
        ))]
        let store: Arc<CredentialStore> =
            zbus_secret_service_keyring_store::Store::new().map_err(unavailable)?;
        #[cfg(target_os = "windows")]
        let store: Arc<CredentialStore> =
            windows_native_keyring_store::Store::new().map_err(unavailable)?;
        #[cfg(target_os = "macos")]
        let store: Arc<CredentialStore> =
            apple_native_keyring_store::keychain::Store::new().map_err(unavailable)?;
        Ok(TokenStore { store, service })
    }

    /// Runs blocking keyring work off the async runtime, with [`KEYRING_TIMEOUT`].
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&TokenStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_within(KEYRING_TIMEOUT, work).await
    }

    /// Runs blocking keyring work off the async runtime, giving up after `limit`.
    pub async fn run_within<T: Send + 'static>(
        &self,
        limit: Duration,
        work: impl FnOnce(&TokenStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(move || work(&store))).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(StoreError::Refused {
                name: "(keyring call)".to_owned(),
                detail: if join_error.is_panic() {
                    "the keyring call failed unexpectedly".to_owned()
                } else {
                    "cancelled".to_owned()
                },
            }),
            Err(_) => Err(StoreError::TimedOut),
        }
    }

    fn entry(&self, name: &str, label: &str) -> Result<Entry, StoreError> {
        let modifiers = HashMap::from([("label", label)]);
        self.store
            .build(self.service, name, Some(&modifiers))
            .map_err(|error| map_error(name, &error))
    }

    fn read(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.entry(name, name)?.get_secret() {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| StoreError::Damaged {
                    mailbox: name.to_owned(),
                    what: "an item is not text".to_owned(),
                }),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(error) => Err(map_error(name, &error)),
        }
    }

    fn write(&self, name: &str, label: &str, value: &str) -> Result<(), StoreError> {
        self.entry(name, label)?
            .set_secret(value.as_bytes())
            .map_err(|error| map_error(name, &error))
    }

    /// Deletes an item; a missing one is fine. Returns whether something was deleted.
    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        match self.entry(name, name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(error) => Err(map_error(name, &error)),
        }
    }

    /// Saves tokens for `mailbox`: the new parts first, then the manifest, then the old parts are removed.
    pub fn save_tokens(&self, mailbox: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        if let Some(previous) = self.write_generation(mailbox, tokens)? {
            self.remove_generation(mailbox, previous);
        }
        Ok(())
    }

    /// Writes `tokens` as a new generation and points the manifest at it. Returns the generation it replaced,
    /// which stays in the keyring until [`TokenStore::remove_generation`]: nothing reads it any more, so a caller
    /// in a hurry (another process waits for the token) may tidy it later.
    pub fn write_generation(
        &self,
        mailbox: &str,
        tokens: &StoredTokens,
    ) -> Result<Option<u64>, StoreError> {
        let key = mailbox_key(mailbox);
        let previous = self.manifest(&key)?;
        let generation = previous
            .as_ref()
            .map_or(1, |manifest| manifest.generation + 1);
        let access_parts = self.write_parts(
            &key,
            TokenKind::Access,
            generation,
            tokens.access_token.expose_secret(),
        )?;
        let refresh_parts = self.write_parts(
            &key,
            TokenKind::Refresh,
            generation,
            tokens.refresh_token.expose_secret(),
        )?;
        let manifest = Manifest {
            schema: MANIFEST_SCHEMA,
            generation,
            access_token_parts: access_parts,
            refresh_token_parts: refresh_parts,
            access_token_expires_at: unix_seconds(tokens.access_token_expires_at),
            signed_in_as: tokens.signed_in_as.clone(),
            saved_at: unix_seconds(tokens.saved_at),
        };
        let manifest_json =
            serde_json::to_string(&manifest).map_err(|error| StoreError::Refused {
                name: manifest_name(&key),
                detail: error.to_string(),
            })?;
        self.write(
            &manifest_name(&key),
            &format!("mailconnect sign-in for {key}"),
            &manifest_json,
        )?;
        Ok(previous.map(|manifest| manifest.generation))
    }

    /// Removes the parts of a generation that is no longer in force, and of the one before it (left behind when a
    /// tidy-up was cut short). Failing only leaves unused items behind, so it is logged, not returned.
    pub fn remove_generation(&self, mailbox: &str, generation: u64) {
        let key = mailbox_key(mailbox);
        for old in [generation, generation.saturating_sub(1)]
            .into_iter()
            .filter(|old| *old > 0)
        {
            for kind in [TokenKind::Access, TokenKind::Refresh] {
                if let Err(error) = self.delete_parts(&key, kind, old) {
                    tracing::warn!(code = error.code(), "old token parts could not be removed");
                }
            }
        }
    }

    /// The manifest for `mailbox`, if tokens were saved.
    pub fn manifest(&self, mailbox: &str) -> Result<Option<Manifest>, StoreError> {
        let key = mailbox_key(mailbox);
        let Some(json) = self.read(&manifest_name(&key))? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|_| StoreError::Damaged {
                mailbox: key,
                what: "the manifest is not readable".to_owned(),
            })
    }

    /// Reads the tokens saved for `mailbox`.
    pub fn load_tokens(&self, mailbox: &str) -> Result<Option<StoredTokens>, StoreError> {
        let key = mailbox_key(mailbox);
        let Some(manifest) = self.manifest(&key)? else {
            return Ok(None);
        };
        let access_token = self.read_parts(
            &key,
            TokenKind::Access,
            manifest.generation,
            manifest.access_token_parts,
        )?;
        let refresh_token = self.read_parts(
            &key,
            TokenKind::Refresh,
            manifest.generation,
            manifest.refresh_token_parts,
        )?;
        Ok(Some(StoredTokens {
            access_token,
            refresh_token,
            access_token_expires_at: UNIX_EPOCH
                + Duration::from_secs(manifest.access_token_expires_at),
            signed_in_as: manifest.signed_in_as,
            saved_at: UNIX_EPOCH + Duration::from_secs(manifest.saved_at),
        }))
    }

    /// Removes the tokens for `mailbox`. Returns whether any were stored.
    pub fn delete_tokens(&self, mailbox: &str) -> Result<bool, StoreError> {
        let key = mailbox_key(mailbox);
        let Some(manifest) = self.manifest(&key)? else {
            return Ok(false);
        };
        // Manifest first: once it is gone no reader can pick up half-deleted parts.
        self.delete(&manifest_name(&key))?;
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            self.delete_parts(&key, kind, manifest.generation)?;
        }
        Ok(true)
    }

    pub fn save_basic_password(
        &self,
        mailbox: &str,
        password: &SecretString,
    ) -> Result<(), StoreError> {
        let key = mailbox_key(mailbox);
        self.write(
            &basic_password_name(&key),
            &format!("mailconnect Basic Auth password for {key}"),
            password.expose_secret(),
        )
    }

    pub fn load_basic_password(&self, mailbox: &str) -> Result<Option<SecretString>, StoreError> {
        Ok(self
            .read(&basic_password_name(&mailbox_key(mailbox)))?
            .map(SecretString::from))
    }

    /// Removes the Basic Auth password. Returns whether one was stored.
    pub fn delete_basic_password(&self, mailbox: &str) -> Result<bool, StoreError> {
        self.delete(&basic_password_name(&mailbox_key(mailbox)))
    }

    fn write_parts(
        &self,
        key: &str,
        kind: TokenKind,
        generation: u64,
        token: &str,
    ) -> Result<u32, StoreError> {
        let parts = split_into_parts(token);
        let count = parts.len();
        for (index, part) in parts.into_iter().enumerate() {
            let number = index + 1;
            let label = format!(
                "mailconnect {} for {key} (part {number} of {count})",
                kind.item_word().replace('-', " ")
            );
            self.write(&part_name(key, kind, generation, number), &label, part)?;
        }
        // A crashed earlier attempt at this generation may have left more parts; they would never be read, so remove them.
        let mut extra = count + 1;
        while self.delete(&part_name(key, kind, generation, extra))? {
            extra += 1;
        }
        u32::try_from(count).map_err(|_| StoreError::Refused {
            name: part_name(key, kind, generation, count),
            detail: "too many parts".to_owned(),
        })
    }

    fn read_parts(
        &self,
        key: &str,
        kind: TokenKind,
        generation: u64,
        count: u32,
    ) -> Result<SecretString, StoreError> {
        let mut token = String::new();
        for number in 1..=count as usize {
            let name = part_name(key, kind, generation, number);
            let part = self.read(&name)?.ok_or_else(|| StoreError::Damaged {
                mailbox: key.to_owned(),
                what: format!("{} part {number} of {count} is missing", kind.item_word()),
            })?;
            token.push_str(&part);
        }
        Ok(SecretString::from(token))
    }

    fn delete_parts(&self, key: &str, kind: TokenKind, generation: u64) -> Result<(), StoreError> {
        let mut number = 1;
        while self.delete(&part_name(key, kind, generation, number))? {
            number += 1;
        }
        Ok(())
    }
}

/// Mailbox addresses are case-insensitive; the keyring's attribute match is not.
pub fn mailbox_key(mailbox: &str) -> String {
    mailbox.trim().to_lowercase()
}

fn manifest_name(key: &str) -> String {
    format!("{key}:tokens")
}

fn basic_password_name(key: &str) -> String {
    format!("{key}:basic-password")
}

fn part_name(key: &str, kind: TokenKind, generation: u64, number: usize) -> String {
    format!("{key}:{}:{generation}:{number}", kind.item_word())
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn map_error(name: &str, error: &keyring_core::Error) -> StoreError {
    match error {
        keyring_core::Error::NoStorageAccess(_) => StoreError::Locked {
            detail: describe(error),
        },
        keyring_core::Error::NoDefaultStore => StoreError::Unavailable {
            detail: describe(error),
        },
        keyring_core::Error::PlatformFailure(inner)
            if is_connection_failure(&inner.to_string()) =>
        {
            StoreError::Unavailable {
                detail: describe(error),
            }
        }
        _ => StoreError::Refused {
            name: name.to_owned(),
            detail: describe(error),
        },
    }
}

fn is_connection_failure(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "dbus",
        "d-bus",
        "connection",
        "no such file",
        "service unknown",
        "not provided by any .service",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// A keyring error in words, never including the bytes some variants carry (they may be a secret).
fn describe(error: &keyring_core::Error) -> String {
    match error {
        keyring_core::Error::BadEncoding(_) => "a stored item is not text".to_owned(),
        keyring_core::Error::BadDataFormat(_, _) => {
            "a stored item has an unexpected format".to_owned()
        }
        keyring_core::Error::PlatformFailure(inner)
        | keyring_core::Error::NoStorageAccess(inner) => {
            inner.to_string().chars().take(200).collect()
        }
        keyring_core::Error::Ambiguous(entries) => {
            format!("{} items match one name", entries.len())
        }
        other => other.to_string().chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_follow_the_documented_schema() {
        let key = mailbox_key("  Reception@Practice.COM ");
        assert_eq!(key, "reception@practice.com");
        assert_eq!(manifest_name(&key), "reception@practice.com:tokens");
        assert_eq!(
            part_name(&key, TokenKind::Access, 3, 2),
            "reception@practice.com:access-token:3:2"
        );
        assert_eq!(
            basic_password_name(&key),
            "reception@practice.com:basic-password"
        );
    }

    #[test]
    fn keyring_errors_are_described_without_their_payload() {
        let secret_bytes = b"refresh-token-value".to_vec();
        let text = describe(&keyring_core::Error::BadEncoding(secret_bytes));
        assert!(!text.contains("refresh-token-value"));
        let mapped = map_error(
            "x",
            &keyring_core::Error::BadEncoding(b"refresh-token-value".to_vec()),
        );
        assert!(!format!("{mapped:?} {mapped}").contains("refresh-token-value"));
    }
}
