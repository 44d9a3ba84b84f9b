//! Tokens in a real Secret Service (GNOME Keyring): the documented schema, 4 KB tokens split into parts, rotation,
//! a locked keyring and a missing one. Each test runs in its own process with its own keyring (cargo-nextest).

use std::process::Command;
use std::time::{Duration, SystemTime};

use mailconnect::sandbox::SandboxOptions;
use mailconnect::store::{StoreError, StoredTokens, TokenStore};
use mailconnect::verify::{self, CheckContext, MailCredentials};
use secrecy::{ExposeSecret, SecretString};

use crate::support::{
    Dovecot, PrivateKeyring, TestCa, device_sign_in, quick_sandbox, require_program,
    sign_in_client, test_timeouts,
};

const MAILBOX: &str = "Reception@Smile-Dental.example";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn stored(tokens: &mailconnect::auth::TokenSet) -> StoredTokens {
    StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone().expect("refresh token"),
        access_token_expires_at: tokens.expires_at,
        signed_in_as: tokens
            .account
            .as_ref()
            .map(|account| account.username.clone()),
        saved_at: SystemTime::now(),
    }
}

/// Reads a token the way another program would: the manifest, then each part, with secret-tool.
fn read_with_secret_tool(keyring: &PrivateKeyring, mailbox: &str, kind: &str) -> String {
    let key = mailbox.to_lowercase();
    let manifest = keyring.secret_tool(&[
        "lookup",
        "service",
        "mailconnect",
        "username",
        &format!("{key}:tokens"),
    ]);
    assert!(
        manifest.status.success(),
        "manifest lookup failed: {}",
        String::from_utf8_lossy(&manifest.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest.stdout).expect("manifest is JSON");
    let generation = manifest["generation"].as_u64().expect("generation");
    let parts = manifest[format!("{}_parts", kind.replace('-', "_"))]
        .as_u64()
        .expect("part count");
    (1..=parts)
        .map(|part| {
            let output = keyring.secret_tool(&[
                "lookup",
                "service",
                "mailconnect",
                "username",
                &format!("{key}:{kind}:{generation}:{part}"),
            ]);
            assert!(output.status.success());
            String::from_utf8(output.stdout).expect("text")
        })
        .collect()
}

/// Python's imaplib as an independent IMAP client, authenticating with XOAUTH2.
fn python_imap_login(
    ca_file: &std::path::Path,
    port: u16,
    user: &str,
    token: &str,
) -> std::process::Output {
    let script = r#"
import imaplib, ssl, sys
ca, port, user, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.stdin.read()
context = ssl.create_default_context(cafile=ca)
imap = imaplib.IMAP4_SSL("localhost", port, ssl_context=context)
typ, data = imap.authenticate("XOAUTH2", lambda _: ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode())
print(typ)
imap.logout()
"#;
    let mut child = Command::new(require_program("python3"))
        .args([
            "-c",
            script,
            &ca_file.display().to_string(),
            &port.to_string(),
            user,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // The token goes through stdin, not the command line, so it does not show in the process list.
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), token.as_bytes()).unwrap();
    child.wait_with_output().expect("python3 output")
}

#[test]
fn four_kilobyte_tokens_round_trip_and_are_readable_by_other_programs() {
    let keyring = PrivateKeyring::start_for_this_process("test keyring password");
    runtime().block_on(async {
        let sandbox = quick_sandbox(SandboxOptions {
            token_length: 4096,
            ..SandboxOptions::default()
        })
        .await;
        let ca = TestCa::new(&["localhost"]);
        let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
        let account = mailconnect::config::Account {
            imap: dovecot.imap("localhost"),
            smtp: dovecot.smtp("localhost"),
            ..sandbox.account(MAILBOX)
        };
        let tokens = device_sign_in(&sandbox, &account, &MAILBOX.to_lowercase()).await;
        assert_eq!(tokens.access_token.expose_secret().len(), 4096);

        let store = TokenStore::open().expect("keyring");
        let to_save = stored(&tokens);
        store
            .run(move |store| store.save_sign_in(MAILBOX, &to_save))
            .await
            .expect("save");
        let loaded = store
            .run(|store| store.load_tokens(MAILBOX))
            .await
            .expect("load")
            .expect("tokens saved");
        assert_eq!(
            loaded.access_token.expose_secret(),
            tokens.access_token.expose_secret()
        );
        assert_eq!(
            loaded.refresh_token.expose_secret(),
            tokens.refresh_token.as_ref().unwrap().expose_secret()
        );
        assert_eq!(
            loaded.signed_in_as.as_deref(),
            Some(MAILBOX.to_lowercase().as_str())
        );
        let manifest = store.manifest(MAILBOX).unwrap().unwrap();
        assert_eq!(
            (manifest.access_token_parts, manifest.refresh_token_parts),
            (4, 4)
        );

        let from_secret_tool = read_with_secret_tool(&keyring, MAILBOX, "access-token");
        assert_eq!(from_secret_tool, tokens.access_token.expose_secret());
        let login = python_imap_login(
            &ca.ca_file,
            dovecot.imaps_port,
            &MAILBOX.to_lowercase(),
            &from_secret_tool,
        );
        assert_eq!(
            String::from_utf8_lossy(&login.stdout).trim(),
            "OK",
            "imaplib: {}",
            String::from_utf8_lossy(&login.stderr)
        );

        // No part exceeds what Windows Credential Manager holds (2560 bytes as UTF-16).
        let secrets = keyring.item_secrets();
        assert_eq!(secrets.len(), 9, "a manifest and four parts of each token");
        for secret in secrets {
            assert!(
                secret.encode_utf16().count() * 2 <= 2560,
                "an item holds {} characters",
                secret.len()
            );
        }
    });
}

#[test]
fn a_refresh_rotates_the_stored_tokens_and_leaves_no_old_parts() {
    let keyring = PrivateKeyring::start_for_this_process("test keyring password");
    runtime().block_on(async {
        let sandbox = quick_sandbox(SandboxOptions::default()).await;
        let ca = TestCa::new(&["localhost"]);
        let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
        let account = mailconnect::config::Account {
            imap: dovecot.imap("localhost"),
            smtp: dovecot.smtp("localhost"),
            ..sandbox.account(&MAILBOX.to_lowercase())
        };
        let first = device_sign_in(&sandbox, &account, &account.mailbox).await;
        let context = CheckContext::new(ca.trust(), test_timeouts());
        let (imap, smtp) = verify::check_both(
            &account,
            &MailCredentials::for_account(&account, first.access_token.clone()),
            &context,
        )
        .await;
        assert!(
            imap.verdict.passed() && smtp.verdict.passed(),
            "{imap:?} {smtp:?}"
        );

        let store = TokenStore::open().expect("keyring");
        store
            .save_sign_in(MAILBOX, &stored(&first))
            .expect("save first");
        let saved = store.load_tokens(MAILBOX).unwrap().unwrap();
        let second = sign_in_client(&account)
            .refresh(&saved.refresh_token)
            .await
            .expect("refresh");
        store
            .save_sign_in(MAILBOX, &stored(&second))
            .expect("save rotated");

        let loaded = store.load_tokens(MAILBOX).unwrap().unwrap();
        assert_eq!(
            loaded.refresh_token.expose_secret(),
            second.refresh_token.as_ref().unwrap().expose_secret()
        );
        assert_ne!(
            loaded.refresh_token.expose_secret(),
            first.refresh_token.as_ref().unwrap().expose_secret()
        );
        let generation = store.manifest(MAILBOX).unwrap().unwrap().generation;
        let mut names = keyring.item_names();
        names.sort();
        let key = MAILBOX.to_lowercase();
        assert_eq!(
            names,
            [
                format!("{key}:access-token:{generation}:1"),
                format!("{key}:access-token:{generation}:2"),
                format!("{key}:refresh-token:{generation}:1"),
                format!("{key}:refresh-token:{generation}:2"),
                format!("{key}:tokens")
            ],
            "only the current generation remains (1800-character tokens take two parts)"
        );

        let (imap, smtp) = verify::check_both(
            &account,
            &MailCredentials::for_account(&account, loaded.access_token),
            &context,
        )
        .await;
        assert!(imap.verdict.passed() && smtp.verdict.passed());

        assert!(store.forget(MAILBOX, true).unwrap().had_sign_in);
        assert!(store.load_tokens(MAILBOX).unwrap().is_none());
        assert_eq!(
            keyring.item_names(),
            Vec::<String>::new(),
            "items left after forgetting"
        );
    });
}

#[test]
fn the_basic_auth_password_has_its_own_entry() {
    let keyring = PrivateKeyring::start_for_this_process("test keyring password");
    let store = TokenStore::open().expect("keyring");
    assert!(store.load_basic_password(MAILBOX).unwrap().is_none());
    store
        .save_basic_password(MAILBOX, &SecretString::from("Winter2026!practice"))
        .unwrap();
    let output = keyring.secret_tool(&[
        "lookup",
        "service",
        "mailconnect",
        "username",
        "reception@smile-dental.example:basic-password",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Winter2026!practice"
    );
    assert_eq!(
        store
            .load_basic_password(MAILBOX)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "Winter2026!practice"
    );
    assert!(store.delete_basic_password(MAILBOX).unwrap());
    assert!(!store.delete_basic_password(MAILBOX).unwrap());
}

#[test]
fn a_locked_keyring_gives_a_typed_error_and_nothing_reaches_the_disk() {
    let keyring = PrivateKeyring::start_locked_for_this_process();
    let secret = "sbx-at-LOCKEDKEYRINGSECRET-0123456789";
    let store = TokenStore::open().expect("the service is there, only locked");
    let tokens = StoredTokens {
        access_token: SecretString::from(secret),
        refresh_token: SecretString::from(format!("{secret}-refresh")),
        access_token_expires_at: SystemTime::now() + Duration::from_secs(3600),
        signed_in_as: None,
        saved_at: SystemTime::now(),
    };
    let started = std::time::Instant::now();
    let error = runtime()
        .block_on(store.run(move |store| store.save_sign_in(MAILBOX, &tokens)))
        .expect_err("locked");
    assert!(
        matches!(error, StoreError::Locked { .. } | StoreError::TimedOut),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(25));
    assert!(mailconnect::advice::for_store(&error).steps[0].contains("Unlock"));
    assert!(
        mailconnect::advice::for_store(&error)
            .cause
            .contains("Nothing was written to disk")
    );
    for file in keyring.files().into_iter().chain(
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    ) {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "{} holds the token",
                file.display()
            );
        }
    }
}

#[test]
fn no_keyring_service_is_reported_with_the_fix() {
    crate::support::keyring::require_one_test_per_process();
    // SAFETY: one test per process (nextest), before any other thread starts.
    unsafe {
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/mailconnect-test-bus",
        )
    };
    let error = match TokenStore::open() {
        Err(error) => error,
        Ok(store) => store.load_tokens(MAILBOX).expect_err("no service"),
    };
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    assert!(mailconnect::advice::for_store(&error).steps[0].contains("GNOME Keyring"));
}
