//! The SMTP bridge end to end: real clients play the devices (Python's smtplib, msmtp with `auth plain`, swaks)
//! and send through the real `mailconnect bridge` to Dovecot's submission, which checks each XOAUTH2 token by
//! introspection against the sandbox and relays to a sink that records what arrived. Refusals (wrong password, no
//! sign-in, another sender, an address not allowed), fifty devices at once, a 25 MB message, kill -9 during DATA
//! and after 250, a provider outage, and an ended sign-in.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailconnect::config::ConfigFile;

use crate::command_line::{MAILBOX, Setup, stderr, stdout};
use crate::support::{free_port, require_program, wait_until};

/// A device as `device add` printed it.
pub(crate) struct Device {
    pub(crate) user: String,
    pub(crate) password: String,
}

pub(crate) fn add_device(setup: &Setup, name: &str) -> Device {
    let added = setup.run(&["device", "add", name, "--mailbox", MAILBOX]);
    assert!(added.status.success(), "{}", stderr(&added));
    let text = stdout(&added);
    let field = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label} in {text}"))
    };
    Device {
        user: field("User name:"),
        password: field("Password:"),
    }
}

/// A running `mailconnect bridge` and everything it wrote to stderr.
pub(crate) struct Bridge {
    child: Child,
    pub(crate) port: u16,
    tls_port: u16,
    log: Arc<Mutex<String>>,
}

impl Bridge {
    pub(crate) fn start(setup: &Setup, _spool: &Path, extra: &[&str]) -> Bridge {
        // A free port can be taken by a test running alongside before the bridge listens: then new ports.
        for _ in 0..3 {
            match Bridge::try_start(setup, extra) {
                Ok(bridge) => return bridge,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("the bridge did not start: {log}"),
            }
        }
        panic!("the bridge found no free port in three tries");
    }

    fn try_start(setup: &Setup, extra: &[&str]) -> Result<Bridge, String> {
        let port = free_port();
        let tls_port = free_port();
        let (port_text, tls_text) = (port.to_string(), tls_port.to_string());
        let mut arguments = vec!["bridge", "--port", &port_text, "--tls-port", &tls_text];
        if !extra.contains(&"--first-retry") {
            arguments.extend_from_slice(&["--first-retry", "1"]);
        }
        arguments.extend_from_slice(extra);
        let mut child = setup
            .command(&arguments)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let reader = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let bridge = Bridge {
            child,
            port,
            tls_port,
            log,
        };
        let started = wait_until(Duration::from_secs(30), || {
            let log = bridge.log();
            log.contains("Stop with Ctrl+C") || log.contains("cannot listen")
        });
        if started && bridge.log().contains("Stop with Ctrl+C") {
            Ok(bridge)
        } else {
            Err(bridge.kill())
        }
    }

