//! The wizard window driven through egui_kittest by its labels, against the sandbox and a private GNOME Keyring.

use std::time::Duration;

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailconnect::demo::{DEMO_KEYRING_SERVICE, DEMO_MAILBOX};
use mailconnect::runner::WindowCommand;
use mailconnect::sandbox::{Fault, Sandbox};
use mailconnect::state::StateFile;
use mailconnect::store::{MemoryItems, StoreAccess, TokenStore};
use mailconnect::ui::WizardApp;
use mailconnect::verify::Protocol;
use mailconnect::wizard::{CheckRow, Page, SignIn, Step, Wizard};
use secrecy::ExposeSecret;
use std::sync::Arc;

use crate::support::PrivateKeyring;

const SMTP_AUTH_DISABLED: &str = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.";

/// The demo in a test harness: the runtime and sandbox outlive the window.
struct Window {
    harness: Harness<'static, WizardApp>,
    sandbox: Sandbox,
    /// The in-memory store, for windows whose test is not about the keyring.
    memory: Option<Arc<MemoryItems>>,
    /// Where an in-memory window records the wizard's verdicts.
    state: Option<(tempfile::TempDir, StateFile)>,
    _runtime: tokio::runtime::Runtime,
}

impl Window {
    /// The demo with the real keyring (the test starts a private one).
    fn open(size: egui::Vec2, pixels_per_point: f32) -> Window {
        Window::open_with(size, pixels_per_point, false)
    }

    /// The demo with an in-memory store: for tests that are not about the keyring.
    fn in_memory() -> Window {
        Window::open_with(egui::vec2(720.0, 600.0), 1.0, true)
    }

    fn open_with(size: egui::Vec2, pixels_per_point: f32, memory: bool) -> Window {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut demo = runtime
            .block_on(mailconnect::demo::start(None))
            .expect("demo");
        demo.services.open_browser = false;
        demo.services.timeouts = crate::support::test_timeouts();
        let memory = memory.then(|| {
            let (store, items) = TokenStore::in_memory();
            demo.services.store = StoreAccess::Memory(store);
            items
        });
        let state = memory.as_ref().map(|_| {
            let folder = tempfile::tempdir().unwrap();
            let file = StateFile::at(folder.path().join("state.json"));
            demo.services.state_file = Some(file.clone());
            (folder, file)
        });
        let handle = runtime.handle().clone();
        let (services, wizard) = (demo.services, demo.wizard);
        // In-memory windows run on a realistic clock (60 frames a second), so that two quick clicks count as a
        // double click as they would on screen; the harness's default is 4 frames a second.
        let step_dt = if memory.is_some() { 1.0 / 60.0 } else { 0.25 };
        let harness = Harness::builder()
            .with_step_dt(step_dt)
            .with_size(size)
            .with_pixels_per_point(pixels_per_point)
            .build_eframe(move |cc| WizardApp::new(&cc.egui_ctx, handle, services, wizard));
        Window {
            harness,
            sandbox: demo.sandbox,
            memory,
            state,
            _runtime: runtime,
        }
    }

    fn standard() -> Window {
        Window::open(egui::vec2(720.0, 600.0), 1.0)
    }

    /// Steps frames until a node whose label contains `text` shows, for at most ten seconds.
    fn wait_for(&mut self, text: &str) {
        for _ in 0..500 {
            self.harness.step();
            if self
                .harness
                .query_all_by_label_contains(text)
                .next()
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "\"{text}\" did not appear; the wizard is at {:?}",
            self.harness.state().wizard().step()
        );
    }

    /// Whether any node's label contains `text`.
    fn shows(&self, text: &str) -> bool {
        self.harness
            .query_all_by_label_contains(text)
            .next()
            .is_some()
    }

    /// Clicks like a person: far enough from the last click in (the harness's) time not to count as a double
    /// click, which the window ignores on its navigation buttons.
    fn click(&mut self, label: &str) {
        for _ in 0..20 {
            self.harness.step();
        }
        self.harness.get_by_label(label).click();
        self.harness.step();
        self.harness.step();
    }

