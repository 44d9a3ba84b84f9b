//! Every token write takes the mailbox's lock, and a renewal never overwrites a newer sign-in: in one process with
//! the real Secret Service, and across real `mailconnect` processes (see also `command_line`).

use std::time::{Duration, SystemTime};

use mailconnect::sandbox::{Fault, SIGN_IN_REFRESH_TOKEN_PREFIX, SandboxOptions};
use mailconnect::store::{StoredTokens, TokenStore};
use mailconnect::tokens::fresh_access_token;
use secrecy::ExposeSecret;

use crate::support::{PrivateKeyring, device_sign_in, quick_sandbox, sign_in_client, wait_until};

const MAILBOX: &str = "reception@smile-dental.example";

fn stored(tokens: &mailconnect::auth::TokenSet, expires_at: SystemTime) -> StoredTokens {
    StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone().expect("refresh token"),
        access_token_expires_at: expires_at,
        signed_in_as: tokens.account.as_ref().map(|who| who.username.clone()),
        saved_at: SystemTime::now(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_sign_in_saved_while_a_refresh_is_at_microsoft_is_the_one_kept() {
    let _keyring = PrivateKeyring::start_for_this_process("test keyring password");
    runtime().block_on(async {
        let sandbox = quick_sandbox(SandboxOptions::default()).await;
        let account = sandbox.account(MAILBOX);
        let store = TokenStore::open().expect("keyring");
        let first = device_sign_in(&sandbox, &account, MAILBOX).await;
        let expired = stored(&first, SystemTime::now());
        store
            .save_sign_in(MAILBOX, &expired)
            .expect("first sign-in");

        // The renewal takes two seconds at the identity server.
        sandbox.inject(Fault::TokenDelay(Duration::from_secs(2)));
        let before = sandbox.stats().refreshes();
        let refresh = {
            let (account, store) = (account.clone(), store.clone());
            tokio::spawn(async move {
                fresh_access_token(&account, &store, || Ok(sign_in_client(&account))).await
            })
        };
        assert!(
            wait_until(Duration::from_secs(10), || sandbox.stats().refreshes()
                > before),
            "the refresh never reached the identity server"
        );
        // Meanwhile the practice admin signs in again.
        let second = device_sign_in(&sandbox, &account, MAILBOX).await;
        let new_sign_in = stored(&second, second.expires_at);
        let saving = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.save_sign_in(MAILBOX, &new_sign_in))
        };
        let renewed = refresh
            .await
            .unwrap()
            .expect("the renewal still hands out a token");
        saving.await.unwrap().expect("the new sign-in is saved");
        assert!(renewed.refreshed);

        let kept = store.load_tokens(MAILBOX).unwrap().expect("a sign-in");
        assert_eq!(
            kept.refresh_token.expose_secret(),
            second.refresh_token.as_ref().unwrap().expose_secret(),
            "the renewal of the old sign-in replaced the new one"
        );
        assert!(
            kept.refresh_token
                .expose_secret()
                .starts_with(SIGN_IN_REFRESH_TOKEN_PREFIX)
        );
    });
}

#[test]
fn a_renewal_for_another_account_than_the_one_stored_is_refused_and_stores_nothing() {
    runtime().block_on(async {
        let sandbox = quick_sandbox(SandboxOptions::default()).await;
        let account = sandbox.account(MAILBOX);
        // Not about the keyring: the in-memory store.
        let (store, _) = TokenStore::in_memory();
        let signed_in = device_sign_in(&sandbox, &account, MAILBOX).await;
        let mut saved = stored(&signed_in, SystemTime::now());
        // What was stored says someone else signed in; Microsoft's renewal names the mailbox.
        saved.signed_in_as = Some("manager@smile-dental.example".into());
        store.save_sign_in(MAILBOX, &saved).unwrap();
        let generation = store.load(MAILBOX).unwrap().unwrap().generation;

        let refused = fresh_access_token(&account, &store, || Ok(sign_in_client(&account))).await;
        assert!(
            matches!(
                refused,
                Err(mailconnect::tokens::TokenError::AccountChanged { .. })
            ),
            "{refused:?}"
        );
        let after = store.load(MAILBOX).unwrap().unwrap();
        assert_eq!(after.generation, generation, "nothing was written");
        assert_eq!(
            after.tokens.signed_in_as.as_deref(),
            Some("manager@smile-dental.example")
        );
    });
}
