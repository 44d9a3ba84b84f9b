//! The accounts home driven through egui_kittest by its labels, against the sandbox: the rows and their columns,
//! the banner after a revoked sign-in, "Re-authenticate now" back to a green row, select-all, the filter, Check now,
//! Remove with its confirmation, and a thousand rows drawn a screenful at a time.

use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailconnect::config::{Account, Config, ConfigFile};
use mailconnect::health::Health;
use mailconnect::runner::Services;
use mailconnect::sandbox::{Sandbox, SandboxOptions};
use mailconnect::state::StateFile;
use mailconnect::store::{MemoryItems, StoreAccess, TokenStore};
use mailconnect::tls::Trust;
use mailconnect::ui::{Screen, WizardApp};
use mailconnect::wizard::{AccountForm, SignIn, Step, Wizard};

const MAILBOX: &str = "reception@smile-dental.example";

/// A window on an in-memory store (these tests are not about the keyring) with a state and a config file.
pub(crate) struct Home {
    pub(crate) harness: Harness<'static, WizardApp>,
    pub(crate) sandbox: Sandbox,
    items: Arc<MemoryItems>,
    pub(crate) store: TokenStore,
    pub(crate) config_file: ConfigFile,
    _folder: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Home {
    /// The window with these mailboxes in the configuration (the sandbox's settings); access tokens last
    /// `token_lifetime`.
    pub(crate) fn open(mailboxes: &[&str], token_lifetime: Duration) -> Home {
        Home::open_with(mailboxes, token_lifetime, |_, account| account)
    }

    /// As [`Home::open`], with each account shaped by `shape` once the sandbox runs.
    fn open_with(
        mailboxes: &[&str],
        token_lifetime: Duration,
        shape: impl Fn(&Sandbox, Account) -> Account,
    ) -> Home {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start(SandboxOptions {
                default_user: MAILBOX.to_owned(),
                access_token_lifetime: token_lifetime,
                device_poll_interval: Duration::from_millis(200),
                ..SandboxOptions::default()
            }))
            .unwrap();
        let folder = tempfile::tempdir().unwrap();
        let config_file = ConfigFile::at(folder.path().join("config.toml"));
        let accounts: Vec<Account> = mailboxes
            .iter()
            .map(|m| shape(&sandbox, sandbox.account(m)))
            .collect();
        config_file
            .save(&Config {
                accounts: accounts.clone(),
                ..Config::default()
            })
            .unwrap();
        let (store, items) = TokenStore::in_memory();
        let kept_store = store.clone();
        let services = Services {
            trust: Trust::new(None).unwrap(),
            timeouts: crate::support::test_timeouts(),
            store: StoreAccess::Memory(store),
            config_file: Some(config_file.clone()),
            state_file: Some(StateFile::at(folder.path().join("state.json"))),
            open_browser: false,
            demo_password: None,
            demo: false,
            bridge: Some(mailconnect::runner::WindowBridge {
                spool: folder.path().join("spool"),
                port: crate::support::free_port(),
                tls_port: crate::support::free_port(),
            }),
        };
        let form = AccountForm::from_account(&sandbox.account(MAILBOX));
        let wizard = Wizard::new(accounts.clone(), form);
        let handle = runtime.handle().clone();
        let harness = Harness::builder()
            .with_step_dt(1.0 / 60.0)
            .with_size(egui::vec2(1100.0, 660.0))
            .build_eframe(move |cc| {
                WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts)
            });
        Home {
            harness,
            sandbox,
            items,
            store: kept_store,
            config_file,
            _folder: folder,
            _runtime: runtime,
        }
    }

    pub(crate) fn app(&self) -> &WizardApp {
        self.harness.state()
    }

    pub(crate) fn shows(&self, text: &str) -> bool {
        self.harness
            .query_all_by_label_contains(text)
            .next()
            .is_some()
    }

    /// Steps frames until `done` holds, for at most fifteen seconds.
    pub(crate) fn wait_until(&mut self, what: &str, done: impl Fn(&Home) -> bool) {
        for _ in 0..750 {
            self.harness.step();
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{what} did not happen; the window shows {:?} at step {:?}, rows {:?}",
            self.app().screen(),
            self.app().wizard().step(),
            self.app()
                .home()
                .rows
                .iter()
                .map(|row| (&row.account.mailbox, &row.health, row.checking))
                .collect::<Vec<_>>()
        );
    }

    pub(crate) fn wait_for(&mut self, text: &str) {
        let owned = text.to_owned();
        self.wait_until(&format!("\"{text}\" showing"), move |home| {
            home.shows(&owned)
        });
    }

    pub(crate) fn click(&mut self, label: &str) {
        for _ in 0..20 {
            self.harness.step();
        }
        self.harness.get_by_label(label).click();
        self.harness.step();
        self.harness.step();
    }

    fn health(&self, mailbox: &str) -> Health {
        self.app()
            .home()
            .row(mailbox)
            .expect("a row")
            .health
            .clone()
    }

    /// Through the wizard from wherever it stands (step 1 or 2) to a saved sign-in, then Finish.
    fn sign_in_through_wizard(&mut self) {
        if self.app().wizard().step() == Step::Account {
            self.click("Next");
        }
        self.wait_for("Step 2 of 5");
        // The tick box shows only when an old password is stored; with none, Next is open at once.
        if self.shows("I have noted these settings") {
            self.click("I have noted these settings");
        }
        self.wait_until("Next allowed on the reminder", |home| {
            home.app().wizard().can_go_next()
        });
        self.click("Next");
        self.click("Sign in with a code");
        self.wait_until("the code", |home| {
            matches!(home.app().wizard().sign_in(), Some(SignIn::ShowingCode(_)))
        });
        let Some(SignIn::ShowingCode(prompt)) = self.app().wizard().sign_in() else {
            unreachable!()
        };
        let code = prompt.user_code.clone();
        assert!(self.sandbox.approve_device_code(&code, MAILBOX));
        self.wait_for(&format!("Signed in as {MAILBOX}"));
        self.click("Next");
        self.wait_until("both checks passing", |home| {
            home.harness.query_all_by_label("Connected").count() == 2
        });
        self.click("Next");
        self.wait_for("Nothing has been saved yet");
        self.click("Save");
        self.wait_for("Remove the saved sign-in");
        self.click("Finish");
    }
}

