//! Single secrets kept under a fixed name (`bridge-tls:identity`): small enough for one item on every platform.

use secrecy::{ExposeSecret, SecretString};

use super::{StoreError, TokenStore};

impl TokenStore {
    /// The secret stored under `name`, if any.
    pub fn named_secret(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        Ok(self.items.get(name)?.map(SecretString::from))
    }

    /// Stores a secret under `name` (under a lock of the same name), replacing any earlier one.
    pub fn save_named_secret(
        &self,
        name: &str,
        label: &str,
        secret: &SecretString,
    ) -> Result<(), StoreError> {
        let _lock = self.lock(&name.replace(':', "-"))?;
        self.items.set(name, label, secret.expose_secret())
    }

    /// Removes the secret stored under `name`; whether there was one.
    pub fn delete_named_secret(&self, name: &str) -> Result<bool, StoreError> {
        let _lock = self.lock(&name.replace(':', "-"))?;
        self.items.delete(name)
    }
}
