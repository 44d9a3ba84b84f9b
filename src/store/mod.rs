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
//!
//! # Writes
//! Every write takes the mailbox's [`MailboxLock`] (the write methods ask for one), and a write states what it
//! expects to replace ([`Expect`]): a refresh names the generation it started from and is refused if that moved; a
//! new sign-in replaces whatever is there. Clean-up finds a mailbox's items by searching the keyring, so parts that a
//! killed process left behind are found too.

mod app_credential;
mod named;
pub use app_credential::Slot as AppCredentialSlot;
mod error;
mod items;
mod lock;
mod split;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use error::StoreError;
pub use items::{KeyringItems, MemoryItems, SecretItems};
pub use lock::{LOCK_WAIT, MailboxLock, default_lock_directory};
pub use split::{PART_CHARS, split_into_parts};

/// The Secret Service `service` attribute of every item mailconnect stores.
pub const SERVICE: &str = "mailconnect";
/// How long one keyring call may take: a locked keyring can otherwise wait forever on an unlock prompt.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(20);
/// How long keyring work that first waits for a mailbox's lock may take: the lock's wait plus one keyring call.
pub const LOCKED_WORK_WITHIN: Duration = LOCK_WAIT.saturating_add(KEYRING_TIMEOUT);
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

/// Stored tokens and the generation they were read from (what a later write must expect).
#[derive(Debug, Clone)]
pub struct LoadedTokens {
    pub generation: u64,
    pub tokens: StoredTokens,
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

/// What a token write expects to find stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A renewal of the sign-in read at this generation: refused if another write came in between.
    Generation(u64),
    /// A new sign-in: the person just signed in, so it replaces whatever is stored (a damaged manifest included).
    AnySignIn,
}

/// The result of a token write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub generation: u64,
}

/// What [`TokenStore::forget`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Keyring items removed in all (manifest, every part of every generation, the password when asked).
    pub items: usize,
    pub had_sign_in: bool,
    pub had_basic_password: bool,
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
    items: Arc<dyn SecretItems>,
    lock_directory: PathBuf,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("vendor", &self.items.vendor())
            .field("lock_directory", &self.lock_directory)
            .finish()
    }
}

/// How the runner and the window open the store each time they need it (a keyring unlocked since the last try
/// must be found): the OS keyring under a service name, or one shared in-memory store for tests.
#[derive(Clone)]
pub enum StoreAccess {
    Keyring { service: &'static str },
    Memory(TokenStore),
}

impl StoreAccess {
    pub fn open(&self) -> Result<TokenStore, StoreError> {
        match self {
            StoreAccess::Keyring { service } => TokenStore::open_for_service(service),
            StoreAccess::Memory(store) => Ok(store.clone()),
        }
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
        Ok(TokenStore::with_items(
            Arc::new(KeyringItems::open(service)?),
            default_lock_directory(),
        ))
    }

    /// A store over any [`SecretItems`], with its lock files in `lock_directory`.
    pub fn with_items(items: Arc<dyn SecretItems>, lock_directory: PathBuf) -> TokenStore {
        TokenStore {
            items,
            lock_directory,
        }
    }

    /// A fresh in-memory store (unit and window tests), with the handle to look at or break it, and its lock
    /// files in a folder of their own under the temporary folder.
    pub fn in_memory() -> (TokenStore, Arc<MemoryItems>) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let directory = std::env::temp_dir().join(format!(
            "mailconnect-test-locks-{}-{number}",
            std::process::id()
        ));
        let items = Arc::new(MemoryItems::new());
        (TokenStore::with_items(items.clone(), directory), items)
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

    /// Takes the write lock of `mailbox`, waiting at most [`LOCK_WAIT`]. Blocks.
    pub fn lock(&self, mailbox: &str) -> Result<MailboxLock, StoreError> {
        self.lock_within(mailbox, LOCK_WAIT)
    }

    /// Takes the write lock of `mailbox`, waiting at most `wait`. Blocks.
    pub fn lock_within(&self, mailbox: &str, wait: Duration) -> Result<MailboxLock, StoreError> {
        MailboxLock::acquire(&self.lock_directory, mailbox, wait)
    }

