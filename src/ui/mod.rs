//! The "Email Connection Wizard" window (eframe): draws the wizard's state and turns clicks into intents.
//!
//! Drawing never waits: results from background work arrive through a channel, drained in `logic` before drawing.

use eframe::egui;
mod check_save_pages;
mod devices;
mod devices_reach;
mod explain;
mod home;
mod home_actions;
mod home_table;
mod import;
mod sign_in_page;
mod steps;
pub mod theme;
mod widgets;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

pub use devices::{DevicesAction, DevicesPage};
pub use home::HomeAction;

use crate::config::Account;
use crate::home::{HEALTH_CHECK_EVERY, Home};
use crate::runner::{AppEvent, EffectRunner, Services, WindowCommand};
use crate::wizard::AccountForm;
use crate::wizard::{Effect, Intent, Wizard};

pub const WINDOW_TITLE: &str = "Email Connection Wizard";
/// How long a copied password stays in the clipboard.
pub const CLIPBOARD_PASSWORD_KEPT: std::time::Duration = std::time::Duration::from_secs(60);
/// The window's size for the wizard's pages, and for the accounts home's table.
const WIZARD_SIZE: [f32; 2] = [720.0, 600.0];
const HOME_SIZE: [f32; 2] = [1100.0, 660.0];

/// What the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The accounts home (when any mailbox is set up).
    Home,
    Wizard,
    /// "Explain an error message", over whichever screen opened it.
    Explain,
    /// "Add many mailboxes", from the accounts home.
    Import,
    /// "Programs and devices": the bridge's devices and queue, from the accounts home.
    Devices,
}

/// The window's application state.
pub struct WizardApp {
    wizard: Wizard,
    home: Home,
    screen: Screen,
    explain: explain::ExplainPage,
    import: import::ImportPage,
    devices: devices::DevicesPage,
    /// Where Back on the explain page returns to.
    explain_return: Screen,
    /// The settings "Add mailbox" starts from: those the window opened with (the preset's or the first account's
    /// tenant, client id and servers), without an address.
    blank_form: AccountForm,
    /// When the next health check is due (the first one as soon as the home has rows).
    next_health_check: Option<Instant>,
    runner: EffectRunner,
    events: mpsc::Receiver<AppEvent>,
    /// What the window was asked to do, newest last (tests read the clipboard text from here).
    pub window_commands: Vec<WindowCommand>,
    /// Set by `MAILCONNECT_EXIT_AFTER_FIRST_FRAME`: report the first frame on stdout and close (smoke test and
    /// startup benchmark).
    exit_after_first_frame: bool,
    frames_drawn: u64,
    /// The window's title as last set (it names the page: "Accounts — mailconnect").
    title: String,
    /// When a copied password is wiped from the clipboard (a minute after the copy, unless something else was
    /// copied since).
    clear_clipboard_at: Option<Instant>,
}

/// The environment variable that makes the window report its first frame and close.
pub const EXIT_AFTER_FIRST_FRAME: &str = "MAILCONNECT_EXIT_AFTER_FIRST_FRAME";

