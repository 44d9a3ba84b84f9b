//! The five pages of the wizard, and the header and navigation around them. Each function draws and returns what
//! the user asked for; the app applies it after drawing.

use eframe::egui;

use egui::{RichText, Ui};

use super::widgets::{fail_colour, text_field};
use crate::config::{Field, Provider, Security};
use crate::verify::Protocol;
use crate::wizard::{Intent, Page, ReminderPage, Saving, Step, StoredPassword, Wizard};

/// The whole window: header, page, navigation. Returns the user's intent, if any.
#[must_use]
pub fn wizard_ui(ui: &mut Ui, wizard: &mut Wizard) -> Option<Intent> {
    let mut intent = None;
    let margin = egui::Margin::symmetric(20, 10);
    if egui::Panel::top("step_header")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| header_ui(ui, wizard.step()))
        .inner
    {
        intent = Some(Intent::ExplainError);
    }
    // The footer's place is reserved now but its buttons are made after the page's controls, so that Tab visits
    // the page before Cancel, Back and Next (egui's Tab order is the order controls are made in).
    let button_height =
        ui.text_style_height(&egui::TextStyle::Button) + 2.0 * ui.spacing().button_padding.y + 2.0;
    let footer = egui::Panel::bottom("navigation")
        .frame(egui::Frame::side_top_panel(ui.style()).inner_margin(margin))
        .exact_size(button_height + f32::from(margin.top) + f32::from(margin.bottom))
        .show(ui, |ui| ui.available_rect_before_wrap())
        .inner;
    egui::CentralPanel::default()
        .frame(egui::Frame::central_panel(ui.style()).inner_margin(margin))
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink(false)
                .show(ui, |ui| {
                    ui.add_space(8.0);
                    if let Some(reason) = wizard.reason.as_ref().filter(|reason| {
                        reason
                            .mailbox
                            .eq_ignore_ascii_case(wizard.form.mailbox.trim())
                    }) {
                        reason_ui(ui, &reason.words, wizard.form.reached_through());
                    }
                    let page_intent = match &wizard.page {
                        Page::Account { .. } => account_ui(ui, wizard),
                        Page::Reminder(page) => reminder_ui(ui, page),
                        Page::SignIn(page) => {
                            super::sign_in_page::sign_in_ui(ui, page, wizard.browser_here)
                        }
                        Page::Check(page) => super::check_save_pages::check_ui(ui, page),
                        Page::Save(page) => super::check_save_pages::save_ui(ui, page),
                    };
                    intent = intent.take().or(page_intent);
                });
        });
    let mut footer_ui = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(footer)
            .layout(egui::Layout::left_to_right(egui::Align::Center)),
    );
    intent = navigation_ui(&mut footer_ui, wizard).or(intent);
    // A preset file dropped on the window, on the first step.
    if wizard.step() == Step::Account
        && let Some(path) = ui.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .find(|path| !path.as_os_str().is_empty())
        })
    {
        intent = Some(Intent::LoadPresetFile(path));
    }
    // Enter moves on where nothing can be lost by it: not while signing in, and not from a multi-step action.
    let enter = ui.input(|input| input.key_pressed(egui::Key::Enter));
    if intent.is_none()
        && enter
        && matches!(wizard.step(), Step::Account | Step::Reminder | Step::Check)
    {
        intent = Some(Intent::Next);
    }
    intent
}

/// Why the wizard opened (from "Re-authenticate now"), and whose sign-in is renewed when that is a service
/// account's.
fn reason_ui(ui: &mut Ui, reason: &str, service_account: Option<&str>) {
    super::widgets::note_ui(ui, |ui| {
        ui.label(RichText::new(reason).strong());
        if let Some(service) = service_account {
            ui.label(format!(
                "This mailbox is reached through the sign-in of {service}: sign in as {service}. The new \
                 sign-in is saved for it and every mailbox that goes through it; the checks run for this mailbox."
            ));
        }
    });
}

