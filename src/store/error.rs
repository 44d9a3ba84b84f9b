//! Why the keyring could not be used, with the plain-words fix for each case.

use super::KEYRING_TIMEOUT;
use crate::troubleshoot::Advice;

/// Why the keyring could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("No keyring is available on this computer ({detail})")]
    Unavailable { detail: String },
    #[error("The keyring is locked ({detail})")]
    Locked { detail: String },
    #[error("The keyring did not answer within {} seconds", KEYRING_TIMEOUT.as_secs())]
    TimedOut,
    #[error("The saved sign-in for {mailbox} is incomplete or damaged ({what})")]
    Damaged { mailbox: String, what: String },
    #[error("The keyring refused the item {name}: {detail}")]
    Refused { name: String, detail: String },
    /// Another mailconnect process kept the mailbox's write lock for the whole wait.
    #[error("Another mailconnect process kept {mailbox} busy for {waited_seconds} seconds")]
    Busy {
        mailbox: String,
        waited_seconds: u64,
    },
    #[error("The lock file {path} cannot be used: {detail}")]
    LockFile { path: String, detail: String },
    /// A write that started from one generation found another one stored: someone saved in between.
    #[error("The saved sign-in for {mailbox} was replaced while it was being renewed")]
    Conflict {
        mailbox: String,
        expected: u64,
        /// `0` when there is no readable sign-in any more.
        found: u64,
    },
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "keyring-unavailable",
            StoreError::Locked { .. } => "keyring-locked",
            StoreError::TimedOut => "keyring-timeout",
            StoreError::Damaged { .. } => "keyring-damaged",
            StoreError::Refused { .. } => "keyring-refused",
            StoreError::Busy { .. } => "mailbox-busy",
            StoreError::LockFile { .. } => "lock-file",
            StoreError::Conflict { .. } => "sign-in-changed",
        }
    }

    pub fn advice(&self) -> Advice {
        match self {
            StoreError::Unavailable { .. } => Advice {
                cause: "This computer has no keyring service running, so the sign-in cannot be saved securely. Nothing was written to disk.",
                steps: &[
                    "On Linux, install and start GNOME Keyring or KeePassXC with Secret Service enabled, or log in to a desktop session.",
                    "Then {retry}; you do not need to sign in again.",
                ],
            },
            StoreError::Locked { .. } | StoreError::TimedOut => Advice {
                cause: "The keyring is locked, so the sign-in cannot be saved yet. Nothing was written to disk.",
                steps: &[
                    "Unlock the keyring: on Linux open \"Passwords and Keys\" and unlock \"Login\"; on Windows sign in to Windows again; on a Mac unlock the login keychain in Keychain Access.",
                    "Then {retry}; you do not need to sign in again.",
                ],
            },
            StoreError::Damaged { .. } => Advice {
                cause: "The saved sign-in for this mailbox is incomplete.",
                steps: &["Sign in again; the new sign-in replaces the damaged one."],
            },
            StoreError::Refused { .. } => Advice {
                cause: "The keyring refused to store the sign-in.",
                steps: &["{retry}. If it fails again, {report} and send it to support."],
            },
            StoreError::Busy { .. } => Advice {
                cause: "Another mailconnect program was busy with this mailbox's sign-in for too long.",
                steps: &[
                    "Wait a minute and {retry}.",
                    "If it keeps happening, restart the computer: a stuck mailconnect program is then closed.",
                ],
            },
            StoreError::LockFile { .. } => Advice {
                cause: "mailconnect cannot use its lock file, which keeps two programs from saving at the same time.",
                steps: &[
                    "Remove the file named in the details (it holds nothing secret), then {retry}.",
                ],
            },
            StoreError::Conflict { found: 0, .. } => Advice {
                cause: "The mailbox's sign-in was removed while it was being renewed.",
                steps: &["Sign in again if this mailbox should stay connected."],
            },
            StoreError::Conflict { .. } => Advice {
                cause: "The mailbox was signed in again while this sign-in was being renewed; the newer sign-in was kept.",
                steps: &["Nothing to do: the newer sign-in is used from now on."],
            },
        }
    }
}
