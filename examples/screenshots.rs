//! Walks the demo wizard through every step in a real window and saves a screenshot of each to
//! `assets/screenshots/`. Run it under a display with a Secret Service, for example:
//! `xvfb-run dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock --components=secrets; cargo run --example screenshots'`

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use eframe::egui;
use mailconnect::health::Health;
use mailconnect::sandbox::{Fault, Sandbox};
use mailconnect::ui::{DevicesAction, HomeAction, Screen, WizardApp};
use mailconnect::verify::Protocol;
use mailconnect::wizard::{
    CheckRow, Intent, Page, Saving, SignIn, SignInMethod, Step, StoredPassword,
};

const SMTP_AUTH_DISABLED: &str = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.";

/// One stop of the tour: wait until `ready`, take the picture, then do `next`.
struct Stop {
    file: &'static str,
    ready: fn(&WizardApp) -> bool,
    next: fn(&mut Tour, &egui::Context),
}

struct Tour {
    app: WizardApp,
    sandbox: Sandbox,
    stops: Vec<Stop>,
    current: usize,
    ready_since: Option<Instant>,
    waiting_for_picture: bool,
    /// Tab presses still to make, one a frame.
    tabs_pending: usize,
    directory: PathBuf,
    pictures: (
        mpsc::Sender<Arc<egui::ColorImage>>,
        mpsc::Receiver<Arc<egui::ColorImage>>,
    ),
}

fn rows_done(app: &WizardApp) -> bool {
    let wizard = app.wizard();
    [Protocol::Imap, Protocol::Smtp]
        .iter()
        .all(|protocol| matches!(wizard.check_row(*protocol), Some(CheckRow::Finished(_))))
}

fn rows_passed(app: &WizardApp) -> bool {
    let wizard = app.wizard();
    [Protocol::Imap, Protocol::Smtp]
        .iter()
        .all(|protocol| wizard.check_row(*protocol).is_some_and(CheckRow::passed))
}

