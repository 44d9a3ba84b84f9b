//! The bridge's queue never jams: a message the provider cannot take now holds back only the later messages of its
//! own device, every message has an age limit after which it is refused with the reason (and bounced), and the
//! admin can try a message again or drop it (`device retry`, `device drop`). Real smtplib devices; the sandbox's
//! SMTP responder or Dovecot upstream.

use std::process::Command;
use std::time::Duration;

use mailconnect::bridge::spool::{Asked, Envelope, MessageState, Request};
use mailconnect::sandbox::Fault;

use crate::bridge::{Bridge, Device, InProcess, add_device, arrived, set_upstream_port, spool_of};
use crate::command_line::{MAILBOX, Setup, stdout};
use crate::support::{require_program, wait_until};

const SEND_TO: &str = r#"
import smtplib, sys
port, user, password, sender, recipient, subject = sys.argv[1:7]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=60)
s.ehlo()
s.login(user, password)
s.sendmail(sender, [recipient], "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nHello.\r\n" % (sender, recipient, subject))
s.quit()
print("sent")
"#;

/// smtplib on this computer (no TLS needed): one message to `recipient`.
fn send_to(port: u16, device: &Device, recipient: &str, subject: &str) {
    let output = Command::new(require_program("python3"))
        .args([
            "-c",
            SEND_TO,
            &port.to_string(),
            &device.user,
            &device.password,
        ])
        .args([MAILBOX, recipient, subject])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "sent",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn find(bridge: &InProcess, subject_recipient: &str) -> Option<Envelope> {
    bridge
        .spool()
        .envelopes()
        .unwrap()
        .into_iter()
        .find(|envelope| envelope.recipients.iter().any(|r| r == subject_recipient))
}

fn add_second_device(bridge: &InProcess, name: &str) -> Device {
    use mailconnect::bridge::devices::Devices;
    use secrecy::ExposeSecret;
    let path = bridge.folder.path().join("devices.toml");
    let mut devices = Devices::load(&path).unwrap();
    let (device, password) = devices.add(name, MAILBOX, false).unwrap();
    devices.save(&path).unwrap();
    Device {
        user: device.user_name,
        password: password.expose_secret().to_owned(),
    }
}

/// A recipient's 451 is that message's problem, not the sign-in's: the message waits (with the provider's words),
/// its device's later message keeps its place behind it, and another device of the same mailbox goes on. Tried
/// again on the admin's word, both go, in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_recipients_451_holds_only_its_device_and_other_devices_go_on() {
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    // No retry by itself within the test: only the admin's retry releases the message.
    let bridge = InProcess::signed_in(&sandbox, false, |options| {
        options.first_retry = Duration::from_secs(3600);
    })
    .await;
    let printer = add_second_device(&bridge, "Printer");
    sandbox.inject(Fault::SmtpRcptReply {
        recipient: "busy@example.org".to_owned(),
        reply: "451 4.2.1 The recipient's mailbox is busy; try again later".to_owned(),
    });
    let port = bridge.port();
    let scanner = Device {
        user: bridge.device.user.clone(),
        password: bridge.device.password.clone(),
    };
    tokio::task::spawn_blocking(move || {
        send_to(port, &scanner, "busy@example.org", "Scanner 1");
        // Its first try has happened before the next message comes.
        std::thread::sleep(Duration::from_secs(2));
        send_to(port, &scanner, "someone@example.org", "Scanner 2");
        send_to(port, &printer, "other@example.org", "Printer 1");
    })
    .await
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .subjects
            .contains(&"Printer 1".to_owned())),
        "the other device's message went: {:?}",
        bridge.spool().envelopes()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sandbox.stats().subjects,
        ["Printer 1"],
        "the scanner's second message waits behind its first"
    );
    let stuck = find(&bridge, "busy@example.org").unwrap();
    assert_eq!(stuck.state, MessageState::Waiting);
    assert_eq!(
        stuck.waiting_for_sign_in, None,
        "not taken for a sign-in problem"
    );
    let words = stuck.last_error.clone().unwrap();
    assert!(words.contains("4.2.1"), "{words}");
    assert!(!words.contains("sign-in"), "{words}");

    sandbox.clear_faults();
    assert_eq!(
        bridge.spool().ask(&stuck.id, Request::Retry).unwrap(),
        Asked::Passed,
        "the running bridge owns the queue"
    );
    assert!(
        wait_until(Duration::from_secs(20), || sandbox.stats().subjects.len()
            == 3),
        "{:?}",
        bridge.spool().envelopes()
    );
    assert_eq!(
        sandbox.stats().subjects,
        ["Printer 1", "Scanner 1", "Scanner 2"]
    );
}

