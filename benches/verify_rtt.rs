//! Benchmark: IMAP and SMTP checks against a real Dovecot through a TCP proxy that delays every packet, to count
//! round trips (time / RTT) and to show that running both checks at once costs little more than the slower one.
//!
//! Run after `tests/run.sh` has installed the test peers: `cargo bench --bench verify_rtt`.
//! Optional: `MAILCONNECT_BENCH_DELAY_MS` (one-way delay, default 25) and `MAILCONNECT_BENCH_RUNS` (default 7).

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mailconnect::config::{Account, ServerSettings};
use mailconnect::sandbox::SandboxOptions;
use std::sync::{Arc, Mutex};

use mailconnect::verify::{self, CheckContext, MailCredentials, Protocol, Stage};

use support::proxy::delaying_proxy;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn measure(label: &str, token_length: usize, delay: Duration, runs: usize) {
    let sandbox = support::quick_sandbox(SandboxOptions {
        token_length,
        ..SandboxOptions::default()
    })
    .await;
    let ca = support::TestCa::new(&["localhost"]);
    let dovecot = support::Dovecot::start(&ca, &sandbox.introspection_url());
    let imap_port = delaying_proxy(dovecot.imaps_port, delay).await;
    let smtp_port = delaying_proxy(dovecot.submission_port, delay).await;
    let account = Account {
        imap: ServerSettings {
            port: imap_port,
            ..dovecot.imap("localhost")
        },
        smtp: ServerSettings {
            port: smtp_port,
            ..dovecot.smtp("localhost")
        },
        ..sandbox.account("reception@smile-dental.example")
    };
    let tokens = support::device_sign_in(&sandbox, &account, &account.mailbox).await;
    let credentials = MailCredentials::for_account(&account, tokens.access_token);
    let context = CheckContext::new(ca.trust(), support::test_timeouts());

    let mut imap_alone = Vec::new();
    let mut smtp_alone = Vec::new();
    let mut both = Vec::new();
    for _ in 0..runs {
        let report = verify::check_imap(&account.imap, &credentials, &context).await;
        assert!(report.verdict.passed(), "{report:?}");
        imap_alone.push(report.elapsed);
        let report = verify::check_smtp(&account.smtp, &credentials, &context).await;
        assert!(report.verdict.passed(), "{report:?}");
        smtp_alone.push(report.elapsed);
        let started = Instant::now();
        let (imap, smtp) = verify::check_both(&account, &credentials, &context).await;
        assert!(imap.verdict.passed() && smtp.verdict.passed());
        both.push(started.elapsed());
    }
    let rtt = delay * 2;
    // One more run of each with a stage log: when each stage started, in round trips.
    for protocol in [Protocol::Imap, Protocol::Smtp] {
        let started = Instant::now();
        let stages = Arc::new(Mutex::new(Vec::new()));
        let sink = stages.clone();
        let traced = context
            .clone()
            .with_progress(Arc::new(move |_, stage: Stage| {
                sink.lock().unwrap().push((stage, started.elapsed()))
            }));
        let report = match protocol {
            Protocol::Imap => verify::check_imap(&account.imap, &credentials, &traced).await,
            Protocol::Smtp => verify::check_smtp(&account.smtp, &credentials, &traced).await,
        };
        let timeline: Vec<String> = stages
            .lock()
            .unwrap()
            .iter()
            .map(|(stage, at)| {
                format!(
                    "{} {:.1}",
                    stage.name(),
                    at.as_secs_f64() / rtt.as_secs_f64()
                )
            })
            .collect();
        println!(
            "  {protocol:?} stages start at (round trips): {}, done {:.1}",
            timeline.join(", "),
            report.elapsed.as_secs_f64() / rtt.as_secs_f64()
        );
    }
    let (imap, smtp, both) = (median(imap_alone), median(smtp_alone), median(both));
    let round_trips = |elapsed: Duration| elapsed.as_secs_f64() / rtt.as_secs_f64();
    let slower = imap.max(smtp);
    println!(
        "{label} (token {token_length} characters, RTT {} ms, median of {runs}):",
        rtt.as_millis()
    );
    println!(
        "  IMAP alone      {:>7.1} ms  = {:.2} round trips",
        imap.as_secs_f64() * 1e3,
        round_trips(imap)
    );
    println!(
        "  SMTP alone      {:>7.1} ms  = {:.2} round trips",
        smtp.as_secs_f64() * 1e3,
        round_trips(smtp)
    );
    println!(
        "  both at once    {:>7.1} ms  = {:.3} x the slower check alone",
        both.as_secs_f64() * 1e3,
        both.as_secs_f64() / slower.as_secs_f64()
    );
}

fn main() {
    let delay = Duration::from_millis(
        std::env::var("MAILCONNECT_BENCH_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(25),
    );
    let runs = std::env::var("MAILCONNECT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        measure("Microsoft-sized token", 1800, delay, runs).await;
        measure(
            "Short token (SMTP initial response fits one line)",
            200,
            delay,
            runs,
        )
        .await;
    });
}
