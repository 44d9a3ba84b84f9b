//! Benchmark helper: opens the demo wizard, goes to the sign-in step with a device code on screen (its countdown
//! repaints once a second), sits there ten seconds, and prints the CPU time the process used meanwhile.

use std::time::{Duration, Instant};

use eframe::egui;
use mailconnect::ui::WizardApp;
use mailconnect::wizard::{Intent, Page, SignIn, SignInMethod, StoredPassword};

const SIT: Duration = Duration::from_secs(10);

struct Sitter {
    app: WizardApp,
    _sandbox: mailconnect::sandbox::Sandbox,
    sitting_since: Option<(Instant, Duration)>,
}

/// User plus system CPU time of this process so far, from /proc/self/stat (fields 14 and 15, in clock ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // Linux's USER_HZ is 100 on every mainstream architecture.
    Duration::from_millis(ticks * 10)
}

impl eframe::App for Sitter {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::logic(&mut self.app, ctx, frame);
        let wizard = self.app.wizard();
        match &wizard.page {
            Page::Account { .. } => self.app.apply_intent(ctx, Intent::Next),
            Page::Reminder(page) if matches!(page.password, StoredPassword::Present(_)) => {
                self.app.apply_intent(ctx, Intent::SetNoted(true));
                self.app.apply_intent(ctx, Intent::Next);
            }
            Page::SignIn(page) if matches!(page.sign_in, SignIn::Choosing) => self
                .app
                .apply_intent(ctx, Intent::StartSignIn(SignInMethod::DeviceCode)),
            Page::SignIn(page) if matches!(page.sign_in, SignIn::ShowingCode(_)) => match self
                .sitting_since
            {
                None => self.sitting_since = Some((Instant::now(), cpu_time())),
                Some((since, cpu_before)) if since.elapsed() >= SIT => {
                    let used = cpu_time().saturating_sub(cpu_before);
                    println!(
                        "idle-cpu sat_ms={} cpu_ms={}",
                        since.elapsed().as_millis(),
                        used.as_millis()
                    );
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                Some((since, _)) => ctx.request_repaint_after(SIT.saturating_sub(since.elapsed())),
            },
            _ => {}
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        eframe::App::ui(&mut self.app, ui, frame);
    }
}

fn main() -> eframe::Result {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut demo = runtime
        .block_on(mailconnect::demo::start(None))
        .expect("demo");
    demo.services.open_browser = false;
    let handle = runtime.handle().clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([720.0, 600.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        mailconnect::ui::WINDOW_TITLE,
        options,
        Box::new(move |cc| {
            Ok(Box::new(Sitter {
                app: WizardApp::new(&cc.egui_ctx, handle, demo.services, demo.wizard),
                _sandbox: demo.sandbox,
                sitting_since: None,
            }))
        }),
    )
}