#[test]
fn a_revoked_sign_in_raises_the_banner_and_re_authenticate_now_brings_the_row_back_to_green() {
    // Access tokens last 5 minutes, so each health check renews (as one does near the end of a real token's hour).
    let mut window = Home::open(&[], Duration::from_secs(300));
    assert_eq!(
        window.app().screen(),
        Screen::Wizard,
        "no account yet: the wizard"
    );

    window.sign_in_through_wizard();
    window.wait_until("the home with the saved mailbox", |home| {
        home.app().screen() == Screen::Home
            && home.app().home().row(MAILBOX).is_some_and(|row| {
                row.health == Health::Connected && row.imap.as_ref().is_some_and(|c| c.passed)
            })
    });
    for column in [
        "Mailbox",
        "Basic Auth",
        "OAuth",
        "Receiving (IMAP)",
        "Sending (SMTP)",
        "Alert",
    ] {
        assert!(window.shows(column), "the {column} column");
    }
    assert!(window.shows(MAILBOX));
    assert!(window.shows("connected, renews itself"));
    assert!(window.shows("works · "), "the last checks with their time");
    assert!(
        window.shows("moved to OAuth"),
        "both checks passed: the OAuth column says the mailbox moved"
    );
    assert!(
        !window.shows("stopped working"),
        "no banner while all is well"
    );
    assert_eq!(
        window
            .config_file
            .load()
            .unwrap()
            .account(MAILBOX)
            .map(|a| a.mailbox.clone()),
        Some(MAILBOX.to_owned()),
        "Save recorded the mailbox"
    );

    // Disconnect Basic: the old password goes only for a mailbox that moved to OAuth, after asking.
    window
        .store
        .save_basic_password(MAILBOX, &secrecy::SecretString::from("Winter2026!"))
        .unwrap();
    window.click(&format!("Select {MAILBOX}"));
    window.click("Disconnect Basic");
    window.wait_for("Disconnect Basic Auth?");
    assert!(window.shows("both OAuth checks passed"));
    window.click("Yes, remove the old passwords");
    window.wait_for("The old Basic Auth password kept on this computer for");
    assert!(window.store.load_basic_password(MAILBOX).unwrap().is_none());
    window.click(&format!("Select {MAILBOX}"));

    // A check that hangs can be cancelled: the row stops waiting and the summary says where it stopped.
    window.sandbox.inject(mailconnect::sandbox::Fault::MailHang);
    window.click(&format!("Select {MAILBOX}"));
    window.click("Check now");
    window.wait_for("0 of 1 checked");
    window.click("Cancel checks");
    window.wait_for("stopped after 0 of 1");
    assert!(!window.app().home().row(MAILBOX).unwrap().checking);
    window.sandbox.clear_faults();
    window.click(&format!("Select {MAILBOX}"));

    // Someone revokes the sessions in the admin center; the next health check finds out by itself.
    window.sandbox.revoke_all();
    window.harness.state_mut().check_health_now();
    window.wait_for("stopped working");
    assert!(matches!(window.health(MAILBOX), Health::NeedsSignIn { .. }));
    let today = mailconnect::words::day_and_month(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    assert!(
        window.shows(&format!(
            "The sign-in for {MAILBOX} stopped working on {today}."
        )),
        "the banner names the mailbox and the day"
    );
    assert!(window.shows("needs sign-in"), "the OAuth column says so");
    assert!(
        window.shows("before the sign-in stopped") && !window.shows("works · "),
        "the checks from before the sign-in died look old, not green"
    );

    // The banner stays until fixed: another health check does not clear it.
    window.harness.state_mut().check_health_now();
    for _ in 0..30 {
        window.harness.step();
    }
    assert!(window.shows("stopped working"));

    window.click(&format!("Re-authenticate now: {MAILBOX}"));
    assert_eq!(window.app().screen(), Screen::Wizard);
    window.wait_for("Step 2 of 5");
    assert!(
        window.shows(&format!(
            "The sign-in for {MAILBOX} stopped working on {today}: "
        )),
        "the wizard says why it opened"
    );
    assert_eq!(
        window.app().wizard().step(),
        Step::Reminder,
        "straight to the reminder of the current settings"
    );
    assert_eq!(
        window.app().wizard().account().map(|a| a.mailbox.as_str()),
        Some(MAILBOX),
        "with the account filled in"
    );
    window.sign_in_through_wizard();
    window.wait_until("the row green again", |home| {
        home.app().screen() == Screen::Home && home.health(MAILBOX) == Health::Connected
    });
    window.wait_until("the banner gone", |home| !home.shows("stopped working"));
    assert_eq!(
        window.app().home().rows.len(),
        1,
        "the same mailbox, not a second row"
    );
    assert!(
        window
            .items
            .names()
            .iter()
            .any(|name| name.contains(MAILBOX)),
        "the new sign-in is stored"
    );

    // Revoked again, found this time by Check now: the refused token is renewed once, the renewal is refused, and
    // the row says a sign-in is needed rather than only "failed".
    window.sandbox.revoke_all();
    window.click(&format!("Select {MAILBOX}"));
    window.click("Check now");
    window.wait_for("stopped working");
    let row = window.app().home().row(MAILBOX).unwrap();
    assert!(
        matches!(row.health, Health::NeedsSignIn { .. }),
        "{:?}",
        row.health
    );
    assert!(!row.imap.as_ref().unwrap().passed);
}

#[test]
fn re_authenticate_on_a_mailbox_through_a_service_account_signs_that_account_in_and_checks_the_mailbox()
 {
    const BILLING: &str = "billing@smile-dental.example";
    let mut window = Home::open_with(
        &[MAILBOX, BILLING],
        Duration::from_secs(3900),
        |sandbox, account| {
            if account.mailbox != BILLING {
                return account;
            }
            sandbox.grant_full_access(MAILBOX, BILLING);
            sandbox.grant_send_as(MAILBOX, BILLING);
            Account {
                service_account: Some(MAILBOX.to_owned()),
                ..account
            }
        },
    );
    window.wait_for(BILLING);
    window.click(&format!("Select {BILLING}"));
    window.click("Re-authenticate now");
    window.wait_for("Step 2 of 5");
    assert_eq!(
        window.app().wizard().account().map(|a| a.mailbox.as_str()),
        Some(BILLING),
        "the mailbox that was chosen, not its service account"
    );
    assert!(window.shows(&format!("Signing {BILLING} in again.")));
    assert!(
        window.shows(&format!(
            "reached through the sign-in of {MAILBOX}: sign in as {MAILBOX}"
        )),
        "whose sign-in is renewed"
    );
    window.sign_in_through_wizard();
    window.wait_until("billing's row green, checked for billing", |home| {
        home.app().screen() == Screen::Home
            && home.app().home().row(BILLING).is_some_and(|row| {
                row.health == Health::Connected
                    && row.imap.as_ref().is_some_and(|c| c.passed)
                    && row.smtp.as_ref().is_some_and(|c| c.passed)
            })
    });
    let config = window.config_file.load().unwrap();
    assert_eq!(
        config
            .account(BILLING)
            .and_then(|a| a.service_account.clone()),
        Some(MAILBOX.to_owned()),
        "still reached through the service account"
    );
    assert!(
        window.store.manifest(MAILBOX).unwrap().is_some(),
        "the new sign-in is the service account's"
    );
    assert!(
        window.store.manifest(BILLING).unwrap().is_none(),
        "no second sign-in of the mailbox's own"
    );

    // Support reads the row's codes out from Details, and copies the same report as `mailconnect report`.
    window.click(&format!("Details for {BILLING}"));
    window.wait_for(&format!("Reached through the sign-in of {MAILBOX}."));
    assert!(window.shows("Code: passed"));
    window.click("Copy support report");
    window.wait_for("The support report copied");
    let copied = match window.app().window_commands.last() {
        Some(mailconnect::runner::WindowCommand::CopyToClipboard(text)) => {
            secrecy::ExposeSecret::expose_secret(text).to_owned()
        }
        other => panic!("nothing copied: {other:?}"),
    };
    assert!(
        copied.contains(BILLING) && copied.contains(MAILBOX),
        "{copied}"
    );
    window.click("Close");
    assert_eq!(window.app().home().dialog, None);
}

#[test]
fn select_all_filter_check_now_and_remove_with_confirmation() {
    let mailboxes = [
        "reception@smile-dental.example",
        "billing@smile-dental.example",
        "dr.lee@smile-dental.example",
    ];
    let mut window = Home::open(&mailboxes, Duration::from_secs(3900));
    assert_eq!(
        window.app().screen(),
        Screen::Home,
        "accounts exist: the home first"
    );
    window.wait_until("every row read", |home| {
        home.app()
            .home()
            .rows
            .iter()
            .all(|row| row.health == Health::NotSetUp)
    });
    assert!(window.shows("not set up"));

    // The header's tick box ticks every row shown; the filter narrows what is shown.
    window.click("Select all shown");
    assert_eq!(window.app().home().selected().len(), 3);
    window.click("Select all shown");
    assert_eq!(window.app().home().selected().len(), 0);
    window.harness.get_by_label("Filter").focus();
    window.harness.step();
    window.harness.get_by_label("Filter").type_text("billing");
    window.harness.step();
    assert_eq!(window.app().home().filter, "billing");
    window.wait_until("the filter", |home| !home.shows("dr.lee@"));
    assert!(window.shows("billing@smile-dental.example"));
    window.click("Select all shown");
    assert_eq!(
        window
            .app()
            .home()
            .selected()
            .iter()
            .map(|a| a.mailbox.as_str())
            .collect::<Vec<_>>(),
        ["billing@smile-dental.example"],
        "only the rows shown are ticked"
    );
    window.harness.get_by_label("Filter").focus();
    for _ in 0..7 {
        window.harness.key_press(egui::Key::Backspace);
    }
    window.wait_until("every row back", |home| home.shows("dr.lee@"));

    // Check now: the ticked row is checked, live; with no sign-in both checks say so.
    window.click("Select dr.lee@smile-dental.example");
    window.click("Check now");
    window.wait_until("both rows checked", |home| {
        let rows = &home.app().home().rows;
        rows.iter().filter(|row| row.imap.is_some()).count() == 2
            && rows.iter().all(|row| !row.checking)
    });
    let row = window
        .app()
        .home()
        .row("dr.lee@smile-dental.example")
        .unwrap();
    assert_eq!(row.imap.as_ref().unwrap().code, "not-signed-in");
    window.wait_for("0 of 2 passed; 2 did not.");
    assert!(window.shows("2 have no sign-in."));
    // Retry failed ticks exactly the failed ones and checks them again.
    window.click("Select billing@smile-dental.example");
    window.click("Retry failed");
    assert_eq!(window.app().home().selected().len(), 2);
    window.wait_for("0 of 2 passed");
    assert!(
        window.shows("no sign-in saved"),
        "the cause in the Alert column"
    );
    assert!(
        window
            .app()
            .home()
            .row("reception@smile-dental.example")
            .unwrap()
            .imap
            .is_none(),
        "unticked rows are not checked"
    );

    // A test group: the two ticked mailboxes get a group name, saved in the settings, and the filter finds it.
    window.click("Group…");
    window.wait_for("Put in a group");
    window.harness.get_by_label("Group name").focus();
    window.harness.step();
    window
        .harness
        .get_by_label("Group name")
        .type_text("Test group");
    window.click("Save group");
    window.wait_for("2 mailboxes put in the group \"Test group\".");
    let grouped: Vec<String> = window
        .config_file
        .load()
        .unwrap()
        .accounts
        .into_iter()
        .filter(|account| account.group.as_deref() == Some("Test group"))
        .map(|account| account.mailbox)
        .collect();
    assert_eq!(grouped.len(), 2, "{grouped:?}");
    window.harness.get_by_label("Filter").focus();
    window.harness.step();
    window
        .harness
        .get_by_label("Filter")
        .type_text("test group");
    window.wait_until("only the group shown", |home| {
        home.app().home().visible().len() == 2
    });
    window.harness.get_by_label("Filter").focus();
    for _ in 0.."test group".len() {
        window.harness.key_press(egui::Key::Backspace);
    }
    window.wait_until("every row back", |home| {
        home.app().home().visible().len() == 3
    });

    // Disconnect Basic leaves mailboxes that have not moved yet alone, and says so.
    window.click("Disconnect Basic");
    window.wait_for("Disconnect Basic Auth?");
    assert!(window.shows("Not yet"));
    assert!(
        window
            .harness
            .query_by_label("Yes, remove the old passwords")
            .is_none()
    );
    window.click("Cancel");

    // Remove asks first; Cancel keeps everything.
    window.click("Remove");
    window.wait_for("Remove 2 mailboxes?");
    window.click("Cancel");
    assert!(!window.shows("Remove 2 mailboxes?"));
    assert_eq!(window.app().home().rows.len(), 3);
    window.click("Remove");
    window.wait_for("Remove 2 mailboxes?");
    window.click("Yes, remove");
    window.wait_until("two rows gone", |home| home.app().home().rows.len() == 1);
    let left: Vec<String> = window
        .config_file
        .load()
        .unwrap()
        .accounts
        .into_iter()
        .map(|a| a.mailbox)
        .collect();
    assert_eq!(
        left,
        ["reception@smile-dental.example"],
        "removed from the settings too"
    );
}

#[test]
fn a_thousand_rows_are_drawn_a_screenful_at_a_time() {
    let mailboxes: Vec<String> = (0..1000)
        .map(|n| format!("user{n:04}@smile-dental.example"))
        .collect();
    let names: Vec<&str> = mailboxes.iter().map(String::as_str).collect();
    let mut window = Home::open(&names, Duration::from_secs(3900));
    window.wait_until("the rows read", |home| {
        home.app()
            .home()
            .rows
            .iter()
            .all(|row| row.health == Health::NotSetUp)
    });
    assert!(window.shows("user0000@"));
    let drawn = window
        .harness
        .query_all_by_label_contains("@smile-dental.example")
        .count();
    assert!(
        drawn < 100,
        "only the rows on screen are laid out ({drawn} found)"
    );
    window.click("Select all shown");
    assert_eq!(window.app().home().selected().len(), 1000);
}

#[test]
fn add_many_mailboxes_previews_every_problem_then_adds_the_good_ones() {
    let mut window = Home::open(
        &["reception@smile-dental.example"],
        Duration::from_secs(3900),
    );
    window.wait_until("the row read", |home| {
        home.app().home().rows[0].health == Health::NotSetUp
    });
    window.click("Add many…");
    window.wait_for("Add many mailboxes");
    window.harness.get_by_label("Addresses").focus();
    window.harness.step();
    window.harness.get_by_label("Addresses").type_text(
        "new1@smile-dental.example, NEW1@smile-dental.example\nnot-an-address\nfriend@gmail.com\nreception@smile-dental.example",
    );
    window.wait_for("To add (1)");
    for shown in [
        "Listed twice (1)",
        "Not an address (1)",
        "Outside the organisation's domains (1)",
        "Already set up (1)",
    ] {
        assert!(window.shows(shown), "{shown}");
    }
    assert!(
        window.config_file.load().unwrap().accounts.len() == 1,
        "nothing saved before Add"
    );
    window.harness.get_by_label("Group (optional)").focus();
    window.harness.step();
    window
        .harness
        .get_by_label("Group (optional)")
        .type_text("Staff");
    window.click("Add 1 mailbox");
    window.wait_for("1 mailbox added.");
    let config = window.config_file.load().unwrap();
    let added = config.account("new1@smile-dental.example").expect("saved");
    assert_eq!(added.group.as_deref(), Some("Staff"));
    assert_eq!(
        added.tenant, config.accounts[0].tenant,
        "the first mailbox's settings"
    );
    window.wait_until("the new row read", |home| {
        home.app()
            .home()
            .row("new1@smile-dental.example")
            .is_some_and(|row| row.health == Health::NotSetUp)
    });
}

/// The admin center's export in the window: users with sign-in blocked or no licence are problems with their line,
/// not in "To add", and are added only when the tick box asks for them.
#[test]
fn add_many_holds_back_blocked_and_unlicensed_users_until_asked() {
    let mut window = Home::open(
        &["reception@smile-dental.example"],
        Duration::from_secs(3900),
    );
    window.wait_until("the row read", |home| {
        home.app().home().rows[0].health == Health::NotSetUp
    });
    window.click("Add many…");
    window.wait_for("Add many mailboxes");
    window.harness.get_by_label("Addresses").focus();
    window.harness.step();
    window.harness.get_by_label("Addresses").type_text(
        "Display name,User principal name,Block credential,Licenses\n\
         Ann,ann@smile-dental.example,False,Microsoft 365 Business Basic\n\
         Bob,bob@smile-dental.example,True,Microsoft 365 Business Basic\n\
         Cat,cat@smile-dental.example,False,Unlicensed",
    );
    window.wait_for("To add (1)");
    assert!(window.shows("Sign-in blocked or no licence (2), not added"));
    assert!(window.shows("line 3: bob@smile-dental.example (sign-in blocked"));
    assert!(window.shows("line 4: cat@smile-dental.example (no licence"));
    window.click("Also add the users whose sign-in is blocked or who have no licence");
    window.wait_for("To add (3)");
    window.click("Add 3 mailboxes");
    window.wait_for("3 mailboxes added.");
    let config = window.config_file.load().unwrap();
    for mailbox in ["ann", "bob", "cat"] {
        assert!(
            config
                .account(&format!("{mailbox}@smile-dental.example"))
                .is_some(),
            "{mailbox}"
        );
    }
}

#[test]
fn the_practice_demo_moves_a_test_group_first_then_the_rest() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let practice = runtime
        .block_on(mailconnect::demo::start_practice())
        .expect("the practice demo");
    let handle = runtime.handle().clone();
    let (services, wizard, accounts) = (practice.services, practice.wizard, practice.accounts);
    let mut harness = Harness::builder()
        .with_step_dt(1.0 / 60.0)
        .with_size(egui::vec2(1100.0, 660.0))
        .build_eframe(move |cc| {
            WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts)
        });
    let wait_for = |harness: &mut Harness<'static, WizardApp>, text: &str| {
        for _ in 0..750 {
            harness.step();
            if harness.query_all_by_label_contains(text).next().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("\"{text}\" did not appear");
    };
    assert_eq!(harness.state().home().rows.len(), 20);
    wait_for(&mut harness, "connected, renews itself");

    // The test group first: filter, tick all shown, check.
    harness.get_by_label("Filter").focus();
    harness.step();
    harness.get_by_label("Filter").type_text("test group");
    for _ in 0..20 {
        harness.step();
    }
    harness.get_by_label("Select all shown").click();
    for _ in 0..20 {
        harness.step();
    }
    harness.get_by_label("Check now").click();
    wait_for(&mut harness, "5 of 5 passed.");

    // Then everyone: the five without Full Access and Send As say so.
    harness.get_by_label("Filter").focus();
    for _ in 0.."test group".len() {
        harness.key_press(egui::Key::Backspace);
    }
    for _ in 0..20 {
        harness.step();
    }
    harness.get_by_label("Select all shown").click();
    for _ in 0..20 {
        harness.step();
    }
    harness.get_by_label("Check now").click();
    wait_for(&mut harness, "15 of 20 passed; 5 did not.");
    // What to do is said in the window, with the PowerShell that grants it: the same text as the command's.
    wait_for(
        &mut harness,
        "5 need Full Access and Send As for it@smile-dental.example.",
    );
    assert!(
        harness
            .query_all_by_label_contains("up to 2 hours")
            .next()
            .is_some()
    );
    let home = harness.state().home();
    let group = home.batch.as_ref().unwrap().groups()[0].mailboxes.clone();
    let lacking: Vec<Account> = group
        .iter()
        .map(|mailbox| home.row(mailbox).unwrap().account.clone())
        .collect();
    assert_eq!(home.rows.iter().filter(|row| row.lacks_access()).count(), 5);
    for row in &harness.state().home().rows {
        let oauth = row.oauth_cell();
        assert_eq!(
            oauth.tone == mailconnect::home::Tone::Pass,
            !row.lacks_access(),
            "{}: {oauth:?}",
            row.account.mailbox
        );
    }
    harness.get_by_label("Copy PowerShell for these 5").click();
    wait_for(&mut harness, "The PowerShell for 5 mailboxes copied");
    let copied = match harness.state().window_commands.last() {
        Some(mailconnect::runner::WindowCommand::CopyToClipboard(text)) => {
            secrecy::ExposeSecret::expose_secret(text).to_owned()
        }
        other => panic!("nothing copied: {other:?}"),
    };
    assert_eq!(
        copied,
        mailconnect::cli_powershell::powershell_text(&lacking, &[]).unwrap()
    );

    // Actions act on the ticked rows that are shown: with every row ticked, a filter showing only the service
    // account makes Remove about it alone, and it is kept while the others go through its sign-in.
    harness.get_by_label("Filter").focus();
    harness.step();
    harness.get_by_label("Filter").type_text("it@smile");
    for _ in 0..20 {
        harness.step();
    }
    wait_for(&mut harness, "19 more ticked but hidden by the filter");
    assert_eq!(harness.state().home().selected().len(), 1);
    harness.get_by_label("Remove").click();
    wait_for(
        &mut harness,
        "it@smile-dental.example is kept: 19 mailboxes go through its sign-in",
    );
    assert!(harness.query_by_label("Yes, remove").is_none());
    harness.get_by_label("Cancel").click();
    for _ in 0..10 {
        harness.step();
    }
    assert_eq!(harness.state().home().dialog, None);
    drop(practice.sandbox);
}

