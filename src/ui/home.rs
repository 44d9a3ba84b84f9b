//! The accounts home: the banner while a sign-in needs a person, the actions on the selected mailboxes, and the
//! table of every mailbox (virtualised rows, so a thousand draw as fast as ten). Returns what the user asked for.

use eframe::egui;
use egui::{RichText, Ui};

use super::theme::Palette;
use crate::home::{CheckColumn, Dialog, Home, RemovalPlan, Row};

/// What the user asked the home for; selection, filter and sorting are applied in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeAction {
    CheckNow,
    /// Opens the wizard for this mailbox at the reminder step.
    ReAuthenticate(String),
    /// Opens the confirmation for removing the selected mailboxes.
    AskRemove,
    ConfirmRemove,
    CancelRemove,
    AddMailbox,
    /// The "Explain an error message" page.
    Explain,
    CancelChecks,
    /// The "Add many mailboxes" page.
    AddMany,
    /// The "Programs and devices" page (the bridge).
    Devices,
    /// Opens the group name box for the ticked mailboxes.
    AskGroup,
    /// Puts the ticked mailboxes in the typed group (an empty name takes them out of their group).
    ConfirmGroup,
    CancelGroup,
    /// Opens the confirmation for removing the ticked mailboxes' old Basic Auth passwords.
    AskDisconnectBasic,
    ConfirmDisconnectBasic,
    CancelDisconnectBasic,
    /// Ticks the mailboxes that failed in the last run and checks them again.
    RetryFailed,
    /// Opens a row's details.
    Details(String),
    CloseDetails,
    /// Copies the support report of this mailbox.
    CopyReport(String),
    /// Copies the PowerShell that grants these mailboxes' rights (the same text as `mailconnect powershell`).
    CopyPowerShell(Vec<String>),
}

/// The whole home page.
#[must_use]
pub fn home_ui(ui: &mut Ui, home: &mut Home, now: std::time::SystemTime) -> Option<HomeAction> {
    let mut action = None;
    // The filter and the sorting, worked out once a frame for the toolbar's counts, the table and the dialogs.
    let shown = home.visible();
    let margin = egui::Margin::symmetric(20, 10);
    egui::Panel::top("home_header")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(RichText::new("Accounts").strong());
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    super::steps::appearance_ui(ui);
                    if ui.small_button("Explain an error message").clicked() {
                        action = Some(HomeAction::Explain);
                    }
                });
            });
            ui.label(
                "Every mailbox this computer keeps connected. Each sign-in is checked when this window opens and \
                 every 30 minutes, and renewed before it runs out.",
            );
            if let Some(banner) = home.banner() {
                ui.add_space(4.0);
                action = banner_ui(ui, &banner).or(action.take());
            }
            ui.add_space(4.0);
            action = toolbar_ui(ui, home, &shown).or(action.take());
        });
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            action = super::home_table::table_ui(ui, home, &shown, now).or(action.take());
        });
    let ticked = home.selected_among(&shown).len();
    let dialog_action = match &mut home.dialog {
        Some(Dialog::ConfirmRemoval(plan)) => confirm_removal_ui(ui, plan),
        Some(Dialog::Group(name)) => group_editor_ui(ui, name, ticked),
        Some(Dialog::ConfirmDisconnect { moved, not_yet }) => {
            confirm_disconnect_ui(ui, moved, not_yet)
        }
        Some(Dialog::Details(mailbox)) => {
            let mailbox = mailbox.clone();
            home.row(&mailbox)
                .map(|row| details_ui(ui, row, now))
                .unwrap_or(Some(HomeAction::CloseDetails))
        }
        None => None,
    };
    action = dialog_action.or(action.take());
    action
}

fn banner_ui(ui: &mut Ui, banner: &crate::home::Banner) -> Option<HomeAction> {
    let palette = Palette::of(ui);
    let mut action = None;
    egui::Frame::new()
        .stroke(egui::Stroke::new(2.0, palette.fail))
        .corner_radius(4.0)
        .inner_margin(egui::Margin::same(8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(&banner.words).strong().color(palette.fail));
                ui.label("Mail for it cannot be fetched or sent until someone signs in again.");
                let button = ui.button("Re-authenticate now");
                // Screen readers hear which mailbox (the toolbar has a button of the same words).
                let name = format!("Re-authenticate now: {}", banner.mailbox);
                button.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
                if button.clicked() {
                    action = Some(HomeAction::ReAuthenticate(banner.mailbox.clone()));
                }
            });
        });
    action
}

