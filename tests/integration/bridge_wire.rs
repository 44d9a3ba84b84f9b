//! The bridge's wire with real clients: every reply reaches the device whole (`openssl s_client -starttls smtp`,
//! raw reads), and the probe's findings about what a device may send or hold.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bridge::InProcess;
use crate::support::require_program;

/// `openssl s_client -starttls smtp` reads the greeting and the EHLO reply line by line and gave up when a reply's
/// CRLF came in a packet of its own (9 times in 20). Twenty in a row must now sign on, and every reply read from a
/// plain socket must be whole: a line and its CRLF in one read.
#[tokio::test(flavor = "multi_thread")]
async fn every_reply_reaches_the_client_whole_openssl_s_client_twenty_times_in_twenty() {
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let bridge = InProcess::signed_in(&sandbox, false, |_| {}).await;
    let port = bridge.port();
    let openssl = require_program("openssl");
    let results = tokio::task::spawn_blocking(move || {
        (0..20)
            .map(|_| {
                let mut child = Command::new(&openssl)
                    .args([
                        "s_client",
                        "-starttls",
                        "smtp",
                        "-crlf",
                        "-ign_eof",
                        "-brief",
                        "-connect",
                    ])
                    .arg(format!("127.0.0.1:{port}"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                // Give the handshake time before QUIT; the reply to it ends the run.
                std::thread::sleep(Duration::from_millis(300));
                let _ = stdin.write_all(b"QUIT\n");
                drop(stdin);
                let output = child.wait_with_output().unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                (
                    text.contains("CONNECTION ESTABLISHED") && text.contains("221 "),
                    text,
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let failed: Vec<&String> = results
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, text)| text)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 20 runs of openssl s_client failed; the first: {}",
        failed.len(),
        failed.first().map_or("", |text| text.as_str())
    );

    let reads = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = [0u8; 512];
        let mut read = |stream: &mut std::net::TcpStream| {
            let n = stream.read(&mut buffer).unwrap();
            String::from_utf8_lossy(&buffer[..n]).into_owned()
        };
        let mut reads = vec![read(&mut stream)];
        stream.write_all(b"EHLO raw\r\n").unwrap();
        // The EHLO reply is one write too; wait for all of it (its last line starts "250 ").
        let mut ehlo = read(&mut stream);
        while !ehlo.contains("\r\n250 ") {
            ehlo.push_str(&read(&mut stream));
        }
        for _ in 0..200 {
            stream.write_all(b"NOOP\r\n").unwrap();
            reads.push(read(&mut stream));
        }
        reads
    })
    .await
    .unwrap();
    assert!(
        reads[0].starts_with("220 ") && reads[0].ends_with("\r\n"),
        "{:?}",
        reads[0]
    );
    let split: Vec<&String> = reads[1..]
        .iter()
        .filter(|read| *read != "250 2.0.0 OK\r\n")
        .collect();
    assert!(split.is_empty(), "replies read in pieces: {split:?}");
}

/// Connections that never sign in are let go once their time to sign in is up, whatever they send meanwhile (a
/// NOOP does not start the clock again), so they cannot hold the places devices need.
#[tokio::test(flavor = "multi_thread")]
async fn connections_that_never_sign_in_are_let_go_however_busy_they_keep() {
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let bridge = InProcess::signed_in(&sandbox, false, |options| {
        options.limits.sign_in_within = Duration::from_secs(3);
    })
    .await;
    let port = bridge.port();
    let (farewells, turned_away) = tokio::task::spawn_blocking(move || {
        let mut held: Vec<std::net::TcpStream> = (0..64)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut greeting = [0u8; 256];
                let _ = stream.read(&mut greeting).unwrap();
                stream.write_all(b"EHLO idle\r\n").unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(10)))
                    .unwrap();
                stream
            })
            .collect();
        // Every place is taken: the next connection is told to come back.
        let mut extra = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut answer = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut extra), &mut answer);
        // They keep busy with NOOPs, twice a second, for longer than the time to sign in.
        let mut seen = vec![String::new(); held.len()];
        for _ in 0..8 {
            for (stream, text) in held.iter_mut().zip(seen.iter_mut()) {
                let _ = stream.write_all(b"NOOP\r\n");
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let farewells = seen
            .iter()
            .filter(|text| text.contains("421 4.7.0 Sign in soon after connecting"))
            .count();
        (farewells, answer)
    })
    .await
    .unwrap();
    assert!(turned_away.starts_with("421"), "{turned_away}");
    assert_eq!(farewells, 64, "every idle connection was let go");
    // A device gets in again at once.
    let device = crate::bridge::Device {
        user: bridge.device.user.clone(),
        password: bridge.device.password.clone(),
    };
    let sent = tokio::task::spawn_blocking(move || {
        crate::bridge::python_send(
            port,
            &device,
            "plain",
            crate::command_line::MAILBOX,
            "After the idle ones",
            0,
        )
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "sent");
}

