//! Why the keyring could not be used, with the plain-words fix for each case.

use super::KEYRING_TIMEOUT;

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
}
