//! IMAP (implicit TLS) and SMTP submission (STARTTLS) checks against a real Dovecot that validates tokens by
//! introspection against the sandbox identity server.

use std::time::Duration;

use mailconnect::config::{Account, Security, ServerSettings};
use mailconnect::sandbox::SandboxOptions;
use mailconnect::verify::{self, CheckContext, FailureKind, MailCredentials, Protocol, Stage};
use secrecy::SecretString;

use crate::support::{
    Dovecot, TestCa, device_sign_in, platform_trust, quick_sandbox, test_timeouts,
};

const MAILBOX: &str = "reception@smile-dental.example";

fn dovecot_account(
    sandbox: &mailconnect::sandbox::Sandbox,
    dovecot: &Dovecot,
    host: &str,
) -> Account {
    Account {
        imap: dovecot.imap(host),
        smtp: dovecot.smtp(host),
        ..sandbox.account(MAILBOX)
    }
}

#[tokio::test]
async fn a_valid_token_passes_both_checks_against_dovecot() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ca = TestCa::new(&["localhost"]);
    let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
    let account = dovecot_account(&sandbox, &dovecot, "localhost");
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let context = CheckContext::new(ca.trust(), test_timeouts());
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(imap.verdict.passed(), "{imap:?}\n{}", dovecot.log());
    assert!(smtp.verdict.passed(), "{smtp:?}\n{}", dovecot.log());
    assert_eq!(
        dovecot
            .relay
            .messages
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no mail unless asked"
    );

    let mut with_message = context.clone();
    with_message.send_test_message = true;
    let smtp = verify::check_smtp(&account.smtp, &credentials, &with_message).await;
    assert!(smtp.verdict.passed(), "{smtp:?}\n{}", dovecot.log());
    assert!(
        dovecot.relayed(1),
        "the test message did not reach Dovecot's relay"
    );
}

#[tokio::test]
async fn an_invalid_token_fails_at_authentication_with_dovecots_reply() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ca = TestCa::new(&["localhost"]);
    let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
    let account = dovecot_account(&sandbox, &dovecot, "localhost");
    let context = CheckContext::new(ca.trust(), test_timeouts());
    let credentials =
        MailCredentials::for_account(&account, SecretString::from("sbx-at-revoked-or-forged"));
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;

    let imap_failure = imap.verdict.failure().expect("IMAP refuses");
    assert_eq!(
        (imap_failure.stage, imap_failure.kind),
        (Stage::Authenticating, FailureKind::Rejected),
        "{imap_failure:?}"
    );
    let reply = imap_failure.server_reply.as_deref().unwrap_or_default();
    assert!(reply.starts_with("NO"), "{reply}");
    assert!(
        reply.contains("AUTHENTICATIONFAILED") || reply.contains("Authentication failed"),
        "{reply}"
    );
    assert!(
        imap_failure
            .oauth_error
            .as_deref()
            .unwrap_or_default()
            .contains("\"status\":\"401\""),
        "{imap_failure:?}"
    );

    let smtp_failure = smtp.verdict.failure().expect("SMTP refuses");
    assert_eq!(
        (smtp_failure.stage, smtp_failure.kind),
        (Stage::Authenticating, FailureKind::Rejected),
        "{smtp_failure:?}"
    );
    assert!(
        smtp_failure
            .server_reply
            .as_deref()
            .unwrap_or_default()
            .starts_with("535"),
        "{smtp_failure:?}"
    );
    assert!(smtp_failure.oauth_error.is_some());
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_is_a_temporary_failure() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ca = TestCa::new(&["localhost"]);
    let dead_endpoint = url::Url::parse(&format!(
        "http://127.0.0.1:{}/introspect",
        crate::support::free_port()
    ))
    .unwrap();
    let dovecot = Dovecot::start(&ca, &dead_endpoint);
    let account = dovecot_account(&sandbox, &dovecot, "localhost");
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let context = CheckContext::new(ca.trust(), test_timeouts());
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    for report in [imap, smtp] {
        let failure = report.verdict.failure().expect("temporary failure");
        assert_eq!(
            (failure.stage, failure.kind),
            (Stage::Authenticating, FailureKind::Temporary),
            "{report:?}"
        );
        assert!(
            mailconnect::advice::for_check(failure, report.protocol)
                .cause
                .contains("temporary")
        );
    }
}