    /// The bridge's process id (to read its memory).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PYTHON_DEVICE: &str = r#"
import smtplib, ssl, sys
mode, port, user, password, sender, subject, size, host = sys.argv[1:9]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    if mode == "ssl":
        s = smtplib.SMTP_SSL(host, int(port), timeout=60, context=context)
        s.ehlo()
    else:
        s = smtplib.SMTP(host, int(port), timeout=60)
        s.ehlo()
        if mode != "plain":
            s.starttls(context=context)
            s.ehlo()
    if mode != "no-auth":
        s.login(user, password)
    body = "Hello from smtplib.\r\n"
    if int(size) > 0:
        line = ("x" * 76) + "\r\n"
        body = line * (int(size) // len(line))
    message = "From: %s\r\nTo: someone@example.org\r\nSubject: %s\r\n\r\n%s" % (sender, subject, body)
    s.sendmail(sender, ["someone@example.org"], message)
    s.quit()
    print("sent")
except smtplib.SMTPResponseException as error:
    print("refused %d %s" % (error.smtp_code, error.smtp_error.decode()))
    sys.exit(1)
except smtplib.SMTPRecipientsRefused as error:
    print("refused %s" % error.recipients)
    sys.exit(1)
except smtplib.SMTPNotSupportedError as error:
    print("refused no sign-in offered: %s" % error)
    sys.exit(1)
"#;

/// Python's smtplib as a device: STARTTLS, AUTH, one message; prints "sent" or "refused <code> <text>".
pub(crate) fn python_send(
    port: u16,
    device: &Device,
    mode: &str,
    sender: &str,
    subject: &str,
    size: usize,
) -> std::process::Output {
    Command::new(require_program("python3"))
        .args(["-c", PYTHON_DEVICE, mode])
        .arg(port.to_string())
        .args([&device.user, &device.password, sender, subject])
        .arg(size.to_string())
        .arg("127.0.0.1")
        .output()
        .unwrap()
}

/// As [`python_send`], to `host` (an address of this computer on the network).
fn python_send_to(
    host: &str,
    port: u16,
    device: &Device,
    mode: &str,
    subject: &str,
) -> std::process::Output {
    Command::new(require_program("python3"))
        .args(["-c", PYTHON_DEVICE, mode])
        .arg(port.to_string())
        .args([&device.user, &device.password, MAILBOX, subject, "0", host])
        .output()
        .unwrap()
}

pub(crate) fn set_upstream_port(setup: &Setup, port: u16) {
    let file = ConfigFile::at(setup.config_path());
    let mut config = file.load().unwrap();
    config.accounts[0].smtp.port = port;
    file.save(&config).unwrap();
}

/// The bridge's default queue folder under the test's XDG_DATA_HOME.
pub(crate) fn spool_of(setup: &Setup) -> PathBuf {
    setup
        .home_path()
        .join("data")
        .join("mailconnect")
        .join("spool")
}

pub(crate) fn arrived(setup: &Setup) -> Vec<crate::support::sink::Received> {
    setup.dovecot.relay.received()
}

#[test]
fn real_clients_send_through_the_bridge_and_it_refuses_what_it_must() {
    let setup = Setup::new();
    setup.login();
    let scanner = add_device(&setup, "Scanner in reception");
    let practice_software = add_device(&setup, "Practice software");
    let bridge = Bridge::start(&setup, &spool_of(&setup), &[]);

    let sent = python_send(bridge.port, &scanner, "send", MAILBOX, "From smtplib", 0);
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));

