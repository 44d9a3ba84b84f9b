//! The accounts table: a tick box, the address and a Details button, then the Basic Auth, OAuth, receiving, sending
//! and Alert columns, each sortable; virtualised rows, so a thousand draw as fast as ten. Narrower than the full
//! table needs (640 points), the check columns share one and Basic Auth goes under the address, so every column
//! stays in the window.

use eframe::egui;
use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};

use super::home::HomeAction;
use super::theme::Palette;
use crate::home::{CheckColumn, Column, Home, Row, Tone};

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

/// The narrowest the full table reads well at: below it, the compact one.
const FULL_TABLE_MIN_WIDTH: f32 = 860.0;

pub(super) fn table_ui(
    ui: &mut Ui,
    home: &mut Home,
    shown: &[usize],
    now: std::time::SystemTime,
) -> Option<HomeAction> {
    if home.rows.is_empty() {
        ui.label("No mailboxes yet: choose \"Add mailbox\".");
        return None;
    }
    let compact = ui.available_width() < FULL_TABLE_MIN_WIDTH;
    let line = ui.text_style_height(&egui::TextStyle::Body);
    // Room for an alert of two lines: the cause is worth reading in full, not cut off.
    let row_height = 2.0 * line + 12.0;
    let mut all_shown = home.all_selected(shown);
    let mut tick_all = None;
    let mut sort = None;
    let mut row_action = None;
    // Every column is sized from the width there is, so the table always fits the window (no sideways scrolling,
    // which would leave the keyboard focus off screen): fixed columns first, the rest shared out.
    let spacing = ui.spacing().item_spacing.x;
    let (shares, fixed): (&[f32], f32) = if compact {
        (&[0.32, 0.22, 0.24], 28.0 + 64.0)
    } else {
        (&[0.22, 0.10, 0.19, 0.16, 0.15], 28.0 + 70.0)
    };
    let columns = shares.len() + 3;
    let shared = (ui.available_width() - fixed - spacing * (columns - 1) as f32).max(200.0);
    let mut table = TableBuilder::new(ui)
        .id_salt(if compact {
            "accounts_compact"
        } else {
            "accounts"
        })
        .striped(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::exact(28.0));
    for (index, share) in shares.iter().enumerate() {
        table = table.column(TableColumn::exact((share * shared).floor()).clip(true));
        if index == 0 {
            // The Details buttons.
            table = table.column(TableColumn::exact(fixed - 28.0));
        }
    }
    let table = table.column(TableColumn::remainder().clip(true));
    table
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
                let title = match column {
                    Column::BasicAuth | Column::Sending if compact => continue,
                    Column::Receiving if compact => "Checks",
                    _ => title,
                };
                header.col(|ui| {
                    if let Some(clicked) = header_button(ui, home, column, title, explanation) {
                        sort = Some(clicked);
                    }
                });
                if column == Column::Mailbox {
                    // The Details buttons' column has no title of its own.
                    header.col(|_| {});
                }
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
                row_cells(&mut table_row, row, now, compact, &mut row_action);
            });
        });
    if let Some(selected) = tick_all {
        home.select_all_shown(selected);
    }
    if let Some(column) = sort {
        home.sort_by(column);
    }
    row_action
}

/// A column's title as a button that sorts by it; `Some(column)` when clicked.
fn header_button(
    ui: &mut Ui,
    home: &Home,
    column: Column,
    title: &str,
    explanation: &str,
) -> Option<Column> {
    let sorted = (home.sort == column).then_some(home.ascending);
    // A frame only under the pointer or the keyboard focus, so both can be seen.
    let button = egui::Button::new(RichText::new(title).strong())
        .frame(true)
        .frame_when_inactive(false);
    let response = ui.add(button);
    if let Some(ascending) = sorted {
        sort_mark(ui, ascending);
    }
    let order = match sorted {
        Some(true) => " Sorted A to Z; click to reverse.",
        Some(false) => " Sorted Z to A; click to reverse.",
        None => " Click to sort by it.",
    };
    response
        .on_hover_text(format!("{explanation}{order}"))
        .clicked()
        .then_some(column)
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

fn row_cells(
    table_row: &mut egui_extras::TableRow<'_, '_>,
    row: &Row,
    now: std::time::SystemTime,
    compact: bool,
    action: &mut Option<HomeAction>,
) {
    let basic = match row.basic_password {
        Some(true) => "stored",
        Some(false) => "none",
        None => "unknown",
    };
    let basic_explained = "Whether the mailbox's old password is still kept on this computer for the Basic Auth way of signing in.";
    table_row.col(|ui| {
        ui.vertical(|ui| {
            ui.label(&row.account.mailbox);
            let mut under = row.account.group.clone().unwrap_or_default();
            if compact {
                if !under.is_empty() {
                    under.push_str(" · ");
                }
                under.push_str(&format!("Basic Auth: {basic}"));
            }
            if !under.is_empty() {
                ui.label(RichText::new(under).small().weak())
                    .on_hover_text(basic_explained);
            }
        });
    });
    table_row.col(|ui| {
        let button = ui
            .small_button("Details")
            .on_hover_text("The checks' codes and the server's words, and the support report.");
        let name = format!("Details for {}", row.account.mailbox);
        button.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
        if button.clicked() {
            *action = Some(HomeAction::Details(row.account.mailbox.clone()));
        }
    });
    if !compact {
        table_row.col(|ui| {
            ui.label(basic).on_hover_text(basic_explained);
        });
    }
    table_row.col(|ui| {
        ui.vertical(|ui| {
            cell_ui(ui, &row.oauth_cell());
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
    let checks = [
        ("IMAP", CheckColumn::Receiving),
        ("SMTP", CheckColumn::Sending),
    ];
    if compact {
        table_row.col(|ui| {
            ui.vertical(|ui| {
                for (protocol, column) in checks {
                    if row.checking {
                        ui.label(format!("{protocol} checking…"));
                    } else {
                        let mut cell = row.check_cell(column, now);
                        cell.words = format!("{protocol} {}", cell.words);
                        cell_ui(ui, &cell);
                    }
                }
            });
        });
    } else {
        for (_, column) in checks {
            table_row.col(|ui| {
                if row.checking {
                    ui.spinner();
                    ui.label("checking…");
                } else {
                    cell_ui(ui, &row.check_cell(column, now));
                }
            });
        }
    }
    table_row.col(|ui| {
        let palette = Palette::of(ui);
        match row.alert() {
            Some(alert) => {
                let detail = row.alert_detail().unwrap_or_else(|| alert.clone());
                ui.add(egui::Label::new(RichText::new(&alert).color(palette.fail)).wrap())
                    .on_hover_text(detail);
            }
            None => {
                ui.label(RichText::new("none").weak());
            }
        }
    });
}

/// A cell's words in its tone, with its detail on hover.
pub(super) fn cell_ui(ui: &mut Ui, cell: &crate::home::Cell) {
    let palette = Palette::of(ui);
    let text = RichText::new(&cell.words);
    let text = match cell.tone {
        Tone::Pass => text.color(palette.pass),
        Tone::Fail => text.color(palette.fail),
        Tone::Plain => text.color(palette.text),
        Tone::Old => text.color(palette.weak_text),
    };
    ui.add(egui::Label::new(text).wrap())
        .on_hover_text(&cell.detail);
}
