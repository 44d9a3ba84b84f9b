//! The organisation's app credential in the keyring: the certificate's private key or the client secret.
//!
//! Items, under the lock `app-<client id>`:
//! - `app-<client id>:credential`: JSON with no secret in it (`kind`, `expires`, `thumbprint_sha256`,
//!   `generation`, `parts`), written last;
//! - `app-<client id>:secret:<generation>:<n>`: the private key (PKCS#8 DER, base64) or the secret, in parts that
//!   fit Windows Credential Manager.
//!
//! A crash mid-write leaves the old description pointing at the old, complete parts; the new ones are swept on the
//! next save.
//!
//! A new credential of either kind, made while one is in use, goes to the pending slot (`app-<client id>-pending`)
//! through [`TokenStore::add_app_credential`], the one way the commands store a credential: the current one keeps
//! working until Microsoft accepts the new one (a certificate uploaded, a secret typed right), and the first token
//! the pending one gets promotes it. A refused one never replaces a working one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use super::{StoreError, TokenStore, split_into_parts};
use crate::app_only::{AppSecret, CredentialInfo, CredentialKind};

#[derive(Debug, Serialize, Deserialize)]
struct Description {
    #[serde(flatten)]
    info: CredentialInfo,
    generation: u64,
    parts: u32,
}

/// Which of the app's two credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The one in use.
    Current,
    /// A new certificate or secret waiting until Microsoft accepts it.
    Pending,
}

fn prefix(client_id: &str, slot: Slot) -> String {
    let client_id = client_id.trim().to_ascii_lowercase();
    match slot {
        Slot::Current => format!("app-{client_id}"),
        Slot::Pending => format!("app-{client_id}-pending"),
    }
}

fn part_name(prefix: &str, generation: u64, index: u32) -> String {
    format!("{prefix}:secret:{generation}:{index}")
}

impl TokenStore {
    /// Adds a new private key or client secret for the app: the current one when the app has none, otherwise the
    /// pending one (replacing an earlier one still waiting), so a working credential is never replaced by one
    /// Microsoft has not accepted yet. Returns the slot it went to.
    pub fn add_app_credential(
        &self,
        client_id: &str,
        secret: &AppSecret,
        expires: chrono::NaiveDate,
    ) -> Result<Slot, StoreError> {
        let slot = match self.app_credential_info(client_id, Slot::Current) {
            Ok(None) => Slot::Current,
            // One in use, or one that cannot be read (the keyring may be half-unlocked): never overwritten here.
            Ok(Some(_)) | Err(StoreError::Damaged { .. }) => Slot::Pending,
            Err(error) => return Err(error),
        };
        self.save_app_credential(client_id, slot, secret, expires)?;
        Ok(slot)
    }

    /// Stores the app's private key or client secret in `slot`, replacing any earlier one there. The commands use
    /// [`TokenStore::add_app_credential`]; this is for promotion and tests.
    pub fn save_app_credential(
        &self,
        client_id: &str,
        slot: Slot,
        secret: &AppSecret,
        expires: chrono::NaiveDate,
    ) -> Result<(), StoreError> {
        let prefix = prefix(client_id, slot);
        let _lock = self.lock(&prefix)?;
        let description_name = format!("{prefix}:credential");
        let previous = self.app_description(&description_name)?;
        let generation = previous.as_ref().map_or(1, |old| old.generation + 1);
        let (kind, text, thumbprint_sha256, thumbprint_sha1_hex) = match secret {
            AppSecret::PrivateKey {
                key,
                thumbprint_sha256,
                thumbprint_sha1_hex,
            } => (
                CredentialKind::Certificate,
                SecretString::from(STANDARD.encode(key.expose_secret())),
                Some(thumbprint_sha256.clone()),
                thumbprint_sha1_hex.clone(),
            ),
            AppSecret::ClientSecret(secret) => (CredentialKind::Secret, secret.clone(), None, None),
        };
        let parts = split_into_parts(text.expose_secret());
        for (index, part) in parts.iter().enumerate() {
            let name = part_name(&prefix, generation, index as u32 + 1);
            self.items.set(
                &name,
                &format!(
                    "mailconnect app {client_id} {} (part {})",
                    kind.label(),
                    index + 1
                ),
                part,
            )?;
        }
        let description = Description {
            info: CredentialInfo {
                kind,
                expires,
                thumbprint_sha256,
                thumbprint_sha1_hex,
            },
            generation,
            parts: parts.len() as u32,
        };
        let json = serde_json::to_string(&description).map_err(|error| StoreError::Refused {
            name: description_name.clone(),
            detail: error.to_string(),
        })?;
        self.items.set(
            &description_name,
            &format!("mailconnect app {client_id} (nothing secret)"),
            &json,
        )?;
        // Older generations, and parts a killed save left behind: best effort, the next save sweeps again.
        let _ = self.sweep_app_parts(&prefix, Some(generation));
        Ok(())
    }

    /// What is known about the app's credential in `slot`, without reading the secret.
    pub fn app_credential_info(
        &self,
        client_id: &str,
        slot: Slot,
    ) -> Result<Option<CredentialInfo>, StoreError> {
        let prefix = prefix(client_id, slot);
        Ok(self
            .app_description(&format!("{prefix}:credential"))?
            .map(|description| description.info))
    }