fn stops() -> Vec<Stop> {
    vec![
        Stop {
            file: "1-account.png",
            ready: |a| a.wizard().step() == Step::Account,
            next: |t, ctx| t.act(ctx, Intent::Next),
        },
        Stop {
            file: "2-reminder.png",
            ready: |a| matches!(&a.wizard().page, Page::Reminder(page) if matches!(page.password, StoredPassword::Present(_))),
            next: |t, ctx| {
                t.act(ctx, Intent::SetNoted(true));
                t.act(ctx, Intent::Next);
            },
        },
        Stop {
            file: "3a-sign-in-choose.png",
            ready: |a| a.wizard().step() == Step::SignIn,
            next: |t, ctx| {
                // First the organisation that has not approved the app yet.
                t.sandbox.inject(Fault::TokenError {
                    error: "invalid_grant".into(),
                    aadsts: 90094,
                    description: "The grant requires admin permission.".into(),
                });
                ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(720.0, 980.0)));
                t.act(ctx, Intent::StartSignIn(SignInMethod::DeviceCode));
            },
        },
        Stop {
            file: "3d-ask-it-admin.png",
            ready: |a| matches!(a.wizard().sign_in(), Some(SignIn::Failed(_))),
            next: |t, ctx| {
                t.sandbox.clear_faults();
                ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(720.0, 600.0)));
                t.act(ctx, Intent::StartSignIn(SignInMethod::DeviceCode));
            },
        },
        Stop {
            file: "3b-sign-in-code.png",
            ready: |a| matches!(a.wizard().sign_in(), Some(SignIn::ShowingCode(_))),
            next: |t, _| {
                let Some(SignIn::ShowingCode(prompt)) = t.app.wizard().sign_in() else {
                    return;
                };
                t.sandbox
                    .approve_device_code(&prompt.user_code, mailconnect::demo::DEMO_MAILBOX);
            },
        },
        Stop {
            file: "3c-signed-in.png",
            ready: |a| matches!(a.wizard().sign_in(), Some(SignIn::SignedIn { .. })),
            next: |t, ctx| {
                t.sandbox
                    .inject(Fault::SmtpAuthReply(SMTP_AUTH_DISABLED.into()));
                t.act(ctx, Intent::Next);
            },
        },
        Stop {
            file: "4a-check-red-cross.png",
            ready: rows_done,
            next: |t, ctx| {
                t.sandbox.clear_faults();
                t.act(ctx, Intent::RetryFailedChecks);
            },
        },
        Stop {
            file: "4b-check-green.png",
            ready: rows_passed,
            next: |t, ctx| t.act(ctx, Intent::Next),
        },
        Stop {
            file: "5a-save-ready.png",
            ready: |a| matches!(a.wizard().saving(), Some(Saving::NotYet)),
            next: |t, ctx| t.act(ctx, Intent::Save),
        },
        Stop {
            file: "5b-saved.png",
            ready: |a| matches!(a.wizard().saving(), Some(Saving::Saved | Saving::Failed(_))),
            next: |t, ctx| {
                t.act(ctx, Intent::Finish);
            },
        },
        Stop {
            file: "6a-accounts-home.png",
            ready: |a| {
                a.screen() == Screen::Home
                    && a.home()
                        .rows
                        .iter()
                        .all(|row| row.health == Health::Connected && row.imap.is_some())
            },
            next: |t, ctx| {
                t.app.apply_home_action(ctx, HomeAction::Devices);
            },
        },
        Stop {
            file: "6g-devices-empty.png",
            ready: |a| {
                a.screen() == Screen::Devices
                    && matches!(
                        a.devices().status,
                        mailconnect::runner::BridgeStatus::Running { .. }
                    )
            },
            next: |t, ctx| {
                t.app
                    .apply_devices_action(ctx, DevicesAction::SetNetwork(true));
            },
        },
        Stop {
            file: "6j-devices-network.png",
            ready: |a| match &a.devices().status {
                // On a computer with no private address the page says so instead.
                mailconnect::runner::BridgeStatus::Running { network, .. } => {
                    !network.is_empty()
                        || mailconnect::bridge::network::local_addresses().is_empty()
                }
                _ => false,
            },
            next: |t, ctx| {
                t.app.apply_devices_action(
                    ctx,
                    DevicesAction::Add {
                        name: "Scanner in reception".to_owned(),
                        mailbox: mailconnect::demo::DEMO_MAILBOX.to_owned(),
                        plain_on_lan: false,
                    },
                );
            },
        },
        Stop {
            file: "6h-device-added.png",
            ready: |a| a.devices().just_added.is_some(),
            next: |t, ctx| {
                let added = t.app.devices().just_added.as_ref().expect("just added");
                let (row, password) = (added.row.clone(), added.password.clone());
                let mailconnect::runner::BridgeStatus::Running { port, .. } =
                    t.app.devices().status
                else {
                    unreachable!("the bridge runs")
                };
                t.app.apply_devices_action(
                    ctx,
                    DevicesAction::SendTest {
                        row,
                        password,
                        port,
                    },
                );
            },
        },
        Stop {
            file: "6i-device-test-sent.png",
            ready: |a| {
                a.devices()
                    .just_added
                    .as_ref()
                    .is_some_and(|added| matches!(added.test, Some(Ok(_))))
                    && a.devices().queue.is_empty()
                    && a.devices().rows.iter().all(|row| row.waiting == 0)
            },
            next: |t, ctx| {
                // The tour leaves no device behind, and the bridge as it found it.
                let user_name = t.app.devices().rows[0].user_name.clone();
                t.app
                    .apply_devices_action(ctx, DevicesAction::Remove(user_name));
                t.app
                    .apply_devices_action(ctx, DevicesAction::SetNetwork(false));
                t.app.apply_devices_action(ctx, DevicesAction::Back);
                t.app.show_import_with(
                    "billing@smile-dental.example, dr.lee@smile-dental.example\nhygiene@smile-dental.example\n\
                     billing@smile-dental.example\nfront desk\nlocum@gmail.com",
                    "Test group",
                );
            },
        },
        Stop {
            file: "6e-add-many.png",
            ready: |a| a.screen() == Screen::Import,
            next: |t, ctx| {
                t.app.show_home_screen();
                // Someone revokes the sessions in the admin center; the next check finds out.
                t.sandbox.revoke_all();
                t.app
                    .home_mut()
                    .select_only(mailconnect::demo::DEMO_MAILBOX);
                t.app.apply_home_action(ctx, HomeAction::CheckNow);
            },
        },
        Stop {
            file: "6b-accounts-banner.png",
            ready: |a| a.home().banner().is_some(),
            next: |t, ctx| {
                // The tour leaves nothing in the keyring: it removes the mailbox through the home.
                t.app
                    .home_mut()
                    .select_only(mailconnect::demo::DEMO_MAILBOX);
                t.app.apply_home_action(ctx, HomeAction::AskRemove);
            },
        },
        Stop {
            file: "6c-accounts-remove.png",
            ready: |a| {
                matches!(
                    a.home().dialog,
                    Some(mailconnect::home::Dialog::ConfirmRemoval(_))
                )
            },
            next: |t, ctx| {
                t.app.apply_home_action(ctx, HomeAction::ConfirmRemove);
            },
        },
        Stop {
            file: "6d-accounts-empty.png",
            ready: |a| a.home().rows.is_empty(),
            next: |t, ctx| {
                ctx.set_theme(egui::Theme::Light);
                ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(720.0, 600.0)));
                t.app.apply_home_action(ctx, HomeAction::AddMailbox);
            },
        },
        Stop {
            file: "1-account-light.png",
            ready: |a| a.wizard().step() == Step::Account,
            next: |t, _| {
                t.app.show_explain_with(
                    "09:14 PracticeMail: send failed: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled\n\
                     09:14 token refresh: {\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh token has expired due to inactivity.\\r\\nTrace ID: 0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00\\r\\nCorrelation ID: 7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60\"}",
                );
            },
        },
        Stop {
            file: "7-explain.png",
            ready: |a| a.screen() == Screen::Explain,
            next: |_, ctx| ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        },
    ]
}