    let msmtp_config = setup.home_path().join("msmtprc");
    std::fs::write(
        &msmtp_config,
        format!(
            "account bridge\nhost 127.0.0.1\nport {}\nfrom {MAILBOX}\nauth plain\nuser {}\npassword {}\ntls on\n\
             tls_starttls on\ntls_certcheck off\n",
            bridge.port, practice_software.user, practice_software.password
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &msmtp_config,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut msmtp = Command::new(require_program("msmtp"))
        .args([
            "-C",
            msmtp_config.to_str().unwrap(),
            "-a",
            "bridge",
            "someone@example.org",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    msmtp
        .stdin
        .take()
        .unwrap()
        .write_all(format!("From: {MAILBOX}\r\nSubject: From msmtp\r\n\r\nHello.\r\n").as_bytes())
        .unwrap();
    let msmtp = msmtp.wait_with_output().unwrap();
    assert!(msmtp.status.success(), "msmtp: {}", stderr(&msmtp));

    // swaks on this computer without TLS (signing in is allowed on loopback), with AUTH LOGIN.
    let swaks = Command::new(require_program("swaks"))
        .args(["--server", "127.0.0.1", "--port", &bridge.port.to_string()])
        .args([
            "--auth",
            "LOGIN",
            "--auth-user",
            &scanner.user,
            "--auth-password",
            &scanner.password,
        ])
        .args(["--from", MAILBOX, "--to", "someone@example.org"])
        .args([
            "--header",
            "Subject: From swaks",
            "--body",
            "Hello from swaks.",
        ])
        .output()
        .unwrap();
    assert!(swaks.status.success(), "swaks: {}", stdout(&swaks));

    // SMTP over TLS from the first byte, on the second port.
    let over_tls = python_send(
        bridge.tls_port,
        &scanner,
        "ssl",
        MAILBOX,
        "Over implicit TLS",
        0,
    );
    assert_eq!(stdout(&over_tls).trim(), "sent", "{}", stderr(&over_tls));

    // A 25 MB message is streamed through.
    let big = python_send(
        bridge.port,
        &scanner,
        "send",
        MAILBOX,
        "Big scan",
        25 * 1024 * 1024,
    );
    assert_eq!(stdout(&big).trim(), "sent", "{}", stderr(&big));

    assert!(
        wait_until(Duration::from_secs(60), || arrived(&setup).len() == 5),
        "arrived: {:?}\n{}",
        arrived(&setup),
        bridge.log()
    );
    let messages = arrived(&setup);
    assert!(
        messages
            .iter()
            .all(|m| m.mail_from.eq_ignore_ascii_case(MAILBOX)),
        "{messages:?}"
    );
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    for subject in [
        "From smtplib",
        "From msmtp",
        "From swaks",
        "Over implicit TLS",
        "Big scan",
    ] {
        assert!(
            subjects.contains(&subject),
            "{subject} missing: {subjects:?}"
        );
    }
    let big = messages.iter().find(|m| m.subject == "Big scan").unwrap();
    assert!(
        big.size > 25 * 1024 * 1024,
        "the whole message arrived: {}",
        big.size
    );

    // Refused: a wrong password, no sign-in, another sender.
    let wrong = Device {
        user: scanner.user.clone(),
        password: "not-the-password".to_owned(),
    };
    let refused = python_send(bridge.port, &wrong, "send", MAILBOX, "Wrong password", 0);
    assert!(
        stdout(&refused).starts_with("refused 535"),
        "{}",
        stdout(&refused)
    );
    let refused = python_send(bridge.port, &scanner, "no-auth", MAILBOX, "No sign-in", 0);
    assert!(
        stdout(&refused).starts_with("refused 530"),
        "{}",
        stdout(&refused)
    );
    let refused = python_send(
        bridge.port,
        &scanner,
        "send",
        "boss@smile-dental.example",
        "Other sender",
        0,
    );
    assert!(
        stdout(&refused).starts_with("refused 550"),
        "{}",
        stdout(&refused)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(arrived(&setup).len(), 5, "nothing refused was sent on");

    // The passwords exist only on the devices: the devices file holds Argon2id hashes.
    let devices_file = std::fs::read_to_string(setup.home_path().join("devices.toml")).unwrap();
    assert!(devices_file.contains("$argon2id$"));
    let log = bridge.kill();
    for secret in [&scanner.password, &practice_software.password] {
        assert!(!devices_file.contains(secret.as_str()));
        assert!(
            !log.contains(secret.as_str()),
            "a device password leaked into the log"
        );
    }
    assert!(
        !log.contains("sbx-at-"),
        "an access token leaked into the log"
    );

    // Listening on the network: an address that is not on the allow-list is refused at once.
    let own_address = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("192.0.2.1:9").map(|()| socket))
        .and_then(|socket| socket.local_addr())
        .map(|address| address.ip());
    let lan = Bridge::start(&setup, &spool_of(&setup), &["--allow", "198.51.100.0/24"]);
    match own_address {
        Ok(address) if !address.is_loopback() && !address.is_unspecified() => {
            let stream = std::net::TcpStream::connect((address, lan.port)).unwrap();
            let mut greeting = String::new();
            BufReader::new(stream).read_line(&mut greeting).unwrap();
            assert!(greeting.starts_with("554 "), "{greeting}");
            // Allowed, from the network: signing in only after STARTTLS.
            let allowed = format!("{address}/32");
            // A second bridge needs a queue of its own: one queue has one owner.
            let other_spool = setup.home_path().join("lan-spool");
            let lan_allowed = Bridge::start(
                &setup,
                &other_spool,
                &[
                    "--allow",
                    &allowed,
                    "--spool",
                    other_spool.to_str().unwrap(),
                ],
            );
            let host = address.to_string();
            let plain = python_send_to(
                &host,
                lan_allowed.port,
                &scanner,
                "plain",
                "Plain on the LAN",
            );
            assert!(
                stdout(&plain).starts_with("refused no sign-in offered"),
                "{}",
                stdout(&plain)
            );
            let secured = python_send_to(
                &host,
                lan_allowed.port,
                &scanner,
                "send",
                "STARTTLS on the LAN",
            );
            assert_eq!(stdout(&secured).trim(), "sent", "{}", stderr(&secured));
            // An old device allowed plain sign-in on the network: sign-in is offered without TLS now, to it only; a
            // device that must use TLS is turned away without its password being checked.
            let old_fax = {
                let added = setup.run(&[
                    "device",
                    "add",
                    "Old fax",
                    "--mailbox",
                    MAILBOX,
                    "--plain-on-lan",
                ]);
                assert!(stdout(&added).contains("Warning"), "{}", stdout(&added));
                let text = stdout(&added);
                let field = |label: &str| {
                    text.lines()
                        .find_map(|line| {
                            line.trim().strip_prefix(label).map(|v| v.trim().to_owned())
                        })
                        .unwrap()
                };
                Device {
                    user: field("User name:"),
                    password: field("Password:"),
                }
            };
            let refused = python_send_to(
                &host,
                lan_allowed.port,
                &scanner,
                "plain",
                "Scanner in the clear",
            );
            assert!(
                stdout(&refused).starts_with("refused 538"),
                "{}",
                stdout(&refused)
            );
            let old = python_send_to(
                &host,
                lan_allowed.port,
                &old_fax,
                "plain",
                "Old fax in the clear",
            );
            assert_eq!(stdout(&old).trim(), "sent", "{}", stderr(&old));
            // At most 8 connections from one address at once; the ninth is told to come back.
            let held: Vec<std::net::TcpStream> = (0..8)
                .map(|_| {
                    let stream = std::net::TcpStream::connect((address, lan_allowed.port)).unwrap();
                    let mut greeting = String::new();
                    BufReader::new(stream.try_clone().unwrap())
                        .read_line(&mut greeting)
                        .unwrap();
                    assert!(greeting.starts_with("220"), "{greeting}");
                    stream
                })
                .collect();
            let ninth = std::net::TcpStream::connect((address, lan_allowed.port)).unwrap();
            let mut answer = String::new();
            BufReader::new(ninth).read_line(&mut answer).unwrap();
            assert!(answer.starts_with("421"), "{answer}");
            drop(held);
            std::thread::sleep(Duration::from_millis(200));
        }
        other => eprintln!("no network address to test the allow-list from ({other:?})"),
    }
    // This computer itself is always allowed.
    let sent = python_send(
        lan.port,
        &scanner,
        "send",
        MAILBOX,
        "Through the LAN bridge",
        0,
    );
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
}

#[test]
fn fifty_devices_at_once_are_all_queued_and_handed_on_thirty_a_minute() {
    let setup = Setup::new();
    setup.login();
    let device = add_device(&setup, "Front desk PCs");
    let bridge = Bridge::start(&setup, &spool_of(&setup), &[]);
    let senders: Vec<_> = (0..50)
        .map(|n| {
            let (port, user, password) =
                (bridge.port, device.user.clone(), device.password.clone());
            std::thread::spawn(move || {
                python_send(
                    port,
                    &Device { user, password },
                    "send",
                    MAILBOX,
                    &format!("Copy {n}"),
                    0,
                )
            })
        })
        .collect();
    for sender in senders {
        let sent = sender.join().unwrap();
        assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
    }
    // Exchange Online takes 30 a minute from one mailbox: 30 go now, 20 wait in the queue.
    assert!(
        wait_until(Duration::from_secs(60), || arrived(&setup).len() == 30),
        "arrived {}: {}",
        arrived(&setup).len(),
        bridge.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(arrived(&setup).len(), 30, "no more than 30 in the minute");
    let listed = setup.run(&["device", "list"]);
    assert!(
        stdout(&listed).contains("queue: 20 waiting"),
        "{}",
        stdout(&listed)
    );
}

#[test]
fn kill_during_data_sends_nothing_a_kill_after_250_delivers_once_and_an_outage_keeps_the_order() {
    let setup = Setup::new();
    setup.login();
    let device = add_device(&setup, "Label printer");
    let spool = spool_of(&setup);
    let upstream = setup.account.smtp.port;

    // Killed in the middle of DATA: the device sees the connection drop; nothing half-received is sent.
    let bridge = Bridge::start(&setup, &spool, &[]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", bridge.port)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let mut say = |text: &str, line: &mut String| {
        stream.write_all(text.as_bytes()).unwrap();
        line.clear();
        loop {
            let mut part = String::new();
            reader.read_line(&mut part).unwrap();
            line.push_str(&part);
            if part.len() < 4 || part.as_bytes()[3] != b'-' {
                break;
            }
        }
    };
    say("", &mut line);
    assert!(line.starts_with("220"), "the greeting: {line}");
    say("EHLO printer\r\n", &mut line);
    let plain = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("\0{}\0{}", device.user, device.password),
    );
    say(&format!("AUTH PLAIN {plain}\r\n"), &mut line);
    assert!(line.starts_with("235"), "{line}");
    say(&format!("MAIL FROM:<{MAILBOX}>\r\n"), &mut line);
    say("RCPT TO:<someone@example.org>\r\n", &mut line);
    say("DATA\r\n", &mut line);
    assert!(line.starts_with("354"), "{line}");
    say_nothing(
        &mut stream_clone(&reader),
        "Subject: Half\r\n\r\nthe first half",
    );
    std::thread::sleep(Duration::from_millis(300));
    bridge.kill();

    // Upstream down: accepted (250) and queued, then killed before it could be handed on.
    set_upstream_port(&setup, free_port());
    let bridge = Bridge::start(&setup, &spool, &[]);
    let sent = python_send(
        bridge.port,
        &device,
        "send",
        MAILBOX,
        "Accepted before the kill",
        0,
    );
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
    std::thread::sleep(Duration::from_millis(500));
    bridge.kill();
    assert_eq!(arrived(&setup).len(), 0);
    assert_eq!(
        std::fs::read_dir(spool.join("incoming"))
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "the half message is gone from the queue"
    );

    // Back up, restarted: delivered exactly once, and the half message never.
    set_upstream_port(&setup, upstream);
    let bridge = Bridge::start(&setup, &spool, &[]);
    assert!(
        wait_until(Duration::from_secs(30), || arrived(&setup).len() == 1),
        "{}",
        bridge.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let messages = arrived(&setup);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].subject, "Accepted before the kill");

    // A provider outage while running: the messages wait, then all go, in the order they came.
    set_upstream_port(&setup, free_port());
    for n in 1..=3 {
        let sent = python_send(
            bridge.port,
            &device,
            "send",
            MAILBOX,
            &format!("In order {n}"),
            0,
        );
        assert_eq!(stdout(&sent).trim(), "sent");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        arrived(&setup).len(),
        1,
        "nothing goes while the provider is down"
    );
    let listed = setup.run(&["device", "list"]);
    assert!(
        stdout(&listed).contains("last problem"),
        "{}",
        stdout(&listed)
    );
    set_upstream_port(&setup, upstream);
    assert!(
        wait_until(Duration::from_secs(60), || arrived(&setup).len() == 4),
        "{}",
        bridge.log()
    );
    let subjects: Vec<String> = arrived(&setup)
        .iter()
        .skip(1)
        .map(|m| m.subject.clone())
        .collect();
    assert_eq!(subjects, ["In order 1", "In order 2", "In order 3"]);
}

fn stream_clone(reader: &BufReader<std::net::TcpStream>) -> std::net::TcpStream {
    reader.get_ref().try_clone().unwrap()
}

fn say_nothing(stream: &mut std::net::TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).unwrap();
}

#[test]
fn an_ended_sign_in_keeps_mail_queued_until_the_mailbox_signs_in_again() {
    let setup = Setup::new();
    setup.login();
    let device = add_device(&setup, "Scanner");
    let bridge = Bridge::start(&setup, &spool_of(&setup), &[]);
    // Revoked sessions: the stored token is refused and cannot be renewed.
    setup.sandbox.revoke_all();
    let sent = python_send(
        bridge.port,
        &device,
        "send",
        MAILBOX,
        "Waits for the sign-in",
        0,
    );
    assert_eq!(
        stdout(&sent).trim(),
        "sent",
        "accepted and queued: {}",
        stderr(&sent)
    );
    assert!(
        wait_until(Duration::from_secs(30), || stdout(
            &setup.run(&["device", "list"])
        )
        .contains("last problem")),
        "{}",
        bridge.log()
    );
    let listed = stdout(&setup.run(&["device", "list"]));
    assert!(
        listed.contains("sign"),
        "the notice says a sign-in is needed: {listed}"
    );
    assert_eq!(arrived(&setup).len(), 0);
    setup.login();
    assert!(
        wait_until(Duration::from_secs(60), || arrived(&setup).len() == 1),
        "{}",
        bridge.log()
    );
}

/// A permanent refusal from the provider (here Exchange's 5.7.60 at MAIL FROM, from the sandbox's responder) is kept
/// in the queue as refused, with the provider's words, and not tried again.
#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_refusal_stays_refused_with_the_providers_words() {
    use mailconnect::bridge::spool::{MessageState, Spool};
    use mailconnect::store::{StoredTokens, TokenStore};
    use secrecy::SecretString;

    let sandbox =
        crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions::default()).await;
    let (store, _items) = TokenStore::in_memory();
    store
        .save_sign_in(
            MAILBOX,
            &StoredTokens {
                access_token: SecretString::from(sandbox.mint_access_token(MAILBOX)),
                refresh_token: SecretString::from("not used here"),
                access_token_expires_at: std::time::SystemTime::now() + Duration::from_secs(3600),
                signed_in_as: Some(MAILBOX.to_owned()),
                saved_at: std::time::SystemTime::now(),
            },
        )
        .unwrap();
    let bridge = InProcess::start(sandbox.account(MAILBOX), store, true).await;
    sandbox.inject(mailconnect::sandbox::Fault::SmtpMailFromReply(
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender".to_owned(),
    ));
    let sent = python_send(
        bridge.port(),
        &bridge.device,
        "plain",
        MAILBOX,
        "Refused upstream",
        0,
    );
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
    let spool = Spool::view(bridge.folder.path().join("spool"));
    assert!(
        wait_until(Duration::from_secs(20), || spool
            .envelopes()
            .unwrap()
            .first()
            .is_some_and(|envelope| envelope.state == MessageState::Refused)),
        "{:?}",
        spool.envelopes()
    );
    // The bounce waits for the next round, a second later: by then the provider takes mail again.
    sandbox.clear_faults();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let envelope = spool
        .envelopes()
        .unwrap()
        .into_iter()
        .find(|envelope| envelope.device == bridge.device.user)
        .unwrap();
    assert_eq!(envelope.attempts, 1, "a refusal is not tried again");
    assert!(
        envelope
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("5.7.60")),
        "{envelope:?}"
    );
    // The bounce tells the mailbox.
    assert!(
        wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .messages_received
            == 1),
        "{:?}",
        spool.envelopes()
    );
    assert_eq!(
        spool.envelopes().unwrap().len(),
        1,
        "only the refused message stays, for the admin to see"
    );
}