/// Light, dark, or as the computer is set: the window follows the system until the person chooses.
pub(super) fn appearance_ui(ui: &mut Ui) {
    use egui::ThemePreference;
    let name = |preference: ThemePreference| match preference {
        ThemePreference::System => "As the computer",
        ThemePreference::Light => "Light",
        ThemePreference::Dark => "Dark",
    };
    let mut preference = ui.ctx().options(|options| options.theme_preference);
    let chooser = egui::ComboBox::from_id_salt("appearance")
        .selected_text(name(preference))
        .show_ui(ui, |ui| {
            for option in [
                ThemePreference::System,
                ThemePreference::Light,
                ThemePreference::Dark,
            ] {
                ui.selectable_value(&mut preference, option, name(option));
            }
        })
        .response;
    let label = ui.label(RichText::new("Appearance").small());
    chooser.labelled_by(label.id);
    if preference != ui.ctx().options(|options| options.theme_preference) {
        ui.ctx().set_theme(preference);
    }
}

/// The breadcrumb, the step's title and purpose, and on the right the Appearance switch and "Explain an error
/// message" (on every step: an error seen anywhere can be pasted there). `true` when that was chosen.
fn header_ui(ui: &mut Ui, step: Step) -> bool {
    let mut explain = false;
    // Every step by name, the current one marked: support staff can say "you are on step 3, Sign in".
    ui.horizontal_wrapped(|ui| {
        for (index, each) in Step::ALL.iter().enumerate() {
            if index > 0 {
                ui.label(RichText::new("›").weak());
            }
            let text = RichText::new(format!("{}. {}", each.number(), each.title())).small();
            // A step's name never breaks over two lines: the line breaks between steps.
            ui.add(
                egui::Label::new(if *each == step {
                    text.strong().underline()
                } else {
                    text.weak()
                })
                .wrap_mode(egui::TextWrapMode::Extend),
            );
        }
    });
    ui.add_space(2.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Step {} of 5", step.number())).strong());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            appearance_ui(ui);
            explain = ui.small_button("Explain an error message").clicked();
        });
    });
    ui.heading(RichText::new(step.title()).strong());
    ui.label(match step {
        Step::Account => "Choose the mailbox to move to the new Microsoft sign-in. Nothing is saved until you choose Save on the last step.",
        Step::Reminder => "These are the settings the mailbox uses today. Note them before you continue.",
        Step::SignIn => "Sign in once with the mailbox's Microsoft account. Your password goes only to Microsoft.",
        Step::Check => "mailconnect now checks that receiving (IMAP) and sending (SMTP) work with the new sign-in.",
        Step::Save => "Save stores the sign-in in this computer's secure keyring, never in a plain file.",
    });
    explain
}

/// A tick box that Enter does not toggle (egui clicks the focused control on Enter): on a form, Enter moves on, and
/// must not untick "I have noted these settings" on the way. Space and the mouse tick and untick. Returns whether
/// the value changed.
fn tick_box(ui: &mut Ui, value: &mut bool, label: &str) -> bool {
    let before = *value;
    let response = ui.checkbox(value, label);
    if response.changed() && ui.input(|input| input.key_pressed(egui::Key::Enter)) {
        *value = before;
        return false;
    }
    response.changed()
}

/// A click counts only if it is not the second (or third) click of a double click: the first click already
/// moved the wizard on, and the second must not press whatever button now sits under the pointer.
fn single_click(response: &egui::Response) -> bool {
    response.clicked() && !response.double_clicked() && !response.triple_clicked()
}