#[test]
fn mailboxes_on_the_organisations_app_are_checked_and_the_credentials_end_is_in_the_alert_column() {
    const APP: &str = "5b1e3c2a-7d4f-4e8a-9c61-0f2b3a4d5e6f";
    let mailboxes = [
        "front.desk@smile-dental.example",
        "not.yet@smile-dental.example",
    ];
    let mut window = Home::open_with(&mailboxes, Duration::from_secs(3900), |_, account| {
        Account {
            client_id: APP.to_owned(),
            app_only: true,
            ..account
        }
    });
    let ids = window.sandbox.register_app(APP);
    window
        .sandbox
        .consent_app_roles(APP, &["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
    window
        .sandbox
        .new_service_principal(APP, &ids.enterprise_object_id);
    window
        .sandbox
        .grant_full_access(&mailconnect::sandbox::app_principal(APP), mailboxes[0]);
    let today = chrono::Local::now().date_naive();
    let made = mailconnect::app_only::certificate::generate(APP, today).unwrap();
    window
        .sandbox
        .upload_app_certificate(APP, &made.certificate_pem)
        .unwrap();
    // Recorded as ending in ten days, so the warning shows.
    window
        .store
        .save_app_credential(
            APP,
            mailconnect::store::AppCredentialSlot::Current,
            &mailconnect::app_only::AppSecret::PrivateKey {
                key: made.private_key,
                thumbprint_sha256: made.thumbprint_sha256,
                thumbprint_sha1_hex: Some(made.thumbprint_sha1_hex),
            },
            today + chrono::Days::new(10),
        )
        .unwrap();
    window.click("Select all shown");
    window.click("Check now");
    window.wait_until("both app rows checked", |home| {
        home.app()
            .home()
            .rows
            .iter()
            .all(|row| row.imap.is_some() && !row.checking)
    });
    let granted = window.app().home().row(mailboxes[0]).unwrap();
    assert!(
        granted.imap.as_ref().unwrap().passed && granted.smtp.as_ref().unwrap().passed,
        "{:?} {:?}",
        granted.imap,
        granted.smtp
    );
    assert_eq!(
        granted.health,
        Health::AppCredentialEndsSoon { days_left: 10 }
    );
    let not_yet = window.app().home().row(mailboxes[1]).unwrap();
    let reply = not_yet.imap.as_ref().unwrap().server_reply.clone().unwrap();
    assert!(
        reply.contains("authenticated but not connected"),
        "authenticated but not granted yet: {reply}"
    );
    window.wait_for("app's certificate or secret ends in 10 days");
    // No one signs in for an app's mailbox: no banner, and the toolbar's button stays off for it.
    assert!(!window.shows("Re-authenticate now:"), "no banner");
    window.click("Select all shown");
    window.click(&format!("Select {}", mailboxes[0]));
    assert_eq!(window.app().home().selected().len(), 1);
    window.click("Re-authenticate now");
    assert_eq!(
        window.app().screen(),
        Screen::Home,
        "the button is off for a mailbox on the app"
    );
}

#[test]
fn a_device_is_added_sends_a_test_message_through_the_bridge_and_is_removed() {
    let mut window = Home::open(&[MAILBOX], Duration::from_secs(3900));
    window
        .store
        .save_sign_in(
            MAILBOX,
            &mailconnect::store::StoredTokens {
                access_token: secrecy::SecretString::from(
                    window.sandbox.mint_access_token(MAILBOX),
                ),
                refresh_token: secrecy::SecretString::from("not used here"),
                access_token_expires_at: std::time::SystemTime::now() + Duration::from_secs(3600),
                signed_in_as: Some(MAILBOX.to_owned()),
                saved_at: std::time::SystemTime::now(),
            },
        )
        .unwrap();
    window.click("Programs and devices");
    window.wait_for("Running on this computer");
    assert!(window.shows("No devices yet."));
    window.harness.get_by_label("Name").focus();
    window.harness.step();
    window
        .harness
        .get_by_label("Name")
        .type_text("Scanner in reception");
    window.harness.step();
    window.click("Add device");
    window.wait_for("Type these into \"Scanner in reception\"");
    assert!(window.shows("scanner.in.reception"));
    assert!(window.shows("The password is shown only now"));
    window.click("Send a test message");
    window.wait_for("The bridge took the test message");
    window.wait_until("the message handed on to the provider", |home| {
        home.sandbox.stats().messages_received == 1
    });
    window.wait_for("Nothing waiting.");
    // Below the new device's settings: scrolled into view as a person would.
    window
        .harness
        .get_by_label("Remove Scanner in reception")
        .scroll_to_me();
    window.click("Remove Scanner in reception");
    window.harness.get_by_label("Yes, remove").scroll_to_me();
    window.click("Yes, remove");
    window.wait_for("No devices yet.");
    window.click("Back");
    window.click("Leave anyway");
    assert_eq!(window.app().screen(), Screen::Home);
    window.click("Programs and devices");
    assert!(
        !window.shows("The password is shown only now"),
        "the password is gone once the page is left"
    );
}