    fn step(&self) -> Step {
        self.harness.state().wizard().step()
    }

    fn wizard(&self) -> &Wizard {
        self.harness.state().wizard()
    }

    /// Focuses the control labelled `label` and presses Enter.
    fn press_enter_on(&mut self, label: &str) {
        self.harness.get_by_label(label).focus();
        self.harness.step();
        self.harness.key_press(egui::Key::Enter);
        self.harness.step();
        self.harness.step();
    }

    /// Steps frames until `done` holds, for at most ten seconds.
    fn wait_until(&mut self, what: &str, done: impl Fn(&Wizard) -> bool) {
        for _ in 0..500 {
            self.harness.step();
            if done(self.wizard()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what} did not happen; the wizard is at {:?}", self.step());
    }

    /// The names of the items in the in-memory store.
    fn stored_items(&self) -> Vec<String> {
        self.memory.as_ref().expect("an in-memory window").names()
    }

    /// From the first step through the reminder (ticking the box) to the sign-in step.
    fn go_to_sign_in_step(&mut self) {
        self.wait_for("Step 1 of 5");
        self.click("Next");
        self.wait_for("I have noted these settings");
        self.click("I have noted these settings");
        self.click("Next");
        assert_eq!(self.step(), Step::SignIn);
    }

    /// Chooses "Sign in with a code" and returns the code once it is shown.
    fn show_code(&mut self) -> String {
        self.click("Sign in with a code");
        self.wait_for("Copy code");
        let Some(SignIn::ShowingCode(prompt)) = self.wizard().sign_in() else {
            unreachable!()
        };
        prompt.user_code.clone()
    }

    /// From the first step to signed in with a device code approved in the sandbox.
    fn sign_in(&mut self) {
        self.go_to_sign_in_step();
        let user_code = self.show_code();
        assert!(
            self.harness
                .query_by_label(&format!("Code {user_code}"))
                .is_some(),
            "the code is shown large and labelled"
        );
        assert!(
            self.harness
                .query_by_label_contains("QR code for http://127.0.0.1")
                .is_some()
        );
        assert!(
            self.harness
                .query_by_label_contains("The code expires in 1")
                .is_some()
        );
        // An idle page settles: only the countdown asks for a repaint, a second later, never every frame.
        assert!(
            self.harness.run_ok().is_some(),
            "the code page keeps repainting"
        );
        assert!(self.sandbox.approve_device_code(&user_code, DEMO_MAILBOX));
        self.wait_for(&format!("Signed in as {DEMO_MAILBOX}"));
    }

    fn copied_text(&self) -> String {
        self.harness
            .state()
            .window_commands
            .iter()
            .rev()
            .find_map(|command| match command {
                WindowCommand::CopyToClipboard(text) => Some(text.expose_secret().to_owned()),
                _ => None,
            })
            .expect("something was copied")
    }
}

#[test]
fn the_happy_path_ends_with_tokens_in_the_keyring() {
    let _keyring = PrivateKeyring::start_for_this_process("test keyring password");
    let mut window = Window::standard();
    window.wait_for("Step 1 of 5");
    assert!(
        window
            .harness
            .query_by_label("Choose the mailbox")
            .is_some()
    );
    window.click("Next");

    window.wait_for("Step 2 of 5");
    assert!(
        window
            .harness
            .query_by_label(mailconnect::demo::DEMO_BASIC_PASSWORD)
            .is_none(),
        "masked until asked"
    );
    window.click("Show password");
    assert!(
        window
            .harness
            .query_by_label(mailconnect::demo::DEMO_BASIC_PASSWORD)
            .is_some()
    );
    window.click("Copy password");
    assert_eq!(window.copied_text(), mailconnect::demo::DEMO_BASIC_PASSWORD);
    window.click("Next");
    assert_eq!(window.step(), Step::Reminder, "Next waits for the tick box");
    window.click("I have noted these settings");
    window.click("Next");

    window.wait_for("Step 3 of 5");
    let user_code = window.show_code();
    window.click("Copy code");
    assert_eq!(window.copied_text(), user_code);
    assert!(window.sandbox.approve_device_code(&user_code, DEMO_MAILBOX));
    window.wait_for(&format!("Signed in as {DEMO_MAILBOX}"));
    window.click("Next");

    window.wait_for("Step 4 of 5");
    for _ in 0..500 {
        window.harness.step();
        if window.harness.query_all_by_label("Connected").count() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        window.harness.query_all_by_label("Connected").count(),
        2,
        "IMAP and SMTP both show a tick with words"
    );
    window.click("Next");

    window.wait_for("Step 5 of 5");
    window.wait_for("Nothing has been saved yet");
    let store = TokenStore::open_for_service(DEMO_KEYRING_SERVICE).unwrap();
    assert!(
        store.load_tokens(DEMO_MAILBOX).unwrap().is_none(),
        "nothing reaches the keyring before Save"
    );
    window.click("Save");
    window.wait_for("Remove the saved sign-in");
    let saved = store
        .load_tokens(DEMO_MAILBOX)
        .unwrap()
        .expect("tokens in the keyring");
    assert!(
        window
            .sandbox
            .is_valid_access_token(saved.access_token.expose_secret(), DEMO_MAILBOX)
    );
    window.click("Finish");
    assert_eq!(
        window.harness.state().screen(),
        mailconnect::ui::Screen::Home,
        "Finish leads to the accounts home, which now lists the mailbox"
    );
    window.wait_for("connected, renews itself");
    assert!(window.shows(DEMO_MAILBOX));
    assert!(
        !window
            .harness
            .state()
            .window_commands
            .iter()
            .any(|command| matches!(command, WindowCommand::Close)),
        "the window stays open"
    );
}

#[test]
fn a_red_cross_explains_authenticated_smtp_and_try_again_reruns_only_smtp() {
    let mut window = Window::in_memory();
    window
        .sandbox
        .inject(Fault::SmtpAuthReply(SMTP_AUTH_DISABLED.into()));
    window.sign_in();
    window.click("Next");
    window.wait_for("Not connected: stopped at the authentication step");
    window.wait_for("Connected");
    assert!(
        window.shows("Authenticated SMTP"),
        "the cause names the switch"
    );
    assert!(
        window.shows("Manage email apps"),
        "the fix says where it is"
    );
    assert!(
        window
            .harness
            .query_by_label(&format!("Server reply: {SMTP_AUTH_DISABLED}"))
            .is_some()
    );
    assert!(
        window
            .harness
            .query_by_label("Code: SMTP-authentication-rejected")
            .is_some()
    );
    assert!(window.harness.query_by_label("Next").is_some());

    window.click("Copy support report");
    let report = window.copied_text();
    assert!(
        report.contains("5.7.139") && report.contains(DEMO_MAILBOX),
        "{report}"
    );
    assert!(window.shows("Support report copied"));

    window.sandbox.clear_faults();
    window.click("Try again");
    assert!(
        window
            .wizard()
            .check_row(Protocol::Imap)
            .is_some_and(CheckRow::passed),
        "IMAP is not checked again"
    );
    window.wait_until("SMTP passing", |wizard| {
        wizard
            .check_row(Protocol::Smtp)
            .is_some_and(CheckRow::passed)
    });
    assert_eq!(window.harness.query_all_by_label("Connected").count(), 2);
}

#[test]
fn cancel_during_sign_in_drops_the_late_result() {
    let mut window = Window::in_memory();
    window.go_to_sign_in_step();
    let user_code = window.show_code();
    window.click("Cancel sign-in");
    window.wait_for("Sign in with a code");
    let polls = window.sandbox.stats().device_polls.len();
    window.sandbox.approve_device_code(&user_code, DEMO_MAILBOX);
    for _ in 0..150 {
        window.harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(window.wizard().sign_in(), Some(SignIn::Choosing)));
    assert_eq!(
        window.sandbox.stats().device_polls.len(),
        polls,
        "polling stopped with Cancel"
    );
}

#[test]
fn an_expired_code_offers_a_new_one() {
    let mut window = Window::in_memory();
    window.go_to_sign_in_step();
    window.sandbox.inject(Fault::DeviceExpired);
    window.click("Sign in with a code");
    window.wait_for("The code expired before the sign-in was finished");
    window.click("Get a new code");
    window.wait_for("Copy code");
}

#[test]
fn a_locked_keyring_at_save_explains_and_offers_try_again() {
    let _keyring = PrivateKeyring::start_locked_for_this_process();
    let mut window = Window::standard();
    window.sign_in();
    window.click("Next");
    window.wait_until("both checks passing", Wizard::can_go_next);
    window.click("Next");
    window.click("Save");
    window.wait_for("Not saved yet");
    assert!(window.shows("The keyring is locked"));
    assert!(window.shows("Unlock the keyring"));
    assert!(window.harness.query_by_label("Try again").is_some());
    assert!(
        window
            .harness
            .query_by_label("Code: keyring-locked")
            .is_some()
    );
    window.click("Try again");
    window.wait_for("Not saved yet");
    assert!(
        matches!(&window.wizard().page, Page::Save(page) if page.tokens.refresh_token.is_some()),
        "the tokens are still in memory"
    );
}

#[test]
fn enter_moves_on_and_tab_reaches_the_controls_in_order() {
    let mut window = Window::standard();
    window.wait_for("Step 1 of 5");
    let focused = tab_order(&mut window, 8);
    let position = |label: &str| {
        focused
            .iter()
            .position(|seen| seen == label)
            .unwrap_or_else(|| panic!("{label} never focused: {focused:?}"))
    };
    assert!(
        position("Provider") < position("Email address"),
        "{focused:?}"
    );
    assert!(
        position("Email address") < position("Show advanced settings"),
        "{focused:?}"
    );

    // Enter in the address box moves on, as a person expects of a form.
    let mut window = Window::standard();
    window.wait_for("Step 1 of 5");
    window.press_enter_on("Email address");
    assert_eq!(window.step(), Step::Reminder);
}

#[test]
fn nothing_is_clipped_at_640_by_480_even_at_scale_two() {
    for (size, scale) in [
        (egui::vec2(640.0, 480.0), 1.0),
        (egui::vec2(640.0, 480.0), 2.0),
    ] {
        let mut window = Window::open(size, scale);
        window.wait_for("Step 1 of 5");
        for label in ["Next", "Back", "Cancel", "Email address"] {
            let rect = window.harness.get_by_label(label).rect();
            assert!(
                rect.max.x <= size.x + 0.5 && rect.max.y <= size.y + 0.5,
                "{label} at {rect:?} is outside {size:?} at scale {scale}"
            );
        }
    }
}

/// Types into the "Email address" box, replacing what is there.
fn retype_mailbox(window: &mut Window, mailbox: &str) {
    window.harness.get_by_label("Email address").focus();
    window.harness.step();
    window
        .harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    window.harness.step();
    window
        .harness
        .get_by_label("Email address")
        .type_text(mailbox);
    window.harness.step();
    window.harness.step();
}

#[test]
fn another_mailbox_typed_after_signing_in_asks_for_a_new_sign_in() {
    let mut window = Window::in_memory();
    window.sign_in();
    assert!(window.harness.query_by_label("Sign in again").is_some());
    window.click("Back");
    window.click("Back");
    assert_eq!(window.step(), Step::Account);
    retype_mailbox(&mut window, "frontdesk@smile-dental.example");
    window.click("Next");
    // The demo has an old password for its own mailbox only.
    window.wait_for("No old password");
    assert!(!window.shows("I have noted these settings"));
    window.click("Next");
    assert_eq!(window.step(), Step::SignIn);
    assert!(
        !window.shows("Signed in as"),
        "reception@'s sign-in must not be offered for frontdesk@"
    );
    assert!(window.shows("Sign in as frontdesk@smile-dental.example"));
    assert!(!window.wizard().can_go_next());
}

#[test]
fn a_double_click_on_next_stops_on_the_save_page_and_save_means_save() {
    let mut window = Window::in_memory();
    window.sign_in();
    window.click("Next");
    window.wait_until("both checks passing", Wizard::can_go_next);
    // Two clicks in quick succession at the same place: the second lands on the last page's Save button.
    for _ in 0..20 {
        window.harness.step();
    }
    window.harness.get_by_label("Next").click();
    window.harness.step();
    window.harness.step();
    window.harness.get_by_label("Save").click();
    window.harness.step();
    window.harness.step();
    assert_eq!(window.step(), Step::Save);
    assert!(window.shows("Nothing has been saved yet"));
    assert!(
        window.stored_items().is_empty(),
        "a double click must not save: {:?}",
        window.stored_items()
    );

    // A deliberate Save stores it; Back and Cancel then say so instead of pretending nothing happened.
    window.click("Save");
    window.wait_for("Remove the saved sign-in");
    assert!(!window.stored_items().is_empty());
    // The wizard's two ticks are what `status` and the report show from now on.
    let (_, state_file) = window.state.as_ref().unwrap();
    let recorded = state_file.load();
    let last = recorded
        .last_verification(DEMO_MAILBOX)
        .expect("the wizard's checks are recorded at Save");
    assert!(last.imap.passed && last.smtp.passed, "{last:?}");
    assert!(window.harness.query_by_label("Cancel").is_none());
    assert!(!window.wizard().can_go_back());
    // Where to go next, by the window's own controls rather than a command line.
    assert!(window.shows("\"Programs and devices\""));
    assert!(window.shows("\"Disconnect Basic\""));
    assert!(!window.shows("mailconnect forget"));
    window.click("Remove the saved sign-in");
    window.wait_for("was removed");
    assert!(
        window.stored_items().is_empty(),
        "{:?}",
        window.stored_items()
    );
    assert!(window.harness.query_by_label("Cancel").is_some());
}

/// The labels of the controls Tab visits, in order, starting from nothing focused.
fn tab_order(window: &mut Window, presses: usize) -> Vec<String> {
    let mut focused = Vec::new();
    for _ in 0..presses {
        window.harness.key_press(egui::Key::Tab);
        window.harness.step();
        if let Some(node) = window.harness.query_by(|node| node.is_focused()) {
            focused.push(
                egui_kittest::kittest::NodeT::accesskit_node(&node)
                    .label()
                    .unwrap_or_default(),
            );
        }
    }
    focused
}

#[test]
fn tab_visits_the_page_before_the_footer_and_enter_never_unticks_or_cancels() {
    let mut window = Window::in_memory();
    window.wait_for("Step 1 of 5");
    let order = tab_order(&mut window, 12);
    let at = |label: &str| order.iter().position(|seen| seen == label);
    let (page, footer) = (at("Show advanced settings"), at("Next"));
    assert!(
        page.is_some() && footer.is_some() && page < footer,
        "the footer comes before the page: {order:?}"
    );

    // Step 2: tick the box with Space, then Enter on the focused tick box moves on and does not untick it.
    window.click("Next");
    window.wait_for("I have noted these settings");
    window
        .harness
        .get_by_label("I have noted these settings")
        .focus();
    window.harness.step();
    window.harness.key_press(egui::Key::Space);
    window.harness.step();
    window.harness.step();
    window.harness.key_press(egui::Key::Enter);
    window.harness.step();
    window.harness.step();
    assert_eq!(
        window.step(),
        Step::SignIn,
        "Enter on the ticked box moves on"
    );

    // Enter on Cancel cancels (the window closes); it never moves the wizard on.
    window.click("Back");
    window.wait_for("I have noted these settings");
    window.press_enter_on("Cancel");
    assert_eq!(window.step(), Step::Reminder);
}

#[test]
fn every_copy_button_says_it_copied() {
    let mut window = Window::in_memory();
    window.wait_for("Step 1 of 5");
    window.click("Next");
    window.wait_for("Copy password");
    window.click("Copy password");
    assert!(window.shows("Password copied. It is wiped from the clipboard in a minute."));
    assert!(
        window.harness.state().clipboard_wipe_pending(),
        "a copied password does not stay in the clipboard"
    );
    // Next stays greyed until the settings are noted, and says so.
    assert!(window.shows("Tick \"I have noted these settings\" first."));
    window.click("I have noted these settings");
    assert!(!window.shows("Tick \"I have noted these settings\" first."));
    window.click("Next");
    window.show_code();
    window.click("Copy code");
    assert!(window.shows("Code copied"));
    assert!(
        !window.harness.state().clipboard_wipe_pending(),
        "a code copied after it is left alone"
    );
}

/// A file dropped on the window, as the desktop hands it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|error| error.to_string())
    }
}