    /// Takes the write lock of `mailbox` from async code.
    pub async fn lock_async(&self, mailbox: &str) -> Result<MailboxLock, StoreError> {
        let mailbox = mailbox.to_owned();
        // The acquire has its own deadline; the outer limit only covers a thread pool that is slow to start it.
        self.run_within(LOCK_WAIT + Duration::from_secs(5), move |store| {
            store.lock(&mailbox)
        })
        .await
    }

    /// Saves a new sign-in for `mailbox`: takes the lock, writes a new generation whatever was stored (a damaged
    /// manifest included, which this repairs), then removes every older item (best effort; see
    /// [`TokenStore::write_sign_in`] for a save whose time limit must not include the clean-up).
    pub fn save_sign_in(
        &self,
        mailbox: &str,
        tokens: &StoredTokens,
    ) -> Result<Written, StoreError> {
        let written = self.write_sign_in(mailbox, tokens)?;
        if let Err(error) = self.tidy(mailbox) {
            tracing::info!(
                code = error.code(),
                "old token parts left for the next save"
            );
        }
        Ok(written)
    }

    /// Writes a new sign-in under the mailbox's lock, replacing whatever is stored; older items stay for
    /// [`TokenStore::tidy`].
    pub fn write_sign_in(
        &self,
        mailbox: &str,
        tokens: &StoredTokens,
    ) -> Result<Written, StoreError> {
        let lock = self.lock(mailbox)?;
        self.write_generation(&lock, tokens, Expect::AnySignIn)
    }

    /// Writes `tokens` as a new generation and points the manifest at it, if what is stored matches `expect`.
    /// Older generations stay until [`TokenStore::tidy`]: nothing reads them any more, so a caller in a hurry
    /// (another process waits for the token) may tidy later.
    pub fn write_generation(
        &self,
        lock: &MailboxLock,
        tokens: &StoredTokens,
        expect: Expect,
    ) -> Result<Written, StoreError> {
        let key = lock.mailbox();
        let current = match self.read_manifest(key) {
            Ok(manifest) => manifest.map(|manifest| manifest.generation),
            // A damaged manifest is no sign-in: a new sign-in repairs it; a renewal cannot know what it replaces.
            Err(StoreError::Damaged { .. }) => None,
            Err(error) => return Err(error),
        };
        if let Expect::Generation(expected) = expect
            && current != Some(expected)
        {
            return Err(StoreError::Conflict {
                mailbox: key.to_owned(),
                expected,
                found: current.unwrap_or(0),
            });
        }
        // Generations never repeat, not even after `forget` removed everything: a clean-up that read an older
        // manifest (and stalled) removes only generations below the one it saw, so a new sign-in must be above it.
        // The time in nanoseconds is above every generation written before (it fits in 64 bits until 2554); +1
        // covers a clock that went back.
        let above = match current {
            Some(generation) => generation,
            // Past any generation a killed process or a damaged manifest left behind.
            None => self.highest_generation(key)?,
        };
        let generation = (above + 1).max(unix_nanos());
        let access_parts = self.write_parts(
            key,
            TokenKind::Access,
            generation,
            tokens.access_token.expose_secret(),
        )?;
        let refresh_parts = self.write_parts(
            key,
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
                name: manifest_name(key),
                detail: error.to_string(),
            })?;
        self.items.set(
            &manifest_name(key),
            &format!("mailconnect sign-in for {key}"),
            &manifest_json,
        )?;
        Ok(Written { generation })
    }

