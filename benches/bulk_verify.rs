//! Benchmark: both checks for 1,000 mailboxes behind a proxy that delays every packet 25 ms each way (RTT 50 ms),
//! at several concurrency settings: wall time, connections in flight at most, and the process's peak memory.
//! Two peers: the sandbox's mail responders, with every mailbox reached through one service account; and a real
//! Dovecot (IMAP over TLS, submission with STARTTLS, each token checked by introspection), with every mailbox on its
//! own sign-in (Dovecot has no Full Access). Run: `cargo bench --bench bulk_verify`.
//! `MAILCONNECT_BENCH_MAILBOXES` (default 1000), `MAILCONNECT_BENCH_DELAY_MS` (default 25),
//! `MAILCONNECT_BENCH_CONCURRENCY` (default "8,32,64,128") and `MAILCONNECT_BENCH_PEER` ("sandbox", "dovecot" or
//! the default "both") change the run.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use mailconnect::auth::SignInClient;
use mailconnect::config::{Account, ServerSettings};
use mailconnect::sandbox::SandboxOptions;
use mailconnect::store::{StoredTokens, TokenStore};
use mailconnect::verify::CheckContext;
use secrecy::SecretString;
use support::proxy::delaying_proxy;

const SERVICE: &str = "service@smile-dental.example";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident memory so far, in MiB.
fn peak_mib() -> u64 {
    mailconnect::ui::process_memory_kib("VmHWM").map_or(0, |kib| kib / 1024)
}

fn main() {
    let mailboxes = env_number("MAILCONNECT_BENCH_MAILBOXES", 1000) as usize;
    let delay = Duration::from_millis(env_number("MAILCONNECT_BENCH_DELAY_MS", 25));
    let settings: Vec<usize> = std::env::var("MAILCONNECT_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "8,32,64,128".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let peer = std::env::var("MAILCONNECT_BENCH_PEER").unwrap_or_else(|_| "both".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = support::quick_sandbox(SandboxOptions {
            default_user: SERVICE.to_owned(),
            ..SandboxOptions::default()
        })
        .await;
        if peer != "dovecot" {
            let (accounts, store) = through_service_account(&sandbox, mailboxes, delay).await;
            let context = Arc::new(CheckContext::new(
                support::platform_trust(),
                support::test_timeouts(),
            ));
            println!(
                "{mailboxes} mailboxes, both checks each, RTT {} ms: sandbox responders, one service account",
                delay.as_millis() * 2
            );
            run_settings(&accounts, &store, &context, &settings).await;
        }
        if peer != "sandbox" {
            let ca = support::TestCa::new(&["localhost"]);
            let dovecot = support::Dovecot::start(&ca, &sandbox.introspection_url());
            let (accounts, store) = own_sign_ins(&sandbox, &dovecot, mailboxes, delay).await;
            let context = Arc::new(CheckContext::new(
                mailconnect::tls::Trust::new(Some(&ca.ca_file)).unwrap(),
                support::test_timeouts(),
            ));
            println!(
                "{mailboxes} mailboxes, both checks each, RTT {} ms: Dovecot (TLS, introspection), own sign-ins",
                delay.as_millis() * 2
            );
            run_settings(&accounts, &store, &context, &settings).await;
            drop(dovecot);
        }
    });
}

