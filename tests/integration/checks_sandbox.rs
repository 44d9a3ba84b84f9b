//! IMAP and SMTP checks against the sandbox's own responders: stages, verdicts and injected failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailconnect::config::{Security, ServerSettings};
use mailconnect::sandbox::{Fault, SandboxOptions};
use mailconnect::verify::{self, CheckContext, FailureKind, MailCredentials, Protocol, Stage};
use secrecy::SecretString;

use crate::support::{device_sign_in, platform_trust, quick_sandbox, test_timeouts};

const MAILBOX: &str = "reception@smile-dental.example";

/// Every (protocol, stage) a check reported, in order.
type SeenStages = Arc<Mutex<Vec<(Protocol, Stage)>>>;

fn recording_context() -> (CheckContext, SeenStages) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let context = CheckContext::new(platform_trust(), test_timeouts()).with_progress(Arc::new(
        move |protocol, stage| sink.lock().unwrap().push((protocol, stage)),
    ));
    (context, seen)
}

#[tokio::test]
async fn both_checks_pass_with_a_fresh_token_and_report_each_stage() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let (context, seen) = recording_context();
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(imap.verdict.passed(), "{imap:?}");
    assert!(smtp.verdict.passed(), "{smtp:?}");
    let verify::Verdict::Passed { server_reply } = &smtp.verdict else {
        unreachable!()
    };
    assert_eq!(server_reply, "235 2.7.0 Authentication successful");
    let seen = seen.lock().unwrap();
    let stages_of = |protocol| {
        seen.iter()
            .filter(|(p, _)| *p == protocol)
            .map(|(_, stage)| *stage)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        stages_of(Protocol::Imap),
        [
            Stage::Resolving,
            Stage::Connecting,
            Stage::Greeting,
            Stage::Capabilities,
            Stage::Authenticating,
            Stage::Mailbox
        ]
    );
    assert_eq!(
        stages_of(Protocol::Smtp),
        [
            Stage::Resolving,
            Stage::Connecting,
            Stage::Greeting,
            Stage::Capabilities,
            Stage::Authenticating,
            Stage::Sender
        ]
    );
}

#[tokio::test]
async fn a_rejected_token_fails_at_authentication_with_the_servers_words() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let (context, _) = recording_context();
    let credentials =
        MailCredentials::for_account(&account, SecretString::from("sbx-at-not-a-real-token"));
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;

    let imap_failure = imap.verdict.failure().expect("IMAP fails");
    assert_eq!(imap_failure.stage, Stage::Authenticating);
    assert_eq!(imap_failure.kind, FailureKind::Rejected);
    assert_eq!(
        imap_failure.server_reply.as_deref(),
        Some("NO AUTHENTICATE failed.")
    );
    assert_eq!(
        imap_failure.oauth_error.as_deref(),
        Some(r#"{"status":"401","schemes":"bearer","scope":"mail"}"#)
    );
    assert!(
        mailconnect::advice::for_check(imap_failure, mailconnect::verify::Protocol::Imap)
            .steps
            .iter()
            .any(|step| step.contains("IMAP"))
    );
    assert_eq!(
        imap_failure.code(Protocol::Imap),
        "IMAP-authentication-rejected"
    );

    let smtp_failure = smtp.verdict.failure().expect("SMTP fails");
    assert_eq!(smtp_failure.stage, Stage::Authenticating);
    assert_eq!(
        smtp_failure.server_reply.as_deref(),
        Some("535 5.7.3 Authentication unsuccessful [sandbox.mailconnect.invalid]")
    );
    assert!(smtp_failure.oauth_error.is_some());
}

#[tokio::test]
async fn smtp_auth_switched_off_names_the_admin_center_switch() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let disabled = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.";
    sandbox.inject(Fault::SmtpAuthReply(disabled.into()));
    let (context, _) = recording_context();
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(imap.verdict.passed());
    let failure = smtp.verdict.failure().expect("SMTP fails");
    assert_eq!(failure.server_reply.as_deref(), Some(disabled));
    assert!(
        mailconnect::advice::for_check(failure, mailconnect::verify::Protocol::Smtp)
            .cause
            .contains("Authenticated SMTP")
    );
    assert!(
        mailconnect::advice::for_check(failure, mailconnect::verify::Protocol::Smtp)
            .steps
            .iter()
            .any(|step| step.contains("Manage email apps"))
    );
}

