//! What the accounts home's and the "Programs and devices" page's controls do: the window's state changes and the
//! background work they start.

use eframe::egui;

use std::time::Instant;

use super::{CLIPBOARD_PASSWORD_KEPT, DevicesAction, HomeAction, Screen, WizardApp};
use crate::runner::WindowCommand;

impl WizardApp {
    /// Does what a control of the "Programs and devices" page asks.
    pub fn apply_devices_action(&mut self, ctx: &egui::Context, action: DevicesAction) {
        match action {
            DevicesAction::Back => {
                // The new device's password is not kept once the page is left.
                self.devices.just_added = None;
                self.screen = Screen::Home;
            }
            DevicesAction::Add {
                name,
                mailbox,
                plain_on_lan,
            } => self.runner.add_device(name, mailbox, plain_on_lan),
            DevicesAction::Remove(user_name) => {
                self.devices.confirm_remove = None;
                self.runner.remove_device(user_name);
            }
            DevicesAction::SendTest {
                row,
                password,
                port,
            } => self.runner.send_test_message(row, password, port),
            DevicesAction::CopyPassword(password) => {
                ctx.copy_text(secrecy::ExposeSecret::expose_secret(&password).to_owned());
                self.clear_clipboard_at = Some(Instant::now() + CLIPBOARD_PASSWORD_KEPT);
            }
            DevicesAction::NewPassword(user_name) => self.runner.new_password(user_name),
            DevicesAction::CopyText(text) => {
                ctx.copy_text(text.clone());
                self.clear_clipboard_at = None;
                self.devices.notice = Some(format!("Copied {text}."));
                self.window_commands
                    .push(WindowCommand::CopyToClipboard(text.into()));
            }
            DevicesAction::SetNetwork(on) => self.runner.set_bridge_on_network(on),
            DevicesAction::InstallService => self.runner.install_bridge_service(),
            DevicesAction::Retry(id) => self
                .runner
                .ask_about_message(id, crate::bridge::spool::Request::Retry),
            DevicesAction::Drop(id) => {
                self.devices.confirm_drop = None;
                self.runner
                    .ask_about_message(id, crate::bridge::spool::Request::Drop);
            }
        }
    }

    /// Carries out what the user asked of the home.
    pub fn apply_home_action(&mut self, ctx: &egui::Context, action: HomeAction) {
        self.home.notice = None;
        match action {
            HomeAction::CheckNow => {
                let accounts = self.home.start_checks();
                self.runner.check_mailboxes(accounts);
            }
            HomeAction::ReAuthenticate(mailbox) => {
                // The chosen mailbox's own settings: one reached through a service account keeps going through it
                // (the service account signs in, the checks run for this mailbox).
                if let Some(row) = self.home.row(&mailbox) {
                    let reason = crate::wizard::Reason {
                        mailbox: row.account.mailbox.clone(),
                        words: reauthentication_reason(row),
                    };
                    let account = row.account.clone();
                    self.open_wizard(ctx, Some(account));
                    self.wizard.reason = Some(reason);
                }
            }
            HomeAction::AskRemove => {
                let plan = self.home.removal_plan();
                if !(plan.remove.is_empty() && plan.kept.is_empty()) {
                    self.home.dialog = Some(crate::home::Dialog::ConfirmRemoval(plan));
                }
            }
            HomeAction::ConfirmRemove => {
                let mailboxes = self.home.confirm_removal();
                if !mailboxes.is_empty() {
                    self.runner.remove_mailboxes(mailboxes);
                }
            }
            HomeAction::CancelRemove
            | HomeAction::CancelGroup
            | HomeAction::CancelDisconnectBasic => self.home.dialog = None,
            HomeAction::AddMailbox => self.open_wizard(ctx, None),
            HomeAction::Explain => self.show_explain(),
            HomeAction::AddMany => {
                // A practice whose mailboxes go through a service account adds the new ones the same way.
                if self.import.via.is_none() && self.import.text.is_empty() {
                    self.import.via = self.home.usual_service_account();
                }
                self.screen = Screen::Import;
            }
            HomeAction::Devices => {
                self.screen = Screen::Devices;
                self.runner.start_bridge(false);
                self.runner.read_devices();
            }
            HomeAction::AskGroup => {
                self.home.dialog = Some(crate::home::Dialog::Group(String::new()))
            }
            HomeAction::ConfirmGroup => {
                if let Some(crate::home::Dialog::Group(name)) = self.home.dialog.take() {
                    let name = name.trim().to_owned();
                    let mailboxes = self
                        .home
                        .selected()
                        .into_iter()
                        .map(|account| account.mailbox.clone())
                        .collect();
                    self.runner
                        .set_group(mailboxes, (!name.is_empty()).then_some(name));
                }
            }
            HomeAction::AskDisconnectBasic => {
                let (moved, not_yet) = self.home.disconnect_candidates();
                self.home.dialog = Some(crate::home::Dialog::ConfirmDisconnect { moved, not_yet });
            }
            HomeAction::ConfirmDisconnectBasic => {
                let moved = self.home.confirm_disconnect();
                if !moved.is_empty() {
                    self.runner.disconnect_basic(moved);
                }
            }
            HomeAction::Details(mailbox) => {
                self.home.dialog = Some(crate::home::Dialog::Details(mailbox))
            }
            HomeAction::CloseDetails => self.home.dialog = None,
            HomeAction::CopyReport(mailbox) => {
                if let Some(row) = self.home.row(&mailbox) {
                    self.runner.copy_report(row.account.clone());
                }
            }
            HomeAction::CopyPowerShell(mailboxes) => {
                let accounts = mailboxes
                    .iter()
                    .filter_map(|mailbox| self.home.row(mailbox))
                    .map(|row| row.account.clone())
                    .collect();
                self.runner.copy_powershell(accounts);
            }
            HomeAction::CancelChecks => {
                self.runner.cancel_checks();
                self.home.cancel_checks();
            }
            HomeAction::RetryFailed => {
                self.home.select_failed();
                let accounts = self.home.start_checks();
                self.runner.check_mailboxes(accounts);
            }
        }
    }
}

/// Why "Re-authenticate now" opened the wizard, in the home's words: when and why the sign-in stopped working,
/// or that it is renewed at the person's wish.
fn reauthentication_reason(row: &crate::home::Row) -> String {
    let who = &row.account.mailbox;
    if !row.health.needs_person() {
        return format!("Signing {who} in again.");
    }
    let when = row
        .failed_at
        .map(|at| format!(" on {}", crate::words::day_and_month(at)))
        .unwrap_or_default();
    let cause = row.health.alert().unwrap_or_default();
    format!("The sign-in for {who} stopped working{when}: {cause}.")
}