fn toolbar_ui(ui: &mut Ui, home: &mut Home, shown: &[usize]) -> Option<HomeAction> {
    let mut action = None;
    let selected = home.selected_among(shown);
    let count = selected.len();
    let only = (count == 1).then(|| selected[0].mailbox.clone());
    // A mailbox on the organisation's app has no sign-in: its app's certificate or secret is the IT admin's.
    let only_app = count == 1 && selected[0].app_only;
    ui.horizontal_wrapped(|ui| {
        let filter_label = ui.label("Filter");
        ui.add(
            egui::TextEdit::singleline(&mut home.filter)
                .hint_text("address, group or alert")
                .desired_width(200.0),
        )
        .labelled_by(filter_label.id);
        ui.separator();
        let check = ui
            .add_enabled(count > 0, egui::Button::new("Check now"))
            .on_hover_text("Checks receiving and sending for the ticked mailboxes.")
            .on_disabled_hover_text("Tick one or more mailboxes first.");
        if check.clicked() {
            action = Some(HomeAction::CheckNow);
        }
        let reauthenticate = ui
            .add_enabled(
                only.is_some() && !only_app,
                egui::Button::new("Re-authenticate now"),
            )
            .on_hover_text("Signs the ticked mailbox in again, starting from its current settings.")
            .on_disabled_hover_text(if only_app {
                "This mailbox is reached by the organisation's app: no one signs in for it."
            } else {
                "Tick one mailbox first."
            });
        if let (true, Some(mailbox)) = (reauthenticate.clicked(), only) {
            action = Some(HomeAction::ReAuthenticate(mailbox));
        }
        let remove = ui
            .add_enabled(count > 0, egui::Button::new("Remove"))
            .on_hover_text("Removes the ticked mailboxes from mailconnect, after asking.")
            .on_disabled_hover_text("Tick one or more mailboxes first.");
        if remove.clicked() {
            action = Some(HomeAction::AskRemove);
        }
        let group = ui
            .add_enabled(count > 0, egui::Button::new("Group…"))
            .on_hover_text("Puts the ticked mailboxes in a named group, such as \"Test group\", to move them in steps.")
            .on_disabled_hover_text("Tick one or more mailboxes first.");
        if group.clicked() {
            action = Some(HomeAction::AskGroup);
        }
        let disconnect = ui
            .add_enabled(count > 0, egui::Button::new("Disconnect Basic"))
            .on_hover_text(
                "Removes the old Basic Auth passwords of the ticked mailboxes that moved to OAuth, after asking.",
            )
            .on_disabled_hover_text("Tick one or more mailboxes first.");
        if disconnect.clicked() {
            action = Some(HomeAction::AskDisconnectBasic);
        }
        if ui.button("Add mailbox").clicked() {
            action = Some(HomeAction::AddMailbox);
        }
        if ui.button("Add many…").clicked() {
            action = Some(HomeAction::AddMany);
        }
        if ui
            .button("Programs and devices")
            .on_hover_text("Scanners and programs that send mail with a password: they go through mailconnect.")
            .clicked()
        {
            action = Some(HomeAction::Devices);
        }

    });
    if let Some(batch) = &home.batch {
        action = batch_ui(ui, batch).or(action.take());
    }
    ui.horizontal_wrapped(|ui| {
        let mut counts = format!(
            "{} shown, {count} ticked",
            crate::words::count(shown.len() as u64, "mailbox", "mailboxes"),
        );
        let hidden = home.ticked_but_hidden(shown);
        if hidden > 0 {
            counts.push_str(&format!(
                " ({hidden} more ticked but hidden by the filter: the buttons leave them out)"
            ));
        }
        ui.label(RichText::new(counts).weak());
        if let Some(notice) = &home.notice {
            ui.label(RichText::new(notice).strong());
        }
    });
    action
}