fn navigation_ui(ui: &mut Ui, wizard: &Wizard) -> Option<Intent> {
    let mut intent = None;
    let saving = wizard.saving();
    ui.horizontal(|ui| {
        if wizard.can_cancel() && single_click(&ui.button("Cancel")) {
            intent = Some(Intent::Cancel);
        }
        // Copy buttons say that they copied, here, on every page.
        if let Some(notice) = &wizard.notice {
            ui.label(RichText::new(notice).color(super::theme::Palette::of(ui).pass));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let (label, action, enabled) = match (wizard.step(), saving) {
                // Next stays clickable on the form: a refused Next reveals every problem.
                (Step::Account, _) => ("Next", Intent::Next, true),
                (Step::Save, Some(Saving::Saved | Saving::RemoveFailed(_))) => {
                    ("Finish", Intent::Finish, true)
                }
                (Step::Save, Some(Saving::NotYet | Saving::Removed(_))) => {
                    ("Save", Intent::Save, true)
                }
                (Step::Save, _) => ("Finish", Intent::Finish, false),
                _ => ("Next", Intent::Next, wizard.can_go_next()),
            };
            let next = ui.add_enabled(
                enabled,
                egui::Button::new(RichText::new(label).strong()).min_size(egui::vec2(90.0, 0.0)),
            );
            if single_click(&next) {
                intent = Some(action);
            }
            if single_click(&ui.add_enabled(wizard.can_go_back(), egui::Button::new("Back"))) {
                intent = Some(Intent::Back);
            }
            // A greyed Next says why, where a keyboard user sees it too (not only on hover).
            if label == "Next"
                && !enabled
                && let Some(why) = wizard.why_not_next()
            {
                ui.label(RichText::new(why).small().weak());
            }
        });
    });
    intent
}

fn account_ui(ui: &mut Ui, wizard: &mut Wizard) -> Option<Intent> {
    let mut intent = None;
    if !wizard.accounts.is_empty() {
        ui.label(RichText::new("Mailboxes set up on this computer").strong());
        for (index, account) in wizard.accounts.iter().enumerate() {
            let selected = wizard.form.mailbox.eq_ignore_ascii_case(&account.mailbox);
            if ui.selectable_label(selected, &account.mailbox).clicked() {
                intent = Some(Intent::ChooseAccount(index));
            }
        }
        if ui.button("Add another mailbox").clicked() {
            intent = Some(Intent::NewAccount);
        }
        ui.separator();
    }
    if wizard.presets.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(
                    "Got a preset file from your support team or software vendor? Open it, or drop it on this window, to fill in the settings.",
                )
                .weak(),
            );
            if ui.button("Open preset file…").clicked() {
                intent = Some(Intent::OpenPresetFile);
            }
        });
        if let Some(path) = &mut wizard.preset_path {
            ui.label(
                "No file was chosen. If no window opened to choose one, this computer has no file chooser: drop \
                 the preset file on this window, or type its full path here.",
            );
            ui.horizontal(|ui| {
                let label = ui.label("Preset file path");
                let field = ui
                    .add(egui::TextEdit::singleline(path).desired_width(300.0))
                    .labelled_by(label.id);
                let entered =
                    field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter));
                if (ui.button("Open").clicked() || entered) && !path.trim().is_empty() {
                    intent = Some(Intent::LoadPresetFile(path.trim().into()));
                }
            });
        }

        ui.add_space(4.0);
    } else {
        let presets_label = ui.label("Settings from your support team");
        let current = wizard
            .presets
            .iter()
            .position(|preset| preset.client_id.as_deref() == Some(wizard.form.client_id.as_str()));
        egui::ComboBox::from_id_salt("preset")
            .selected_text(current.map_or("Choose…", |index| wizard.presets[index].name.as_str()))
            .width(360.0)
            .show_ui(ui, |ui| {
                for (index, preset) in wizard.presets.iter().enumerate() {
                    if ui
                        .selectable_label(current == Some(index), &preset.name)
                        .clicked()
                    {
                        intent = Some(Intent::ChoosePreset(index));
                    }
                }
            })
            .response
            .labelled_by(presets_label.id);
        ui.add_space(6.0);
    }
    let form = &mut wizard.form;
    let reveal = form.reveal_problems;
    let problem = |form: &crate::wizard::AccountForm, field: Field, typed: bool| {
        if reveal || typed {
            form.problem_for(field)
        } else {
            None
        }
    };

    let provider_label = ui.label("Provider");
    let mut provider = form.preset.provider;
    egui::ComboBox::from_id_salt("provider")
        .selected_text(provider.display_name())
        .width(360.0)
        .show_ui(ui, |ui| {
            for option in Provider::ALL {
                ui.selectable_value(&mut provider, option, option.display_name());
            }
        })
        .response
        .labelled_by(provider_label.id);
    if provider != form.preset.provider {
        form.set_provider(provider);
    }
    ui.add_space(6.0);
    let typed = !form.mailbox.is_empty();
    let mailbox_problem = problem(form, Field::Mailbox, typed);
    let mut mailbox = std::mem::take(&mut form.mailbox);
    text_field(
        ui,
        "Email address",
        &mut mailbox,
        mailbox_problem.as_ref(),
        "reception@yourpractice.com",
    );
    form.mailbox = mailbox;

    ui.add_space(6.0);
    tick_box(ui, &mut form.show_advanced, "Show advanced settings");
    if form.client_id.trim().is_empty() && !form.show_advanced {
        // Guidance, not a problem, until Next is refused: nothing was done wrong yet.
        let text = RichText::new(
            "No application (client) ID yet: open the preset file from your support team, or enter it under \
             \"Show advanced settings\".",
        );
        ui.label(if reveal {
            text.color(fail_colour(ui))
        } else {
            text.weak()
        });
    }
    if form.show_advanced {
        egui::Frame::group(ui.style()).show(ui, |ui| advanced_ui(ui, form, reveal));
    }
    intent
}

