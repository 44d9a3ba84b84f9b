//! Runs every flow with the most verbose logging and searches logs, Debug output and error messages for the
//! tokens and passwords it used.

use std::time::SystemTime;

use mailconnect::auth::SignInOptions;
use mailconnect::config::Account;
use mailconnect::sandbox::{Fault, SandboxOptions};
use mailconnect::store::{StoredTokens, TokenStore};
use mailconnect::verify::{self, CheckContext, MailCredentials, xoauth2};
use secrecy::{ExposeSecret, SecretString};

use crate::support::logs::CapturedLogs;
use crate::support::{
    Dovecot, PrivateKeyring, TestCa, browser, quick_sandbox, sign_in_client, test_timeouts,
};

const MAILBOX: &str = "reception@smile-dental.example";
const BASIC_PASSWORD: &str = "Winter2026!practice-basic";

#[test]
fn no_token_or_password_appears_in_logs_debug_output_or_errors() {
    let _keyring = PrivateKeyring::start_for_this_process("test keyring password");
    let logs = CapturedLogs::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut secrets: Vec<String> = vec![BASIC_PASSWORD.to_owned()];
    let mut shown: Vec<String> = Vec::new();

    runtime.block_on(async {
        let sandbox = quick_sandbox(SandboxOptions {
            auto_approve_browser: true,
            ..SandboxOptions::default()
        })
        .await;
        let ca = TestCa::new(&["localhost"]);
        let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
        let account = Account {
            imap: dovecot.imap("localhost"),
            smtp: dovecot.smtp("localhost"),
            ..sandbox.account(MAILBOX)
        };
        let client = sign_in_client(&account);

        // Device code and browser sign-in, then a refresh.
        let prompt = client.start_device_code().await.unwrap();
        shown.push(format!("{prompt:?}"));
        sandbox.approve_device_code(&prompt.user_code, MAILBOX);
        let device_tokens = client
            .poll_device_code(&prompt, |event| shown_events(&event))
            .await
            .unwrap();
        let sign_in = client
            .start_browser_sign_in(&SignInOptions::default())
            .await
            .unwrap();
        shown.push(format!("{sign_in:?}"));
        browser(true)
            .get(sign_in.authorize_url.as_str())
            .send()
            .await
            .unwrap();
        let browser_tokens = sign_in.finish(&client).await.unwrap();
        let refreshed = client
            .refresh(browser_tokens.refresh_token.as_ref().unwrap())
            .await
            .unwrap();
        for tokens in [&device_tokens, &browser_tokens, &refreshed] {
            secrets.push(tokens.access_token.expose_secret().to_owned());
            secrets.push(
                tokens
                    .refresh_token
                    .as_ref()
                    .unwrap()
                    .expose_secret()
                    .to_owned(),
            );
            secrets.push(
                xoauth2::initial_response(MAILBOX, &tokens.access_token)
                    .expose_secret()
                    .to_owned(),
            );
            shown.push(format!("{tokens:?}"));
        }

        // Checks that pass and checks that fail, against Dovecot.
        let context = CheckContext::new(ca.trust(), test_timeouts());
        let good = MailCredentials::for_account(&account, refreshed.access_token.clone());
        let (imap, smtp) = verify::check_both(&account, &good, &context).await;
        assert!(imap.verdict.passed() && smtp.verdict.passed());
        let forged = SecretString::from("sbx-at-FORGEDTOKENFORLEAKTEST-9f8e7d6c5b4a");
        secrets.push(forged.expose_secret().to_owned());
        let bad = MailCredentials::for_account(&account, forged);
        let (imap_bad, smtp_bad) = verify::check_both(&account, &bad, &context).await;
        assert!(!imap_bad.verdict.passed() && !smtp_bad.verdict.passed());
        shown.extend([
            format!("{imap:?}"),
            format!("{smtp:?}"),
            format!("{imap_bad:?}"),
            format!("{smtp_bad:?}"),
            format!("{good:?}"),
            format!("{bad:?}"),
        ]);

        // Identity errors, including a malformed answer to a refresh.
        for fault in [Fault::MalformedTokenAnswer, Fault::TokenServiceUnavailable] {
            sandbox.inject(fault);
            let error = client
                .refresh(refreshed.refresh_token.as_ref().unwrap())
                .await
                .unwrap_err();
            shown.extend([format!("{error:?}"), error.to_string()]);
        }

        // The keyring.
        let store = TokenStore::open().unwrap();
        let stored = StoredTokens {
            access_token: refreshed.access_token.clone(),
            refresh_token: refreshed.refresh_token.clone().unwrap(),
            access_token_expires_at: refreshed.expires_at,
            signed_in_as: Some(MAILBOX.to_owned()),
            saved_at: SystemTime::now(),
        };
        shown.push(format!("{stored:?}"));
        store.save_sign_in(MAILBOX, &stored).unwrap();
        store
            .save_basic_password(MAILBOX, &SecretString::from(BASIC_PASSWORD))
            .unwrap();
        let loaded = store.load_tokens(MAILBOX).unwrap().unwrap();
        shown.push(format!(
            "{loaded:?} {store:?} {:?}",
            store.load_basic_password(MAILBOX).unwrap()
        ));
        shown.push(format!("{:?}", store.manifest(MAILBOX).unwrap()));
    });

    let log_text = logs.text();
    assert!(
        log_text.lines().count() > 50,
        "TRACE logging captured too little to prove anything:\n{log_text}"
    );
    assert!(
        log_text.contains("identity request"),
        "the library's own events are missing from the capture"
    );
    for secret in &secrets {
        assert!(secret.len() >= 16);
        assert!(
            !log_text.contains(secret.as_str()),
            "a secret appears in the log"
        );
        for text in &shown {
            assert!(
                !text.contains(secret.as_str()),
                "a secret appears in: {}",
                text.chars().take(200).collect::<String>()
            );
        }
    }
}

fn shown_events(event: &mailconnect::auth::DevicePollEvent) {
    tracing::info!(?event, "device poll event");
}
