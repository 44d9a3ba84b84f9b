//! The bridge's devices: each scanner or program gets its own user name and a generated password, kept only as an
//! Argon2id hash (PHC string) in `devices.toml` beside the settings, so the bridge can check passwords when it runs
//! as a service with no keyring unlocked, and a copy of the file gives away no password.

use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Characters of a generated password: easy to type into a scanner's panel (no 0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const PASSWORD_LENGTH: usize = 20;

/// One device or program that sends through the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// What the practice calls it ("Scanner in reception").
    pub name: String,
    /// What the device types as its user name.
    pub user_name: String,
    /// The mailbox it sends as, with that mailbox's saved sign-in.
    pub mailbox: String,
    /// Argon2id PHC string of the password (never the password).
    pub password_hash: String,
    /// An old device that cannot use TLS may sign in without it from the local network (shown as a warning).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_on_lan: bool,
}

/// Every device, as kept in `devices.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    #[serde(default, rename = "device")]
    pub devices: Vec<Device>,
}

/// Why the devices file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    #[error("{path} cannot be read or written: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a devices file ({message}); fix or remove it")]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Input(String),
}

/// The devices file next to the settings file.
pub fn devices_path(config_path: &Path) -> PathBuf {
    config_path.with_file_name("devices.toml")
}

impl Devices {
    /// The devices in `path`; none when the file does not exist.
    pub fn load(path: &Path) -> Result<Devices, DevicesError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|error| DevicesError::Corrupt {
                path: path.to_owned(),
                message: error.message().to_owned(),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Devices::default()),
            Err(source) => Err(DevicesError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the file atomically (0600 when new).
    pub fn save(&self, path: &Path) -> Result<(), DevicesError> {
        let text = toml::to_string_pretty(self).map_err(|error| DevicesError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(error),
        })?;
        crate::config::write_atomically(path, text.as_bytes()).map_err(|source| DevicesError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Adds a device for `mailbox` and returns the password, the only time it exists outside the device.
    pub fn add(
        &mut self,
        name: &str,
        mailbox: &str,
        plain_on_lan: bool,
    ) -> Result<(Device, SecretString), DevicesError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 80 || name.chars().any(char::is_control) {
            return Err(DevicesError::Input(
                "give the device a name of up to 80 characters, such as \"Scanner in reception\""
                    .to_owned(),
            ));
        }
        let user_name = self.unused_user_name(name);
        let password = generate_password();
        let device = Device {
            name: name.to_owned(),
            user_name,
            mailbox: mailbox.trim().to_owned(),
            password_hash: hash_password(&password),
            plain_on_lan,
        };
        self.devices.push(device.clone());
        Ok((device, password))
    }

    /// Removes the device with this name or user name; whether there was one.
    pub fn remove(&mut self, name_or_user: &str) -> bool {
        let before = self.devices.len();
        self.devices.retain(|device| {
            !device.user_name.eq_ignore_ascii_case(name_or_user.trim())
                && !device.name.eq_ignore_ascii_case(name_or_user.trim())
        });
        before != self.devices.len()
    }

    pub fn by_user_name(&self, user_name: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|device| device.user_name.eq_ignore_ascii_case(user_name.trim()))
    }

    /// A user name from the device's name: lower-case letters and digits joined by dots, made unique.
    fn unused_user_name(&self, name: &str) -> String {
        let words: Vec<String> = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let base = if words.is_empty() {
            "device".to_owned()
        } else {
            words.join(".").chars().take(40).collect()
        };
        let mut candidate = base.clone();
        let mut n = 2;
        while self.by_user_name(&candidate).is_some() {
            candidate = format!("{base}{n}");
            n += 1;
        }
        candidate
    }
}

fn generate_password() -> SecretString {
    let mut rng = rand::rngs::OsRng;
    let password: String = (0..PASSWORD_LENGTH)
        .map(|_| char::from(PASSWORD_ALPHABET[rng.gen_range(0..PASSWORD_ALPHABET.len())]))
        .collect();
    SecretString::from(password)
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes): slow for a guesser, a few tens of milliseconds here.
pub fn hash_password(password: &SecretString) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        // Hashing with a fresh salt and default parameters cannot fail for a short password.
        .expect("argon2 hashes a generated password")
}

/// Whether `password` matches the device's hash. Blocks for the hash's time: call it off the async threads.
pub fn password_matches(device: &Device, password: &SecretString) -> bool {
    PasswordHash::new(&device.password_hash).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_gets_a_unique_user_name_and_only_a_hash_is_kept() {
        let mut devices = Devices::default();
        let (first, password) = devices
            .add(
                "Scanner in reception",
                "reception@smile-dental.example",
                false,
            )
            .unwrap();
        let (second, _) = devices
            .add(
                "Scanner: in reception!",
                "reception@smile-dental.example",
                false,
            )
            .unwrap();
        assert_eq!(first.user_name, "scanner.in.reception");
        assert_eq!(second.user_name, "scanner.in.reception2");
        assert_eq!(password.expose_secret().len(), PASSWORD_LENGTH);
        let text = toml::to_string(&devices).unwrap();
        assert!(!text.contains(password.expose_secret()));
        assert!(first.password_hash.starts_with("$argon2id$"));
        assert!(password_matches(&first, &password));
        assert!(!password_matches(&second, &password));
        assert!(!password_matches(&first, &SecretString::from("wrong")));
        assert!(devices.remove("Scanner in reception"));
        assert!(devices.by_user_name("scanner.in.reception").is_none());
    }
}
