//! Benchmark helper: opens the demo wizard, goes to the sign-in step with a device code on screen (its countdown
//! repaints once a minute), sits there ten seconds, and prints the CPU time the process used meanwhile. With
//! `--home`, sits on the practice demo's accounts home (20 mailboxes, read and health-checked) instead.

use std::time::{Duration, Instant};

use eframe::egui;
use mailconnect::ui::WizardApp;
use mailconnect::wizard::{Intent, Page, SignIn, SignInMethod, StoredPassword};

const SIT: Duration = Duration::from_secs(10);
/// Time for the page to settle before the ten seconds start.
const SETTLE: Duration = Duration::from_secs(2);

struct Sitter {
    app: WizardApp,
    /// Sit on the accounts home rather than the code page.
    home: bool,
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

impl Sitter {
    /// Starts the ten seconds, or ends them with the CPU time used.
    fn sit(&mut self, ctx: &egui::Context) {
        match self.sitting_since {
            None => self.sitting_since = Some((Instant::now() + SETTLE, cpu_time())),
            Some((since, _)) if Instant::now() < since => {
                // Settling: the figure starts once the first health check and the first frames are done.
                self.sitting_since = Some((since, cpu_time()));
                ctx.request_repaint_after(since - Instant::now());
            }
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
        }
    }
}

impl eframe::App for Sitter {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::logic(&mut self.app, ctx, frame);
        if self.home {
            let rows = &self.app.home().rows;
            let settled = !rows.is_empty()
                && rows
                    .iter()
                    .all(|row| row.health != mailconnect::health::Health::Reading && !row.checking);
            // The first health check renews nothing here (fresh sign-ins); give it a moment to finish.
            if settled {
                self.sit(ctx);
            }
            return;
        }
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
            Page::SignIn(page) if matches!(page.sign_in, SignIn::ShowingCode(_)) => self.sit(ctx),
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
    let home = std::env::args().any(|argument| argument == "--home");
    let opened = runtime
        .block_on(mailconnect::demo::open(home, None))
        .expect("the demo");
    let (sandbox, mut services, wizard, accounts, _folder) = (
        opened.sandbox,
        opened.services,
        opened.wizard,
        opened.accounts,
        opened.folder,
    );
    services.open_browser = false;
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
                app: WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts),
                home,
                _sandbox: sandbox,
                sitting_since: None,
            }))
        }),
    )
}
