//! Every page of the window as a person meets it, checked the same way (egui_kittest, by the accessibility tree):
//! at 640x480 and at UI scale 2 every control can be scrolled into the window; keyboard focus on every button, tick
//! box, text box and drop-down is drawn as a ring; and no text shows a command line in backticks.

use std::time::Duration;

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{By, NodeT, Queryable};
use mailconnect::ui::theme::{DARK, LIGHT};
use mailconnect::ui::{HomeAction, WizardApp};
use mailconnect::wizard::{SignIn, Step};

/// The roles a person operates; each must be reachable and show its focus.
const OPERATED: [Role; 6] = [
    Role::Button,
    Role::CheckBox,
    Role::TextInput,
    Role::MultilineTextInput,
    Role::ComboBox,
    Role::Link,
];

struct Window {
    harness: Harness<'static, WizardApp>,
    sandbox: mailconnect::sandbox::Sandbox,
    size: egui::Vec2,
    _runtime: tokio::runtime::Runtime,
}

impl Window {
    /// The demo (no mailbox yet: the wizard), or the practice demo (the accounts home of 20 mailboxes).
    fn open(practice: bool, size: egui::Vec2, scale: f32) -> Window {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let opened = runtime
            .block_on(mailconnect::demo::open(practice, None))
            .expect("the demo");
        let (sandbox, mut services, wizard, accounts) = (
            opened.sandbox,
            opened.services,
            opened.wizard,
            opened.accounts,
        );
        if !practice {
            // Not about the keyring: the wizard's demo on an in-memory store.
            let (store, _) = mailconnect::store::TokenStore::in_memory();
            services.store = mailconnect::store::StoreAccess::Memory(store);
        }
        services.open_browser = false;
        services.timeouts = crate::support::test_timeouts();
        let handle = runtime.handle().clone();
        let harness = Harness::builder()
            .with_step_dt(1.0 / 60.0)
            .with_size(size)
            .with_pixels_per_point(scale)
            .build_eframe(move |cc| {
                WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts)
            });
        Window {
            harness,
            sandbox,
            size,
            _runtime: runtime,
        }
    }

    fn steps(&mut self, count: usize) {
        for _ in 0..count {
            self.harness.step();
        }
    }

    fn shows(&self, text: &str) -> bool {
        self.harness
            .query_all_by_label_contains(text)
            .next()
            .is_some()
    }

    fn wait_for(&mut self, text: &str) {
        for _ in 0..500 {
            self.harness.step();
            if self.shows(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("\"{text}\" did not appear");
    }

    fn click(&mut self, label: &str) {
        self.steps(5);
        self.harness.get_by_label(label).click();
        self.steps(3);
    }

    /// The operated controls on screen now, by role and label (scrolled-away ones included).
    fn controls(&self) -> Vec<(Role, String)> {
        let mut found: Vec<(Role, String)> = self
            .harness
            .query_all(By::new().predicate(|node| OPERATED.contains(&node.role())))
            .map(|node| {
                let node = node.accesskit_node();
                (node.role(), node.label().unwrap_or_default())
            })
            .filter(|(_, label)| !label.is_empty())
            .collect();
        found.dedup();
        found
    }

    /// Every operated control of the page can be brought into the window, and no text shows backticks.
    fn assert_reachable(&mut self, page: &str) {
        let texts: Vec<String> = self
            .harness
            .query_all(By::new().predicate(|node| node.label().is_some()))
            .filter_map(|node| node.accesskit_node().label())
            .collect();
        for text in texts {
            assert!(
                !text.contains('`'),
                "{page}: \"{text}\" shows a command line in backticks"
            );
        }
        let size = self.size;
        for (role, label) in self.controls() {
            let Some(node) = self.harness.query(By::new().role(role).label(&label)) else {
                continue;
            };
            node.scroll_to_me();
            // Scrolling is animated (a few tenths of a second for a long way).
            self.steps(30);
            let Some(node) = self.harness.query(By::new().role(role).label(&label)) else {
                continue;
            };
            let rect = node.rect();
            assert!(
                rect.min.x >= -0.5
                    && rect.min.y >= -0.5
                    && rect.max.x <= size.x + 0.5
                    && rect.max.y <= size.y + 0.5,
                "{page}: \"{label}\" ({role:?}) at {rect:?} cannot be brought into the {size:?} window"
            );
        }
    }

    /// Focus on each button, tick box, text box and drop-down is drawn: a ring in the focus colour around it.
    fn assert_focus_is_visible(&mut self, page: &str) {
        let checked = [
            Role::Button,
            Role::CheckBox,
            Role::TextInput,
            Role::ComboBox,
        ];
        let mut focused = 0;
        for (role, label) in self.controls() {
            if !checked.contains(&role) {
                continue;
            }
            let Some(node) = self.harness.query(By::new().role(role).label(&label)) else {
                continue;
            };
            node.scroll_to_me();
            node.focus();
            self.steps(3);
            let Some(node) = self.harness.query(By::new().role(role).label(&label)) else {
                continue;
            };
            let area = node.rect().expand(4.0);
            let rings = focus_rings(&self.harness.output().shapes);
            // A control drawn as disabled takes no focus (egui does not always tell the screen reader so).
            if !node.is_focused() {
                continue;
            }
            focused += 1;
            assert!(
                rings.iter().any(|ring| ring.intersects(area)),
                "{page}: \"{label}\" ({role:?}) has the focus but looks the same"
            );
        }
        assert!(focused > 0, "{page}: no control took the focus");
        // Leave nothing focused for the next page.
        self.harness.key_press(egui::Key::Escape);
        self.steps(2);
    }
}

/// The rectangles drawn with a focus ring's stroke.
fn focus_rings(shapes: &[egui::epaint::ClippedShape]) -> Vec<egui::Rect> {
    fn walk(shape: &egui::Shape, found: &mut Vec<egui::Rect>) {
        match shape {
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|shape| walk(shape, found)),
            egui::Shape::Rect(rect)
                if rect.stroke.width >= 2.0
                    && [DARK.focus, LIGHT.focus].contains(&rect.stroke.color) =>
            {
                found.push(rect.rect)
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for clipped in shapes {
        walk(&clipped.shape, &mut found);
    }
    found
}

/// Walks the wizard from step 1 to the Save page, calling `visit` on each page.
fn walk_the_wizard(window: &mut Window, mut visit: impl FnMut(&mut Window, &str)) {
    window.wait_for("Step 1 of 5");
    assert_eq!(
        window.harness.state().title(),
        mailconnect::ui::WINDOW_TITLE
    );
    visit(window, "step 1");
    window.click("Next");
    window.wait_for("Step 2 of 5");
    visit(window, "step 2");
    if window.shows("I have noted these settings") {
        window.click("I have noted these settings");
    }
    window.click("Next");
    window.wait_for("Step 3 of 5");
    visit(window, "step 3, choosing");
    window.click("Sign in with a code");
    for _ in 0..500 {
        window.harness.step();
        if matches!(
            window.harness.state().wizard().sign_in(),
            Some(SignIn::ShowingCode(_))
        ) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    visit(window, "step 3, the code");
    let Some(SignIn::ShowingCode(prompt)) = window.harness.state().wizard().sign_in() else {
        panic!("no code shown");
    };
    let code = prompt.user_code.clone();
    assert!(
        window
            .sandbox
            .approve_device_code(&code, mailconnect::demo::DEMO_MAILBOX)
    );
    window.wait_for("Signed in as");
    visit(window, "step 3, signed in");
    window.click("Next");
    window.wait_for("Step 4 of 5");
    for _ in 0..500 {
        window.harness.step();
        if window.harness.query_all_by_label("Connected").count() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    visit(window, "step 4");
    window.click("Next");
    window.wait_for("Step 5 of 5");
    assert_eq!(window.harness.state().wizard().step(), Step::Save);
    visit(window, "step 5");
}

/// Visits the accounts home and every page and dialog reached from it.
fn walk_the_home(window: &mut Window, mut visit: impl FnMut(&mut Window, &str)) {
    window.wait_for("hygiene@smile-dental.example");
    assert_eq!(window.harness.state().title(), "Accounts — mailconnect");
    visit(window, "accounts");
    let ctx = window.harness.ctx.clone();
    let act = |window: &mut Window, action: HomeAction| {
        window.harness.state_mut().apply_home_action(&ctx, action);
        window.steps(5);
    };
    act(
        window,
        HomeAction::Details("hygiene@smile-dental.example".into()),
    );
    window.wait_for("Copy support report");
    visit(window, "a row's details");
    act(window, HomeAction::CloseDetails);
    window
        .harness
        .state_mut()
        .home_mut()
        .select_only("hygiene@smile-dental.example");
    window.steps(3);
    for (open, close, page) in [
        (HomeAction::AskRemove, HomeAction::CancelRemove, "Remove"),
        (HomeAction::AskGroup, HomeAction::CancelGroup, "Group…"),
        (
            HomeAction::AskDisconnectBasic,
            HomeAction::CancelDisconnectBasic,
            "Disconnect Basic",
        ),
    ] {
        act(window, open);
        visit(window, page);
        act(window, close);
    }
    // With a pasted text whose fixes would name commands at a terminal (an approval, a new sign-in).
    window.harness.state_mut().show_explain_with(
        "AADSTS90094: Admin consent is required. AADSTS50173 invalid_grant. 535 5.7.139 Authentication \
         unsuccessful, basic authentication is disabled.",
    );
    window.wait_for("Copy explanation");
    visit(window, "explain");
    window.harness.state_mut().show_home_screen();
    act(window, HomeAction::AddMany);
    visit(window, "add many");
    window.harness.state_mut().show_home_screen();
    act(window, HomeAction::Devices);
    visit(window, "programs and devices");
}

#[test]
fn every_page_can_be_reached_at_640_by_480_and_at_scale_two() {
    for scale in [1.0, 2.0] {
        let size = egui::vec2(640.0, 480.0);
        let mut window = Window::open(false, size, scale);
        walk_the_wizard(&mut window, |window, page| {
            window.assert_reachable(&format!("{page} at scale {scale}"))
        });
        let mut window = Window::open(true, size, scale);
        walk_the_home(&mut window, |window, page| {
            window.assert_reachable(&format!("{page} at scale {scale}"))
        });
    }
}

#[test]
fn keyboard_focus_is_drawn_on_every_control_of_every_page() {
    let size = egui::vec2(1100.0, 660.0);
    let mut window = Window::open(false, size, 1.0);
    walk_the_wizard(&mut window, Window::assert_focus_is_visible);
    let mut window = Window::open(true, size, 1.0);
    walk_the_home(&mut window, Window::assert_focus_is_visible);
}

#[test]
fn explain_copies_and_routes_a_scanners_error_to_programs_and_devices() {
    let mut window = Window::open(true, egui::vec2(1100.0, 660.0), 1.0);
    window.wait_for("hygiene@smile-dental.example");
    window.harness.state_mut().show_explain_with(
        "Scan to E-mail failed: SMTP server connection error. Check the SMTP settings.",
    );
    window.wait_for("It can send through mailconnect");
    window.click("Copy explanation");
    window.wait_for("Copied: paste it into an email to support.");
    let copied = match window.harness.state().window_commands.last() {
        Some(mailconnect::runner::WindowCommand::CopyToClipboard(text)) => {
            secrecy::ExposeSecret::expose_secret(text).to_owned()
        }
        other => panic!("nothing copied: {other:?}"),
    };
    assert!(
        copied
            .to_lowercase()
            .contains("smtp server connection error"),
        "{copied}"
    );
    assert!(copied.contains("\"Programs and devices\""), "{copied}");
    assert!(!copied.contains('`'), "{copied}");
    window.click("Programs and devices");
    assert_eq!(
        window.harness.state().screen(),
        mailconnect::ui::Screen::Devices
    );
}

#[test]
fn the_browser_sign_in_comes_first_where_this_computer_has_a_browser() {
    for (display, browser_first) in [(Some(":99"), true), (None, false)] {
        // This test runs in a process of its own (nextest), so the environment is its to set.
        unsafe {
            for name in ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"] {
                std::env::remove_var(name);
            }
            if let Some(display) = display {
                std::env::set_var("DISPLAY", display);
            }
        }
        let mut window = Window::open(false, egui::vec2(720.0, 600.0), 1.0);
        window.wait_for("Step 1 of 5");
        window.click("Next");
        window.wait_for("Step 2 of 5");
        if window.shows("I have noted these settings") {
            window.click("I have noted these settings");
        }
        window.click("Next");
        window.wait_for("Step 3 of 5");
        let top = |label: &str| {
            window
                .harness
                .query(By::new().role(Role::Button).label(label))
                .expect("the button")
                .rect()
                .top()
        };
        assert_eq!(
            top("Sign in with your browser") < top("Sign in with a code"),
            browser_first,
            "with DISPLAY {display:?}"
        );
        let recommended = if browser_first {
            "Sign in with your browser (recommended)"
        } else {
            "Sign in with a code (recommended here)"
        };
        assert!(window.shows(recommended), "{recommended}");
        assert!(window.shows("Type only a code this window shows"));
    }
}

#[test]
fn without_a_file_chooser_the_preset_file_can_be_typed() {
    let mut window = Window::open(false, egui::vec2(720.0, 600.0), 1.0);
    window.wait_for("Step 1 of 5");
    let ctx = window.harness.ctx.clone();
    window
        .harness
        .state_mut()
        .apply_wizard_event(&ctx, mailconnect::wizard::Event::PresetFileNotChosen);
    window.wait_for("this computer has no file chooser");
    let folder = tempfile::tempdir().unwrap();
    let preset = folder.path().join("practice.toml");
    std::fs::write(
        &preset,
        "[[preset]]\nname = \"Smile Dental\"\nprovider = \"microsoft365\"\nclient_id = \"9e5f94bc-e8a4-4e73-b8be-63364c29d753\"\n",
    )
    .unwrap();
    window.harness.get_by_label("Preset file path").focus();
    window.steps(2);
    window
        .harness
        .get_by_label("Preset file path")
        .type_text(preset.to_str().unwrap());
    window.click("Open");
    window.wait_for("Loaded 1 preset from practice.toml.");
}
