//! Smoke test: the real `mailconnect --demo` binary opens its window under Xvfb, draws a first frame, and a
//! screenshot of the screen shows it.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::xvfb::Xvfb;
use crate::support::{require_program, wait_until};

#[test]
fn the_demo_opens_a_real_window_and_draws_its_first_frame() {
    let home = tempfile::tempdir().unwrap();
    let runtime_dir = home.path().join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let xvfb = Xvfb::start(Some(&runtime_dir));
    assert!(xvfb.display.len() > 1, "Xvfb did not report a display");

    // First: the window reports its first frame and exits by itself.
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_mailconnect"))
        .arg("--demo")
        .env("DISPLAY", &xvfb.display)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env_remove("WAYLAND_DISPLAY")
        .env(mailconnect::ui::EXIT_AFTER_FIRST_FRAME, "1")
        .output()
        .expect("run mailconnect");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mailconnect failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("first-frame rss_kib=") && stdout.contains("showing=wizard-step-1"),
        "no first frame reported: {stdout}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // Then: left running, the window is on screen with the wizard's first page drawn.
    let mut window = Command::new(env!("CARGO_BIN_EXE_mailconnect"))
        .arg("--demo")
        .env("DISPLAY", &xvfb.display)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run mailconnect");
    let mapped = wait_until(Duration::from_secs(20), || {
        Command::new(require_program("xwininfo"))
            .args([
                "-display",
                &xvfb.display,
                "-name",
                mailconnect::ui::WINDOW_TITLE,
            ])
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("IsViewable"))
    });
    std::thread::sleep(Duration::from_millis(700));
    let screenshot = home.path().join("smoke.png");
    let captured = Command::new(require_program("import"))
        .args(["-display", &xvfb.display, "-window", "root"])
        .arg(&screenshot)
        .status()
        .expect("import");
    let _ = window.kill();
    let _ = window.wait();
    assert!(
        mapped,
        "the window \"{}\" never became viewable",
        mailconnect::ui::WINDOW_TITLE
    );
    assert!(captured.success());
    let image = image::open(&screenshot).expect("screenshot").to_rgb8();
    let mut colours = std::collections::HashSet::new();
    for pixel in image.pixels().step_by(97) {
        colours.insert(pixel.0);
    }
    assert!(
        colours.len() > 8,
        "the screenshot is nearly blank ({} colours)",
        colours.len()
    );
    let keep = std::env::var_os("MAILCONNECT_SMOKE_SCREENSHOT");
    if let Some(path) = keep {
        std::fs::copy(&screenshot, path).unwrap();
    }
}

/// The notification's "Re-authenticate now" starts `mailconnect --reauthenticate <mailbox>`: the real window opens
/// straight on the wizard's reminder step for that mailbox, and without it on the accounts home.
#[test]
fn reauthenticate_opens_the_real_window_at_the_reminder_for_that_mailbox() {
    let home = tempfile::tempdir().unwrap();
    let runtime_dir = home.path().join("runtime");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let xvfb = Xvfb::start(Some(&runtime_dir));
    let config = home.path().join("config.toml");
    let mut preset =
        mailconnect::config::Preset::for_provider(mailconnect::config::Provider::Microsoft365);
    preset.client_id = Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned());
    mailconnect::config::ConfigFile::at(&config)
        .save(&mailconnect::config::Config {
            accounts: vec![mailconnect::config::Account::from_preset(
                "reception@smile-dental.example",
                &preset,
            )],
            ..Default::default()
        })
        .unwrap();
    let first_frame = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_mailconnect"))
            .arg("--config")
            .arg(&config)
            .args(extra)
            .env("DISPLAY", &xvfb.display)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env_remove("WAYLAND_DISPLAY")
            .env(mailconnect::ui::EXIT_AFTER_FIRST_FRAME, "1")
            .output()
            .expect("run mailconnect");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let opened = first_frame(&["--reauthenticate", "reception@smile-dental.example"]);
    assert!(opened.contains("showing=wizard-step-2"), "{opened}");
    let plain = first_frame(&[]);
    assert!(plain.contains("showing=accounts"), "{plain}");
}
