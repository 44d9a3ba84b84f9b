//! The "Email Connection Wizard" window (eframe): draws the wizard's state and turns clicks into intents.
//!
//! Drawing never waits: results from background work arrive through a channel, drained in `logic` before drawing.

use eframe::egui;
mod steps;
pub mod theme;
mod widgets;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::runner::{EffectRunner, Services, WindowCommand};
use crate::wizard::{Effect, Event, Intent, Wizard};

pub const WINDOW_TITLE: &str = "Email Connection Wizard";

/// The window's application state.
pub struct WizardApp {
    wizard: Wizard,
    runner: EffectRunner,
    events: mpsc::Receiver<Event>,
    /// What the window was asked to do, newest last (tests read the clipboard text from here).
    pub window_commands: Vec<WindowCommand>,
    /// Set by `MAILCONNECT_EXIT_AFTER_FIRST_FRAME`: report the first frame on stdout and close (smoke test and
    /// startup benchmark).
    exit_after_first_frame: bool,
    frames_drawn: u64,
}

/// The environment variable that makes the window report its first frame and close.
pub const EXIT_AFTER_FIRST_FRAME: &str = "MAILCONNECT_EXIT_AFTER_FIRST_FRAME";

/// Prints `first-frame rss_kib=<resident memory>` once a frame has been presented, and asks to close.
pub fn report_first_frame(ctx: &egui::Context, frames_drawn: u64) {
    // `ui` runs before the frame is painted; by the second call the first frame is on screen.
    if frames_drawn == 1 {
        ctx.request_repaint();
    } else if frames_drawn == 2 {
        let rss_kib = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|value| {
                        value
                            .trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
            })
            .unwrap_or(0);
        println!("first-frame rss_kib={rss_kib}");
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
        let repaint = ctx.clone();
        let (runner, events) = EffectRunner::new(
            runtime,
            services,
            Arc::new(move || repaint.request_repaint()),
        );
        WizardApp {
            wizard,
            runner,
            events,
            window_commands: Vec::new(),
            exit_after_first_frame: std::env::var_os(EXIT_AFTER_FIRST_FRAME).is_some(),
            frames_drawn: 0,
        }
    }

    pub fn wizard(&self) -> &Wizard {
        &self.wizard
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
                    ctx.copy_text(secrecy::ExposeSecret::expose_secret(text).to_owned())
                }
                WindowCommand::OpenUrl(url) => ctx.open_url(egui::OpenUrl::new_tab(url)),
                WindowCommand::Close => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            }
            self.window_commands.push(command);
        }
    }
}

impl eframe::App for WizardApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Ok(event) = self.events.try_recv() {
            let effects = self.wizard.apply_event(event);
            self.carry_out(ctx, effects);
        }
        // Only a visible countdown keeps the window repainting by itself, once a second.
        if self.wizard.needs_ticking(Instant::now()) {
            ctx.request_repaint_after(Duration::from_secs(1));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames_drawn += 1;
        if self.exit_after_first_frame {
            report_first_frame(ui.ctx(), self.frames_drawn);
        }
        if let Some(intent) = steps::wizard_ui(ui, &mut self.wizard) {
            let ctx = ui.ctx().clone();
            self.apply_intent(&ctx, intent);
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

/// Opens the window and runs it until it closes.
pub fn run(runtime: tokio::runtime::Handle, services: Services, wizard: Wizard) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_app_id("mailconnect")
            .with_inner_size([720.0, 600.0])
            .with_min_inner_size([640.0, 480.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        WINDOW_TITLE,
        options,
        Box::new(move |cc| {
            Ok(Box::new(WizardApp::new(
                &cc.egui_ctx,
                runtime,
                services,
                wizard,
            )))
        }),
    )
}
