//! "Add many mailboxes": addresses pasted, or the CSV the Microsoft 365 admin center exports, previewed with every
//! problem named before anything is saved; then added, in a group and through a service account if chosen.

use eframe::egui;
use egui::{RichText, Ui};

use crate::config::Account;
use crate::import::ImportPreview;

/// The page's state.
#[derive(Default)]
pub struct ImportPage {
    pub text: String,
    pub group: String,
    /// The service account the new mailboxes are reached through (`None`: each signs in itself).
    pub via: Option<String>,
    /// Also add the users the export marks as sign-in blocked or unlicensed.
    pub add_held_back: bool,
    previewed: Option<(String, ImportPreview)>,
}

/// What the person asked for.
pub enum ImportAction {
    Back,
    OpenFile,
    /// Add the previewed mailboxes.
    Add(Vec<Account>),
}

impl ImportPage {
    fn preview(&mut self, domains: &[String], existing: &[String]) -> ImportPreview {
        let stale = self
            .previewed
            .as_ref()
            .is_none_or(|(text, _)| *text != self.text);
        if stale {
            let preview = crate::import::preview(&self.text, domains, existing);
            self.previewed = Some((self.text.clone(), preview));
        }
        self.previewed.as_ref().expect("just made").1.clone()
    }
}

/// Draws the page. `template` gives new mailboxes their settings (tenant, app, servers).
#[must_use]
pub fn import_ui(
    ui: &mut Ui,
    page: &mut ImportPage,
    template: Option<&Account>,
    existing: &[Account],
    preset_mailboxes: &[String],
) -> Option<ImportAction> {
    let mut action = None;
    let margin = egui::Margin::symmetric(20, 10);
    egui::Panel::top("import_header")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Back").clicked() {
                    action = Some(ImportAction::Back);
                }
                ui.heading(RichText::new("Add many mailboxes").strong());
            });
            ui.label(
                "Paste addresses (one a line, or separated by commas), or open the file the Microsoft 365 admin \
                 center makes under Users > Active users > Export users. Nothing is saved until you choose Add.",
            );
        });
    let mut domains: Vec<String> = existing
        .iter()
        .filter_map(|account| {
            account
                .mailbox
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
        })
        .collect();
    domains.sort();
    domains.dedup();
    let existing_names: Vec<String> = existing.iter().map(|a| a.mailbox.clone()).collect();
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Open exported file…").clicked() {
                        action = Some(ImportAction::OpenFile);
                    }
                    if !preset_mailboxes.is_empty()
                        && ui
                            .button(format!(
                                "Use the preset file's list ({})",
                                crate::words::count(
                                    preset_mailboxes.len() as u64,
                                    "mailbox",
                                    "mailboxes"
                                )
                            ))
                            .on_hover_text("The mailboxes your support team listed in the preset file.")
                            .clicked()
                    {
                        page.text = preset_mailboxes.join("\n");
                    }
                });
                let label = ui.label("Addresses");
                ui.add(
                    egui::TextEdit::multiline(&mut page.text)
                        .hint_text("reception@yourpractice.com, billing@yourpractice.com")
                        .desired_rows(5)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(label.id);
                ui.horizontal(|ui| {
                    let label = ui.label("Group (optional)");
                    ui.add(egui::TextEdit::singleline(&mut page.group).hint_text("Test group"))
                        .labelled_by(label.id);
                });
                ui.horizontal(|ui| {
                    let label = ui.label("Signing in");
                    let chosen = page
                        .via
                        .clone()
                        .map_or("Each mailbox signs in itself".to_owned(), |via| {
                            format!("Through the service account {via}")
                        });
                    egui::ComboBox::from_id_salt("via")
                        .selected_text(chosen)
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut page.via, None, "Each mailbox signs in itself");
                            for account in existing.iter().filter(|a| a.service_account.is_none()) {
                                ui.selectable_value(
                                    &mut page.via,
                                    Some(account.mailbox.clone()),
                                    format!("Through the service account {}", account.mailbox),
                                );
                            }
                        })
                        .response
                        .labelled_by(label.id)
                        .on_hover_text(
                            "A service account is one mailbox whose sign-in reaches the others: it needs Full Access \
                             and Send as on each (mailconnect powershell prints the commands for the IT admin).",
                        );
                });
                ui.add_space(8.0);
                if page.text.trim().is_empty() {
                    return;
                }
                let preview = page.preview(&domains, &existing_names);
                preview_ui(ui, &preview, domains.is_empty(), &mut page.add_held_back);
                ui.add_space(8.0);
                let to_add = preview.to_add(page.add_held_back);
                let count = to_add.len();
                let Some(template) = template else {
                    ui.label("Set up one mailbox first (Add mailbox): new mailboxes take its settings.");
                    return;
                };
                let label = format!(
                    "Add {}",
                    crate::words::count(count as u64, "mailbox", "mailboxes")
                );
                if ui.add_enabled(count > 0, egui::Button::new(label)).clicked() {
                    let group = Some(page.group.trim().to_owned()).filter(|g| !g.is_empty());
                    let accounts = to_add
                        .iter()
                        .map(|candidate| Account {
                            mailbox: candidate.mailbox.clone(),
                            sign_in_account: None,
                            group: group.clone(),
                            service_account: page.via.clone(),
                            ..template.clone()
                        })
                        .collect();
                    action = Some(ImportAction::Add(accounts));
                }
            });
        });
    action
}