fn advanced_ui(ui: &mut Ui, form: &mut crate::wizard::AccountForm, reveal: bool) {
    let problem_for = |form: &crate::wizard::AccountForm, field: Field, value: &str| {
        if reveal || !value.trim().is_empty() {
            form.problem_for(field)
        } else {
            None
        }
    };
    let edit = |ui: &mut Ui,
                form: &mut crate::wizard::AccountForm,
                label: &str,
                field: Field,
                pick: fn(&mut crate::wizard::AccountForm) -> &mut String,
                hint: &str,
                meaning: &str| {
        let current = pick(form).clone();
        let problem = problem_for(form, field, &current);
        let mut value = current;
        let response = text_field(ui, label, &mut value, problem.as_ref(), hint);
        // What the word means, in a practice admin's words, under the box and on hover.
        response.on_hover_text(meaning);
        ui.label(RichText::new(meaning).small().weak());
        *pick(form) = value;
    };
    edit(
        ui,
        form,
        "Sign-in account (only for a shared mailbox)",
        Field::SignInAccount,
        |f| &mut f.sign_in_account,
        "the delegate who signs in",
        "A shared mailbox has no password of its own: a person with access to it (its delegate) signs in instead. Leave empty for an ordinary mailbox.",
    );
    if form.preset.provider != Provider::Custom {
        edit(
            ui,
            form,
            "Tenant",
            Field::Tenant,
            |f| &mut f.tenant,
            "organizations, your domain or tenant ID",
            "Your organisation's Microsoft 365 account (its tenant): its main domain or its ID. \"organizations\" lets any work account sign in.",
        );
    }
    edit(
        ui,
        form,
        "Application (client) ID",
        Field::ClientId,
        |f| &mut f.client_id,
        "00000000-0000-0000-0000-000000000000",
        "The ID Microsoft gave the app registration your IT support or software vendor made for mailconnect. It comes in their preset file.",
    );
    for (protocol, host, port, security) in [
        (
            Protocol::Imap,
            &mut form.imap_host,
            &mut form.imap_port,
            &mut form.imap_security,
        ),
        (
            Protocol::Smtp,
            &mut form.smtp_host,
            &mut form.smtp_port,
            &mut form.smtp_security,
        ),
    ] {
        ui.add_space(4.0);
        ui.label(RichText::new(protocol.role()).strong());
        ui.horizontal(|ui| {
            let server_label = ui.label("Server");
            ui.add(egui::TextEdit::singleline(host).desired_width(240.0))
                .labelled_by(server_label.id);
            let port_label = ui.label("Port");
            ui.add(egui::TextEdit::singleline(port).desired_width(60.0))
                .labelled_by(port_label.id);
            let security_label = ui.label("Security");
            egui::ComboBox::from_id_salt(("security", protocol == Protocol::Imap))
                .selected_text(security.label())
                .show_ui(ui, |ui| {
                    for option in [
                        Security::ImplicitTls,
                        Security::StartTls,
                        Security::PlainLoopbackOnly,
                    ] {
                        ui.selectable_value(security, option, option.label());
                    }
                })
                .response
                .labelled_by(security_label.id);
        });
    }
    for field in [Field::Host, Field::Port] {
        if let Some(problem) = problem_for(form, field, "x") {
            ui.label(RichText::new(problem.message).color(fail_colour(ui)));
        }
    }
    if form.preset.provider == Provider::Custom {
        ui.add_space(4.0);
        edit(
            ui,
            form,
            "Authorize URL",
            Field::Url,
            |f| &mut f.authorize_url,
            "https://login.example.com/oauth2/v2.0/authorize",
            "Where the browser sign-in starts; from your mail provider's documentation.",
        );
        edit(
            ui,
            form,
            "Token URL",
            Field::Url,
            |f| &mut f.token_url,
            "https://login.example.com/oauth2/v2.0/token",
            "Where mailconnect fetches and renews the sign-in; from your mail provider's documentation.",
        );
        edit(
            ui,
            form,
            "Device code URL",
            Field::Url,
            |f| &mut f.device_code_url,
            "https://login.example.com/oauth2/v2.0/devicecode",
            "Where a sign-in code is asked for; from your mail provider's documentation.",
        );
        edit(
            ui,
            form,
            "Scopes (separated by spaces)",
            Field::Scope,
            |f| &mut f.scopes,
            "offline_access ...",
            "What the sign-in may be used for (reading and sending mail); from your mail provider's documentation.",
        );
    }
}