/// A bridge full of connections that never signed in still lets a device in: the oldest that had its time (10 s)
/// gives up its place (smtplib as the device, 64 raw connections as the crowd).
#[tokio::test(flavor = "multi_thread")]
async fn a_device_gets_in_when_the_bridge_is_full_of_connections_that_never_sign_in() {
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let bridge = InProcess::signed_in(&sandbox, false, |options| {
        options.limits.sign_in_within = Duration::from_secs(600);
    })
    .await;
    let port = bridge.port();
    let device = crate::bridge::Device {
        user: bridge.device.user.clone(),
        password: bridge.device.password.clone(),
    };
    let (sent, closed) = tokio::task::spawn_blocking(move || {
        let mut crowd: Vec<std::net::TcpStream> = (0..64)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut greeting = [0u8; 256];
                let _ = stream.read(&mut greeting).unwrap();
                stream
            })
            .collect();
        std::thread::sleep(Duration::from_secs(11));
        let sent = crate::bridge::python_send(
            port,
            &device,
            "plain",
            crate::command_line::MAILBOX,
            "Through the crowd",
            0,
        );
        // The one that made room was closed.
        let closed = crowd
            .iter_mut()
            .map(|stream| {
                stream
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let _ = stream.write_all(b"NOOP\r\n");
                let mut buffer = [0u8; 64];
                // Closed: the end of the stream or a reset; the others answer the NOOP.
                !matches!(stream.read(&mut buffer), Ok(n) if n > 0)
            })
            .filter(|closed| *closed)
            .count();
        (sent, closed)
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sent.stdout).trim(),
        "sent",
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(closed >= 1, "one of the crowd made room");
}