/// The practice demo's tour: a filter with ticks it hides, the failed checks' summary with its PowerShell, and
/// the keyboard focus on a button.
fn practice_stops() -> Vec<Stop> {
    vec![
        Stop {
            file: "",
            ready: |a| {
                a.home().rows.len() == 20
                    && a.home()
                        .rows
                        .iter()
                        .all(|row| row.health != Health::Reading)
            },
            next: |t, _| {
                let home = t.app.home_mut();
                home.select_all_shown(true);
                home.filter = "test group".to_owned();
            },
        },
        Stop {
            file: "8a-practice-filter.png",
            ready: |a| a.home().ticked_but_hidden(&a.home().visible()) == 15,
            next: |t, ctx| {
                t.app.home_mut().filter.clear();
                t.app.apply_home_action(ctx, HomeAction::CheckNow);
                // The failed ones first, as an admin looking for them sorts.
                t.app.home_mut().sort_by(mailconnect::home::Column::Alert);
            },
        },
        Stop {
            file: "8b-practice-failed-checks.png",
            ready: |a| {
                a.home()
                    .batch
                    .as_ref()
                    .is_some_and(|batch| batch.finished())
            },
            next: |t, _| {
                // Tab, as a keyboard user does, to the toolbar's buttons (one press a frame, in `ui`).
                t.tabs_pending = 4;
            },
        },
        Stop {
            file: "8c-focus-visible.png",
            ready: |_| true,
            next: |_, ctx| ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        },
    ]
}

impl Tour {
    fn act(&mut self, ctx: &egui::Context, intent: Intent) {
        self.app.apply_intent(ctx, intent);
    }
}

impl eframe::App for Tour {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::logic(&mut self.app, ctx, frame);
        if let Ok(image) = self.pictures.1.try_recv() {
            let stop = &self.stops[self.current];
            let path = self.directory.join(stop.file);
            let pixels: Vec<u8> = image
                .pixels
                .iter()
                .flat_map(|pixel| pixel.to_array())
                .collect();
            let [width, height] = image.size;
            image::RgbaImage::from_raw(width as u32, height as u32, pixels)
                .expect("screenshot size")
                .save(&path)
                .expect("save screenshot");
            println!("saved {}", path.display());
            let next = stop.next;
            self.waiting_for_picture = false;
            self.ready_since = None;
            self.current += 1;
            next(self, ctx);
        } else if !self.waiting_for_picture && self.current < self.stops.len() {
            if (self.stops[self.current].ready)(&self.app)
                && self.stops[self.current].file.is_empty()
            {
                let next = self.stops[self.current].next;
                self.current += 1;
                next(self, ctx);
            } else if (self.stops[self.current].ready)(&self.app) {
                // Let layout and any animation settle before the picture.
                let since = *self.ready_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(600) {
                    self.waiting_for_picture = true;
                    let sender = self.pictures.0.clone();
                    let repaint = ctx.clone();
                    ctx.request_screenshot(move |image| {
                        let _ = sender.send(image);
                        repaint.request_repaint();
                    });
                }
            } else {
                self.ready_since = None;
            }
        }
        ctx.request_repaint_after(Duration::from_millis(100));
    }

    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        // Xvfb has no window manager to give the window the keyboard, and egui draws the focus only in the
        // window that has it: the tour's window has it, as a person's would.
        raw_input.focused = true;
        if self.tabs_pending > 0 {
            self.tabs_pending -= 1;
            for pressed in [true, false] {
                raw_input.events.push(egui::Event::Key {
                    key: egui::Key::Tab,
                    physical_key: None,
                    pressed,
                    repeat: false,
                    modifiers: egui::Modifiers::NONE,
                });
            }
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if self.tabs_pending > 0 {
            ui.ctx().request_repaint();
        }
        eframe::App::ui(&mut self.app, ui, frame);
    }
}

fn main() -> eframe::Result {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `--practice`: the practice demo's tour (20 mailboxes through a service account).
    let practice = std::env::args().any(|argument| argument == "--practice");
    let opened = runtime
        .block_on(mailconnect::demo::open(practice, None))
        .expect("the demo");
    let (sandbox, mut services, wizard, accounts, _folder) = (
        opened.sandbox,
        opened.services,
        opened.wizard,
        opened.accounts,
        opened.folder,
    );
    services.open_browser = false;
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/screenshots");
    std::fs::create_dir_all(&directory).expect("screenshot folder");
    let handle = runtime.handle().clone();
    let size = if practice {
        [1100.0, 660.0]
    } else {
        [720.0, 600.0]
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(mailconnect::ui::WINDOW_TITLE)
            .with_inner_size(size),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        mailconnect::ui::WINDOW_TITLE,
        options,
        Box::new(move |cc| {
            cc.egui_ctx.set_theme(egui::Theme::Dark);
            Ok(Box::new(Tour {
                app: WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts),
                sandbox,
                stops: if practice { practice_stops() } else { stops() },
                current: 0,
                ready_since: None,
                waiting_for_picture: false,
                tabs_pending: 0,
                directory,
                pictures: mpsc::channel(),
            }))
        }),
    )
}