    /// Removes every token part of `mailbox` older than the generation the manifest points at, found by searching
    /// the keyring (so parts a killed process left behind go too). Returns how many items were removed.
    ///
    /// It needs no lock: every write creates a generation above the current one, so no writer ever touches what
    /// this removes, and a reader that still follows the old manifest retries ([`TokenStore::load`]). That matters
    /// because GNOME Keyring sometimes stalls a call for up to a minute under load; a clean-up that held the lock
    /// would then hold up every other program waiting for a token. With no readable manifest nothing is removed:
    /// the next sign-in repairs it and tidies then.
    pub fn tidy(&self, mailbox: &str) -> Result<usize, StoreError> {
        let key = mailbox_key(mailbox);
        let Ok(Some(manifest)) = self.read_manifest(&key) else {
            return Ok(0);
        };
        let mut removed = 0;
        for name in self.part_names(&key, Some(manifest.generation))? {
            if part_generation(&key, &name)
                .is_some_and(|generation| generation < manifest.generation)
                && self.items.delete(&name)?
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes `mailbox`'s sign-in (manifest and every part of every generation, found by search) and, when
    /// `basic_password_too`, the Basic Auth password. Works with a damaged manifest.
    pub fn forget(&self, mailbox: &str, basic_password_too: bool) -> Result<Forgotten, StoreError> {
        let lock = self.lock(mailbox)?;
        let key = lock.mailbox();
        let mut forgotten = Forgotten::default();
        let highest = self.read_manifest(key).ok().flatten().map(|m| m.generation);
        // Manifest first: once it is gone no reader can pick up half-deleted parts.
        if self.items.delete(&manifest_name(key))? {
            forgotten.had_sign_in = true;
            forgotten.items += 1;
        }
        for name in self.part_names(key, highest)? {
            if part_generation(key, &name).is_some() && self.items.delete(&name)? {
                forgotten.had_sign_in = true;
                forgotten.items += 1;
            }
        }
        if basic_password_too && self.items.delete(&basic_password_name(key))? {
            forgotten.had_basic_password = true;
            forgotten.items += 1;
        }
        Ok(forgotten)
    }

    /// The names of `key`'s token parts: from a keyring search, or where the store cannot search, those of the
    /// generation `known` (the manifest's; generations are times, so no other one can be guessed).
    fn part_names(&self, key: &str, known: Option<u64>) -> Result<Vec<String>, StoreError> {
        let prefix = format!("{key}:");
        if let Some(names) = self.items.list()? {
            return Ok(names
                .into_iter()
                .filter(|name| name.starts_with(&prefix))
                .collect());
        }
        let mut names = Vec::new();
        if let Some(generation) = known {
            for kind in [TokenKind::Access, TokenKind::Refresh] {
                let mut number = 1;
                while self
                    .items
                    .get(&part_name(key, kind, generation, number))?
                    .is_some()
                {
                    names.push(part_name(key, kind, generation, number));
                    number += 1;
                }
            }
        }
        Ok(names)
    }

    /// The highest generation any part of `key` has in the keyring (0 when none).
    fn highest_generation(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .part_names(key, None)?
            .iter()
            .filter_map(|name| part_generation(key, name))
            .max()
            .unwrap_or(0))
    }

    /// The manifest for `mailbox`, if tokens were saved.
    pub fn manifest(&self, mailbox: &str) -> Result<Option<Manifest>, StoreError> {
        self.read_manifest(&mailbox_key(mailbox))
    }

    fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, StoreError> {
        let Some(json) = self.items.get(&manifest_name(key))? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|_| StoreError::Damaged {
                mailbox: key.to_owned(),
                what: "the manifest is not readable".to_owned(),
            })
    }

