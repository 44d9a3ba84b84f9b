//! The window when the tenant says no (egui_kittest, by label, against the sandbox): an admin-consent refusal turns
//! the sign-in step into "Ask your IT admin" with the tenant's approval link; a code sign-in blocked by policy
//! suggests the browser, which then signs in; pasted error text is explained.

use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailconnect::runner::Services;
use mailconnect::sandbox::{Fault, Sandbox, SandboxOptions};
use mailconnect::store::{MemoryItems, StoreAccess, TokenStore};
use mailconnect::tls::Trust;
use mailconnect::ui::WizardApp;
use mailconnect::wizard::{AccountForm, SignIn, Step, Wizard};

const MAILBOX: &str = "reception@smile-dental.example";

struct Window {
    harness: Harness<'static, WizardApp>,
    sandbox: Sandbox,
    _items: Arc<MemoryItems>,
    _runtime: tokio::runtime::Runtime,
}

impl Window {
    fn open() -> Window {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start(SandboxOptions {
                default_user: MAILBOX.to_owned(),
                auto_approve_browser: true,
                device_poll_interval: Duration::from_millis(200),
                ..SandboxOptions::default()
            }))
            .unwrap();
        let (store, items) = TokenStore::in_memory();
        let services = Services {
            trust: Trust::new(None).unwrap(),
            timeouts: crate::support::test_timeouts(),
            store: StoreAccess::Memory(store),
            config_file: None,
            state_file: None,
            open_browser: false,
            demo_password: None,
            demo: false,
            bridge: None,
        };
        let account = sandbox.account(MAILBOX);
        let wizard = Wizard::new(vec![account.clone()], AccountForm::from_account(&account));
        let handle = runtime.handle().clone();
        let harness = Harness::builder()
            .with_step_dt(1.0 / 60.0)
            .with_size(egui::vec2(720.0, 900.0))
            .build_eframe(move |cc| WizardApp::new(&cc.egui_ctx, handle, services, wizard));
        Window {
            harness,
            sandbox,
            _items: items,
            _runtime: runtime,
        }
    }

    fn shows(&self, text: &str) -> bool {
        self.harness
            .query_all_by_label_contains(text)
            .next()
            .is_some()
    }

    fn wait_for(&mut self, text: &str) {
        for _ in 0..750 {
            self.harness.step();
            if self.shows(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "\"{text}\" did not appear; the wizard is at {:?}, {:?}",
            self.harness.state().wizard().step(),
            self.harness.state().wizard().sign_in()
        );
    }

    fn click(&mut self, label: &str) {
        for _ in 0..20 {
            self.harness.step();
        }
        self.harness.get_by_label(label).click();
        self.harness.step();
        self.harness.step();
    }

    fn go_to_sign_in_step(&mut self) {
        self.wait_for("Step 1 of 5");
        self.click("Next");
        self.wait_for("Step 2 of 5");
        for _ in 0..50 {
            self.harness.step();
            if self.harness.state().wizard().can_go_next() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.shows("I have noted these settings") {
            self.click("I have noted these settings");
        }
        self.click("Next");
        assert_eq!(self.harness.state().wizard().step(), Step::SignIn);
    }

    /// Every control the shown advice names ("choose \"Try again\"") is on the page.
    fn advice_names_only_controls_on_the_page(&self) {
        let Some(SignIn::Failed(error)) = self.harness.state().wizard().sign_in() else {
            panic!("a failed sign-in")
        };
        let advice = mailconnect::advice::for_sign_in(error);
        for step in advice.steps_for(mailconnect::advice::Surface::Window, None) {
            for named in step.split("choose \"").skip(1) {
                let control = named.split('"').next().unwrap();
                assert!(
                    self.harness.query_by_label(control).is_some(),
                    "the advice names \"{control}\", which is not on the page"
                );
            }
        }
    }

    fn refuse_the_next_token_request(&self, aadsts: u32, error: &str, description: &str) {
        self.sandbox.inject(Fault::TokenError {
            error: error.to_owned(),
            aadsts,
            description: description.to_owned(),
        });
    }
}

#[test]
fn admin_consent_required_turns_the_sign_in_step_into_ask_your_it_admin() {
    let mut window = Window::open();
    window.go_to_sign_in_step();
    window.refuse_the_next_token_request(
        90094,
        "invalid_grant",
        "AADSTS90094: The grant requires admin permission.",
    );
    window.click("Sign in with a code");
    window.wait_for("Ask your IT admin");
    let account = window.sandbox.account(MAILBOX);
    let endpoints = account.endpoints().unwrap();
    let authorize = &endpoints.authorize;
    let expected = format!(
        "{}://{}:{}/{}/v2.0/adminconsent?client_id={}",
        authorize.scheme(),
        authorize.host_str().unwrap(),
        authorize.port().unwrap(),
        account.tenant,
        account.client_id
    );
    assert!(
        window.shows(&expected),
        "the approval link for this tenant and cloud: {expected}"
    );
    assert!(window.shows("scope=") && window.shows("IMAP.AccessAsUser.All"));
    assert!(window.shows("AADSTS90094"), "the code to read out");
    window.advice_names_only_controls_on_the_page();
    window.click("Copy link");
    assert!(window.shows("Link copied"));
    window.click("Copy e-mail text");
    assert!(window.shows("E-mail text copied"));
    assert!(
        window
            .harness
            .query_by_label_contains("QR code for")
            .is_some()
    );
    window.click("I have asked, try again");
    assert!(matches!(
        window.harness.state().wizard().sign_in(),
        Some(SignIn::Choosing)
    ));
}

#[test]
fn a_code_sign_in_blocked_by_policy_suggests_the_browser_which_then_signs_in() {
    let mut window = Window::open();
    window.go_to_sign_in_step();
    window.refuse_the_next_token_request(
        53003,
        "invalid_grant",
        "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
    );
    window.click("Sign in with a code");
    window.wait_for("Suggested: sign in with your browser");
    assert!(window.shows("Conditional Access"), "the cause in words");
    window.advice_names_only_controls_on_the_page();
    // Both ways stay on offer; the browser comes first.
    assert!(window.shows("Sign in with a code"));
    window.click("Sign in with your browser");
    window.wait_for("Copy link");
    let Some(SignIn::WaitingForBrowser { url }) = window.harness.state().wizard().sign_in() else {
        panic!("waiting for the browser")
    };
    let url = url.to_string();
    // Play the browser: the sandbox approves and redirects to the window's loopback listener.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let landed = runtime
        .block_on(crate::support::browser(true).get(&url).send())
        .expect("the browser reaches the loopback");
    assert!(landed.status().is_success());
    window.wait_for(&format!("Signed in as {MAILBOX}"));
}

#[test]
fn every_sign_in_refusal_names_only_controls_the_failed_page_has() {
    // Each AADSTS code the catalogue knows, refused at the code sign-in's token request.
    let codes: Vec<u32> = mailconnect::advice::entries()
        .iter()
        .filter_map(|entry| entry.aadsts.first().copied())
        .collect();
    assert!(codes.len() > 40);
    let mut window = Window::open();
    window.go_to_sign_in_step();
    for code in codes {
        window.refuse_the_next_token_request(
            code,
            "invalid_grant",
            &format!("AADSTS{code}: refused."),
        );
        // After an expired code the page offers "Get a new code" instead.
        if window.shows("Get a new code") {
            window.click("Get a new code");
        } else {
            window.click("Sign in with a code");
        }
        // An expired code has its own page (with "Get a new code"); everything else is a refusal.
        for _ in 0..750 {
            window.harness.step();
            if window.shows("Sign-in did not work") || window.shows("The code expired") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if window.shows("Sign-in did not work") {
            window.advice_names_only_controls_on_the_page();
        } else {
            assert!(window.shows("Get a new code"), "AADSTS{code}");
        }
        window.sandbox.clear_faults();
    }
}

#[test]
fn pasted_error_text_is_explained_in_the_window() {
    let mut window = Window::open();
    window.wait_for("Step 1 of 5");
    window.click("Explain an error message");
    window.wait_for("Paste the error message");
    window.harness.get_by_label("Error message").focus();
    window.harness.step();
    window.harness.get_by_label("Error message").type_text(
        "12:01 Scanner: send failed 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
    );
    window.wait_for("Authenticated SMTP");
    assert!(window.shows("5.7.139"));
    window.click("Back");
    window.wait_for("Step 1 of 5");
}
