//! The accounts home: the banner while a sign-in needs a person, the actions on the selected mailboxes, and the
//! table of every mailbox (virtualised rows, so a thousand draw as fast as ten). Returns what the user asked for.

use eframe::egui;
use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};

use super::theme::Palette;
use crate::health::Health;
use crate::home::{Column, Home, Row};
use crate::state::LastCheck;

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
}

/// The whole home page.
#[must_use]
pub fn home_ui(ui: &mut Ui, home: &mut Home, now: std::time::SystemTime) -> Option<HomeAction> {
    let mut action = None;
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
            action = toolbar_ui(ui, home).or(action.take());
        });
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            egui::ScrollArea::horizontal().show(ui, |ui| table_ui(ui, home, now));
        });
    if let Some(mailboxes) = &home.confirm_removal {
        action = confirm_removal_ui(ui, mailboxes).or(action.take());
    }
    if home.group_editor.is_some() {
        let ticked = home.selected().len();
        if let Some(name) = &mut home.group_editor {
            action = group_editor_ui(ui, name, ticked).or(action.take());
        }
    }
    if let Some((moved, not_yet)) = &home.confirm_disconnect {
        action = confirm_disconnect_ui(ui, moved, not_yet).or(action.take());
    }
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

fn toolbar_ui(ui: &mut Ui, home: &mut Home) -> Option<HomeAction> {
    let mut action = None;
    let selected = home.selected();
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
        ui.label(
            RichText::new(format!(
                "{} shown, {} ticked",
                crate::words::count(home.visible().len() as u64, "mailbox", "mailboxes"),
                count
            ))
            .weak(),
        );
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
    ui.horizontal_wrapped(|ui| {
        if batch.finished() {
            ui.label(RichText::new(batch.summary()).strong());
            if !batch.failed.is_empty() && ui.button("Retry failed").clicked() {
                action = Some(HomeAction::RetryFailed);
            }
            return;
        }
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

const HEADERS: [(Column, &str, &str); 6] = [
    (Column::Mailbox, "Mailbox", "The mailbox's address."),
    (
        Column::BasicAuth,
        "Basic Auth",
        "The old way of signing in, with the mailbox's password. Microsoft is switching it off.",
    ),
    (
        Column::OAuth,
        "OAuth",
        "The new Microsoft sign-in: mailconnect keeps it renewed so it never runs out.",
    ),
    (
        Column::Receiving,
        "Receiving (IMAP)",
        "The last check that mail can be fetched.",
    ),
    (
        Column::Sending,
        "Sending (SMTP)",
        "The last check that mail can be sent.",
    ),
    (
        Column::Alert,
        "Alert",
        "What needs attention, in a few words.",
    ),
];

fn table_ui(ui: &mut Ui, home: &mut Home, now: std::time::SystemTime) {
    let shown = home.visible();
    if home.rows.is_empty() {
        ui.label("No mailboxes yet: choose Add mailbox.");
        return;
    }
    let line = ui.text_style_height(&egui::TextStyle::Body);
    // Room for an alert of two lines: the cause is worth reading in full, not cut off.
    let row_height = 2.0 * line + 12.0;
    let mut all_shown = home.all_selected(&shown);
    let mut tick_all = None;
    let mut sort = None;
    TableBuilder::new(ui)
        .id_salt("accounts")
        .striped(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::exact(28.0))
        .column(
            TableColumn::initial(240.0)
                .at_least(120.0)
                .resizable(true)
                .clip(true),
        )
        .column(
            TableColumn::initial(120.0)
                .at_least(80.0)
                .resizable(true)
                .clip(true),
        )
        .column(
            TableColumn::initial(165.0)
                .at_least(90.0)
                .resizable(true)
                .clip(true),
        )
        .column(
            TableColumn::initial(130.0)
                .at_least(90.0)
                .resizable(true)
                .clip(true),
        )
        .column(
            TableColumn::initial(115.0)
                .at_least(90.0)
                .resizable(true)
                .clip(true),
        )
        .column(TableColumn::remainder().at_least(160.0).clip(true))
        .header(line + 14.0, |mut header| {
            header.col(|ui| {
                let response = ui
                    .add(egui::Checkbox::without_text(&mut all_shown))
                    .on_hover_text("Tick or untick every mailbox shown");
                response.widget_info(|| {
                    egui::WidgetInfo::selected(
                        egui::Role::CheckBox,
                        true,
                        all_shown,
                        "Select all shown",
                    )
                });
                if response.changed() {
                    tick_all = Some(all_shown);
                }
            });
            for (column, title, explanation) in HEADERS {
                header.col(|ui| {
                    let sorted = (home.sort == column).then_some(home.ascending);
                    let button = egui::Button::new(RichText::new(title).strong()).frame(false);
                    let response = ui.add(button);
                    if let Some(ascending) = sorted {
                        sort_mark(ui, ascending);
                    }
                    let order = match sorted {
                        Some(true) => " Sorted A to Z; click to reverse.",
                        Some(false) => " Sorted Z to A; click to reverse.",
                        None => " Click to sort by it.",
                    };
                    if response
                        .on_hover_text(format!("{explanation}{order}"))
                        .clicked()
                    {
                        sort = Some(column);
                    }
                });
            }
        })
        .body(|body| {
            body.rows(row_height, shown.len(), |mut table_row| {
                let row = &mut home.rows[shown[table_row.index()]];
                table_row.col(|ui| {
                    let mailbox = row.account.mailbox.clone();
                    let response = ui.add(egui::Checkbox::without_text(&mut row.selected));
                    let selected = row.selected;
                    response.widget_info(|| {
                        egui::WidgetInfo::selected(
                            egui::Role::CheckBox,
                            true,
                            selected,
                            format!("Select {mailbox}"),
                        )
                    });
                });
                row_cells(&mut table_row, row, now);
            });
        });
    if let Some(selected) = tick_all {
        home.select_all_shown(selected);
    }
    if let Some(column) = sort {
        home.sort_by(column);
    }
}

/// A small triangle after the sorted column's title: up for A to Z, down for Z to A (drawn: not every font has
/// the arrow characters).
fn sort_mark(ui: &mut Ui, ascending: bool) {
    let size = 8.0;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let colour = ui.visuals().text_color();
    let (top, bottom) = (rect.top(), rect.bottom());
    let points = if ascending {
        vec![
            egui::pos2(rect.left(), bottom),
            egui::pos2(rect.right(), bottom),
            egui::pos2(rect.center().x, top),
        ]
    } else {
        vec![
            egui::pos2(rect.left(), top),
            egui::pos2(rect.right(), top),
            egui::pos2(rect.center().x, bottom),
        ]
    };
    ui.painter().add(egui::Shape::convex_polygon(
        points,
        colour,
        egui::Stroke::NONE,
    ));
}

fn row_cells(table_row: &mut egui_extras::TableRow<'_, '_>, row: &Row, now: std::time::SystemTime) {
    table_row.col(|ui| {
        ui.vertical(|ui| {
            ui.label(&row.account.mailbox);
            if let Some(group) = &row.account.group {
                ui.label(RichText::new(group).small().weak());
            }
        });
    });
    table_row.col(|ui| {
        ui.label(match row.basic_password {
            Some(true) => "password stored",
            Some(false) => "none",
            None => "unknown",
        })
        .on_hover_text(
            "Whether the mailbox's old password is still kept on this computer for the Basic Auth way of signing in.",
        );
    });
    table_row.col(|ui| {
        let palette = Palette::of(ui);
        let colour = match &row.health {
            Health::Connected => palette.pass,
            Health::NeedsSignIn { .. } | Health::Unreadable { .. } | Health::AppCredentialEnded => {
                palette.fail
            }
            _ => palette.text,
        };
        ui.vertical(|ui| {
            // A mailbox on the organisation's app has no sign-in to renew: say whose access it is.
            let words = match (&row.health, row.account.app_only) {
                (Health::Connected, true) => "connected through the organisation's app",
                _ => row.health.short_words(),
            };
            ui.label(RichText::new(words).color(colour))
                .on_hover_text(row.health.words());
            if let Some(moved) = row.moved_at {
                ui.label(
                    RichText::new(format!(
                        "moved to OAuth {}",
                        crate::words::day_and_month(moved)
                    ))
                    .small()
                    .weak(),
                );
            }
        });
    });
    for check in [&row.imap, &row.smtp] {
        table_row.col(|ui| {
            if row.checking {
                ui.spinner();
                ui.label("checking…");
            } else {
                check_cell(ui, check.as_ref(), row.last_checked_at, now);
            }
        });
    }
    table_row.col(|ui| {
        let palette = Palette::of(ui);
        match row.alert() {
            Some(alert) => {
                ui.add(egui::Label::new(RichText::new(&alert).color(palette.fail)).wrap())
                    .on_hover_text(alert);
            }
            None => {
                ui.label(RichText::new("none").weak());
            }
        }
    });
}

fn check_cell(ui: &mut Ui, check: Option<&LastCheck>, at: Option<u64>, now: std::time::SystemTime) {
    let palette = Palette::of(ui);
    let Some(check) = check else {
        ui.label(RichText::new("not checked yet").weak());
        return;
    };
    let when = at.map(|at| crate::words::when(at, now)).unwrap_or_default();
    let (words, colour) = if check.passed {
        (format!("works · {when}"), palette.pass)
    } else {
        (format!("failed · {when}"), palette.fail)
    };
    let detail = match &check.server_reply {
        Some(reply) => format!("{} — the server said: {reply}", check.code),
        None => check.code.clone(),
    };
    ui.label(RichText::new(words).color(colour))
        .on_hover_text(detail);
}

fn confirm_removal_ui(ui: &mut Ui, mailboxes: &[String]) -> Option<HomeAction> {
    let mut action = None;
    let modal = egui::Modal::new(egui::Id::unique("confirm_removal")).show(ui.ctx(), |ui| {
        ui.set_max_width(460.0);
        let one = mailboxes.len() == 1;
        ui.heading(if one {
            "Remove this mailbox?".to_owned()
        } else {
            format!("Remove {} mailboxes?", mailboxes.len())
        });
        const LISTED: usize = 8;
        for mailbox in mailboxes.iter().take(LISTED) {
            ui.label(format!("• {mailbox}"));
        }
        if mailboxes.len() > LISTED {
            ui.label(format!("and {} more", mailboxes.len() - LISTED));
        }
        ui.add_space(6.0);
        ui.label(if one {
            "Its saved sign-in is deleted from this computer's keyring, and mailconnect stops keeping it connected. \
             Programs that get their sign-in from mailconnect stop sending and receiving for it. An old Basic Auth \
             password, if one is stored, is kept."
        } else {
            "Their saved sign-ins are deleted from this computer's keyring, and mailconnect stops keeping them \
             connected. Programs that get their sign-in from mailconnect stop sending and receiving for them. Old \
             Basic Auth passwords, if any are stored, are kept."
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                action = Some(HomeAction::CancelRemove);
            }
            if ui.button("Yes, remove").clicked() {
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