/// A lone CR and NUL never reach the provider: a lone CR becomes a line end (and a dot on its own line is stuffed
/// again when handed on), NUL is dropped; commands holding either are not read. An address beyond ASCII is handed
/// on with SMTPUTF8 (smtplib as the device).
#[tokio::test(flavor = "multi_thread")]
async fn lone_cr_and_nul_are_normalised_and_smtputf8_goes_with_an_address_that_needs_it() {
    use mailconnect::sandbox::Fault;
    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let bridge = InProcess::signed_in(&sandbox, false, |options| {
        options.first_retry = Duration::from_secs(3600);
    })
    .await;
    // Held in the queue, to read what was kept.
    sandbox.inject(Fault::SmtpMailFromReply(
        "451 4.7.500 Server busy".to_owned(),
    ));
    let port = bridge.port();
    let (user, password) = (bridge.device.user.clone(), bridge.device.password.clone());
    let replies = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut replies = Vec::new();
        let mut say = |text: &[u8], replies: &mut Vec<String>| {
            stream.write_all(text).unwrap();
            loop {
                let mut line = String::new();
                std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
                let last = line.as_bytes().get(3) != Some(&b'-');
                replies.push(line);
                if last {
                    break;
                }
            }
        };
        say(b"", &mut replies);
        say(b"EHLO raw\r\n", &mut replies);
        let plain = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("\0{user}\0{password}"),
        );
        say(format!("AUTH PLAIN {plain}\r\n").as_bytes(), &mut replies);
        say(
            format!(
                "MAIL FROM:<{}>\rRCPT TO:<evil@example.org>\r\n",
                crate::command_line::MAILBOX
            )
            .as_bytes(),
            &mut replies,
        );
        say(
            format!("MAIL FROM:<{}>\r\n", crate::command_line::MAILBOX).as_bytes(),
            &mut replies,
        );
        say(b"RCPT TO:<someone@example.org>\r\n", &mut replies);
        say(b"DATA\r\n", &mut replies);
        say(
            b"Subject: lone CR\r\n\r\nfirst\rsecond\r.\rMAIL FROM:<x@y>\0\r\n.\r\n",
            &mut replies,
        );
        say(b"QUIT\r\n", &mut replies);
        replies
    })
    .await
    .unwrap();
    let text = replies.concat();
    assert!(text.contains("250-SMTPUTF8"), "{text}");
    assert!(text.contains("500 5.5.2 Commands are plain text"), "{text}");
    assert!(text.contains("250 2.0.0 Queued as"), "{text}");
    let spool = bridge.spool();
    let envelope = spool.envelopes().unwrap().remove(0);
    let stored = std::fs::read(spool.message_path(&envelope.id)).unwrap();
    assert_eq!(
        stored,
        b"Subject: lone CR\r\n\r\nfirst\r\nsecond\r\n.\r\nMAIL FROM:<x@y>\r\n".to_vec()
    );
    assert!(!stored.contains(&0));

    // Dropped (it would hold its device's later messages for an hour), then an address in another script goes with
    // SMTPUTF8, and a plain one without.
    spool
        .ask(&envelope.id, mailconnect::bridge::spool::Request::Drop)
        .unwrap();
    assert!(crate::support::wait_until(Duration::from_secs(10), || {
        spool.envelopes().unwrap().is_empty()
    }));
    sandbox.clear_faults();
    let (user, password) = (bridge.device.user.clone(), bridge.device.password.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(require_program("python3"))
            .args([
                "-c",
                r#"
import smtplib, sys
port, user, password, sender = sys.argv[1:5]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=60)
s.ehlo()
s.login(user, password)
s.sendmail(sender, ["jörg@bücher.example"], "Subject: Umlaut\r\n\r\nHallo.\r\n".encode(), mail_options=["SMTPUTF8"])
s.quit()
print("sent")
"#,
                &port.to_string(),
                &user,
                &password,
                crate::command_line::MAILBOX,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "sent",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        crate::support::wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .subjects
            .contains(&"Umlaut".to_owned())),
        "{:?}",
        spool.envelopes()
    );
    let device = crate::bridge::Device {
        user: bridge.device.user.clone(),
        password: bridge.device.password.clone(),
    };
    let sent = tokio::task::spawn_blocking(move || {
        crate::bridge::python_send(
            port,
            &device,
            "plain",
            crate::command_line::MAILBOX,
            "Plain",
            0,
        )
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "sent");
    assert!(crate::support::wait_until(Duration::from_secs(20), || {
        sandbox.stats().subjects.contains(&"Plain".to_owned())
    }));
    let stats = sandbox.stats();
    assert_eq!(stats.mail_from.len(), 2, "{:?}", stats.mail_from);
    assert!(
        stats.mail_from[0].contains("SMTPUTF8"),
        "{:?}",
        stats.mail_from
    );
    assert!(
        !stats.mail_from[1].contains("SMTPUTF8"),
        "only when an address needs it: {:?}",
        stats.mail_from
    );
}