fn preview_ui(ui: &mut Ui, preview: &ImportPreview, no_domains: bool, add_held_back: &mut bool) {
    let palette = super::theme::Palette::of(ui);
    let to_add = preview.to_add(*add_held_back);
    ui.label(RichText::new(format!("To add ({})", to_add.len())).strong());
    for candidate in to_add.iter().take(200) {
        let notes = if candidate.notes.is_empty() {
            String::new()
        } else {
            format!(" — line {}: {}", candidate.line, candidate.notes.join("; "))
        };
        ui.label(format!("{}{notes}", candidate.mailbox));
    }
    if to_add.len() > 200 {
        ui.label(format!("and {} more", to_add.len() - 200));
    }
    if !preview.held_back.is_empty() {
        ui.label(
            RichText::new(format!(
                "{} ({}){}",
                crate::import::HELD_BACK_TITLE,
                preview.held_back.len(),
                if *add_held_back {
                    ", added as asked"
                } else {
                    ", not added"
                }
            ))
            .strong()
            .color(palette.fail),
        );
        if !*add_held_back {
            for candidate in preview.held_back.iter().take(50) {
                ui.label(format!(
                    "line {}: {} ({})",
                    candidate.line,
                    candidate.mailbox,
                    candidate.notes.join("; ")
                ));
            }
        }
        ui.checkbox(
            add_held_back,
            "Also add the users whose sign-in is blocked or who have no licence",
        );
    }
    if !preview.already_set_up.is_empty() {
        ui.label(
            RichText::new(format!(
                "Already set up ({}), left as they are",
                preview.already_set_up.len()
            ))
            .strong(),
        );
    }
    for (title, refused) in preview.refused() {
        ui.label(
            RichText::new(format!("{title} ({}), not added", refused.len()))
                .strong()
                .color(palette.fail),
        );
        for refused in refused.iter().take(50) {
            ui.label(format!(
                "line {}: {} ({})",
                refused.line,
                crate::words::excerpt(&refused.text, 80),
                refused.reason
            ));
        }
    }
    if preview.cut_short {
        ui.label(
            RichText::new(format!(
                "Only the first {} addresses were read; add the rest in another round.",
                crate::import::MAX_ROWS
            ))
            .strong(),
        );
    }
    if no_domains {
        ui.label(
            RichText::new("No organisation domain is known yet, so domains were not checked.")
                .weak(),
        );
    }
}