fn reminder_ui(ui: &mut Ui, page: &ReminderPage) -> Option<Intent> {
    let mut intent = None;
    let account = &page.account;
    ui.label(
        "If anything goes wrong, support will ask for these, and other programs in the practice (scanners, practice \
         software) may still use them until they are moved too.",
    );
    ui.add_space(8.0);
    egui::Grid::new("current_settings")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            ui.label(RichText::new("Incoming (IMAP):").strong());
            ui.label(format!(
                "{}, port {}, {}",
                account.imap.host,
                account.imap.port,
                account.imap.security.label()
            ));
            ui.end_row();
            ui.label(RichText::new("Outgoing (SMTP):").strong());
            ui.label(format!(
                "{}, port {}, {}",
                account.smtp.host,
                account.smtp.port,
                account.smtp.security.label()
            ));
            ui.end_row();
            ui.label(RichText::new("User name:").strong());
            ui.label(account.sign_in_account());
            ui.end_row();
            ui.label(RichText::new("Password:").strong());
            match &page.password {
                StoredPassword::Loading => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Looking in the keyring…");
                    });
                }
                StoredPassword::None => {
                    ui.label("No old password (Basic Auth: signing in to mail with the mailbox password) is stored for this mailbox.");
                }
                StoredPassword::Unavailable(error) => {
                    ui.label(
                        RichText::new(format!("The keyring could not be read: {error}"))
                            .color(fail_colour(ui)),
                    );
                }
                StoredPassword::Present(password) => {
                    ui.horizontal(|ui| {
                        let shown = if page.password_shown {
                            secrecy::ExposeSecret::expose_secret(password).to_owned()
                        } else {
                            "•".repeat(10)
                        };
                        ui.label(RichText::new(shown).monospace());
                        let toggle = if page.password_shown {
                            "Hide password"
                        } else {
                            "Show password"
                        };
                        if ui.button(toggle).clicked() {
                            intent = Some(Intent::TogglePasswordShown);
                        }
                        if ui.button("Copy password").clicked() {
                            intent = Some(Intent::CopyPassword);
                        }
                    });
                }
            }
            ui.end_row();
        });
    ui.add_space(12.0);
    match &page.password {
        StoredPassword::Present(_) => {
            let mut noted = page.noted;
            if tick_box(ui, &mut noted, "I have noted these settings") {
                intent = Some(Intent::SetNoted(noted));
            }
        }
        StoredPassword::None | StoredPassword::Unavailable(_) => {
            ui.label("Nothing to note here; you can go on.");
        }
        StoredPassword::Loading => {}
    }
    intent
}