/// A memory figure of this process from `/proc/self/status` ("VmRSS" now, "VmHWM" at its peak), in KiB; `None`
/// where there is no such file (not Linux).
pub fn process_memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Prints `first-frame rss_kib=<resident memory> showing=<what>` once a frame has been presented, and asks to
/// close.
pub fn report_first_frame(ctx: &egui::Context, frames_drawn: u64, showing: &str) {
    // `ui` runs before the frame is painted; by the second call the first frame is on screen.
    if frames_drawn == 1 {
        ctx.request_repaint();
    } else if frames_drawn == 2 {
        let rss_kib = process_memory_kib("VmRSS").unwrap_or(0);
        println!("first-frame rss_kib={rss_kib} showing={showing}");
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl WizardApp {
    pub fn new(
        ctx: &egui::Context,
        runtime: tokio::runtime::Handle,
        services: Services,
        wizard: Wizard,
    ) -> WizardApp {
        apply_style(ctx);
        let mut wizard = wizard;
        wizard.browser_here = crate::auth::browser::this_computer_has_one();
        let demo = services.demo;
        let repaint = ctx.clone();
        let (runner, events) = EffectRunner::new(
            runtime,
            services,
            Arc::new(move || repaint.request_repaint()),
        );
        let blank_form = wizard.form.blank_like();
        WizardApp {
            wizard,
            blank_form,
            home: Home::new(Vec::new()),
            screen: Screen::Wizard,
            explain: explain::ExplainPage::default(),
            import: import::ImportPage::default(),
            devices: devices::DevicesPage {
                demo,
                ..devices::DevicesPage::default()
            },
            explain_return: Screen::Wizard,
            next_health_check: None,
            runner,
            events,
            window_commands: Vec::new(),
            exit_after_first_frame: std::env::var_os(EXIT_AFTER_FIRST_FRAME).is_some(),
            frames_drawn: 0,
            title: WINDOW_TITLE.to_owned(),
            clear_clipboard_at: None,
        }
    }

    /// Opens on the accounts home when any of `accounts` exist; their rows are read and checked at once.
    pub fn with_accounts(mut self, accounts: Vec<Account>) -> WizardApp {
        for account in accounts {
            self.home.upsert_account(account);
        }
        if !self.home.rows.is_empty() {
            self.show_home();
        }
        // The bridge runs while the window does, when any device is set up.
        self.runner.start_bridge(true);
        self
    }

    pub fn wizard(&self) -> &Wizard {
        &self.wizard
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The home's state, to tick rows or type a filter as a person would (the screenshot tour).
    /// The "Programs and devices" page's state.
    pub fn devices(&self) -> &DevicesPage {
        &self.devices
    }

    pub fn home_mut(&mut self) -> &mut Home {
        &mut self.home
    }

    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The window's title as it names the page shown.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Whether a copied password is waiting to be wiped from the clipboard.
    pub fn clipboard_wipe_pending(&self) -> bool {
        self.clear_clipboard_at.is_some()
    }

    /// Runs the health check now instead of at its time (tests and the screenshot tour).
    pub fn check_health_now(&mut self) {
        self.next_health_check = Some(Instant::now());
    }

    fn show_home(&mut self) {
        self.screen = Screen::Home;
        // Read at once from the keyring and state file (cheap), then the health check when due.
        self.runner.read_rows(self.home_accounts());
        self.next_health_check.get_or_insert_with(Instant::now);
    }

    fn home_accounts(&self) -> Vec<Account> {
        self.home
            .rows
            .iter()
            .map(|row| row.account.clone())
            .collect()
    }

    /// A wizard for a new mailbox or for signing one in again, keeping what the first one knew (presets).
    fn open_wizard(&mut self, ctx: &egui::Context, account: Option<Account>) {
        let form = match &account {
            Some(account) => AccountForm::from_account(account),
            None => self.blank_form.clone(),
        };
        let mut wizard = Wizard::new(self.home_accounts(), form);
        wizard.presets = std::mem::take(&mut self.wizard.presets);
        wizard.browser_here = self.wizard.browser_here;
        wizard.preset_file = self.wizard.preset_file.take();
        self.wizard = wizard;
        self.screen = Screen::Wizard;
        if account.is_some() {
            // Straight to the reminder of the current settings, as the vendor's "Re-authenticate Now" does.
            self.apply_intent(ctx, Intent::Next);
        }
    }

    /// Shows "Add many mailboxes" with `text` pasted (the screenshot tour).
    pub fn show_import_with(&mut self, text: &str, group: &str) {
        self.import.text = text.to_owned();
        self.import.group = group.to_owned();
        self.screen = Screen::Import;
    }

    /// Back to the accounts home (the screenshot tour).
    pub fn show_home_screen(&mut self) {
        self.screen = Screen::Home;
    }

    /// Shows the explain page with `text` pasted (the screenshot tour).
    pub fn show_explain_with(&mut self, text: &str) {
        self.explain.text = text.to_owned();
        self.show_explain();
    }

    fn show_explain(&mut self) {
        if self.screen != Screen::Explain {
            self.explain_return = self.screen;
            self.screen = Screen::Explain;
        }
    }

    /// Opens the wizard at signing `mailbox` in again, as its "Re-authenticate now" does; a mailbox that is not
    /// set up leaves the home with a notice saying so.
    pub fn reauthenticate(&mut self, ctx: &egui::Context, mailbox: &str) {
        if self.home.row(mailbox).is_some() {
            self.apply_home_action(ctx, HomeAction::ReAuthenticate(mailbox.to_owned()));
        } else {
            self.home.notice = Some(format!("{mailbox} is not set up on this computer."));
        }
    }

    /// Takes in a result of the wizard's background work as if it had just arrived (tests).
    pub fn apply_wizard_event(&mut self, ctx: &egui::Context, event: crate::wizard::Event) {
        let effects = self.wizard.apply_event(event);
        self.carry_out(ctx, effects);
    }

    /// Applies an intent as if the user had clicked it (the screenshot tour drives the window this way).
    pub fn apply_intent(&mut self, ctx: &egui::Context, intent: Intent) {
        let effects = self.wizard.apply_intent(intent);
        self.carry_out(ctx, effects);
    }

    fn carry_out(&mut self, ctx: &egui::Context, effects: Vec<Effect>) {
        for effect in effects {
            let Some(command) = self.runner.run(effect) else {
                continue;
            };
            match &command {
                WindowCommand::CopyToClipboard(text) => {
                    ctx.copy_text(secrecy::ExposeSecret::expose_secret(text).to_owned());
                    // A password is wiped from the clipboard after a minute; anything else copied later stays.
                    self.clear_clipboard_at = self
                        .wizard
                        .copied_a_password()
                        .then(|| Instant::now() + CLIPBOARD_PASSWORD_KEPT);
                }
                WindowCommand::OpenUrl(url) => ctx.open_url(egui::OpenUrl::new_tab(url)),
                // The wizard is done (Finish) or given up (Cancel): back to the accounts when there are any.
                WindowCommand::Close if !self.home.rows.is_empty() => {
                    self.show_home();
                    // The table wants more room than the wizard's pages: grow a window left at the wizard's size.
                    let width = ctx.input(|input| input.content_rect().width());
                    if width < HOME_SIZE[0] - 40.0 {
                        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(HOME_SIZE.into()));
                    }
                    continue;
                }
                WindowCommand::Close => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            }
            self.window_commands.push(command);
        }
    }
}

impl eframe::App for WizardApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                AppEvent::Wizard(event) => {
                    let saved =
                        matches!(&event, crate::wizard::Event::Saved { result: Ok(()), .. });
                    let effects = self.wizard.apply_event(event);
                    // A mailbox just saved joins the accounts home.
                    if saved
                        && let crate::wizard::Page::Save(page) = &self.wizard.page
                        && matches!(page.saving, crate::wizard::Saving::Saved)
                    {
                        // With the wizard's own checks, which the state file may not keep (the demo has none).
                        self.home.upsert_saved(
                            page.account.clone(),
                            crate::state::LastVerification {
                                at: crate::words::now_unix(),
                                imap: crate::state::LastCheck::from_report(&page.imap),
                                smtp: crate::state::LastCheck::from_report(&page.smtp),
                            },
                        );
                    }
                    self.carry_out(ctx, effects);
                }
                AppEvent::Home(crate::home::HomeEvent::CopyText { what, text }) => match text {
                    Ok(text) => {
                        ctx.copy_text(secrecy::ExposeSecret::expose_secret(&text).to_owned());
                        // What was copied now replaced any password: nothing to wipe later.
                        self.clear_clipboard_at = None;
                        self.home.notice = Some(format!("{what} copied: paste it into an email."));
                        self.window_commands
                            .push(WindowCommand::CopyToClipboard(text));
                    }
                    Err(error) => {
                        self.home.notice = Some(format!("{what} could not be made: {error}"))
                    }
                },
                AppEvent::Home(crate::home::HomeEvent::ImportFileRead(read)) => match read {
                    Ok(text) => self.import.text = text,
                    Err(error) => {
                        self.home.notice = Some(format!("The file could not be read: {error}"))
                    }
                },
                AppEvent::Devices(event) => {
                    self.devices.apply(event);
                    let refused = self.devices.queue.iter().filter(|m| m.refused).count();
                    if refused > 0 {
                        self.home.notice = Some(format!(
                            "The provider refused {} from the practice's devices. Programs and devices shows why.",
                            crate::words::count(refused as u64, "message", "messages")
                        ));
                    }
                }
                AppEvent::Home(event) => {
                    let imported = matches!(
                        &event,
                        crate::home::HomeEvent::Imported { result: Ok(()), .. }
                    );
                    self.home.apply(event);
                    if imported {
                        self.runner.read_rows(self.home_accounts());
                    }
                }
            }
        }
        let now = Instant::now();
        // Closing with a copied password still waiting to be wiped: wiped now.
        if ctx.input(|input| input.viewport().close_requested())
            && self.clear_clipboard_at.take().is_some()
        {
            ctx.copy_text(String::new());
        }
        if let Some(due) = self.clear_clipboard_at {
            if due <= now {
                ctx.copy_text(String::new());
                self.clear_clipboard_at = None;
                self.window_commands.push(WindowCommand::CopyToClipboard(
                    secrecy::SecretString::from(String::new()),
                ));
            } else {
                ctx.request_repaint_after(due - now);
            }
        }
        // Only a visible countdown keeps the window repainting by itself, when its minute changes.
        if self.screen == Screen::Wizard
            && let Some(after) = self.wizard.next_tick(now)
        {
            ctx.request_repaint_after(after);
        }
        // The health check: on start and every 30 minutes while the window is open. An idle window sleeps until
        // then.
        if let Some(due) = self.next_health_check
            && !self.home.rows.is_empty()
        {
            if due <= now {
                self.runner.health_check(self.home_accounts());
                self.next_health_check = Some(now + HEALTH_CHECK_EVERY);
            }
            ctx.request_repaint_after(
                self.next_health_check
                    .map_or(HEALTH_CHECK_EVERY, |due| due.saturating_duration_since(now)),
            );
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames_drawn += 1;
        if self.exit_after_first_frame {
            let showing = match self.screen {
                Screen::Home => "accounts".to_owned(),
                Screen::Explain => "explain".to_owned(),
                Screen::Import => "import".to_owned(),
                Screen::Devices => "devices".to_owned(),
                Screen::Wizard => format!("wizard-step-{}", self.wizard.step().number()),
            };
            report_first_frame(ui.ctx(), self.frames_drawn, &showing);
        }
        let ctx = ui.ctx().clone();
        let title = match self.screen {
            Screen::Home => "Accounts — mailconnect",
            Screen::Wizard => WINDOW_TITLE,
            Screen::Explain => "Explain an error message — mailconnect",
            Screen::Import => "Add many mailboxes — mailconnect",
            Screen::Devices => "Programs and devices — mailconnect",
        };
        if self.title != title {
            title.clone_into(&mut self.title);
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.to_owned()));
        }
        match self.screen {
            Screen::Home => {
                if let Some(action) =
                    home::home_ui(ui, &mut self.home, std::time::SystemTime::now())
                {
                    self.apply_home_action(&ctx, action);
                }
            }
            Screen::Wizard => match steps::wizard_ui(ui, &mut self.wizard) {
                Some(Intent::ExplainError) => self.show_explain(),
                Some(intent) => self.apply_intent(&ctx, intent),
                None => {}
            },
            Screen::Import => {
                let template = self.home.rows.first().map(|row| row.account.clone());
                let existing = self.home_accounts();
                let preset_mailboxes: Vec<String> = self
                    .wizard
                    .presets
                    .iter()
                    .flat_map(|preset| preset.mailboxes.iter().cloned())
                    .collect();
                match import::import_ui(
                    ui,
                    &mut self.import,
                    template.as_ref(),
                    &existing,
                    &preset_mailboxes,
                ) {
                    Some(import::ImportAction::Back) => self.screen = Screen::Home,
                    Some(import::ImportAction::OpenFile) => self.runner.pick_import_file(),
                    Some(import::ImportAction::Add(accounts)) => {
                        self.runner.import_accounts(accounts);
                        self.import = import::ImportPage::default();
                        self.screen = Screen::Home;
                    }
                    None => {}
                }
            }
            Screen::Devices => {
                let mailboxes: Vec<String> = self
                    .home
                    .rows
                    .iter()
                    .map(|row| row.account.mailbox.clone())
                    .collect();
                if let Some(action) = devices::devices_ui(ui, &mut self.devices, &mailboxes) {
                    self.apply_devices_action(ui.ctx(), action);
                }
            }
            Screen::Explain => match explain::explain_ui(ui, &mut self.explain) {
                Some(explain::ExplainAction::Back) => self.screen = self.explain_return,
                Some(explain::ExplainAction::Devices) => {
                    self.apply_home_action(&ctx, HomeAction::Devices)
                }
                Some(explain::ExplainAction::Copy(text)) => {
                    ctx.copy_text(text.clone());
                    self.clear_clipboard_at = None;
                    self.explain.notice =
                        Some("Copied: paste it into an email to support.".to_owned());
                    self.window_commands
                        .push(WindowCommand::CopyToClipboard(text.into()));
                }
                None => {}
            },
        }
    }
}

