//! The seam under the token store: named secret items of one `service`, in the OS keyring or in memory.
//!
//! [`SecretItems`] is deliberately small (get, set, delete, list) so that the schema logic in `store` (manifest,
//! generations, compare and swap, clean-up) is the same code for every platform and for the in-memory double.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry};

use super::StoreError;

/// Named secret items under one `service`. Every method blocks.
pub trait SecretItems: Send + Sync {
    /// The item's value, or `None` when there is no such item.
    fn get(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Creates or replaces an item; `label` is what keyring managers show.
    fn set(&self, name: &str, label: &str, value: &str) -> Result<(), StoreError>;
    /// Removes an item. Returns whether there was one.
    fn delete(&self, name: &str) -> Result<bool, StoreError>;
    /// The names of every item under this service, for clean-up; `None` when the store cannot search.
    fn list(&self) -> Result<Option<Vec<String>>, StoreError>;
    /// The store's name for Debug output and reports.
    fn vendor(&self) -> String;
}

/// The platform keyring through keyring-core's store for this OS.
pub struct KeyringItems {
    store: Arc<CredentialStore>,
    service: &'static str,
}

impl KeyringItems {
    /// Connects to the platform's keyring, keeping items under `service`.
    pub fn open(service: &'static str) -> Result<KeyringItems, StoreError> {
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
        Ok(KeyringItems { store, service })
    }

    fn entry(&self, name: &str, label: &str) -> Result<Entry, StoreError> {
        let modifiers = HashMap::from([("label", label)]);
        self.store
            .build(self.service, name, Some(&modifiers))
            .map_err(|error| map_error(name, &error))
    }
}

impl SecretItems for KeyringItems {
    fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
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

    fn set(&self, name: &str, label: &str, value: &str) -> Result<(), StoreError> {
        self.entry(name, label)?
            .set_secret(value.as_bytes())
            .map_err(|error| map_error(name, &error))
    }

    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        match self.entry(name, name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            // Two items under one name (another program wrote one): remove them all, they are ours by name.
            Err(keyring_core::Error::Ambiguous(entries)) => {
                for entry in entries {
                    entry
                        .delete_credential()
                        .map_err(|error| map_error(name, &error))?;
                }
                Ok(true)
            }
            Err(error) => Err(map_error(name, &error)),
        }
    }

    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        let spec = HashMap::from([("service", self.service)]);
        let entries = match self.store.search(&spec) {
            Ok(entries) => entries,
            // Stores that cannot search, or not by `service` (Windows' store searches by a name pattern only):
            // the caller falls back to trying the names it expects.
            Err(keyring_core::Error::NotSupportedByStore(_) | keyring_core::Error::Invalid(..)) => {
                return Ok(None);
            }
            Err(error) => return Err(map_error("(search)", &error)),
        };
        Ok(Some(
            entries
                .iter()
                .filter_map(Entry::get_specifiers)
                .filter(|(service, _)| service == self.service)
                .map(|(_, name)| name)
                .collect(),
        ))
    }

    fn vendor(&self) -> String {
        self.store.vendor()
    }
}

/// An in-memory store for unit and window tests that are not about the keyring. It can be told to fail like a
/// locked keyring, to test what the window says then.
#[derive(Default)]
pub struct MemoryItems {
    items: Mutex<BTreeMap<String, String>>,
    failure: Mutex<Option<StoreError>>,
}

impl MemoryItems {
    pub fn new() -> MemoryItems {
        MemoryItems::default()
    }

    /// Every call fails with `failure` until it is set back to `None`.
    pub fn fail_with(&self, failure: Option<StoreError>) {
        *lock(&self.failure) = failure;
    }

    /// Every item's name, sorted (tests look at what was stored).
    pub fn names(&self) -> Vec<String> {
        lock(&self.items).keys().cloned().collect()
    }

    fn check(&self) -> Result<(), StoreError> {
        match &*lock(&self.failure) {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }
}

/// A poisoned lock only means another test thread panicked; the map itself is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SecretItems for MemoryItems {
    fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        Ok(lock(&self.items).get(name).cloned())
    }

    fn set(&self, name: &str, _label: &str, value: &str) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.items).insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.items).remove(name).is_some())
    }

    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        self.check()?;
        Ok(Some(self.names()))
    }

    fn vendor(&self) -> String {
        "in-memory store (tests)".to_owned()
    }
}

pub(super) fn map_error(name: &str, error: &keyring_core::Error) -> StoreError {
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
pub(super) fn describe(error: &keyring_core::Error) -> String {
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

    #[test]
    fn the_memory_store_fails_like_a_locked_keyring_when_told() {
        let items = MemoryItems::new();
        items.set("a", "a", "1").unwrap();
        items.fail_with(Some(StoreError::Locked {
            detail: "test".into(),
        }));
        assert!(matches!(items.get("a"), Err(StoreError::Locked { .. })));
        items.fail_with(None);
        assert_eq!(items.get("a").unwrap().as_deref(), Some("1"));
        assert!(items.delete("a").unwrap());
        assert!(!items.delete("a").unwrap());
    }
}
