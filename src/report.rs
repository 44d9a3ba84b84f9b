//! The support report: versions, settings, verdicts, error codes and correlation ids, in plain text to paste into
//! an email. It is built only from non-secret fields; no token or password can reach it.

use std::fmt::Write;

use crate::auth::{SignInError, TokenSet};
use crate::config::Account;
use crate::verify::{CheckFailure, CheckReport, Protocol, Verdict};
use crate::wizard::{CheckRow, Page, Saving, SignIn, SignInPage, StoredPassword, Wizard};

/// The report for the wizard as it stands.
pub fn wizard_report(wizard: &Wizard) -> String {
    let mut report = header();
    let step = wizard.step();
    let _ = writeln!(
        report,
        "Wizard step:     {} of 5, {}",
        step.number(),
        step.title()
    );
    if let Some(account) = wizard.account() {
        account_section(&mut report, account);
    }
    match &wizard.page {
        Page::Account { .. } => {}
        Page::Reminder(page) => {
            let _ = writeln!(
                report,
                "Basic password:  {}",
                match &page.password {
                    StoredPassword::Loading => "not looked up yet".to_owned(),
                    StoredPassword::None => "none stored".to_owned(),
                    StoredPassword::Present(_) => "stored (not shown here)".to_owned(),
                    StoredPassword::Unavailable(error) => format!("keyring error {}", error.code()),
                }
            );
        }
        Page::SignIn(page) => sign_in_section(&mut report, page),
        Page::Check(page) => {
            tokens_section(&mut report, &page.tokens);
            report.push_str("\nConnection checks\n");
            check_section(&mut report, Protocol::Imap, &page.imap);
            check_section(&mut report, Protocol::Smtp, &page.smtp);
        }
        Page::Save(page) => {
            tokens_section(&mut report, &page.tokens);
            report.push_str("\nConnection checks\n");
            check_section(
                &mut report,
                Protocol::Imap,
                &CheckRow::Finished(page.imap.clone()),
            );
            check_section(
                &mut report,
                Protocol::Smtp,
                &CheckRow::Finished(page.smtp.clone()),
            );
            let _ = writeln!(
                report,
                "\nSave:            {}",
                match &page.saving {
                    Saving::NotYet => "not saved yet".to_owned(),
                    Saving::InProgress => "in progress".to_owned(),
                    Saving::Saved => "saved in the OS keyring".to_owned(),
                    Saving::Failed(error) => format!("failed: {} ({error})", error.code()),
                    Saving::Removing => "saved; being removed".to_owned(),
                    Saving::Removed(forgotten) =>
                        format!("saved, then removed ({} keyring items)", forgotten.items),
                    Saving::RemoveFailed(error) =>
                        format!("saved; removing failed: {} ({error})", error.code()),
                }
            );
        }
    }
    report
}

fn sign_in_section(report: &mut String, page: &SignInPage) {
    report.push_str("\nSign-in\n");
    match &page.sign_in {
        SignIn::Choosing => report.push_str("  not started\n"),
        SignIn::Starting(method) => {
            let _ = writeln!(report, "  starting ({method:?})");
        }
        SignIn::ShowingCode(prompt) => {
            let _ = writeln!(
                report,
                "  waiting for the code to be entered ({} s left)",
                prompt.remaining().as_secs()
            );
        }
        SignIn::WaitingForBrowser { .. } => report.push_str("  waiting for the browser\n"),
        SignIn::CodeExpired => report.push_str("  the code expired\n"),
        SignIn::Failed(error) => sign_in_error_section(report, error),
        SignIn::SignedIn { tokens } => {
            tokens_section(report, tokens);
            if let Some(mismatch) = page.mismatch() {
                let _ = writeln!(report, "  problem: {mismatch}");
            }
        }
    }
}

fn tokens_section(report: &mut String, tokens: &TokenSet) {
    let who = tokens
        .account
        .as_ref()
        .map_or("(not named by the id token)", |account| {
            account.username.as_str()
        });
    let _ = writeln!(report, "  signed in as {who}");
    let expires = chrono::DateTime::<chrono::Utc>::from(tokens.expires_at);
    let _ = writeln!(
        report,
        "  access token expires {}",
        expires.format("%Y-%m-%d %H:%M:%S UTC")
    );
}

