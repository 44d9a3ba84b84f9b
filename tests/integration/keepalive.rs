//! `mailconnect keepalive` end to end: the real binary, the real keyring, the sandbox, and a stand-in desktop
//! notification service on the test's private session bus; the timer units checked by `systemd-analyze verify`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::command_line::{MAILBOX, Setup, stderr, stdout};
use crate::support::require_program;

/// What the "desktop" was asked to show: (summary, body, actions).
type Shown = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

/// A desktop whose user clicks "Re-authenticate now" on every notification as soon as it shows.
struct FakeNotifications {
    shown: Shown,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeNotifications {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        #[zbus(signal_emitter)] emitter: zbus::object_server::SignalEmitter<'_>,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        _hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let id = {
            let mut shown = self.shown.lock().unwrap();
            shown.push((summary, body, actions.clone()));
            shown.len() as u32
        };
        if let Some(key) = actions
            .chunks(2)
            .find(|pair| pair.get(1).map(String::as_str) == Some("Re-authenticate now"))
            .map(|pair| pair[0].clone())
        {
            Self::action_invoked(&emitter, id, &key).await.unwrap();
        }
        id
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}

/// Serves org.freedesktop.Notifications on the session bus the test process uses (the private keyring's).
fn notification_service() -> (zbus::blocking::Connection, Shown) {
    let shown = Shown::default();
    let connection = zbus::blocking::connection::Builder::session()
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            FakeNotifications {
                shown: shown.clone(),
            },
        )
        .unwrap()
        .build()
        .unwrap();
    (connection, shown)
}

#[test]
fn keepalive_renews_old_sign_ins_and_notifies_when_one_needs_a_person() {
    let setup = Setup::new();
    let (_service, shown) = notification_service();
    setup.login();

    // Signed in just now: nothing is sent to Microsoft.
    let before = setup.sandbox.stats().refreshes();
    let quiet = setup.run(&["keepalive"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(
        stdout(&quiet).contains("renewed recently"),
        "{}",
        stdout(&quiet)
    );
    assert_eq!(setup.sandbox.stats().refreshes(), before);

    // Four days old: renewed, and the new token works.
    setup.age_sign_in(4);
    let renewed = setup.run(&["keepalive", "--json"]);
    assert!(renewed.status.success(), "{}", stderr(&renewed));
    let line: serde_json::Value = serde_json::from_str(stdout(&renewed).trim()).unwrap();
    assert_eq!(line["result"], "renewed");
    assert_eq!(setup.sandbox.stats().refreshes(), before + 1);
    let token = setup.run(&["token", MAILBOX]);
    assert!(setup.imap_accepts(stdout(&token).trim_end()));

    // Microsoft revokes the sign-in: needs a person; the desktop is told, and status says the same words.
    // The person clicks "Re-authenticate now": the window is started for that mailbox (here without a display,
    // so it ends at once; the window's side is tested in real_window).
    setup.age_sign_in(4);
    setup.sandbox.revoke_all();
    let refused = setup
        .command(&["keepalive"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(
        stdout(&refused).contains("needs a new sign-in (AADSTS"),
        "{}",
        stdout(&refused)
    );
    assert!(
        stdout(&refused).contains(&format!("Opening the window to sign {MAILBOX} in again.")),
        "{}",
        stdout(&refused)
    );
    let shown = shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].0.contains(MAILBOX) && shown[0].1.contains("mailconnect login"));
    assert!(
        shown[0].2.contains(&"Re-authenticate now".to_owned()),
        "the notification has the button: {:?}",
        shown[0].2
    );
    let status = setup.run(&["status"]);
    assert!(
        stdout(&status).contains("connection:        needs sign-in (AADSTS"),
        "{}",
        stdout(&status)
    );
    // Nothing was wiped: the stored sign-in is still there for support to look at.
    assert!(stdout(&status).contains("signed in as:"));
}

/// Stand-ins for `systemctl` and `loginctl` on PATH that record their arguments (and the user they ran as), so
/// `--install` starts nothing on the machine running the tests; the units themselves go to `systemd-analyze`.
fn recording_tools(folder: &Path) -> std::path::PathBuf {
    let bin = folder.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["systemctl", "loginctl"] {
        let script = bin.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s|' \"$@\" >> '{log}'\nprintf 'as=%s\\n' \"$(id -un)\" >> '{log}'\n",
                log = folder.join(format!("{tool}.log")).display()
            ),
        )
        .unwrap();
        let mut permissions = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions).unwrap();
    }
    bin
}

fn systemd_analyze_verify(paths: &[std::path::PathBuf]) {
    let verify = std::process::Command::new(require_program("systemd-analyze"))
        .arg("verify")
        .args(paths)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr).into_owned();
    assert!(verify.status.success(), "{said}");
    assert!(
        !said.contains("mailconnect-"),
        "systemd-analyze found fault with the units: {said}"
    );
}

