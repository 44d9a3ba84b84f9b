//! `mailconnect keepalive --install / --uninstall`: the daily systemd user timer that runs the keep-alive.

use std::process::ExitCode;

use crate::cli::UsageError;
use crate::keepalive::{systemd_units, user_unit_folder};

/// Writes the units and asks systemd to start the timer. Without a user systemd (a container, an SSH session with
/// no login manager) the files are still written and the message says how to start the timer later.
pub fn install(config_file: &crate::config::ConfigFile) -> anyhow::Result<ExitCode> {
    let folder =
        user_unit_folder().ok_or_else(|| UsageError("no home folder on this computer".into()))?;
    let program = std::env::current_exe()?;
    // Every unit is made before any is written: a path systemd cannot carry leaves nothing half set up.
    let units = systemd_units(&program, config_file.path())
        .map_err(|error| UsageError(error.to_string()))?;
    std::fs::create_dir_all(&folder)?;
    for (name, text) in units {
        crate::config::write_atomically(&folder.join(name), text.as_bytes())?;
    }
    println!(
        "Wrote the keep-alive timer to {}; it renews the sign-ins of {}.",
        folder.display(),
        config_file.path().display()
    );
    match systemctl(&["daemon-reload"])
        .and_then(|()| systemctl(&["enable", "--now", "mailconnect-keepalive.timer"]))
    {
        Ok(()) => {
            println!("The keep-alive now runs daily (systemctl --user list-timers shows it).")
        }
        Err(error) => println!(
            "systemd did not take it yet ({error}). In a desktop session run: systemctl --user enable --now mailconnect-keepalive.timer"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops the timer and removes the units.
pub fn uninstall() -> anyhow::Result<ExitCode> {
    let folder =
        user_unit_folder().ok_or_else(|| UsageError("no home folder on this computer".into()))?;
    let _ = systemctl(&["disable", "--now", "mailconnect-keepalive.timer"]);
    let mut removed = 0;
    for name in [
        "mailconnect-keepalive.service",
        "mailconnect-keepalive.timer",
    ] {
        if std::fs::remove_file(folder.join(name)).is_ok() {
            removed += 1;
        }
    }
    let _ = systemctl(&["daemon-reload"]);
    println!(
        "Removed the keep-alive timer ({}).",
        crate::words::count(removed, "file", "files")
    );
    Ok(ExitCode::SUCCESS)
}

/// `systemctl --user <arguments>`; the error is systemd's own words, shortened.
pub(crate) fn systemctl(arguments: &[&str]) -> Result<(), String> {
    let output = std::process::Command::new("systemctl")
        .arg("--user")
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(crate::words::excerpt(
            &String::from_utf8_lossy(&output.stderr),
            200,
        ))
    }
}
