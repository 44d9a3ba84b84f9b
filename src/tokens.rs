//! A fresh access token for other programs: from the keyring while it has five minutes left, otherwise refreshed
//! under a cross-process lock, with the rotated refresh token stored before the access token is handed out.

use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::auth::{SignInClient, SignInError};
use crate::config::Account;
use crate::store::{Expect, LoadedTokens, StoreError, StoredTokens, TokenStore};

/// A token with less than this left is refreshed first.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Why no token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "{mailbox} is not signed in with mailconnect yet; run `{}` or the wizard",
        crate::words::command("login", &[mailbox])
    )]
    NotSignedIn { mailbox: String },
    /// The organisation's app has no certificate or secret on this computer.
    #[error(
        "the app {client_id} has no certificate or client secret on this computer; run `mailconnect app certificate` or `mailconnect app secret`"
    )]
    NoAppCredential { client_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the refresh failed: {0}")]
    Refresh(#[from] SignInError),
    /// Microsoft's answer to the refresh names another account than the one that signed in: not stored.
    #[error(
        "the renewed sign-in is for {answered}, but {mailbox} was signed in as {stored}; it was not saved"
    )]
    AccountChanged {
        mailbox: String,
        stored: String,
        answered: String,
    },
    /// The sign-in client for the refresh could not be set up (settings, trust roots).
    #[error("{0:#}")]
    Setup(anyhow::Error),
}

fn is_fresh(tokens: &StoredTokens, margin: Duration) -> bool {
    tokens
        .access_token_expires_at
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left > margin)
}

/// The result of [`fresh_access_token`]: the token, and whether a refresh left an older generation to [`tidy`].
#[derive(Debug)]
pub struct FreshToken {
    pub access_token: SecretString,
    pub refreshed: bool,
    /// Set when the renewal failed for a passing reason and the stored token, still valid, was handed out instead.
    pub warning: Option<String>,
}

/// When to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renew {
    /// When less than [`REFRESH_MARGIN`] is left.
    IfNeeded,
    /// When less than this is left (the bridge renews 10 minutes ahead: some Microsoft services refuse a token
    /// about to end).
    IfLessThan(Duration),
    /// Now, whatever is left (Microsoft can revoke access tokens early; `token --refresh`, a check refused with a
    /// cached token).
    Now,
}

impl Renew {
    /// How much must be left for the stored token to be handed out; `None` when renewing whatever is left.
    pub fn margin(self) -> Option<Duration> {
        match self {
            Renew::IfNeeded => Some(REFRESH_MARGIN),
            Renew::IfLessThan(margin) => Some(margin.max(REFRESH_MARGIN)),
            Renew::Now => None,
        }
    }
}

/// How long tidying the replaced generation may take after the token was handed out.
const TIDY_WITHIN: Duration = Duration::from_secs(3);

/// Removes the generations a refresh replaced. Bounded and best effort: the next save sweeps what is left.
pub async fn tidy(store: &TokenStore, mailbox: &str, fresh: &FreshToken) {
    if !fresh.refreshed {
        return;
    }
    let mailbox = mailbox.to_owned();
    let tidied = store
        .run_within(TIDY_WITHIN, move |store| store.tidy(&mailbox))
        .await;
    if let Err(error) = tidied {
        tracing::info!(
            code = error.code(),
            "old token parts left for the next save to remove"
        );
    }
}

/// A valid access token for `account`, refreshing it when less than [`REFRESH_MARGIN`] remains. The refresh runs
/// under the mailbox's write lock, so several processes asking at once cause one refresh (the others wait and then
/// read what it stored), and a sign-in saved meanwhile is never overwritten by a renewal of the old one. `client`
/// is only called when a refresh is needed: a cached token costs no TLS set-up.
pub async fn fresh_access_token(
    account: &Account,
    store: &TokenStore,
    client: impl FnOnce() -> anyhow::Result<SignInClient>,
) -> Result<FreshToken, TokenError> {
    access_token(account, store, Renew::IfNeeded, client).await
}