/// The bridge renews a sign-in with less than 10 minutes left before handing a message on (some Microsoft services
/// refuse a token about to end), and stores the rotated refresh token.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_with_under_ten_minutes_left_is_renewed_before_the_message_goes() {
    use mailconnect::store::{StoredTokens, TokenStore};

    let sandbox = crate::support::quick_sandbox(mailconnect::sandbox::SandboxOptions {
        default_user: MAILBOX.to_owned(),
        ..Default::default()
    })
    .await;
    let account = sandbox.account(MAILBOX);
    let tokens = crate::support::device_sign_in(&sandbox, &account, MAILBOX).await;
    let (store, _items) = TokenStore::in_memory();
    store
        .save_sign_in(
            MAILBOX,
            &StoredTokens {
                access_token: tokens.access_token.clone(),
                refresh_token: tokens.refresh_token.clone().unwrap(),
                // Eight minutes left: still valid, but inside the bridge's ten-minute margin.
                access_token_expires_at: std::time::SystemTime::now() + Duration::from_secs(8 * 60),
                signed_in_as: Some(MAILBOX.to_owned()),
                saved_at: std::time::SystemTime::now(),
            },
        )
        .unwrap();
    let refreshes = sandbox.stats().refreshes();
    let bridge = InProcess::start(account, store.clone(), false).await;
    let sent = python_send(
        bridge.port(),
        &bridge.device,
        "plain",
        MAILBOX,
        "After a renewal",
        0,
    );
    assert_eq!(stdout(&sent).trim(), "sent", "{}", stderr(&sent));
    assert!(
        wait_until(Duration::from_secs(20), || sandbox
            .stats()
            .messages_received
            == 1),
        "not delivered"
    );
    assert_eq!(
        sandbox.stats().refreshes(),
        refreshes + 1,
        "renewed once, first"
    );
    let stored = store.load_tokens(MAILBOX).unwrap().unwrap();
    assert!(
        stored
            .access_token_expires_at
            .duration_since(std::time::SystemTime::now())
            .unwrap()
            > Duration::from_secs(30 * 60),
        "the renewed token is the one stored"
    );
}