    /// The app's stored credential, if any.
    pub fn load_app_credential(
        &self,
        client_id: &str,
        slot: Slot,
    ) -> Result<Option<AppSecret>, StoreError> {
        let prefix = prefix(client_id, slot);
        let description_name = format!("{prefix}:credential");
        let Some(description) = self.app_description(&description_name)? else {
            return Ok(None);
        };
        let mut text = String::new();
        for index in 1..=description.parts {
            let name = part_name(&prefix, description.generation, index);
            let part = self.items.get(&name)?.ok_or_else(|| StoreError::Damaged {
                mailbox: prefix.clone(),
                what: format!("{name}: a part of the app's credential is missing"),
            })?;
            text.push_str(&part);
        }
        let text = SecretString::from(text);
        let damaged = |detail: &str| StoreError::Damaged {
            mailbox: prefix.clone(),
            what: detail.to_owned(),
        };
        match description.info.kind {
            CredentialKind::Secret => Ok(Some(AppSecret::ClientSecret(text))),
            CredentialKind::Certificate => {
                let key = STANDARD
                    .decode(text.expose_secret())
                    .map_err(|_| damaged("the private key is not readable"))?;
                Ok(Some(AppSecret::PrivateKey {
                    key: SecretBox::new(Box::new(key)),
                    thumbprint_sha256: description
                        .info
                        .thumbprint_sha256
                        .ok_or_else(|| damaged("the certificate's thumbprint is missing"))?,
                    thumbprint_sha1_hex: description.info.thumbprint_sha1_hex,
                }))
            }
        }
    }

    /// Removes the app's credential. Returns whether one was stored.
    pub fn delete_app_credential(&self, client_id: &str, slot: Slot) -> Result<bool, StoreError> {
        let prefix = prefix(client_id, slot);
        let _lock = self.lock(&prefix)?;
        let had = self.items.delete(&format!("{prefix}:credential"))?;
        self.sweep_app_parts(&prefix, None)?;
        Ok(had)
    }

    /// Makes the pending credential the current one (after it got a token), then removes the pending copy.
    pub fn promote_pending_app_credential(&self, client_id: &str) -> Result<(), StoreError> {
        let Some(info) = self.app_credential_info(client_id, Slot::Pending)? else {
            return Ok(());
        };
        let Some(secret) = self.load_app_credential(client_id, Slot::Pending)? else {
            return Ok(());
        };
        self.save_app_credential(client_id, Slot::Current, &secret, info.expires)?;
        self.delete_app_credential(client_id, Slot::Pending)
            .map(drop)
    }

    fn app_description(&self, name: &str) -> Result<Option<Description>, StoreError> {
        self.items
            .get(name)?
            .map(|json| {
                serde_json::from_str(&json).map_err(|_| StoreError::Damaged {
                    mailbox: name.to_owned(),
                    what: "the description of the app's credential is not readable".to_owned(),
                })
            })
            .transpose()
    }

    /// Deletes every part not of generation `keep`.
    fn sweep_app_parts(&self, prefix: &str, keep: Option<u64>) -> Result<(), StoreError> {
        let Some(names) = self.items.list()? else {
            return Ok(());
        };
        let kept = keep.map(|generation| format!("{prefix}:secret:{generation}:"));
        for name in names {
            let is_part = name.starts_with(&format!("{prefix}:secret:"));
            if is_part && kept.as_ref().is_none_or(|kept| !name.starts_with(kept)) {
                self.items.delete(&name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret, SecretBox, SecretString};

    use crate::app_only::AppSecret;
    use crate::store::TokenStore;
    use crate::store::app_credential::Slot;

    fn day(year: i32, month: u32, day: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn a_private_key_longer_than_one_part_round_trips_and_a_new_one_replaces_it() {
        let (store, items) = TokenStore::in_memory();
        let key: Vec<u8> = (0..1300u32).map(|n| (n % 251) as u8).collect();
        store
            .save_app_credential(
                "11111111-2222-3333-4444-555555555555",
                Slot::Current,
                &AppSecret::PrivateKey {
                    key: SecretBox::new(Box::new(key.clone())),
                    thumbprint_sha256: "thumb".to_owned(),
                    thumbprint_sha1_hex: None,
                },
                day(2027, 1, 31),
            )
            .unwrap();
        let info = store
            .app_credential_info("11111111-2222-3333-4444-555555555555", Slot::Current)
            .unwrap()
            .unwrap();
        assert_eq!(info.expires, day(2027, 1, 31));
        assert_eq!(info.thumbprint_sha256.as_deref(), Some("thumb"));
        let loaded = store
            .load_app_credential("11111111-2222-3333-4444-555555555555", Slot::Current)
            .unwrap();
        match loaded {
            Some(AppSecret::PrivateKey {
                key: loaded,
                thumbprint_sha256,
                ..
            }) => {
                assert_eq!(loaded.expose_secret(), &key);
                assert_eq!(thumbprint_sha256, "thumb");
            }
            other => panic!("{other:?}"),
        }
        assert!(items.names().len() > 2, "the key is split into parts");
        store
            .save_app_credential(
                "11111111-2222-3333-4444-555555555555",
                Slot::Current,
                &AppSecret::ClientSecret(SecretString::from("s3cr3t~value")),
                day(2026, 12, 24),
            )
            .unwrap();
        assert_eq!(items.names().len(), 2, "the old key's parts are gone");
        assert!(matches!(
            store.load_app_credential("11111111-2222-3333-4444-555555555555", Slot::Current),
            Ok(Some(AppSecret::ClientSecret(secret))) if secret.expose_secret() == "s3cr3t~value"
        ));
        assert!(
            store
                .delete_app_credential("11111111-2222-3333-4444-555555555555", Slot::Current)
                .unwrap()
        );
        assert!(items.names().is_empty());
    }
}