/// Larger text than egui's defaults: the wizard is read by people who are not at ease with computers, often
/// while on the phone.
fn apply_style(ctx: &egui::Context) {
    use egui::{FontFamily, FontId, TextStyle};
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (
                TextStyle::Small,
                FontId::new(12.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(15.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(15.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Heading,
                FontId::new(24.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(14.0, FontFamily::Monospace),
            ),
        ]
        .into();
        style.spacing.button_padding = egui::vec2(10.0, 5.0);
        style.spacing.item_spacing = egui::vec2(8.0, 7.0);
    });
    theme::apply(ctx);
}

/// Opens the window and runs it until it closes: on the accounts home when `accounts` has any, else the wizard.
pub fn run(
    runtime: tokio::runtime::Handle,
    services: Services,
    wizard: Wizard,
    accounts: Vec<Account>,
    reauthenticate: Option<String>,
) -> eframe::Result {
    // The home's table wants more room than the wizard's pages.
    let size = if accounts.is_empty() {
        WIZARD_SIZE
    } else {
        HOME_SIZE
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_app_id("mailconnect")
            .with_inner_size(size)
            .with_min_inner_size([640.0, 480.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        WINDOW_TITLE,
        options,
        Box::new(move |cc| {
            let mut app =
                WizardApp::new(&cc.egui_ctx, runtime, services, wizard).with_accounts(accounts);
            if let Some(mailbox) = reauthenticate {
                app.reauthenticate(&cc.egui_ctx, &mailbox);
            }
            Ok(Box::new(app))
        }),
    )
}
