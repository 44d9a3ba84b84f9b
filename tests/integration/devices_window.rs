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

#[test]
fn a_device_elsewhere_on_the_network_reaches_the_bridge_once_the_network_is_allowed() {
    use std::io::{BufRead, BufReader};
    let here = crate::support::PRIVATE_ADDRESS;
    if !crate::support::inside_a_private_network(
        "devices_window::a_device_elsewhere_on_the_network_reaches_the_bridge_once_the_network_is_allowed",
    ) {
        return;
    }
    let mut window = signed_in_window();
    window.click("Programs and devices");
    window.wait_for("Running on this computer:");
    assert!(window.shows("Only programs on this computer can send now"));
    let Some(mailconnect::runner::BridgeStatus::Running { port, .. }) =
        Some(window.app().devices().status.clone())
    else {
        panic!("the bridge runs");
    };
    // A device at this computer's network address is turned away while only this computer may send.
    let greeting = |port: u16| -> Option<String> {
        let stream = std::net::TcpStream::connect((here, port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        Some(line)
    };
    assert!(
        !greeting(port).is_some_and(|line| line.starts_with("220")),
        "a device on the network got in before it was allowed"
    );

    window.click("Devices on this network can send");
    window.wait_for("Running on this computer and its network");
    assert!(window.shows(here), "this computer's address is shown");
    assert!(window.shows("(network 10.77.0.0/24)"));
    window.click(&format!("Copy address {here}"));
    assert!(window.shows(&format!("Copied {here}.")));
    assert!(
        window.config_file.load().unwrap().bridge_on_network,
        "the choice is kept for the next start"
    );
    assert!(
        greeting(port).is_some_and(|line| line.starts_with("220")),
        "now a device on the network is greeted"
    );

    add_device(&mut window, "Scanner");
    assert!(window.shows(&format!("{here} (this computer's address)")));
    window.click("Send a test message");
    window.wait_for("The bridge took the test message");
    let sent = window
        .app()
        .devices()
        .just_added
        .as_ref()
        .and_then(|added| added.test.clone())
        .unwrap()
        .unwrap();
    assert!(
        sent.contains(&format!("sent to {here}, as a device on the network")),
        "{sent}"
    );
}