/// The class of "the unit runs something other than what was installed": every path a unit names (the program, the
/// settings, the bridge's queue) is absolute and quoted so systemd reads it back, through one function for both
/// units. Paths with spaces, `$`, `%`, `\`, quotes pass `systemd-analyze verify` (which finds the program by its
/// path); a line break is refused with nothing written; a relative `--config` is written absolute;
/// `enable-linger` names no user, so loginctl takes the one the process runs as, not `$USER`.
#[test]
fn installed_units_run_the_settings_they_were_installed_with_whatever_the_paths_hold() {
    let folder = tempfile::tempdir().unwrap();
    // The program's path: systemd refuses `\`, `"` and `'` there itself, so those are refused with words (below).
    let program_folder = folder.path().join("Program Files $HOME 100% ${USER}");
    std::fs::create_dir_all(&program_folder).unwrap();
    let program = program_folder.join("mailconnect");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mailconnect"), &program).unwrap();
    let settings_folder = folder.path().join("it's \"the\" back\\slash $USER 100%");
    std::fs::create_dir_all(&settings_folder).unwrap();
    let config = settings_folder.join("config.toml");
    let units_folder = folder.path().join("units");
    std::fs::create_dir_all(&units_folder).unwrap();
    let mut paths = Vec::new();
    for (name, text) in mailconnect::keepalive::systemd_units(&program, &config).unwrap() {
        let path = units_folder.join(name);
        std::fs::write(&path, &text).unwrap();
        paths.push(path);
    }
    let bridge_unit = mailconnect::cli_bridge::systemd_unit(
        &program,
        &[
            "--spool".to_owned(),
            settings_folder.join("queue").display().to_string(),
        ],
        &config,
    )
    .unwrap();
    let bridge_path = units_folder.join("mailconnect-bridge.service");
    std::fs::write(&bridge_path, &bridge_unit).unwrap();
    paths.push(bridge_path);
    systemd_analyze_verify(&paths);
    assert!(
        bridge_unit.contains(r#""--config" "#)
            && bridge_unit.contains(r#"it's \"the\" back\\slash $$USER 100%%"#),
        "{bridge_unit}"
    );
    for refused in [
        mailconnect::keepalive::systemd_units(
            &program,
            &folder.path().join("a\nExecStartPre=/bin/false/c.toml"),
        )
        .err(),
        mailconnect::keepalive::systemd_units(&settings_folder.join("mailconnect"), &config).err(),
    ] {
        assert!(refused.is_some());
    }

    // `--install` from the settings' own folder with a relative --config: the units name the absolute path.
    let home = folder.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let tools = recording_tools(folder.path());
    let install = |arguments: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailconnect"))
            .args(arguments)
            .current_dir(&settings_folder)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("USER", "someone-else")
            .env(
                "PATH",
                format!("{}:{}", tools.display(), std::env::var("PATH").unwrap()),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let units = home.join(".config/systemd/user");
    let installed = install(&["--config", "config.toml", "keepalive", "--install"]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let installed = install(&[
        "--config",
        "config.toml",
        "bridge",
        "--spool",
        "queue",
        "--install",
    ]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let service = std::fs::read_to_string(units.join("mailconnect-keepalive.service")).unwrap();
    let bridge = std::fs::read_to_string(units.join("mailconnect-bridge.service")).unwrap();
    let quoted_folder = settings_folder
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    for unit in [&service, &bridge] {
        assert!(
            unit.contains(&format!("\"--config\" \"{quoted_folder}/config.toml\"")),
            "the settings it was installed with, absolute: {unit}"
        );
    }
    assert!(
        bridge.contains(&format!("\"--spool\" \"{quoted_folder}/queue\"")),
        "{bridge}"
    );
    systemd_analyze_verify(&[
        units.join("mailconnect-keepalive.service"),
        units.join("mailconnect-keepalive.timer"),
        units.join("mailconnect-bridge.service"),
    ]);
    let linger = std::fs::read_to_string(folder.path().join("loginctl.log")).unwrap();
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    assert_eq!(
        linger.trim(),
        format!(
            "enable-linger|as={}",
            String::from_utf8_lossy(&me.stdout).trim()
        ),
        "loginctl names no user: it takes the one running, never $USER"
    );

    // A settings path with a line break: refused, nothing written.
    std::fs::remove_dir_all(&units).unwrap();
    let refused = install(&["--config", "odd\nname.toml", "keepalive", "--install"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("line break"),
        "{}",
        stderr(&refused)
    );
    assert!(!units.exists());

    let uninstall = install(&["--config", "config.toml", "keepalive", "--uninstall"]);
    assert!(uninstall.status.success());
}

/// The class of "a mailbox read as an option": every mailconnect command line built with a mailbox (the
/// notification's "Re-authenticate now", and the commands suggested in messages) is given to the real binary with
/// addresses that start with `-` or hold shell characters, and the mailbox arrives as a value.
#[test]
fn a_mailbox_starting_with_a_dash_is_never_read_as_an_option() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("config.toml");
    let program = env!("CARGO_BIN_EXE_mailconnect");
    for mailbox in [
        "-x@smile-dental.example",
        "--help@smile-dental.example",
        "--config=x@smile-dental.example",
        "-V@smile-dental.example",
        "o'brien$HOME&x@smile-dental.example",
    ] {
        // The window opened by the notification's click: without a display it ends at once, after reading its
        // arguments.
        let window = std::process::Command::new(program)
            .args(mailconnect::keepalive::reauthenticate_arguments(
                &config, mailbox,
            ))
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", folder.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let said = format!("{}{}", stdout(&window), stderr(&window));
        assert_ne!(window.status.code(), Some(2), "{mailbox}: {said}");
        assert!(
            !said.contains("unexpected argument") && !said.contains("Usage:"),
            "{mailbox}: {said}"
        );

        // A suggested command, typed into a shell: the mailbox reaches `report` as its value.
        let suggested = mailconnect::words::command("report", &[mailbox]);
        let typed = suggested.replacen(
            "mailconnect",
            &format!("'{program}' --config '{}'", config.display()),
            1,
        );
        let ran = std::process::Command::new("sh")
            .arg("-c")
            .arg(&typed)
            .env("HOME", folder.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            stderr(&ran).contains(&format!("{mailbox} is not set up")),
            "{suggested}: {}",
            stderr(&ran)
        );
    }
}