fn drop_file(window: &mut Window, path: &std::path::Path) {
    window
        .harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path.to_owned())));
    window.harness.step();
}

#[test]
fn a_preset_file_dropped_on_the_window_fills_the_settings() {
    let mut window = Window::in_memory();
    window.wait_for("Step 1 of 5");
    assert!(window.shows("drop it on this window"));
    assert!(
        window.harness.query_by_label("Open preset file…").is_some(),
        "the file dialog is one click away"
    );
    let folder = tempfile::tempdir().unwrap();
    let presets = folder.path().join("smile-dental.toml");
    std::fs::write(
        &presets,
        "[[preset]]\nname = \"Smile Dental\"\nprovider = \"microsoft365\"\ntenant = \"smile-dental.co.uk\"\nclient_id = \"9e5f94bc-e8a4-4e73-b8be-63364c29d753\"\n",
    )
    .unwrap();
    drop_file(&mut window, &presets);
    window.wait_for("Loaded 1 preset from smile-dental.toml");
    let form = &window.wizard().form;
    assert_eq!(form.tenant, "smile-dental.co.uk");
    assert_eq!(form.client_id, "9e5f94bc-e8a4-4e73-b8be-63364c29d753");
    assert_eq!(form.mailbox, DEMO_MAILBOX, "the typed address is kept");
    assert_eq!(
        window.wizard().preset_file.as_deref(),
        Some(presets.as_path())
    );

    // A file that is not a preset file says where it is wrong, and changes nothing.
    let broken = folder.path().join("notes.toml");
    std::fs::write(&broken, "[[preset]\nname = 1\n").unwrap();
    drop_file(&mut window, &broken);
    window.wait_for("line 1");
    assert_eq!(window.wizard().form.tenant, "smile-dental.co.uk");
}

