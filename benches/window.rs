//! Benchmark: the wizard's window under Xvfb with the release build. Reports the time from process start to the
//! first frame (against a bare eframe window with the same features), memory after the first frame, and the CPU
//! used while the sign-in step sits ten seconds with its countdown. Run: `cargo bench --bench window`
//! (it builds the release binaries it measures first). `MAILCONNECT_BENCH_RUNS` sets the runs (default 10).

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn release_dir() -> PathBuf {
    // This benchmark runs from target/release/deps.
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs `program` until it reports its first frame and exits; returns (wall time, resident KiB).
fn first_frame(program: &Path, arguments: &[&str], display: &str, home: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let output = Command::new(program)
        .args(arguments)
        .env("DISPLAY", display)
        .env("HOME", home)
        .env_remove("WAYLAND_DISPLAY")
        .env(mailconnect::ui::EXIT_AFTER_FIRST_FRAME, "1")
        .output()
        .expect("run");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rss = stdout
        .lines()
        .find_map(|line| line.strip_prefix("first-frame rss_kib="))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{} reported no first frame: {stdout} {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    (elapsed, rss)
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--bin",
            "mailconnect",
            "--example",
            "bare_window",
            "--example",
            "idle_cpu",
        ])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let runs: usize = std::env::var("MAILCONNECT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let xvfb = support::xvfb::Xvfb::start(None);
    let display = xvfb.display.clone();
    let home = tempfile::tempdir().unwrap();
    let release = release_dir();
    let mailconnect = release.join("mailconnect");
    let bare = release.join("examples/bare_window");
    // One untimed run each warms the page cache.
    first_frame(&mailconnect, &["--demo"], &display, home.path());
    first_frame(&bare, &[], &display, home.path());
    let mut wizard_times = Vec::new();
    let mut bare_times = Vec::new();
    let mut wizard_rss = Vec::new();
    let mut bare_rss = Vec::new();
    for _ in 0..runs {
        let (time, rss) = first_frame(&mailconnect, &["--demo"], &display, home.path());
        wizard_times.push(time);
        wizard_rss.push(rss);
        let (time, rss) = first_frame(&bare, &[], &display, home.path());
        bare_times.push(time);
        bare_rss.push(rss);
    }
    let (wizard, bare_time) = (median(wizard_times), median(bare_times));
    println!("Start to first frame (median of {runs}, Xvfb, glow):");
    println!(
        "  mailconnect --demo  {:>6.1} ms   memory after first frame {:>6} KiB",
        wizard.as_secs_f64() * 1e3,
        median(wizard_rss)
    );
    println!(
        "  bare eframe window  {:>6.1} ms   memory after first frame {:>6} KiB",
        bare_time.as_secs_f64() * 1e3,
        median(bare_rss)
    );
    println!(
        "  ratio               {:>6.2} x",
        wizard.as_secs_f64() / bare_time.as_secs_f64()
    );

    for (page, arguments) in [
        ("the sign-in step with the code's countdown", &[][..]),
        ("the accounts home (20 mailboxes)", &["--home"][..]),
    ] {
        let output = Command::new(release.join("examples/idle_cpu"))
            .args(arguments)
            .env("DISPLAY", &display)
            .env("HOME", home.path())
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .expect("idle_cpu");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find(|line| line.starts_with("idle-cpu"))
            .unwrap_or("idle-cpu: no result");
        println!("Sitting on {page}: {line}");
    }
    drop(xvfb);
}