/// A bridge running in this test process for `account`, with one device ("Scanner") on its mailbox; settings,
/// devices and queue in a folder of its own.
pub(crate) struct InProcess {
    pub(crate) folder: tempfile::TempDir,
    pub(crate) running: mailconnect::bridge::RunningBridge,
    pub(crate) device: Device,
}

impl InProcess {
    pub(crate) async fn start(
        account: mailconnect::config::Account,
        store: mailconnect::store::TokenStore,
        bounce: bool,
    ) -> InProcess {
        InProcess::start_with(account, store, bounce, |_| {}).await
    }

    /// A bridge for the sandbox's mailbox with a token minted for it (no sign-in needed).
    pub(crate) async fn signed_in(
        sandbox: &mailconnect::sandbox::Sandbox,
        bounce: bool,
        adjust: impl FnOnce(&mut mailconnect::bridge::BridgeOptions),
    ) -> InProcess {
        use mailconnect::store::{StoredTokens, TokenStore};
        let (store, _items) = TokenStore::in_memory();
        store
            .save_sign_in(
                MAILBOX,
                &StoredTokens {
                    access_token: secrecy::SecretString::from(sandbox.mint_access_token(MAILBOX)),
                    refresh_token: secrecy::SecretString::from("not used here"),
                    access_token_expires_at: std::time::SystemTime::now()
                        + Duration::from_secs(3600),
                    signed_in_as: Some(MAILBOX.to_owned()),
                    saved_at: std::time::SystemTime::now(),
                },
            )
            .unwrap();
        InProcess::start_with(sandbox.account(MAILBOX), store, bounce, adjust).await
    }