#[test]
fn the_demo_starts_afresh_and_leaves_nothing_in_the_keyring() {
    let keyring = PrivateKeyring::start_for_this_process("test keyring password");
    let demo_items = || {
        let output = keyring.secret_tool(&[
            "search",
            "--all",
            "service",
            mailconnect::demo::DEMO_KEYRING_SERVICE,
        ]);
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| line.starts_with("attribute.username = "))
            .count()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = TokenStore::open_for_service(mailconnect::demo::DEMO_KEYRING_SERVICE).unwrap();
    let sign_in = |store: &TokenStore| {
        store
            .save_sign_in(
                DEMO_MAILBOX,
                &mailconnect::store::StoredTokens {
                    access_token: secrecy::SecretString::from("an old demo token"),
                    refresh_token: secrecy::SecretString::from("an old demo refresh token"),
                    access_token_expires_at: std::time::SystemTime::now()
                        + Duration::from_secs(3600),
                    signed_in_as: Some(DEMO_MAILBOX.to_owned()),
                    saved_at: std::time::SystemTime::now(),
                },
            )
            .unwrap()
    };
    // Left by a demo that was killed: the next one starts without it.
    sign_in(&store);
    assert!(demo_items() > 0);
    let demo = runtime
        .block_on(mailconnect::demo::open(false, None))
        .expect("the demo");
    assert_eq!(demo_items(), 0, "a new demo starts afresh");
    // What the demo saved (a sign-in, its bridge's certificate) goes when it closes.
    sign_in(&store);
    store
        .save_named_secret(
            "bridge-tls:identity",
            "mailconnect bridge certificate key",
            &secrecy::SecretString::from("{}"),
        )
        .unwrap();
    assert!(demo_items() > 0);
    drop(demo);
    assert_eq!(demo_items(), 0, "the demo leaves nothing behind");
}
