//! Steps 4 and 5: the receiving and sending checks with a tick or a cross and the fix, and saving the sign-in.

use eframe::egui;

use egui::{RichText, Ui};

use super::widgets::{advice_ui, verdict_badge};
use crate::verify::Protocol;
use crate::verify::{CheckReport, Verdict};
use crate::wizard::{CheckPage, CheckRow, Intent, SavePage, Saving};

pub(super) fn check_ui(ui: &mut Ui, page: &CheckPage) -> Option<Intent> {
    let mut intent = None;
    // The actions come first so a long explanation below never pushes them out of sight. Every control the
    // advice below names ("Try again", "Sign in again") is here.
    ui.horizontal(|ui| {
        let can_retry = (page.imap.failed() || page.smtp.failed()) && !page.running();
        if ui
            .add_enabled(can_retry, egui::Button::new("Try again"))
            .clicked()
        {
            intent = Some(Intent::RetryFailedChecks);
        }
        if ui
            .add_enabled(!page.running(), egui::Button::new("Sign in again"))
            .clicked()
        {
            intent = Some(Intent::SignInAgain);
        }
        if ui.button("Copy support report").clicked() {
            intent = Some(Intent::CopySupportReport);
        }
    });
    ui.add_space(6.0);
    for (protocol, row) in [(Protocol::Imap, &page.imap), (Protocol::Smtp, &page.smtp)] {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(protocol.role()).strong().size(16.0));
            match row {
                CheckRow::Waiting => {
                    ui.label("Waiting to start…");
                }
                CheckRow::Running(stage) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!("{}…", stage.doing()));
                    });
                }
                CheckRow::Finished(report) => {
                    report_ui(ui, protocol, report);
                    if !report.verdict.passed() {
                        shared_mailbox_note(ui, &page.account, protocol);
                    }
                }
            }
        });
        ui.add_space(6.0);
    }
    intent
}

/// What mailconnect knows and the advice cannot: for a shared mailbox, who signs in for it and which right that
/// person needs for this check.
fn shared_mailbox_note(ui: &mut Ui, account: &crate::config::Account, protocol: Protocol) {
    let person = account.sign_in_account();
    if person.eq_ignore_ascii_case(&account.mailbox) {
        return;
    }
    let right = match protocol {
        Protocol::Imap => "Full Access",
        Protocol::Smtp => "Send as",
    };
    ui.label(
        RichText::new(format!(
            "{person} signs in for the shared mailbox {}: {person} needs the \"{right}\" permission on it \
             (Exchange admin center > Recipients > Mailboxes > {} > Delegation).",
            account.mailbox, account.mailbox
        ))
        .strong(),
    );
}

fn report_ui(ui: &mut Ui, protocol: Protocol, report: &CheckReport) {
    match &report.verdict {
        Verdict::Passed { server_reply } => {
            ui.horizontal(|ui| verdict_badge(ui, true, "Connected"));
            ui.label(RichText::new(format!("Server reply: {server_reply}")).small());
        }
        Verdict::Failed(failure) => {
            ui.horizontal(|ui| {
                verdict_badge(
                    ui,
                    false,
                    &format!(
                        "Not connected: stopped at the {} step",
                        failure.stage.name()
                    ),
                )
            });
            ui.add_space(4.0);
            advice_ui(
                ui,
                &crate::advice::for_check(failure, protocol),
                crate::advice::Surface::Window,
            );
            ui.add_space(4.0);
            if let Some(reply) = &failure.server_reply {
                ui.label(RichText::new(format!("Server reply: {reply}")).monospace());
            }
            ui.label(RichText::new(format!("Code: {}", failure.code(protocol))).monospace());
            ui.label(RichText::new(&failure.detail).small());
        }
    }
}