/// The run of checks: a progress bar with counts and an estimate and Cancel while it runs; then the summary and
/// "Retry failed".
fn batch_ui(ui: &mut Ui, batch: &crate::home::Batch) -> Option<HomeAction> {
    let mut action = None;
    if batch.finished() {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(batch.summary()).strong());
            if !batch.failed.is_empty() && ui.button("Retry failed").clicked() {
                action = Some(HomeAction::RetryFailed);
            }
        });
        for group in batch.groups() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("{}.", group.words)).strong());
                ui.label(&group.what_to_do);
                if group.powershell {
                    let label = match group.mailboxes.len() {
                        1 => "Copy PowerShell for this mailbox".to_owned(),
                        count => format!("Copy PowerShell for these {count}"),
                    };
                    if ui
                        .button(&label)
                        .on_hover_text(
                            "The Exchange Online commands that grant the rights, for the IT admin.",
                        )
                        .clicked()
                    {
                        action = Some(HomeAction::CopyPowerShell(group.mailboxes.clone()));
                    }
                }
            });
        }
        return action;
    }
    ui.horizontal_wrapped(|ui| {
        let left = batch
            .time_left(std::time::Instant::now())
            .map(|left| format!(" · about {} left", crate::words::duration(left)))
            .unwrap_or_default();
        let words = format!(
            "{} of {} checked · {} failed{left}",
            batch.done,
            batch.total(),
            batch.failed.len()
        );
        let bar = egui::ProgressBar::new(batch.done as f32 / batch.total().max(1) as f32)
            .desired_width(320.0)
            .text(words.clone());
        ui.add(bar)
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, &words));
        if ui.button("Cancel checks").clicked() {
            action = Some(HomeAction::CancelChecks);
        }
    });
    action
}

/// A row's details: how it is reached, each check with its code, the server's words, the cause and the fix, and
/// "Copy support report" for support staff on the phone.
fn details_ui(ui: &mut Ui, row: &Row, now: std::time::SystemTime) -> Option<HomeAction> {
    let mut action = None;
    let modal = egui::Modal::new(egui::Id::unique("row_details")).show(ui.ctx(), |ui| {
        ui.set_max_width(560.0);
        ui.heading(&row.account.mailbox);
        egui::ScrollArea::vertical()
            .max_height(ui.ctx().content_rect().height() * 0.6)
            .show(ui, |ui| {
                let reached = match (&row.account.service_account, row.account.app_only) {
                    (Some(service), _) => format!("Reached through the sign-in of {service}."),
                    (None, true) => {
                        "Reached by the organisation's app; no one signs in for it.".to_owned()
                    }
                    (None, false) => format!("Signs in as {}.", row.account.sign_in_account()),
                };
                ui.label(reached);
                ui.label(format!("OAuth: {}", row.health.words()));
                for (name, column, check) in [
                    ("Receiving (IMAP)", CheckColumn::Receiving, &row.imap),
                    ("Sending (SMTP)", CheckColumn::Sending, &row.smtp),
                ] {
                    ui.add_space(6.0);
                    ui.label(RichText::new(name).strong());
                    super::home_table::cell_ui(ui, &row.check_cell(column, now));
                    let Some(check) = check else { continue };
                    ui.label(format!("Code: {}", check.code));
                    if let Some(reply) = &check.server_reply {
                        ui.label(format!("The server said: {reply}"));
                    }
                    if check.passed {
                        continue;
                    }
                    let advice =
                        crate::advice::for_code(check.cause.as_deref().unwrap_or(&check.code));
                    ui.label(advice.cause);
                    for (number, step) in advice
                        .steps_for(crate::advice::Surface::Home, Some(&row.account.mailbox))
                        .iter()
                        .enumerate()
                    {
                        ui.label(format!("{}. {step}", number + 1));
                    }
                }
            });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Copy support report").clicked() {
                action = Some(HomeAction::CopyReport(row.account.mailbox.clone()));
            }
            if ui.button("Close").clicked() {
                action = Some(HomeAction::CloseDetails);
            }
        });
    });
    if modal.should_close() && action.is_none() {
        action = Some(HomeAction::CloseDetails);
    }
    action
}