/// What a device or an admin types is cleaned before it is logged or kept: a user name from a failed sign-in is
/// logged quoted, one line, without control or bidirectional characters; a device name with them is refused;
/// `device remove` of a name that means two devices is refused; `device password` makes a new one and the old one
/// stops working. The real `mailconnect bridge` with Dovecot.
#[test]
fn names_from_devices_and_admins_are_cleaned_before_they_are_logged_or_kept() {
    use crate::command_line::{MAILBOX, Setup, stderr, stdout};
    let setup = Setup::new();
    setup.login();
    let device = crate::bridge::add_device(&setup, "Scanner");
    for bad in ["Scanner\u{202e}fdp.exe", "Fax\u{7}", "Two\nlines"] {
        let added = setup.run(&["device", "add", bad, "--mailbox", MAILBOX]);
        assert!(!added.status.success(), "{bad:?}: {}", stdout(&added));
    }
    let twice = setup.run(&["device", "add", " scanner ", "--mailbox", MAILBOX]);
    assert!(
        !twice.status.success(),
        "names are unique: {}",
        stdout(&twice)
    );
    // A devices file from an older version with two devices of one name.
    let devices_path = setup.home_path().join("devices.toml");
    let text = std::fs::read_to_string(&devices_path).unwrap();
    let copy = text.split("[[device]]").nth(1).unwrap().replace(
        &format!("user_name = \"{}\"", device.user),
        "user_name = \"scanner.copy\"",
    );
    std::fs::write(&devices_path, format!("{text}\n[[device]]{copy}")).unwrap();
    let removed = setup.run(&["device", "remove", "Scanner"]);
    assert!(!removed.status.success());
    assert!(
        stderr(&removed).contains("could mean 2 devices"),
        "{}",
        stderr(&removed)
    );
    let removed = setup.run(&["device", "remove", "scanner.copy"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    // A new password: printed once with the settings; the old one stops working.
    let renewed = setup.run(&["device", "password", "Scanner"]);
    assert!(renewed.status.success(), "{}", stderr(&renewed));
    assert!(
        stdout(&renewed).contains("has a new password"),
        "{}",
        stdout(&renewed)
    );
    let new_password = stdout(&renewed)
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Password:")
                .map(|p| p.trim().to_owned())
        })
        .unwrap();
    assert_ne!(new_password, device.password);

    let bridge = crate::bridge::Bridge::start(&setup, &crate::bridge::spool_of(&setup), &[]);
    // swaks signs in with any bytes as the user name (smtplib only sends ASCII).
    let forged = "x\n2026-01-01T00:00:00Z  INFO a device signed in device=scanner\u{202e}";
    let refused = Command::new(require_program("swaks"))
        .args(["--server", "127.0.0.1", "--port", &bridge.port.to_string()])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            forged,
            "--auth-password",
            "wrong",
        ])
        .args(["--from", MAILBOX, "--to", "someone@example.org"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stdout(&refused).contains("535 5.7.8"),
        "{}",
        stdout(&refused)
    );
    assert!(
        crate::support::wait_until(Duration::from_secs(10), || bridge
            .log()
            .contains("sign-in was refused")),
        "{}",
        bridge.log()
    );
    let old = crate::bridge::python_send(bridge.port, &device, "plain", MAILBOX, "Old password", 0);
    assert!(stdout(&old).starts_with("refused 535"), "{}", stdout(&old));
    let renewed = crate::bridge::Device {
        user: device.user.clone(),
        password: new_password,
    };
    let sent =
        crate::bridge::python_send(bridge.port, &renewed, "plain", MAILBOX, "New password", 0);
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
    let log = bridge.log();
    assert!(
        log.contains("\"x?2026-01-01T00:00:00Z  INFO a device signed in device=scanner?\""),
        "{log}"
    );
    assert!(
        !log.lines().any(|line| line.starts_with("2026-01-01")),
        "{log}"
    );
    assert!(!log.contains('\u{202e}'));
}

/// A flood of sign-ins with invented user names (60 at once, 300 in all, cut off after the AUTH line) leaves the
/// bridge's memory bounded: passwords are checked in memory allocated once per turn (before, every thread that
/// checked one kept its 19 MiB: a peak of 474 MB after this flood; now about 65 MB). Linux: read from /proc.
#[cfg(target_os = "linux")]
#[test]
fn a_flood_of_invented_user_names_keeps_the_bridges_memory_bounded() {
    use crate::command_line::{Setup, stdout};
    let setup = Setup::new();
    setup.login();
    crate::bridge::add_device(&setup, "Scanner");
    let bridge = crate::bridge::Bridge::start(&setup, &crate::bridge::spool_of(&setup), &[]);
    let flood = Command::new(require_program("python3"))
        .args([
            "-c",
            r#"
import socket, base64, sys, threading
port = int(sys.argv[1])
def worker(t):
    for n in range(5):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO flood\r\n")
            while True:
                line = f.readline()
                if not line or line[3:4] == b" ":
                    break
            name = ("guess-%d-%d-" % (t, n)) + "x" * 1000
            s.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0" + name.encode() + b"\0pw") + b"\r\n")
            s.close()
        except OSError:
            pass
threads = [threading.Thread(target=worker, args=(t,)) for t in range(60)]
[t.start() for t in threads]
[t.join() for t in threads]
print("done")
"#,
            &bridge.port.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&flood).trim(), "done");
    // The checks already started finish after their connections are gone.
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", bridge.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        peak_kb < 150 * 1024,
        "the bridge's peak memory: {peak_kb} kB"
    );
}