/// A valid access token for `account`, renewed as `renew` says. See [`fresh_access_token`].
pub async fn access_token(
    account: &Account,
    store: &TokenStore,
    renew: Renew,
    client: impl FnOnce() -> anyhow::Result<SignInClient>,
) -> Result<FreshToken, TokenError> {
    if account.app_only {
        return crate::app_only::access_token(account, store, renew, client).await;
    }
    // A mailbox reached through a service account uses that account's saved sign-in.
    let mailbox = account.token_owner().to_owned();
    let first = load(store, &mailbox).await?;
    let margin = renew.margin();
    if let Some(margin) = margin
        && is_fresh(&first.tokens, margin)
    {
        return Ok(handed_out(first.tokens.access_token));
    }
    let lock = store.lock_async(&mailbox).await?;
    // Whoever held the lock before us may have refreshed, or saved a new sign-in, already.
    let stored = load(store, &mailbox).await?;
    if is_fresh(&stored.tokens, margin.unwrap_or(REFRESH_MARGIN))
        && (margin.is_some() || stored.generation != first.generation)
    {
        drop(lock);
        return Ok(handed_out(stored.tokens.access_token));
    }
    let client = client().map_err(TokenError::Setup)?;
    let tokens = match client.refresh(&stored.tokens.refresh_token).await {
        Ok(tokens) => tokens,
        // A passing failure (network, 5xx, 429) while the stored token still works: use it, and say so.
        Err(error) if error.is_transient() && still_valid(&stored.tokens) => {
            let left = stored
                .tokens
                .access_token_expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            return Ok(FreshToken {
                access_token: stored.tokens.access_token,
                refreshed: false,
                warning: Some(format!(
                    "the sign-in could not be renewed just now ({}); the current one still works for {}",
                    error.code(),
                    crate::words::duration(left)
                )),
            });
        }
        Err(error) => return Err(error.into()),
    };
    let answered = tokens.account.as_ref().map(|who| who.username.clone());
    // Who the renewal must be for: who signed in, or (not recorded) who should sign in for this mailbox.
    let expected = stored
        .tokens
        .signed_in_as
        .clone()
        .unwrap_or_else(|| account.sign_in_account().to_owned());
    if let Some(answered) = &answered
        && !answered.eq_ignore_ascii_case(&expected)
    {
        return Err(TokenError::AccountChanged {
            mailbox,
            stored: expected,
            answered: answered.clone(),
        });
    }
    let rotated = StoredTokens {
        access_token: tokens.access_token.clone(),
        // Microsoft always rotates; a provider that does not keeps the old refresh token valid.
        refresh_token: tokens
            .refresh_token
            .clone()
            .unwrap_or(stored.tokens.refresh_token),
        access_token_expires_at: tokens.expires_at,
        signed_in_as: answered.or(stored.tokens.signed_in_as),
        saved_at: SystemTime::now(),
    };
    // The new refresh token is stored before anyone gets the new access token, and only over the generation this
    // renewal started from.
    let expect = Expect::Generation(stored.generation);
    store
        .run(move |store| store.write_generation(&lock, &rotated, expect).map(drop))
        .await?;
    Ok(FreshToken {
        access_token: tokens.access_token,
        refreshed: true,
        warning: None,
    })
}

fn handed_out(access_token: SecretString) -> FreshToken {
    FreshToken {
        access_token,
        refreshed: false,
        warning: None,
    }
}

/// Whether the stored access token is still accepted for at least a little while.
fn still_valid(tokens: &StoredTokens) -> bool {
    tokens
        .access_token_expires_at
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left > Duration::from_secs(30))
}

async fn load(store: &TokenStore, mailbox: &str) -> Result<LoadedTokens, TokenError> {
    let key = mailbox.to_owned();
    store
        .run(move |store| store.load(&key))
        .await?
        .ok_or_else(|| TokenError::NotSignedIn {
            mailbox: mailbox.to_owned(),
        })
}
