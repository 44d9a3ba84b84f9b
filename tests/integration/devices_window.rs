//! The "Programs and devices" page by its labels, against the sandbox: a device's settings shown again without
//! its password, a new password made, a warning before leaving while a password shown only once is on screen, and
//! Try again / Drop on a queued message the provider would not take.

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use mailconnect::sandbox::Fault;
use mailconnect::ui::Screen;

use crate::home_window::Home;

const MAILBOX: &str = "reception@smile-dental.example";

fn signed_in_window() -> Home {
    let window = Home::open(&[MAILBOX], Duration::from_secs(3900));
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
    window
}

fn add_device(window: &mut Home, name: &str) {
    window.harness.get_by_label("Name").focus();
    window.harness.step();
    window.harness.get_by_label("Name").type_text(name);
    window.harness.step();
    window.click("Add device");
    window.wait_for(&format!("Type these into \"{name}\""));
}

fn password_on_screen(window: &Home) -> Option<String> {
    window
        .app()
        .devices()
        .just_added
        .as_ref()
        .map(|added| secrecy::ExposeSecret::expose_secret(&added.password).to_owned())
}

#[test]
fn a_devices_settings_stay_findable_and_leaving_with_an_unkept_password_is_asked_first() {
    let mut window = signed_in_window();
    window.click("Programs and devices");
    window.wait_for("Running on this computer");
    add_device(&mut window, "Scanner in reception");
    let first = password_on_screen(&window).unwrap();
    assert!(window.shows(&first));

    // Leaving while the password is on screen is asked first; staying keeps it.
    window.click("Back");
    assert!(window.shows("is shown only now and is not kept"));
    assert_eq!(window.app().screen(), Screen::Devices);
    window.click("Stay on this page");
    assert!(window.shows(&first));
    window.click("Back");
    window.click("Leave anyway");
    assert_eq!(window.app().screen(), Screen::Home);

    // Back on the page: the settings again, without the password.
    window.click("Programs and devices");
    window.wait_for("Scanner in reception");
    assert!(!window.shows(&first));
    window
        .harness
        .get_by_label("Show settings of Scanner in reception")
        .scroll_to_me();
    window.click("Show settings of Scanner in reception");
    assert!(window.shows("scanner.in.reception"));
    assert!(window.shows("not kept (Make a new password if it is lost)"));
    assert!(!window.shows(&first));

    // A new password: asked first, then shown once; the old one no longer signs in.
    window.click("Make a new password for Scanner in reception");
    window.click("Yes, make a new password");
    window.wait_for("Type these into \"Scanner in reception\"");
    let second = password_on_screen(&window).unwrap();
    assert_ne!(first, second);
    assert!(window.shows(&second));
    let devices = mailconnect::bridge::devices::Devices::load(
        &mailconnect::bridge::devices::devices_path(window.config_file.path()),
    )
    .unwrap();
    let device = devices.by_user_name("scanner.in.reception").unwrap();
    assert!(mailconnect::bridge::devices::password_matches(
        device,
        &secrecy::SecretString::from(second.clone())
    ));
    assert!(!mailconnect::bridge::devices::password_matches(
        device,
        &secrecy::SecretString::from(first)
    ));
    // It still goes: the test message with the new password.
    window.click("Send a test message");
    window.wait_for("The bridge took the test message");
    window.click("Back");
    assert!(window.shows("is shown only now and is not kept"));
}

#[test]
fn a_message_the_provider_would_not_take_is_tried_again_or_dropped_from_the_page() {
    let mut window = signed_in_window();
    window.click("Programs and devices");
    window.wait_for("Running on this computer");
    add_device(&mut window, "Label printer");
    // The provider busy: the test message waits in the queue (the window's bridge tries again after a minute).
    window.sandbox.inject(Fault::SmtpMailFromReply(
        "451 4.7.500 Server busy".to_owned(),
    ));
    window.click("Send a test message");
    window.wait_for("The bridge took the test message");
    window.wait_for("4.7.500");
    let id = window.app().devices().queue[0].id.short().to_owned();
    window.sandbox.clear_faults();
    let retry = format!("Try message {id} again now");
    window.harness.get_by_label(&retry).scroll_to_me();
    window.click(&retry);
    window.wait_until("the message handed on after Try again", |home| {
        home.sandbox.stats().messages_received == 1
    });
    window.wait_for("Nothing waiting.");

    // Again busy: this one is dropped, and never sent.
    window.sandbox.inject(Fault::SmtpMailFromReply(
        "451 4.7.500 Server busy".to_owned(),
    ));
    window.click("Send a test message");
    window.wait_for("The bridge took the test message");
    window.wait_until("the second message waiting", |home| {
        home.app()
            .devices()
            .queue
            .first()
            .is_some_and(|message| message.attempts > 0)
    });
    let id = window.app().devices().queue[0].id.short().to_owned();
    let drop = format!("Drop message {id}");
    window.harness.get_by_label(&drop).scroll_to_me();
    window.click(&drop);
    window.click("Yes, drop");
    window.wait_until("the queue empty", |home| {
        home.app().devices().queue.is_empty()
    });
    window.sandbox.clear_faults();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        window.sandbox.stats().messages_received,
        1,
        "dropped, not sent"
    );
}