/// Whatever a message waits for, it waits no longer than its age limit: then it is refused with the reason and
/// bounced. Tried again, it gets a fresh limit and goes; dropped, it is gone unsent.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_past_its_age_limit_is_refused_with_the_reason_bounced_and_can_be_retried_or_dropped()
 {
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let bridge = InProcess::signed_in(&sandbox, true, |options| {
        options.limits.max_age = Duration::from_secs(4);
    })
    .await;
    // The provider busy for the whole mailbox (Exchange's 4.7.500 at MAIL FROM).
    sandbox.inject(Fault::SmtpMailFromReply(
        "451 4.7.500 Server busy. Please try again later".to_owned(),
    ));
    let port = bridge.port();
    let scanner = Device {
        user: bridge.device.user.clone(),
        password: bridge.device.password.clone(),
    };
    let device = Device {
        user: scanner.user.clone(),
        password: scanner.password.clone(),
    };
    tokio::task::spawn_blocking(move || send_to(port, &device, "someone@example.org", "Too old"))
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || find(
            &bridge,
            "someone@example.org"
        )
        .is_some_and(|envelope| envelope.state == MessageState::Refused)),
        "{:?}",
        bridge.spool().envelopes()
    );
    let refused = find(&bridge, "someone@example.org").unwrap();
    let words = refused.last_error.clone().unwrap();
    assert!(words.contains("not sent within 4 seconds"), "{words}");
    assert!(
        words.contains("4.7.500"),
        "the last problem is named: {words}"
    );
    // The bounce goes once the provider takes mail again.
    sandbox.clear_faults();
    assert!(
        wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .subjects
            .iter()
            .any(|subject| subject.starts_with("Not delivered"))),
        "{:?}",
        bridge.spool().envelopes()
    );

    // Tried again: a fresh age limit, and it goes.
    bridge.spool().ask(&refused.id, Request::Retry).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .subjects
            .contains(&"Too old".to_owned())),
        "{:?}",
        bridge.spool().envelopes()
    );

    // Dropped: gone, and never sent.
    sandbox.inject(Fault::SmtpMailFromReply(
        "451 4.7.500 Server busy. Please try again later".to_owned(),
    ));
    tokio::task::spawn_blocking(move || send_to(port, &scanner, "dropped@example.org", "Dropped"))
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || find(
        &bridge,
        "dropped@example.org"
    )
    .is_some_and(|envelope| envelope.attempts > 0)));
    let dropped = find(&bridge, "dropped@example.org").unwrap();
    bridge.spool().ask(&dropped.id, Request::Drop).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || find(
            &bridge,
            "dropped@example.org"
        )
        .is_none()),
        "{:?}",
        bridge.spool().envelopes()
    );
    // The bridge removes the envelope first, then the message (an orphan message is also cleared at its next start).
    assert!(wait_until(Duration::from_secs(10), || !bridge
        .spool()
        .message_path(&dropped.id)
        .exists()));
    sandbox.clear_faults();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!sandbox.stats().subjects.contains(&"Dropped".to_owned()));
}

/// `device list` shows each queued message's id; `device drop` removes one unsent and `device retry` sends one now,
/// through the running bridge (which owns the queue), to Dovecot.
#[test]
fn device_retry_and_drop_act_on_the_running_bridges_queue() {
    let setup = Setup::new();
    setup.login();
    let device = add_device(&setup, "Label printer");
    let upstream = setup.account.smtp.port;
    set_upstream_port(&setup, crate::support::free_port());
    // Without the admin, nothing is tried again within the hour.
    let bridge = Bridge::start(&setup, &spool_of(&setup), &["--first-retry", "3600"]);
    for subject in ["To drop", "To retry"] {
        let sent = crate::bridge::python_send(bridge.port, &device, "send", MAILBOX, subject, 0);
        assert_eq!(stdout(&sent).trim(), "sent");
    }
    let spool = mailconnect::bridge::spool::Spool::view(spool_of(&setup));
    // The provider down holds the whole mailbox: the first was tried, the second waits behind it.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let queued = spool.envelopes().unwrap();
            queued.len() == 2 && queued[0].attempts > 0
        }),
        "{}",
        bridge.log()
    );
    let queued = spool.envelopes().unwrap();
    let listed = stdout(&setup.run(&["device", "list"]));
    for envelope in &queued {
        assert!(
            listed.contains(&format!("message {}: waiting", envelope.id.short())),
            "{listed}"
        );
    }
    let dropped = setup.run(&["device", "drop", queued[0].id.short()]);
    assert!(
        stdout(&dropped).contains("removes message"),
        "{}",
        stdout(&dropped)
    );
    assert!(wait_until(Duration::from_secs(10), || spool
        .envelopes()
        .unwrap()
        .len()
        == 1));
    let unknown = setup.run(&["device", "retry", "../../etc"]);
    assert!(!unknown.status.success());
    set_upstream_port(&setup, upstream);
    let retried = setup.run(&["device", "retry", queued[1].id.short()]);
    assert!(
        stdout(&retried).contains("tries message"),
        "{}",
        stdout(&retried)
    );
    assert!(
        wait_until(Duration::from_secs(20), || arrived(&setup).len() == 1),
        "{}",
        bridge.log()
    );
    assert_eq!(arrived(&setup)[0].subject, "To retry");
    assert!(spool.envelopes().unwrap().is_empty());
}
