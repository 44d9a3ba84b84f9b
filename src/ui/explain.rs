//! "Explain an error message": pasted text from any program, every code in it with its cause and fix, and the
//! ids support asks for. The same catalogue as `mailconnect explain`.

use eframe::egui;
use egui::{RichText, Ui};

use super::widgets::advice_ui;
use crate::advice::explain::Explanation;

/// The page's state: what was pasted, and its explanation (worked out again only when the text changes).
#[derive(Default)]
pub struct ExplainPage {
    pub text: String,
    /// "Copied" after Copy explanation, until the text changes.
    pub notice: Option<String>,
    explained: Option<(String, Explanation)>,
}

impl ExplainPage {
    fn explanation(&mut self) -> &Explanation {
        let stale = self
            .explained
            .as_ref()
            .is_none_or(|(text, _)| *text != self.text);
        if stale {
            self.notice = None;
            self.explained = Some((self.text.clone(), crate::advice::explain(&self.text)));
        }
        &self.explained.as_ref().expect("just worked out").1
    }
}

/// What the person asked of the explain page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainAction {
    Back,
    /// "Programs and devices": a device that only knows a password can send through mailconnect.
    Devices,
    /// Copies the explanation, as text support can read.
    Copy(String),
}

/// Draws the page; returns what the person asked for.
#[must_use]
pub fn explain_ui(ui: &mut Ui, page: &mut ExplainPage) -> Option<ExplainAction> {
    let mut action = None;
    let margin = egui::Margin::symmetric(20, 10);
    egui::Panel::top("explain_header")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Back").clicked() {
                    action = Some(ExplainAction::Back);
                }
                ui.heading(RichText::new("Explain an error message").strong());
            });
            ui.label(
                "Paste the error message from any program: a practice program, Outlook, a scanner's screen, a web \
                 page. mailconnect finds every sign-in code and server reply in it and says what it means and how \
                 to fix it.",
            );
        });
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
                let label = ui.label("Error message");
                ui.add(
                    egui::TextEdit::multiline(&mut page.text)
                        .hint_text("Paste it here (Ctrl+V)")
                        .desired_rows(5)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(label.id);
                ui.add_space(8.0);
                let empty = page.text.trim().is_empty();
                let explanation = page.explanation().clone();
                if empty {
                    return;
                }
                if !explanation.findings.is_empty()
                    && ui
                        .button("Copy explanation")
                        .on_hover_text("Copies every code with its cause and fix, and the ids, to paste into an email.")
                        .clicked()
                {
                    action = Some(ExplainAction::Copy(crate::advice::explain::explanation_text(
                        &explanation,
                        crate::advice::Surface::ElsewhereInWindow,
                    )));
                }
                if let Some(notice) = &page.notice {
                    ui.label(RichText::new(notice).strong());
                }
                if explanation.findings.iter().any(|finding| finding.advice.entry.devices) {
                    devices_note_ui(ui, &mut action);
                }
                if explanation.findings.is_empty() {
                    ui.label(
                        "No sign-in code, server reply or error name that mailconnect knows was found. Copy the \
                         whole message, including any code like AADSTS50076 or 5.7.139.",
                    );
                }
                for finding in &explanation.findings {
                    ui.separator();
                    ui.label(RichText::new(&finding.code).monospace().strong());
                    advice_ui(
                        ui,
                        &finding.advice,
                        crate::advice::Surface::ElsewhereInWindow,
                    );
                    ui.label(RichText::new(if finding.advice.is_transient() {
                        "Temporary: trying again later can work without changing anything."
                    } else if finding.advice.entry.sign_in_helps {
                        "Signing in again can fix it."
                    } else {
                        "Signing in again does not fix it: follow the steps."
                    })
                    .small());
                }
                for (label, values) in [
                    ("Trace id", &explanation.trace_ids),
                    ("Correlation id", &explanation.correlation_ids),
                    ("Time", &explanation.timestamps),
                ] {
                    for value in values {
                        ui.label(RichText::new(format!("{label}: {value}")).monospace());
                    }
                }
            });
        });
    action
}

/// Where the message came from a scanner or a program that only knows a password: mailconnect's bridge.
fn devices_note_ui(ui: &mut Ui, action: &mut Option<ExplainAction>) {
    super::widgets::note_ui(ui, |ui| {
        ui.label(
            "From a scanner or a program that only knows a user name and password? It can send through \
             mailconnect, which signs in to Microsoft for it.",
        );
        if ui.button("Programs and devices").clicked() {
            *action = Some(ExplainAction::Devices);
        }
    });
}
