//! A fresh access token for other programs: from the keyring while it has five minutes left, otherwise refreshed
//! under a cross-process lock, with the rotated refresh token stored before the access token is handed out.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::auth::{SignInClient, SignInError};
use crate::config::Account;
use crate::store::{StoreError, StoredTokens, TokenStore, mailbox_key};
use crate::troubleshoot::Advice;

/// A token with less than this left is refreshed first.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long a process waits for another one's refresh before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Why no token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "{mailbox} is not signed in with mailconnect yet; run `mailconnect login {mailbox}` or the wizard"
    )]
    NotSignedIn { mailbox: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the refresh failed: {0}")]
    Refresh(#[from] SignInError),
    #[error("the refresh lock {path} could not be taken: {detail}")]
    Lock { path: PathBuf, detail: String },
    /// The sign-in client for the refresh could not be set up (settings, trust roots).
    #[error("{0:#}")]
    Setup(anyhow::Error),
}

impl TokenError {
    pub fn advice(&self) -> Advice {
        match self {
            TokenError::NotSignedIn { .. } => Advice {
                cause: "This mailbox has no saved sign-in.",
                steps: &["Run the Email Connection Wizard, or `mailconnect login <mailbox>`."],
            },
            TokenError::Store(error) => error.advice(),
            TokenError::Refresh(error) => error.advice(),
            TokenError::Setup(_) => Advice {
                cause: "The settings for renewing the sign-in cannot be used.",
                steps: &[
                    "Check the account's settings (client id, tenant, extra_ca_file) in config.toml.",
                ],
            },
            TokenError::Lock { .. } => Advice {
                cause: "Another mailconnect process held the refresh lock for too long.",
                steps: &[
                    "Try again. If it keeps happening, look for a stuck `mailconnect token` process.",
                ],
            },
        }
    }
}

/// Where the lock files live: the platform's cache folder (nothing secret is in them).
fn lock_path(mailbox: &str) -> Result<PathBuf, TokenError> {
    let directory = directories::ProjectDirs::from("", "", "mailconnect")
        .map(|dirs| dirs.cache_dir().join("locks"))
        .unwrap_or_else(|| std::env::temp_dir().join("mailconnect-locks"));
    std::fs::create_dir_all(&directory).map_err(|error| TokenError::Lock {
        path: directory.clone(),
        detail: error.to_string(),
    })?;
    // The key may contain characters a file name should not; keep letters, digits and a few marks.
    let name: String = mailbox_key(mailbox)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(directory.join(format!("{name}.lock")))
}

fn is_fresh(tokens: &StoredTokens) -> bool {
    tokens
        .access_token_expires_at
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left > REFRESH_MARGIN)
}

/// The result of [`fresh_access_token`]: the token, and the generation a refresh replaced (to [`tidy`]).
#[derive(Debug)]
pub struct FreshToken {
    pub access_token: SecretString,
    pub replaced_generation: Option<u64>,
}

/// How long tidying the replaced generation may take after the token was handed out.
const TIDY_WITHIN: Duration = Duration::from_secs(3);

/// Removes the generation a refresh replaced. Bounded and best effort: the next save sweeps what is left.
pub async fn tidy(store: &TokenStore, mailbox: &str, fresh: &FreshToken) {
    let Some(generation) = fresh.replaced_generation else {
        return;
    };
    let mailbox = mailbox.to_owned();
    let tidied = store
        .run_within(TIDY_WITHIN, move |store| {
            store.remove_generation(&mailbox, generation);
            Ok(())
        })
        .await;
    if let Err(error) = tidied {
        tracing::info!(
            code = error.code(),
            "old token parts left for the next save to remove"
        );
    }
}

/// A valid access token for `account`, refreshing it when less than [`REFRESH_MARGIN`] remains. Several processes
/// asking at once cause one refresh: the others wait on the lock and then read what it stored. `client` is only
/// called when a refresh is needed: a cached token costs no TLS set-up.
pub async fn fresh_access_token(
    account: &Account,
    store: &TokenStore,
    client: impl FnOnce() -> anyhow::Result<SignInClient>,
) -> Result<FreshToken, TokenError> {
    let mailbox = account.mailbox.clone();
    let stored = load(store, &mailbox).await?;
    if is_fresh(&stored) {
        return Ok(FreshToken {
            access_token: stored.access_token,
            replaced_generation: None,
        });
    }
    let path = lock_path(&mailbox)?;
    let lock = take_lock(path).await?;
    // Whoever held the lock before us may have refreshed already.
    let stored = load(store, &mailbox).await?;
    if is_fresh(&stored) {
        drop(lock);
        return Ok(FreshToken {
            access_token: stored.access_token,
            replaced_generation: None,
        });
    }
    let client = client().map_err(TokenError::Setup)?;
    let tokens = client.refresh(&stored.refresh_token).await?;
    let rotated = StoredTokens {
        access_token: tokens.access_token.clone(),
        // Microsoft always rotates; a provider that does not keeps the old refresh token valid.
        refresh_token: tokens.refresh_token.clone().unwrap_or(stored.refresh_token),
        access_token_expires_at: tokens.expires_at,
        signed_in_as: tokens
            .account
            .as_ref()
            .map(|who| who.username.clone())
            .or(stored.signed_in_as),
        saved_at: SystemTime::now(),
    };
    let save_mailbox = mailbox.clone();
    // The new refresh token is stored before anyone gets the new access token.
    let replaced_generation = store
        .run(move |store| store.write_generation(&save_mailbox, &rotated))
        .await?;
    drop(lock);
    Ok(FreshToken {
        access_token: tokens.access_token,
        replaced_generation,
    })
}

async fn load(store: &TokenStore, mailbox: &str) -> Result<StoredTokens, TokenError> {
    let key = mailbox.to_owned();
    store
        .run(move |store| store.load_tokens(&key))
        .await?
        .ok_or_else(|| TokenError::NotSignedIn {
            mailbox: mailbox.to_owned(),
        })
}

/// An exclusive lock on `path`, held until dropped (and released by the OS if the process dies).
async fn take_lock(path: PathBuf) -> Result<std::fs::File, TokenError> {
    let lock_error = |path: &PathBuf, detail: String| TokenError::Lock {
        path: path.clone(),
        detail,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| lock_error(&path, error.to_string()))?;
    let waiting = tokio::task::spawn_blocking(move || file.lock().map(|()| file));
    match tokio::time::timeout(LOCK_WAIT, waiting).await {
        Ok(Ok(Ok(file))) => Ok(file),
        Ok(Ok(Err(error))) => Err(lock_error(&path, error.to_string())),
        Ok(Err(error)) => Err(lock_error(&path, error.to_string())),
        Err(_) => Err(lock_error(
            &path,
            format!("still held after {} seconds", LOCK_WAIT.as_secs()),
        )),
    }
}