/// The report for one configured mailbox, from what is stored: settings, the saved sign-in's manifest (or the
/// keyring error code) and the last verification.
pub fn account_report(
    account: &Account,
    stored: StoredSignIn,
    state: &crate::state::State,
) -> String {
    let last = state.last_verification(&account.mailbox);
    let mut report = header();
    account_section(&mut report, account);
    report.push_str("\nSaved sign-in\n");
    match stored {
        StoredSignIn::App(credential) => app_credential_section(&mut report, credential),
        StoredSignIn::Own(manifest) => match manifest {
            Ok(Some(manifest)) => {
                let at = utc_time;
                let _ = writeln!(
                    report,
                    "  signed in as: {}",
                    manifest.signed_in_as.as_deref().unwrap_or("(unknown)")
                );
                let _ = writeln!(
                    report,
                    "  access token expires: {}",
                    at(manifest.access_token_expires_at)
                );
                let _ = writeln!(report, "  last refresh: {}", at(manifest.saved_at));
                let _ = writeln!(report, "  keyring generation: {}", manifest.generation);
            }
            Ok(None) => report.push_str("  none\n"),
            Err(code) => {
                let _ = writeln!(report, "  the keyring could not be read ({code})");
            }
        },
    }
    report.push_str("\nLast verification\n");
    match last {
        Some(last) => {
            let _ = writeln!(report, "  at: {}", utc_time(last.at));
            let _ = writeln!(
                report,
                "  IMAP (receiving): {}",
                crate::cli::describe_last_check(&last.imap)
            );
            let _ = writeln!(
                report,
                "  SMTP (sending): {}",
                crate::cli::describe_last_check(&last.smtp)
            );
        }
        None => report.push_str("  never\n"),
    }
    report.push_str("\nMove to OAuth\n");
    let at_or =
        |time: Option<u64>, otherwise: &str| time.map_or_else(|| otherwise.to_owned(), utc_time);
    let _ = writeln!(
        report,
        "  moved to OAuth (both checks passed): {}",
        at_or(state.moved_at(&account.mailbox), "not yet")
    );
    let _ = writeln!(
        report,
        "  Basic Auth disconnected: {}",
        at_or(state.basic_disconnected_at(&account.mailbox), "no")
    );
    if let Some(group) = &account.group {
        let _ = writeln!(report, "  group: {group}");
    }
    report
}

/// A Unix time from a file as UTC text; a value no clock can show is said to be so instead of crashing.
fn utc_time(seconds: u64) -> String {
    match crate::words::unix_time(seconds) {
        Some(time) => chrono::DateTime::<chrono::Utc>::from(time)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        _ => format!("(an impossible date: {seconds})"),
    }
}