    /// Reads the tokens saved for `mailbox`.
    pub fn load_tokens(&self, mailbox: &str) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.load(mailbox)?.map(|loaded| loaded.tokens))
    }

    /// Reads the tokens saved for `mailbox` with the generation they belong to. A part that vanished because a
    /// newer generation was saved (and the old one tidied) meanwhile is not damage: the read starts again.
    pub fn load(&self, mailbox: &str) -> Result<Option<LoadedTokens>, StoreError> {
        let key = mailbox_key(mailbox);
        let mut attempts = 0;
        loop {
            let Some(manifest) = self.read_manifest(&key)? else {
                return Ok(None);
            };
            let generation = manifest.generation;
            match self.load_generation(&key, manifest) {
                Err(StoreError::Damaged { .. })
                    if attempts < 3
                        && self
                            .read_manifest(&key)
                            .ok()
                            .flatten()
                            .is_some_and(|now| now.generation != generation) =>
                {
                    attempts += 1;
                }
                other => return other.map(Some),
            }
        }
    }

    fn load_generation(&self, key: &str, manifest: Manifest) -> Result<LoadedTokens, StoreError> {
        let access_token = self.read_parts(
            key,
            TokenKind::Access,
            manifest.generation,
            manifest.access_token_parts,
        )?;
        let refresh_token = self.read_parts(
            key,
            TokenKind::Refresh,
            manifest.generation,
            manifest.refresh_token_parts,
        )?;
        let damaged = || StoreError::Damaged {
            mailbox: key.to_owned(),
            what: "a date in the manifest is out of range".to_owned(),
        };
        Ok(LoadedTokens {
            generation: manifest.generation,
            tokens: StoredTokens {
                access_token,
                refresh_token,
                access_token_expires_at: crate::words::unix_time(manifest.access_token_expires_at)
                    .ok_or_else(damaged)?,
                signed_in_as: manifest.signed_in_as,
                saved_at: crate::words::unix_time(manifest.saved_at).ok_or_else(damaged)?,
            },
        })
    }

    /// Writes and removes a small item, so that a locked or read-only keyring is found before someone signs in
    /// for nothing. The item (`<mailbox>:write-check`) holds no secret.
    pub fn check_writable(&self, mailbox: &str) -> Result<(), StoreError> {
        let name = format!("{}:write-check", mailbox_key(mailbox));
        self.items
            .set(&name, "mailconnect keyring check (nothing secret)", "ok")?;
        self.items.delete(&name).map(drop)
    }

    /// Stores the old Basic Auth password (under the mailbox's lock).
    pub fn save_basic_password(
        &self,
        mailbox: &str,
        password: &SecretString,
    ) -> Result<(), StoreError> {
        let lock = self.lock(mailbox)?;
        let key = lock.mailbox();
        self.items.set(
            &basic_password_name(key),
            &format!("mailconnect Basic Auth password for {key}"),
            password.expose_secret(),
        )
    }

    pub fn load_basic_password(&self, mailbox: &str) -> Result<Option<SecretString>, StoreError> {
        Ok(self
            .items
            .get(&basic_password_name(&mailbox_key(mailbox)))?
            .map(SecretString::from))
    }

    /// Removes the Basic Auth password (under the mailbox's lock). Returns whether one was stored.
    pub fn delete_basic_password(&self, mailbox: &str) -> Result<bool, StoreError> {
        let lock = self.lock(mailbox)?;
        self.items.delete(&basic_password_name(lock.mailbox()))
    }

    /// Writes an item as it is, bypassing the schema: tests use it to damage a manifest on purpose.
    #[cfg(test)]
    pub fn write_raw_for_tests(
        &self,
        lock: &MailboxLock,
        suffix: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let name = format!("{}:{suffix}", lock.mailbox());
        self.items.set(&name, &name, value)
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
            self.items
                .set(&part_name(key, kind, generation, number), &label, part)?;
        }
        // A crashed earlier attempt at this generation may have left more parts; they would never be read, so remove them.
        let mut extra = count + 1;
        while self
            .items
            .delete(&part_name(key, kind, generation, extra))?
        {
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
            let part = self.items.get(&name)?.ok_or_else(|| StoreError::Damaged {
                mailbox: key.to_owned(),
                what: format!("{} part {number} of {count} is missing", kind.item_word()),
            })?;
            token.push_str(&part);
        }
        Ok(SecretString::from(token))
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

/// The generation of a token part of `key` (`<key>:access-token:<generation>:<n>`), or `None` for any other item.
fn part_generation(key: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(key)?.strip_prefix(':')?;
    let rest = [TokenKind::Access, TokenKind::Refresh]
        .iter()
        .find_map(|kind| rest.strip_prefix(kind.item_word())?.strip_prefix(':'))?;
    let (generation, number) = rest.split_once(':')?;
    number.parse::<u64>().ok()?;
    generation.parse().ok()
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX / 2)
        })
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests;