fn confirm_removal_ui(ui: &mut Ui, plan: &RemovalPlan) -> Option<HomeAction> {
    let mut action = None;
    const LISTED: usize = 8;
    let list = |ui: &mut Ui, mailboxes: &[String]| {
        for mailbox in mailboxes.iter().take(LISTED) {
            ui.label(format!("• {mailbox}"));
        }
        if mailboxes.len() > LISTED {
            ui.label(format!("and {} more", mailboxes.len() - LISTED));
        }
    };
    let modal = egui::Modal::new(egui::Id::unique("confirm_removal")).show(ui.ctx(), |ui| {
        ui.set_max_width(480.0);
        let mailboxes = &plan.remove;
        let one = mailboxes.len() == 1;
        ui.heading(match mailboxes.len() {
            0 => "Nothing can be removed yet".to_owned(),
            1 => "Remove this mailbox?".to_owned(),
            count => format!("Remove {count} mailboxes?"),
        });
        list(ui, mailboxes);
        if !mailboxes.is_empty() {
            ui.add_space(6.0);
            ui.label(if one {
                "Its saved sign-in is deleted from this computer's keyring, and mailconnect stops keeping it \
                 connected. Programs that get their sign-in from mailconnect stop sending and receiving for it. An \
                 old Basic Auth password, if one is stored, is kept."
            } else {
                "Their saved sign-ins are deleted from this computer's keyring, and mailconnect stops keeping them \
                 connected. Programs that get their sign-in from mailconnect stop sending and receiving for them. \
                 Old Basic Auth passwords, if any are stored, are kept."
            });
        }
        for (service, dependants) in &plan.kept {
            ui.add_space(6.0);
            ui.label(
                RichText::new(format!(
                    "{service} is kept: {} through its sign-in and would lose it:",
                    crate::words::count(dependants.len() as u64, "mailbox goes", "mailboxes go")
                ))
                .strong(),
            );
            list(ui, dependants);
            ui.label("Remove those too (tick them as well), or set them up with their own sign-in first.");
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                action = Some(HomeAction::CancelRemove);
            }
            if !mailboxes.is_empty() && ui.button("Yes, remove").clicked() {
                action = Some(HomeAction::ConfirmRemove);
            }
        });
    });
    if modal.should_close() && action.is_none() {
        action = Some(HomeAction::CancelRemove);
    }
    action
}

/// "Disconnect Basic" asks first: whose old passwords go, and who is not ready yet.
fn confirm_disconnect_ui(ui: &mut Ui, moved: &[String], not_yet: &[String]) -> Option<HomeAction> {
    let mut action = None;
    const LISTED: usize = 8;
    let list = |ui: &mut Ui, mailboxes: &[String]| {
        for mailbox in mailboxes.iter().take(LISTED) {
            ui.label(format!("• {mailbox}"));
        }
        if mailboxes.len() > LISTED {
            ui.label(format!("and {} more", mailboxes.len() - LISTED));
        }
    };
    let modal = egui::Modal::new(egui::Id::unique("confirm_disconnect")).show(ui.ctx(), |ui| {
        ui.set_max_width(480.0);
        ui.heading("Disconnect Basic Auth?");
        if moved.is_empty() {
            ui.label("None of the ticked mailboxes has passed both checks with OAuth yet, so nothing is removed.");
        } else {
            ui.label(format!(
                "The old Basic Auth password is removed from this computer for {} (both OAuth checks passed):",
                crate::words::count(moved.len() as u64, "mailbox", "mailboxes")
            ));
            list(ui, moved);
        }
        if !not_yet.is_empty() {
            ui.add_space(6.0);
            ui.label("Not yet (both OAuth checks have not passed; they are left as they are):");
            list(ui, not_yet);
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                action = Some(HomeAction::CancelDisconnectBasic);
            }
            if !moved.is_empty() && ui.button("Yes, remove the old passwords").clicked() {
                action = Some(HomeAction::ConfirmDisconnectBasic);
            }
        });
    });
    if modal.should_close() && action.is_none() {
        action = Some(HomeAction::CancelDisconnectBasic);
    }
    action
}

/// "Group…": a name for the ticked mailboxes' group.
fn group_editor_ui(ui: &mut Ui, name: &mut String, ticked: usize) -> Option<HomeAction> {
    let mut action = None;
    let modal = egui::Modal::new(egui::Id::unique("group_editor")).show(ui.ctx(), |ui| {
        ui.set_max_width(420.0);
        ui.heading("Put in a group");
        ui.label(format!(
            "The group for the {} ticked. Leave it empty to take them out of their group.",
            crate::words::count(ticked as u64, "mailbox", "mailboxes")
        ));
        let label = ui.label("Group name");
        let field = ui
            .add(egui::TextEdit::singleline(name).hint_text("Test group"))
            .labelled_by(label.id);
        if field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter)) {
            action = Some(HomeAction::ConfirmGroup);
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                action = Some(HomeAction::CancelGroup);
            }
            if ui.button("Save group").clicked() {
                action = Some(HomeAction::ConfirmGroup);
            }
        });
    });
    if modal.should_close() && action.is_none() {
        action = Some(HomeAction::CancelGroup);
    }
    action
}
