//! Benchmark: the SMTP bridge in front of a real Dovecot (submission with STARTTLS, every token checked by
//! introspection) behind a proxy that holds every packet 25 ms each way (RTT 50 ms), as the provider would be
//! across the internet. Measures (1) the time from a device's first byte to the message arriving at the relay, through
//! the bridge, against submitting the same message directly with XOAUTH2; (2) the bridge's resident memory while it
//! relays a 25 MB message; (3) how many messages a second the bridge accepts into its queue from eight devices at
//! once. Run: `cargo bench --bench bridge`. `MAILCONNECT_BENCH_DELAY_MS` (default 25) changes the delay.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mailconnect::bridge::devices::Devices;
use mailconnect::bridge::{BridgeOptions, BridgeServices};
use mailconnect::config::{Account, Config, ConfigFile, ServerSettings};
use mailconnect::sandbox::SandboxOptions;
use mailconnect::store::{StoreAccess, StoredTokens, TokenStore};
use mailconnect::verify::{CheckContext, MailCredentials};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MAILBOXES: [&str; 3] = [
    "reception@smile-dental.example",
    "scans@smile-dental.example",
    "billing@smile-dental.example",
];
const LATENCY_SAMPLES: usize = 10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_kib() -> u64 {
    mailconnect::ui::process_memory_kib("VmRSS").unwrap_or(0)
}