    /// As [`InProcess::start`], with the options changed by `adjust` first.
    pub(crate) async fn start_with(
        account: mailconnect::config::Account,
        store: mailconnect::store::TokenStore,
        bounce: bool,
        adjust: impl FnOnce(&mut mailconnect::bridge::BridgeOptions),
    ) -> InProcess {
        use mailconnect::bridge::devices::Devices;
        use mailconnect::bridge::{BridgeOptions, BridgeServices};
        use secrecy::ExposeSecret;

        let folder = tempfile::tempdir().unwrap();
        let config_file = ConfigFile::at(folder.path().join("config.toml"));
        config_file
            .save(&mailconnect::config::Config {
                accounts: vec![account.clone()],
                timeouts: crate::support::test_timeouts(),
                ..Default::default()
            })
            .unwrap();
        let mut devices = Devices::default();
        let (device, password) = devices.add("Scanner", &account.mailbox, false).unwrap();
        devices.save(&folder.path().join("devices.toml")).unwrap();
        let mut options = BridgeOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            implicit_tls: Vec::new(),
            allow: Vec::new(),
            spool: folder.path().join("spool"),
            config_file,
            devices_file: folder.path().join("devices.toml"),
            host_name: "localhost".to_owned(),
            first_retry: Duration::from_secs(1),
            bounce,
            limits: Default::default(),
        };
        adjust(&mut options);
        let running = mailconnect::bridge::start(
            options,
            BridgeServices {
                store: mailconnect::store::StoreAccess::Memory(store),
                trust: mailconnect::tls::Trust::new(None).unwrap(),
                timeouts: crate::support::test_timeouts(),
            },
        )
        .await
        .unwrap();
        InProcess {
            folder,
            running,
            device: Device {
                user: device.user_name,
                password: password.expose_secret().to_owned(),
            },
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.running.listening[0].port()
    }

    pub(crate) fn spool(&self) -> mailconnect::bridge::spool::Spool {
        mailconnect::bridge::spool::Spool::view(self.folder.path().join("spool"))
    }
}