#[tokio::test]
async fn an_untrusted_certificate_and_a_wrong_host_name_stop_at_tls() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ca = TestCa::new(&["localhost"]);
    let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
    let credentials =
        MailCredentials::for_account(&sandbox.account(MAILBOX), SecretString::from("never-sent"));

    let untrusting = CheckContext::new(platform_trust(), test_timeouts());
    let account = dovecot_account(&sandbox, &dovecot, "localhost");
    let (imap, smtp) = verify::check_both(&account, &credentials, &untrusting).await;
    for report in [imap, smtp] {
        let failure = report.verdict.failure().expect("untrusted");
        assert_eq!(
            (failure.stage, failure.kind),
            (Stage::Tls, FailureKind::Certificate),
            "{report:?}"
        );
        assert!(
            failure.detail.contains("does not trust"),
            "{}",
            failure.detail
        );
    }

    let trusting = CheckContext::new(ca.trust(), test_timeouts());
    let by_address = dovecot_account(&sandbox, &dovecot, "127.0.0.1");
    let (imap, smtp) = verify::check_both(&by_address, &credentials, &trusting).await;
    for report in [imap, smtp] {
        let failure = report.verdict.failure().expect("name mismatch");
        assert_eq!(
            (failure.stage, failure.kind),
            (Stage::Tls, FailureKind::Certificate),
            "{report:?}"
        );
        assert!(
            failure.detail.contains("different server name"),
            "{}",
            failure.detail
        );
    }
    assert!(!dovecot.log().contains("never-sent"));
}

#[tokio::test]
async fn a_server_that_accepts_and_says_nothing_times_out_at_tls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut context = CheckContext::new(platform_trust(), test_timeouts());
    context.timeouts.tls = Duration::from_secs(1);
    context.timeouts.reply = Duration::from_secs(1);
    let credentials = MailCredentials {
        imap_user: MAILBOX.into(),
        smtp_user: MAILBOX.into(),
        mailbox: MAILBOX.into(),
        access_token: SecretString::from("never-sent"),
    };
    let imap = verify::check_imap(
        &ServerSettings {
            host: "localhost".into(),
            port,
            security: Security::ImplicitTls,
        },
        &credentials,
        &context,
    )
    .await;
    let failure = imap.verdict.failure().expect("hang");
    assert_eq!(
        (failure.stage, failure.kind),
        (Stage::Tls, FailureKind::Timeout),
        "{failure:?}"
    );
    assert_eq!(failure.code(Protocol::Imap), "IMAP-TLS-timeout");
    let smtp = verify::check_smtp(
        &ServerSettings {
            host: "localhost".into(),
            port,
            security: Security::StartTls,
        },
        &credentials,
        &context,
    )
    .await;
    let failure = smtp.verdict.failure().expect("hang");
    assert_eq!(
        (failure.stage, failure.kind),
        (Stage::Greeting, FailureKind::Timeout),
        "{failure:?}"
    );
    holder.abort();
}

#[tokio::test]
async fn imap_over_starttls_passes_and_sends_nothing_before_the_upgrade() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ca = TestCa::new(&["localhost"]);
    let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
    let mut account = dovecot_account(&sandbox, &dovecot, "localhost");
    account.imap = ServerSettings {
        host: "localhost".into(),
        port: dovecot.imap_starttls_port,
        security: Security::StartTls,
    };
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let context = CheckContext::new(ca.trust(), test_timeouts()).with_progress(
        std::sync::Arc::new(move |_, stage| sink.lock().unwrap().push(stage)),
    );
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let report = verify::check_imap(&account.imap, &credentials, &context).await;
    assert!(report.verdict.passed(), "{report:?}\n{}", dovecot.log());
    let stages = seen.lock().unwrap().clone();
    let tls = stages
        .iter()
        .position(|stage| *stage == Stage::Tls)
        .expect("a TLS stage");
    let authentication = stages
        .iter()
        .position(|stage| *stage == Stage::Authenticating)
        .expect("authentication");
    assert!(
        tls < authentication,
        "the token went out before STARTTLS: {stages:?}"
    );
}