fn header() -> String {
    let mut header = String::new();
    let _ = writeln!(header, "mailconnect support report");
    let _ = writeln!(header, "Version:         {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        header,
        "System:          {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    let _ = writeln!(
        header,
        "Created:         {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    header
}

/// What a mailbox signs in with, as stored: its own (or its service account's) sign-in, or the organisation's
/// app's credential.
pub enum StoredSignIn {
    Own(Result<Option<crate::store::Manifest>, String>),
    App(Result<Option<crate::app_only::CredentialInfo>, String>),
}

impl StoredSignIn {
    /// What the keyring holds for `account` (its own or its service account's sign-in, or its app's credential),
    /// or the code of why it cannot be read. Blocks on the keyring.
    pub fn read(
        store: &Result<crate::store::TokenStore, crate::store::StoreError>,
        account: &Account,
    ) -> StoredSignIn {
        match (store, account.app_only) {
            (Ok(store), false) => StoredSignIn::Own(
                store
                    .manifest(account.token_owner())
                    .map_err(|error| error.code().to_owned()),
            ),
            (Ok(store), true) => StoredSignIn::App(
                store
                    .app_credential_info(
                        &account.client_id,
                        crate::store::AppCredentialSlot::Current,
                    )
                    .map_err(|error| error.code().to_owned()),
            ),
            (Err(error), _) => StoredSignIn::Own(Err(error.code().to_owned())),
        }
    }
}

fn app_credential_section(
    report: &mut String,
    credential: Result<Option<crate::app_only::CredentialInfo>, String>,
) {
    match credential {
        Ok(Some(info)) => {
            let _ = writeln!(
                report,
                "  none: reached by the organisation's app, with its {} (works until {})",
                info.kind.label(),
                info.expires
            );
            if let Some(thumbprint) = &info.thumbprint_sha1_hex {
                let _ = writeln!(report, "  certificate thumbprint: {thumbprint}");
            }
        }
        Ok(None) => report.push_str(
            "  none: reached by the organisation's app, whose certificate or secret is not on this computer\n",
        ),
        Err(code) => {
            let _ = writeln!(report, "  the keyring could not be read ({code})");
        }
    }
}

fn account_section(report: &mut String, account: &Account) {
    let _ = writeln!(report, "Mailbox:         {}", account.mailbox);
    if let Some(delegate) = &account.sign_in_account {
        let _ = writeln!(report, "Signs in as:     {delegate}");
    }
    if let Some(service) = &account.service_account {
        let _ = writeln!(report, "Reached through: the service account {service}");
    }
    if account.app_only {
        let _ = writeln!(
            report,
            "Reached by:      the organisation's app (client credentials; no one signs in)"
        );
    }
    if let Some(group) = &account.group {
        let _ = writeln!(report, "Group:           {group}");
    }
    let _ = writeln!(
        report,
        "Provider:        {}",
        account.provider.display_name()
    );
    let _ = writeln!(report, "Tenant:          {}", account.tenant);
    let _ = writeln!(report, "Client id:       {}", account.client_id);
    let _ = writeln!(
        report,
        "IMAP server:     {}:{} ({})",
        account.imap.host,
        account.imap.port,
        account.imap.security.label()
    );
    let _ = writeln!(
        report,
        "SMTP server:     {}:{} ({})",
        account.smtp.host,
        account.smtp.port,
        account.smtp.security.label()
    );
}

fn sign_in_error_section(report: &mut String, error: &SignInError) {
    let _ = writeln!(report, "  failed: {error}");
    let _ = writeln!(report, "  code: {}", error.code());
    if let Some(correlation_id) = error.correlation_id() {
        let _ = writeln!(report, "  correlation id: {correlation_id}");
    }
    if let Some(trace_id) = error.trace_id() {
        let _ = writeln!(report, "  trace id: {trace_id}");
    }
    if let Some(timestamp) = error
        .identity()
        .and_then(|identity| identity.timestamp.as_deref())
    {
        let _ = writeln!(report, "  timestamp: {timestamp}");
    }
}

fn check_section(report: &mut String, protocol: Protocol, row: &CheckRow) {
    let role = protocol.role();
    match row {
        CheckRow::Waiting => {
            let _ = writeln!(report, "  {role}: not run");
        }
        CheckRow::Running(stage) => {
            let _ = writeln!(report, "  {role}: running ({})", stage.name());
        }
        CheckRow::Finished(CheckReport {
            verdict: Verdict::Passed { server_reply },
            ..
        }) => {
            let _ = writeln!(report, "  {role}: passed, server said \"{server_reply}\"");
        }
        CheckRow::Finished(CheckReport {
            verdict: Verdict::Failed(failure),
            ..
        }) => failure_section(report, protocol, failure),
    }
}

fn failure_section(report: &mut String, protocol: Protocol, failure: &CheckFailure) {
    let _ = writeln!(
        report,
        "  {}: FAILED at the {} stage",
        protocol.role(),
        failure.stage.name()
    );
    let _ = writeln!(report, "    code: {}", failure.code(protocol));
    let _ = writeln!(report, "    detail: {}", failure.detail);
    if let Some(reply) = &failure.server_reply {
        let _ = writeln!(report, "    server reply: {reply}");
    }
    if let Some(oauth_error) = &failure.oauth_error {
        let _ = writeln!(report, "    OAuth error from server: {oauth_error}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn impossible_dates_are_said_not_crashed_on() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00 UTC");
        assert!(super::utc_time(10_000_000_000_000).contains("impossible"));
        assert!(super::utc_time(u64::MAX).contains("impossible"));
    }
}