#[tokio::test]
async fn a_missing_send_as_right_is_caught_at_set_up_without_sending_anything() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let (context, stages) = recording_context();
    let credentials = MailCredentials::for_account(&account, tokens.access_token.clone());
    let (_, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(smtp.verdict.passed(), "{smtp:?}");
    assert!(
        stages
            .lock()
            .unwrap()
            .iter()
            .any(|(_, stage)| *stage == Stage::Sender),
        "the sender is checked after the sign-in"
    );

    let denied = "550 5.7.60 SMTP; Client does not have permissions to send as this sender";
    sandbox.inject(Fault::SmtpMailFromReply(denied.into()));
    let (context, _) = recording_context();
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(imap.verdict.passed());
    let failure = smtp
        .verdict
        .failure()
        .expect("sending as the mailbox is refused");
    assert_eq!(failure.stage, Stage::Sender);
    assert_eq!(failure.server_reply.as_deref(), Some(denied));
    let advice = mailconnect::advice::for_check(failure, mailconnect::verify::Protocol::Smtp);
    assert_eq!(advice.id(), "smtp-send-as-denied");
    assert!(advice.steps.iter().any(|step| step.contains("Send as")));
    assert_eq!(sandbox.stats().messages_received, 0, "nothing was sent");
}

#[tokio::test]
async fn a_test_message_is_sent_only_when_asked() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let (mut context, seen) = recording_context();
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    assert!(
        verify::check_smtp(&account.smtp, &credentials, &context)
            .await
            .verdict
            .passed()
    );
    assert_eq!(sandbox.stats().messages_received, 0);
    context.send_test_message = true;
    assert!(
        verify::check_smtp(&account.smtp, &credentials, &context)
            .await
            .verdict
            .passed()
    );
    assert_eq!(sandbox.stats().messages_received, 1);
    assert!(
        seen.lock()
            .unwrap()
            .contains(&(Protocol::Smtp, Stage::TestMessage))
    );
}

#[tokio::test]
async fn a_silent_server_times_out_naming_the_greeting_stage() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    sandbox.inject(Fault::MailHang);
    let mut context = CheckContext::new(platform_trust(), test_timeouts());
    context.timeouts.reply = Duration::from_secs(1);
    let credentials = MailCredentials::for_account(&account, SecretString::from("unused"));
    let started = std::time::Instant::now();
    let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "both checks should time out together"
    );
    for report in [imap, smtp] {
        let failure = report.verdict.failure().expect("timeout");
        assert_eq!(
            (failure.stage, failure.kind),
            (Stage::Greeting, FailureKind::Timeout),
            "{report:?}"
        );
        assert!(
            failure.detail.contains("did not answer within 1 seconds"),
            "{}",
            failure.detail
        );
    }
}

#[tokio::test]
async fn refused_unknown_and_insecure_servers_fail_before_any_secret_is_sent() {
    let context = CheckContext::new(platform_trust(), test_timeouts());
    let credentials = MailCredentials {
        imap_user: MAILBOX.into(),
        smtp_user: MAILBOX.into(),
        mailbox: MAILBOX.into(),
        access_token: SecretString::from("unused"),
    };
    let closed_port = crate::support::free_port();
    let refused = verify::check_imap(
        &ServerSettings {
            host: "127.0.0.1".into(),
            port: closed_port,
            security: Security::PlainLoopbackOnly,
        },
        &credentials,
        &context,
    )
    .await;
    let failure = refused.verdict.failure().expect("refused");
    assert_eq!(
        (failure.stage, failure.kind),
        (Stage::Connecting, FailureKind::Refused)
    );
    assert!(
        mailconnect::advice::for_check(failure, mailconnect::verify::Protocol::Imap).steps[0]
            .contains("993")
    );

    let unknown = verify::check_smtp(
        &ServerSettings {
            host: "no-such-host.invalid".into(),
            port: 587,
            security: Security::StartTls,
        },
        &credentials,
        &context,
    )
    .await;
    let failure = unknown.verdict.failure().expect("unknown host");
    assert_eq!(failure.stage, Stage::Resolving);
    assert!(
        matches!(failure.kind, FailureKind::Dns | FailureKind::Timeout),
        "{failure:?}"
    );

    // A documentation address (TEST-NET-1): refused before any connection is attempted.
    let insecure = verify::check_imap(
        &ServerSettings {
            host: "192.0.2.1".into(),
            port: 143,
            security: Security::PlainLoopbackOnly,
        },
        &credentials,
        &context,
    )
    .await;
    let failure = insecure.verdict.failure().expect("insecure");
    assert_eq!(
        (failure.stage, failure.kind),
        (Stage::Connecting, FailureKind::Insecure)
    );
}
