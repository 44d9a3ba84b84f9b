//! A private D-Bus session with GNOME Keyring as its Secret Service, for one test process.
//!
//! The keyring store connects to the bus named by `DBUS_SESSION_BUS_ADDRESS`, so a test points that variable at
//! its own bus before any keyring call. That is only sound with one test per process, which cargo-nextest gives.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{require_program, wait_until};

pub struct PrivateKeyring {
    pub dir: tempfile::TempDir,
    bus: Child,
    keyring: Option<Child>,
    pub bus_address: String,
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

impl PrivateKeyring {
    /// A fresh keyring whose login collection is created and unlocked with `password`, and made this process's
    /// session bus.
    pub fn start_for_this_process(password: &str) -> PrivateKeyring {
        require_one_test_per_process();
        PrivateKeyring::start_as_session_bus(password)
    }

    /// The same, for a program that has started no other thread yet (a benchmark's `main`).
    pub fn start_as_session_bus(password: &str) -> PrivateKeyring {
        let keyring = PrivateKeyring::start(password);
        // SAFETY: the caller runs one test per process (nextest) or is a single-threaded main, before any other
        // thread starts.
        unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address) };
        keyring
    }

    /// A keyring whose login collection exists but is locked: it was created with one password and the daemon was
    /// then restarted with another, as after a password change that did not reach the keyring.
    pub fn start_locked_for_this_process() -> PrivateKeyring {
        require_one_test_per_process();
        let mut keyring = PrivateKeyring::start("right password");
        // An item makes the daemon write the login collection to disk.
        let stored = Command::new(require_program("secret-tool"))
            .args([
                "store",
                "--label=seed",
                "service",
                "seed",
                "username",
                "seed",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address)
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().expect("stdin").write_all(b"seed")?;
                child.wait()
            })
            .expect("seed the keyring");
        assert!(stored.success(), "secret-tool store failed");
        if let Some(mut daemon) = keyring.keyring.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        assert!(
            wait_until(Duration::from_secs(5), || !name_has_owner(
                &keyring.bus_address
            )),
            "the first keyring daemon did not go away"
        );
        keyring.keyring = Some(start_daemon(
            keyring.dir.path(),
            &keyring.bus_address,
            "wrong password",
        ));
        // SAFETY: as in `start_for_this_process`.
        unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address) };
        keyring
    }

    fn start(password: &str) -> PrivateKeyring {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("bus");
        let mut bus = Command::new(require_program("dbus-daemon"))
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}", socket.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().expect("bus stdout"))
            .read_line(&mut address)
            .expect("bus address");
        let bus_address = address.trim().to_owned();
        let keyring = start_daemon(dir.path(), &bus_address, password);
        PrivateKeyring {
            dir,
            bus,
            keyring: Some(keyring),
            bus_address,
        }
    }

    /// Runs `secret-tool` against this keyring (an independent Secret Service client).
    pub fn secret_tool(&self, arguments: &[&str]) -> std::process::Output {
        Command::new(require_program("secret-tool"))
            .args(arguments)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .stdin(Stdio::null())
            .output()
            .expect("run secret-tool")
    }

    /// Runs secret-tool with `input` on its standard input (what `store` reads as the secret).
    pub fn secret_tool_with_input(&self, arguments: &[&str], input: &str) -> std::process::Output {
        let mut child = Command::new(require_program("secret-tool"))
            .args(arguments)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run secret-tool");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().expect("secret-tool output")
    }

    /// The `username` attribute of every item mailconnect stored (secret-tool prints attributes on stderr).
    pub fn item_names(&self) -> Vec<String> {
        let output = self.secret_tool(&["search", "--all", "service", "mailconnect"]);
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|line| line.strip_prefix("attribute.username = "))
            .map(str::to_owned)
            .collect()
    }

    /// The secret of every item mailconnect stored.
    pub fn item_secrets(&self) -> Vec<String> {
        let output = self.secret_tool(&["search", "--all", "service", "mailconnect"]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("secret = "))
            .map(str::to_owned)
            .collect()
    }

    /// Every file under the keyring's directory, for searching for plaintext.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![self.dir.path().to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files
    }
}

fn start_daemon(dir: &Path, bus_address: &str, password: &str) -> Child {
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
        .expect("chmod runtime");
    let mut daemon = Command::new(require_program("gnome-keyring-daemon"))
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gnome-keyring-daemon");
    let mut stdin = daemon.stdin.take().expect("keyring stdin");
    stdin
        .write_all(password.as_bytes())
        .expect("unlock password");
    drop(stdin);
    assert!(
        wait_until(Duration::from_secs(10), || name_has_owner(bus_address)),
        "gnome-keyring-daemon did not take org.freedesktop.secrets"
    );
    daemon
}

fn name_has_owner(bus_address: &str) -> bool {
    Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("boolean true"))
}

pub fn require_one_test_per_process() {
    assert!(
        std::env::var_os("NEXTEST_RUN_ID").is_some(),
        "keyring tests point the process's session bus at a private keyring and need one test per process: \
         run them with cargo nextest (tests/run.sh does)"
    );
}
