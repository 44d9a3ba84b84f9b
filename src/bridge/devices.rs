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

/// The longest user name compared or counted: generated ones are at most 42 characters.
const MAX_USER_NAME: usize = 64;

/// A user name as the bridge compares and counts it: without spaces, control, format (bidirectional, zero-width)
/// characters anywhere, in lower case, at most 64 characters. Every lookup and every failure count goes through
/// here, so " Scanner" and "scanner\u{200b}" are the same name, and a name of any length costs the same.
pub fn user_name_key(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && !is_format_character(*c))
        .flat_map(char::to_lowercase)
        .take(MAX_USER_NAME)
        .collect()
}

/// Characters that change how text around them is shown without being seen: bidirectional controls and
/// zero-width characters (Unicode's "format" class, as far as text from a device may hold it).
pub fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// Text a device sent (a user name from a failed sign-in) as the log shows it: in quotes, cut at 64 characters,
/// control and format characters (line breaks, escapes, bidirectional controls) and quotes shown as `?`, so it
/// can neither forge a log line nor hide what it is.
pub fn shown_quoted(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(MAX_USER_NAME)
        .map(|c| {
            if c.is_control() || is_format_character(c) || c == '"' || c == '\\' {
                '?'
            } else {
                c
            }
        })
        .collect();
    if text.chars().count() > MAX_USER_NAME {
        shown.push('…');
    }
    format!("\"{shown}\"")
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
        // No control or bidirectional characters: a name must read in a list, a log and a terminal as it is.
        if name.is_empty()
            || name.chars().count() > 80
            || name
                .chars()
                .any(|c| c.is_control() || is_format_character(c))
        {
            return Err(DevicesError::Input(
                "give the device a name of up to 80 letters, digits and spaces, such as \"Scanner in reception\""
                    .to_owned(),
            ));
        }
        // Names are unique (in any case, and apart from user names), so `device remove NAME` means one device.
        if self.matching(name).next().is_some() {
            return Err(DevicesError::Input(format!(
                "a device is already called \"{name}\"; give this one another name"
            )));
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

    /// The devices whose name or user name this is (in any case).
    fn matching<'a>(&'a self, name_or_user: &'a str) -> impl Iterator<Item = &'a Device> + 'a {
        let wanted = name_or_user.trim();
        self.devices.iter().filter(move |device| {
            device.name.trim().to_lowercase() == wanted.to_lowercase()
                || user_name_key(&device.user_name) == user_name_key(wanted)
        })
    }

    /// Removes the one device with this name or user name. Refused when none or more than one is meant (two
    /// devices of one name from an older version, or a name that is another device's user name).
    pub fn remove(&mut self, name_or_user: &str) -> Result<Device, DevicesError> {
        let found: Vec<Device> = self.matching(name_or_user).cloned().collect();
        match found.as_slice() {
            [one] => {
                self.devices.retain(|device| device != one);
                Ok(one.clone())
            }
            [] => Err(DevicesError::Input(format!(
                "no device is called \"{}\"",
                name_or_user.trim()
            ))),
            several => Err(DevicesError::Input(format!(
                "\"{}\" could mean {} devices ({}); remove one by its user name",
                name_or_user.trim(),
                several.len(),
                several
                    .iter()
                    .map(|device| device.user_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Gives the one device with this name or user name a new generated password (the old one stops working) and
    /// returns it: the only time it exists outside the device.
    pub fn new_password(
        &mut self,
        name_or_user: &str,
    ) -> Result<(Device, SecretString), DevicesError> {
        let found: Vec<usize> = self
            .matching(name_or_user)
            .filter_map(|device| self.devices.iter().position(|d| d == device))
            .collect();
        let [index] = found.as_slice() else {
            return Err(DevicesError::Input(format!(
                "\"{}\" is not one device; give its user name (see `mailconnect device list`)",
                name_or_user.trim()
            )));
        };
        let password = generate_password();
        self.devices[*index].password_hash = hash_password(&password);
        Ok((self.devices[*index].clone(), password))
    }

    pub fn by_user_name(&self, user_name: &str) -> Option<&Device> {
        let key = user_name_key(user_name);
        self.devices
            .iter()
            .find(|device| user_name_key(&device.user_name) == key)
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

/// Memory for one password check, allocated once and used again for every check (see [`password_matches_in`]).
pub struct HashMemory(Vec<argon2::Block>);

impl HashMemory {
    /// Enough for a hash with the default parameters (19 MiB), the largest this bridge makes or checks.
    pub fn new() -> HashMemory {
        HashMemory(vec![
            argon2::Block::default();
            argon2::Params::DEFAULT_M_COST as usize
        ])
    }
}

impl Default for HashMemory {
    fn default() -> HashMemory {
        HashMemory::new()
    }
}

/// As [`password_matches`], in `memory`: the bridge checks passwords in a fixed set of these, so a flood of
/// sign-ins cannot make the allocator keep 19 MiB for every thread that ever checked one (300 MB seen). A hash
/// asking for more memory than the default (a changed devices file) does not match.
pub fn password_matches_in(
    device: &Device,
    password: &SecretString,
    memory: &mut HashMemory,
) -> bool {
    let Ok(hash) = PasswordHash::new(&device.password_hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    if blocks > memory.0.len() {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut output = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut output,
            &mut memory.0[..blocks],
        )
        .is_ok()
        // Output's comparison takes the same time wherever the bytes differ.
        && argon2::password_hash::Output::new(&output).is_ok_and(|computed| computed == expected)
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
        // The same answers in memory allocated once.
        let mut memory = HashMemory::new();
        assert!(password_matches_in(&first, &password, &mut memory));
        assert!(!password_matches_in(&second, &password, &mut memory));
        assert!(password_matches_in(&first, &password, &mut memory));
        assert!(!password_matches_in(
            &first,
            &SecretString::from("wrong"),
            &mut memory
        ));
        let mut greedy = first.clone();
        greedy.password_hash = greedy.password_hash.replace("m=19456", "m=4194304");
        assert!(
            !password_matches_in(&greedy, &password, &mut memory),
            "no more memory than ours"
        );
        assert!(!password_matches(&first, &SecretString::from("wrong")));
        assert!(devices.remove("Scanner in reception").is_ok());
        assert!(devices.by_user_name("scanner.in.reception").is_none());
    }

    #[test]
    fn user_names_compare_after_normalising_and_names_are_plain_and_unique() {
        let mut devices = Devices::default();
        let (scanner, _) = devices.add("Scanner", "a@b.example", false).unwrap();
        for padded in [
            " scanner",
            "scanner ",
            "SCANNER",
            "scan\u{200b}ner",
            "\tscanner\r",
            "scanner\u{202e}",
        ] {
            assert_eq!(user_name_key(padded), "scanner", "{padded:?}");
            assert_eq!(devices.by_user_name(padded), Some(&scanner), "{padded:?}");
        }
        assert_eq!(user_name_key(&"x".repeat(5000)).len(), MAX_USER_NAME);
        for bad in [
            "Scanner\u{202e}gpj.exe",
            "Fax\u{200f}",
            "Tab\there",
            "Bell\u{7}",
        ] {
            assert!(devices.add(bad, "a@b.example", false).is_err(), "{bad:?}");
        }
        assert!(
            devices.add(" scanner ", "a@b.example", false).is_err(),
            "names are unique"
        );
        // A devices file from before may hold two devices of one name: removing by that name is refused.
        let mut twice = devices.clone();
        let mut copy = scanner.clone();
        copy.user_name = "scanner2".to_owned();
        twice.devices.push(copy);
        assert!(twice.remove("Scanner").is_err());
        assert!(twice.remove("scanner2").is_ok());
        assert!(twice.remove("Scanner").is_ok());
        assert!(devices.remove("Nobody").is_err());
        let (renewed, password) = devices.new_password("scanner").unwrap();
        assert!(password_matches(&renewed, &password));
        assert!(!password_matches(&scanner, &password), "a new hash");
    }

    #[test]
    fn text_from_a_device_is_logged_quoted_and_cleaned() {
        assert_eq!(shown_quoted("scanner"), "\"scanner\"");
        assert_eq!(
            shown_quoted("x\n2026-01-01 INFO a device signed in"),
            "\"x?2026-01-01 INFO a device signed in\""
        );
        assert_eq!(shown_quoted("a\u{202e}b\"c\u{1b}[31m"), "\"a?b?c?[31m\"");
        assert_eq!(
            shown_quoted(&"y".repeat(500)).chars().count(),
            MAX_USER_NAME + 3
        );
    }
}
