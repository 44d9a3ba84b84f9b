//! Benchmark: `mailconnect token` with a valid cached token, whole process, against `secret-tool lookup` of one
//! item (the floor for one Secret Service read), and a `token` call that must refresh. Uses a private GNOME Keyring
//! and the sandbox. Run after `tests/run.sh` installed the peers: `cargo bench --bench token`.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mailconnect::config::Config;
use mailconnect::sandbox::SandboxOptions;
use mailconnect::store::{StoredTokens, TokenStore};

const MAILBOX: &str = "reception@smile-dental.example";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success(), "{command:?} failed");
    started.elapsed()
}

fn main() {
    let keyring = support::PrivateKeyring::start_as_session_bus("bench keyring password");
    let runs: usize = std::env::var("MAILCONNECT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sandbox = runtime.block_on(support::quick_sandbox(SandboxOptions::default()));
    let account = sandbox.account(MAILBOX);
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("config.toml");
    let config = Config {
        accounts: vec![account.clone()],
        ..Config::default()
    };
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let tokens = runtime.block_on(support::device_sign_in(&sandbox, &account, MAILBOX));
    let store = TokenStore::open().unwrap();
    let save = |expires_at: SystemTime| {
        store
            .save_sign_in(
                MAILBOX,
                &StoredTokens {
                    access_token: tokens.access_token.clone(),
                    refresh_token: tokens.refresh_token.clone().unwrap(),
                    access_token_expires_at: expires_at,
                    signed_in_as: Some(MAILBOX.to_owned()),
                    saved_at: SystemTime::now(),
                },
            )
            .unwrap()
    };
    save(SystemTime::now() + Duration::from_secs(3600));
    let generation = store.manifest(MAILBOX).unwrap().unwrap().generation;
    let mailconnect = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mailconnect"));
        command
            .arg("--config")
            .arg(&config_path)
            .args(["token", MAILBOX])
            .env("HOME", home.path());
        command
    };
    let secret_tool = || {
        let mut command = Command::new("secret-tool");
        command.args([
            "lookup",
            "service",
            "mailconnect",
            "username",
            &format!("{MAILBOX}:access-token:{generation}:1"),
        ]);
        command
    };
    // Warm up both (page cache, the keyring's first unlock of the session).
    timed(&mut mailconnect());
    timed(&mut secret_tool());
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..runs {
        ours.push(timed(&mut mailconnect()));
        floor.push(timed(&mut secret_tool()));
    }
    let (ours, floor) = (median(ours), median(floor));
    println!("Cached token, whole process (median of {runs}):");
    println!(
        "  mailconnect token           {:>6.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "  secret-tool lookup (1 item) {:>6.1} ms",
        floor.as_secs_f64() * 1e3
    );
    println!(
        "  ratio                       {:>6.2} x",
        ours.as_secs_f64() / floor.as_secs_f64()
    );

    let mut refreshing = Vec::new();
    for _ in 0..10 {
        let current = store.load_tokens(MAILBOX).unwrap().unwrap();
        store
            .save_sign_in(
                MAILBOX,
                &StoredTokens {
                    access_token_expires_at: SystemTime::now(),
                    ..current
                },
            )
            .unwrap();
        refreshing.push(timed(&mut mailconnect()));
    }
    println!(
        "Token that must refresh (median of 10): {:.1} ms",
        median(refreshing).as_secs_f64() * 1e3
    );
    drop(keyring);
}
