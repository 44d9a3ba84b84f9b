//! `mailconnect keepalive`: renews every saved sign-in that is due, tells the desktop when one needs a person, and
//! opens the window at the mailbox whose notification was clicked.

use std::io::Write;
use std::process::ExitCode;

use super::Context;
use crate::store::TokenStore;

impl Context {
    pub(super) async fn keepalive(
        &self,
        json: bool,
        wait_for_click: bool,
    ) -> anyhow::Result<ExitCode> {
        let store = TokenStore::open()?;
        let state_file = crate::state::StateFile::default_location();
        let mut all_fine = true;
        let mut out = std::io::stdout().lock();
        // Connected once, on the first notification: no desktop session is needed when all is well.
        let mut notifier: Option<Result<crate::keepalive::Notifier, String>> = None;
        // Mailboxes on the organisation's app have nothing to renew: their app's certificate or secret is looked
        // at once per app below.
        for account in self
            .config
            .accounts
            .iter()
            .filter(|account| !account.app_only)
        {
            let kept = crate::keepalive::keep_alive(
                account,
                &store,
                state_file.as_ref(),
                crate::keepalive::Due::IdleForDays,
                || self.client(account),
            )
            .await;
            all_fine &= !matches!(
                kept,
                crate::keepalive::KeptAlive::NeedsSignIn { .. }
                    | crate::keepalive::KeptAlive::Temporary { .. }
            );
            // The health after this run decides whether the desktop is told: a needed sign-in, or one due soon.
            let health = crate::keepalive::health_after(account, &store, state_file.as_ref()).await;
            all_fine &= !health.needs_person();
            let notified = health.worth_a_notification().then(|| {
                let (summary, body) = crate::keepalive::sign_in_notice(&account.mailbox, &health);
                match notifier.get_or_insert_with(crate::keepalive::Notifier::connect) {
                    Ok(notifier) => notifier.show(&account.mailbox, &summary, &body),
                    Err(error) => Err(error.clone()),
                }
            });
            if json {
                let line = serde_json::json!({
                    "mailbox": account.mailbox,
                    "result": kept.code(),
                    "words": kept.words(),
                    "notified": notified.as_ref().map(Result::is_ok),
                });
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}: {}", account.mailbox, kept.words())?;
                if let Some(Err(error)) = &notified {
                    writeln!(out, "  (no desktop notification: {error})")?;
                }
            }
        }
        all_fine &= crate::cli_app::report_credentials(&self.config, &store, json, &mut out)?;
        if let (true, Some(Ok(notifier))) = (wait_for_click, notifier.as_mut()) {
            out.flush()?;
            if let Some(mailbox) = notifier.wait_for_reauthenticate(crate::keepalive::ACTION_WAIT) {
                let opened = self.open_window_for(&mailbox);
                if json {
                    let line = serde_json::json!({
                        "mailbox": mailbox,
                        "action": "reauthenticate",
                        "window_opened": opened.is_ok(),
                    });
                    writeln!(out, "{line}")?;
                } else {
                    match opened {
                        Ok(()) => writeln!(out, "Opening the window to sign {mailbox} in again.")?,
                        Err(error) => writeln!(out, "The window could not be opened: {error}")?,
                    }
                }
            }
        }
        Ok(if all_fine {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    /// Starts the window, on its own, straight at signing `mailbox` in again.
    fn open_window_for(&self, mailbox: &str) -> std::io::Result<()> {
        std::process::Command::new(std::env::current_exe()?)
            .args(crate::keepalive::reauthenticate_arguments(
                self.config_file.path(),
                mailbox,
            ))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(drop)
    }
}