pub(super) fn save_ui(ui: &mut Ui, page: &SavePage) -> Option<Intent> {
    let mut intent = None;
    let mailbox = page.account.mailbox.as_str();
    let keyring = keyring_name();
    match &page.saving {
        Saving::NotYet => {
            ui.horizontal(|ui| verdict_badge(ui, true, "Receiving and sending both work"));
            ui.add_space(4.0);
            ui.label(RichText::new("Nothing has been saved yet.").strong());
            ui.label(format!(
                "Choose Save to store the sign-in for {mailbox} in {keyring}:"
            ));
            stored_items_ui(ui, page);
            ui.label("Until you choose Save, Cancel leaves this computer as it was.");
        }
        Saving::InProgress => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Saving the sign-in in the keyring…");
            });
        }
        Saving::Saved | Saving::Removing | Saving::RemoveFailed(_) => {
            ui.horizontal(|ui| verdict_badge(ui, true, "Saved"));
            ui.add_space(4.0);
            ui.label(format!("The sign-in for {mailbox} is stored in {keyring}:"));
            stored_items_ui(ui, page);
            ui.add_space(4.0);
            ui.label("Nothing was written to disk in plain text.");
            ui.add_space(6.0);
            ui.label(RichText::new("What next").strong());
            ui.label(
                "Choose Finish to go to Accounts, where mailconnect keeps this mailbox connected from now on.",
            );
            ui.label(
                "Scanners and programs that only know a user name and password: on Accounts, choose \
                 \"Programs and devices\" to give each one its own password for mailconnect.",
            );
            ui.label(
                "Once both checks pass with the new sign-in, \"Disconnect Basic\" on Accounts removes the old \
                 Basic Auth password kept on this computer.",
            );
            ui.add_space(8.0);
            ui.label(format!("Saved by mistake? Remove it from {keyring} here."));
            if let Saving::RemoveFailed(error) = &page.saving {
                ui.horizontal(|ui| verdict_badge(ui, false, "Not removed"));
                advice_ui(
                    ui,
                    &crate::advice::for_store(error),
                    crate::advice::Surface::Window,
                );
                ui.label(RichText::new(format!("Code: {}", error.code())).monospace());
            }
            let removing = matches!(page.saving, Saving::Removing);
            if ui
                .add_enabled(!removing, egui::Button::new("Remove the saved sign-in"))
                .clicked()
            {
                intent = Some(Intent::RemoveSaved);
            }
        }
        Saving::Removed(forgotten) => {
            ui.horizontal(|ui| verdict_badge(ui, false, "Removed"));
            ui.add_space(4.0);
            ui.label(format!(
                "The saved sign-in for {mailbox} was removed from {keyring} ({}). The mailbox stays in mailconnect's list without a sign-in. Choose Save to store it again, or Cancel to close.",
                crate::words::count(forgotten.items as u64, "item", "items")
            ));
        }
        Saving::Failed(error) => {
            ui.horizontal(|ui| verdict_badge(ui, false, "Not saved yet"));
            ui.add_space(4.0);
            advice_ui(
                ui,
                &crate::advice::for_store(error),
                crate::advice::Surface::Window,
            );
            ui.label(RichText::new(format!("Code: {}", error.code())).monospace());
            ui.label(RichText::new(error.to_string()).small());
            if ui.button("Try again").clicked() {
                intent = Some(Intent::Save);
            }
        }
    }
    intent
}

/// What Save stores, in a practice admin's words.
fn stored_items_ui(ui: &mut Ui, page: &SavePage) {
    let until = chrono::DateTime::<chrono::Local>::from(page.tokens.expires_at).format("%H:%M");
    let who = page
        .tokens
        .account
        .as_ref()
        .map_or(page.account.mailbox.clone(), |account| {
            account.username.clone()
        });
    egui::Grid::new("stored_items")
        .num_columns(2)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            ui.label("  •  A renewal key (refresh token)");
            ui.label("lets mailconnect renew the sign-in by itself");
            ui.end_row();
            ui.label("  •  A short-lived pass (access token)");
            ui.label(format!("valid until {until}, renewed before it runs out"));
            ui.end_row();
            ui.label("  •  Signed-in account");
            ui.label(who);
            ui.end_row();
        });
}

fn keyring_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else {
        "this computer's keyring (\"Passwords and Keys\")"
    }
}