/// Mailboxes reached through one signed-in service account with Full Access and Send As on each.
async fn through_service_account(
    sandbox: &mailconnect::sandbox::Sandbox,
    mailboxes: usize,
    delay: Duration,
) -> (Vec<Account>, TokenStore) {
    let service = sandbox.account(SERVICE);
    let tokens = support::device_sign_in(sandbox, &service, SERVICE).await;
    let (store, _items) = TokenStore::in_memory();
    store
        .save_sign_in(
            SERVICE,
            &StoredTokens {
                access_token: tokens.access_token.clone(),
                refresh_token: tokens.refresh_token.clone().expect("a refresh token"),
                access_token_expires_at: tokens.expires_at,
                signed_in_as: Some(SERVICE.to_owned()),
                saved_at: SystemTime::now(),
            },
        )
        .unwrap();
    let imap = delaying_proxy(service.imap.port, delay).await;
    let smtp = delaying_proxy(service.smtp.port, delay).await;
    let accounts = (0..mailboxes)
        .map(|n| {
            let mailbox = format!("staff{n:04}@smile-dental.example");
            sandbox.grant_full_access(SERVICE, &mailbox);
            sandbox.grant_send_as(SERVICE, &mailbox);
            Account {
                mailbox,
                service_account: Some(SERVICE.to_owned()),
                imap: ServerSettings {
                    port: imap,
                    ..service.imap.clone()
                },
                smtp: ServerSettings {
                    port: smtp,
                    ..service.smtp.clone()
                },
                ..service.clone()
            }
        })
        .collect();
    (accounts, store)
}

/// Mailboxes each with a sign-in of its own, served by Dovecot.
async fn own_sign_ins(
    sandbox: &mailconnect::sandbox::Sandbox,
    dovecot: &support::Dovecot,
    mailboxes: usize,
    delay: Duration,
) -> (Vec<Account>, TokenStore) {
    let imap = delaying_proxy(dovecot.imap("localhost").port, delay).await;
    let smtp = delaying_proxy(dovecot.smtp("localhost").port, delay).await;
    let (store, _items) = TokenStore::in_memory();
    let accounts = (0..mailboxes)
        .map(|n| {
            let mailbox = format!("staff{n:04}@smile-dental.example");
            store
                .save_sign_in(
                    &mailbox,
                    &StoredTokens {
                        access_token: SecretString::from(sandbox.mint_access_token(&mailbox)),
                        refresh_token: SecretString::from("not used: the access token is fresh"),
                        access_token_expires_at: SystemTime::now() + Duration::from_secs(3600),
                        signed_in_as: Some(mailbox.clone()),
                        saved_at: SystemTime::now(),
                    },
                )
                .unwrap();
            Account {
                imap: ServerSettings {
                    port: imap,
                    ..dovecot.imap("localhost")
                },
                smtp: ServerSettings {
                    port: smtp,
                    ..dovecot.smtp("localhost")
                },
                ..sandbox.account(&mailbox)
            }
        })
        .collect();
    (accounts, store)
}

async fn run_settings(
    accounts: &[Account],
    store: &TokenStore,
    context: &Arc<CheckContext>,
    settings: &[usize],
) {
    for &concurrency in settings {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let passed = futures::stream::iter(accounts.iter().map(|account| {
            let (store, context) = (store.clone(), context.clone());
            let (in_flight, most) = (in_flight.clone(), most.clone());
            async move {
                // Each mailbox holds two connections (IMAP and SMTP) while it is checked.
                let now = in_flight.fetch_add(2, Ordering::SeqCst) + 2;
                most.fetch_max(now, Ordering::SeqCst);
                let client = || -> anyhow::Result<SignInClient> {
                    Ok(SignInClient::for_account(
                        account,
                        &support::platform_trust(),
                        &support::test_timeouts(),
                    )?)
                };
                let checked =
                    mailconnect::mailbox_check::check_mailbox(account, &store, &context, client)
                        .await;
                in_flight.fetch_sub(2, Ordering::SeqCst);
                checked.is_ok_and(|checked| checked.passed())
            }
        }))
        .buffer_unordered(concurrency)
        .filter(|passed| std::future::ready(*passed))
        .count()
        .await;
        let elapsed = started.elapsed();
        println!(
            "concurrency {concurrency:>4}: {:>6.2} s, {passed}/{} passed, at most {} connections in flight, peak memory {} MiB",
            elapsed.as_secs_f64(),
            accounts.len(),
            most.load(Ordering::SeqCst),
            peak_mib()
        );
    }
}
