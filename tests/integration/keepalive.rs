//! `mailconnect keepalive` end to end: the real binary, the real keyring, the sandbox, and a stand-in desktop
//! notification service on the test's private session bus; the timer units checked by `systemd-analyze verify`.

use std::collections::HashMap;
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

#[test]
fn the_timer_units_pass_systemd_analyze_verify_and_install_writes_them() {
    let folder = tempfile::tempdir().unwrap();
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_mailconnect"));
    let mut paths = Vec::new();
    for (name, text) in mailconnect::keepalive::systemd_units(program) {
        let path = folder.path().join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let verify = std::process::Command::new(require_program("systemd-analyze"))
        .arg("verify")
        .args(&paths)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr).into_owned();
    assert!(verify.status.success(), "{said}");
    assert!(
        !said.contains("mailconnect-keepalive"),
        "systemd-analyze found fault with the units: {said}"
    );

    let setup = Setup::new();
    let install = setup.run(&["keepalive", "--install"]);
    assert!(install.status.success(), "{}", stderr(&install));
    let units = setup.home.path().join(".config/systemd/user");
    assert!(units.join("mailconnect-keepalive.timer").exists());
    assert!(
        std::fs::read_to_string(units.join("mailconnect-keepalive.service"))
            .unwrap()
            .contains("keepalive")
    );
    let uninstall = setup.run(&["keepalive", "--uninstall"]);
    assert!(uninstall.status.success());
    assert!(!units.join("mailconnect-keepalive.timer").exists());
}