/// A device on this computer: AUTH PLAIN (allowed on loopback), one message per session, `body_lines` lines.
async fn device_send(
    port: u16,
    user: &str,
    password: &str,
    from: &str,
    subject: &str,
    body_lines: usize,
) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let mut expect = async |read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str| loop {
        line.clear();
        read.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect(&mut read, "220").await;
    write.write_all(b"EHLO device\r\n").await.unwrap();
    expect(&mut read, "250").await;
    let plain = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("\0{user}\0{password}"),
    );
    write
        .write_all(format!("AUTH PLAIN {plain}\r\n").as_bytes())
        .await
        .unwrap();
    expect(&mut read, "235").await;
    write
        .write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await
        .unwrap();
    expect(&mut read, "250").await;
    write
        .write_all(b"RCPT TO:<someone@example.org>\r\n")
        .await
        .unwrap();
    expect(&mut read, "250").await;
    write.write_all(b"DATA\r\n").await.unwrap();
    expect(&mut read, "354").await;
    let mut writer = tokio::io::BufWriter::with_capacity(64 * 1024, write);
    writer
        .write_all(format!("From: {from}\r\nSubject: {subject}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let text_line = format!("{}\r\n", "x".repeat(76));
    for _ in 0..body_lines {
        writer.write_all(text_line.as_bytes()).await.unwrap();
    }
    writer.write_all(b".\r\n").await.unwrap();
    writer.flush().await.unwrap();
    expect(&mut read, "250").await;
    writer.write_all(b"QUIT\r\n").await.unwrap();
}

fn main() {
    let delay = Duration::from_millis(
        std::env::var("MAILCONNECT_BENCH_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(25),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = support::quick_sandbox(SandboxOptions::default()).await;
        let ca = support::TestCa::new(&["localhost"]);
        let dovecot = support::Dovecot::start(&ca, &sandbox.introspection_url());
        let submission = support::proxy::delaying_proxy(dovecot.smtp("localhost").port, delay).await;
        let (store, _items) = TokenStore::in_memory();
        let accounts: Vec<Account> = MAILBOXES
            .iter()
            .map(|mailbox| {
                store
                    .save_sign_in(
                        mailbox,
                        &StoredTokens {
                            access_token: SecretString::from(sandbox.mint_access_token(mailbox)),
                            refresh_token: SecretString::from("not used: the access token is fresh"),
                            access_token_expires_at: SystemTime::now() + Duration::from_secs(3600),
                            signed_in_as: Some((*mailbox).to_owned()),
                            saved_at: SystemTime::now(),
                        },
                    )
                    .unwrap();
                Account {
                    smtp: ServerSettings {
                        port: submission,
                        ..dovecot.smtp("localhost")
                    },
                    imap: dovecot.imap("localhost"),
                    ..sandbox.account(mailbox)
                }
            })
            .collect();
        let folder = tempfile::tempdir().unwrap();
        let config_file = ConfigFile::at(folder.path().join("config.toml"));
        config_file
            .save(&Config {
                extra_ca_file: Some(ca.ca_file.clone()),
                timeouts: support::test_timeouts(),
                accounts: accounts.clone(),
                ..Config::default()
            })
            .unwrap();
        let devices_file = folder.path().join("devices.toml");
        let mut devices = Devices::default();
        let mut passwords = Vec::new();
        for mailbox in MAILBOXES {
            let (device, password) = devices.add(&format!("Device for {mailbox}"), mailbox, false).unwrap();
            passwords.push((device.user_name, secrecy::ExposeSecret::expose_secret(&password).to_owned()));
        }
        devices.save(&devices_file).unwrap();
        let trust = mailconnect::tls::Trust::new(Some(&ca.ca_file)).unwrap();
        let running = mailconnect::bridge::start(
            BridgeOptions {
                listen: vec!["127.0.0.1:0".parse().unwrap()],
                implicit_tls: Vec::new(),
                allow: Vec::new(),
                spool: folder.path().join("spool"),
                config_file: config_file.clone(),
                devices_file,
                host_name: "localhost".to_owned(),
                first_retry: Duration::from_secs(1),
                bounce: true,
                limits: Default::default(),
            },
            BridgeServices {
                store: StoreAccess::Memory(store.clone()),
                trust: trust.clone(),
                timeouts: support::test_timeouts(),
            },
        )
        .await
        .unwrap();
        let port = running.listening[0].port();
        let arrived = || dovecot.relay.messages.load(Ordering::SeqCst);
        let wait_for = async |count: u32| {
            while arrived() < count {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        println!("RTT {} ms between mailconnect and Dovecot's submission (TLS, XOAUTH2 by introspection)", delay.as_millis() * 2);

        // (1) Latency: direct submission against the bridge, one message at a time.
        let context = CheckContext::new(trust.clone(), support::test_timeouts());
        let mut direct = Vec::new();
        let mut through = Vec::new();
        let mut accepted = Vec::new();
        let (user, password) = &passwords[0];
        for n in 0..=LATENCY_SAMPLES {
            let before = arrived();
            let started = Instant::now();
            let token = store.load_tokens(MAILBOXES[0]).unwrap().unwrap().access_token;
            let credentials = MailCredentials::for_account(&accounts[0], token);
            let message = format!("From: {}\r\nSubject: direct {n}\r\n\r\nHello.\r\n", MAILBOXES[0]);
            mailconnect::verify::submit(
                &accounts[0].smtp,
                &credentials,
                &context,
                &["someone@example.org".to_owned()],
                message.as_bytes(),
            )
            .await
            .unwrap();
            wait_for(before + 1).await;
            let elapsed = started.elapsed();

            let before = arrived();
            let started = Instant::now();
            device_send(port, user, password, MAILBOXES[0], &format!("bridge {n}"), 1).await;
            let queued = started.elapsed();
            wait_for(before + 1).await;
            // The first of each is a warm-up (TLS session set-up, the bridge's first token read).
            if n > 0 {
                direct.push(elapsed);
                through.push(started.elapsed());
                accepted.push(queued);
            }
        }
        let (direct, through, accepted) = (median(direct), median(through), median(accepted));
        println!(
            "(1) a message, device to relay: direct {:.1} ms, through the bridge {:.1} ms (median of {LATENCY_SAMPLES}): \
             {:+.1} ms, {:.2} round trips; the device has its 250 after {:.1} ms",
            direct.as_secs_f64() * 1000.0,
            through.as_secs_f64() * 1000.0,
            (through.as_secs_f64() - direct.as_secs_f64()) * 1000.0,
            (through.as_secs_f64() - direct.as_secs_f64()) / (delay.as_secs_f64() * 2.0),
            accepted.as_secs_f64() * 1000.0,
        );

        // (2) Memory while a 25 MB message goes through (another mailbox: its own per-minute allowance).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss_kib();
        let peak = Arc::new(AtomicU64::new(idle));
        let sampling = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let before = arrived();
        let started = Instant::now();
        let (user, password) = &passwords[1];
        let lines = 25 * 1024 * 1024 / 78 + 1;
        device_send(port, user, password, MAILBOXES[1], "25 MB scan", lines).await;
        wait_for(before + 1).await;
        let took = started.elapsed();
        sampling.abort();
        println!(
            "(2) a 25 MB message through the bridge in {:.2} s: resident memory idle {} KiB, peak {} KiB: {:+.1} MiB \
             above idle (the whole benchmark process: the bridge, the device, the proxy, the sandbox)",
            took.as_secs_f64(),
            idle,
            peak.load(Ordering::SeqCst),
            (peak.load(Ordering::SeqCst) as f64 - idle as f64) / 1024.0
        );

        // (3) Accepted into the queue: eight devices at once, 25 messages each.
        let (user, password) = passwords[2].clone();
        let started = Instant::now();
        let devices: Vec<_> = (0..8)
            .map(|d| {
                let (user, password) = (user.clone(), password.clone());
                tokio::spawn(async move {
                    for n in 0..25 {
                        device_send(port, &user, &password, MAILBOXES[2], &format!("burst {d}-{n}"), 20).await;
                    }
                })
            })
            .collect();
        for device in devices {
            device.await.unwrap();
        }
        let took = started.elapsed();
        println!(
            "(3) 200 messages from 8 devices at once accepted into the queue in {:.2} s: {:.0} messages a second (each \
             written and synced before its 250; handed on at 30 a minute per mailbox)",
            took.as_secs_f64(),
            200.0 / took.as_secs_f64()
        );
        drop(running);
        drop(dovecot);
    });
}
