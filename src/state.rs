//! What mailconnect remembers between runs that is neither configuration nor secret: the last verification of
//! each mailbox, for `status` and the support report. Kept as JSON in the platform's data folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::mailbox_key;
use crate::verify::{CheckReport, Protocol, Verdict};

/// One protocol's last verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheck {
    pub passed: bool,
    /// `passed`, or the failure code (`SMTP-authentication-rejected`).
    pub code: String,
    pub server_reply: Option<String>,
    /// The catalogue entry of a failure (`smtp-send-as-denied`), so the window can say its cause and fix later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl LastCheck {
    /// A check that could not start: no token (not signed in, the keyring, a refused renewal), with the code and
    /// the catalogue entry of that reason.
    pub fn not_started(code: String, cause: &str) -> LastCheck {
        LastCheck {
            passed: false,
            code,
            server_reply: None,
            cause: Some(cause.to_owned()),
        }
    }

    pub fn from_report(report: &CheckReport) -> LastCheck {
        match &report.verdict {
            Verdict::Passed { server_reply } => LastCheck {
                passed: true,
                code: "passed".to_owned(),
                server_reply: Some(server_reply.clone()),
                cause: None,
            },
            Verdict::Failed(failure) => LastCheck {
                passed: false,
                code: failure.code(report.protocol),
                server_reply: failure.server_reply.clone(),
                cause: Some(
                    crate::advice::for_check(failure, report.protocol)
                        .entry
                        .id
                        .clone(),
                ),
            },
        }
    }
}

/// The last verification of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerification {
    /// Unix seconds.
    pub at: u64,
    pub imap: LastCheck,
    pub smtp: LastCheck,
}

/// How the last renewal by the keep-alive (or the window's health check) went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// Unix seconds.
    pub at: u64,
    pub outcome: RenewalOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RenewalOutcome {
    Renewed,
    /// A passing failure (network, 5xx): tried again later, nothing is wiped.
    Temporary {
        code: String,
    },
    /// Only a new sign-in helps (invalid_grant, AADSTS700082, 50173, 70008, 70043 ...).
    NeedsSignIn {
        code: String,
    },
}

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub verifications: BTreeMap<String, LastVerification>,
    #[serde(default)]
    pub renewals: BTreeMap<String, Renewal>,
    /// When each mailbox first passed both checks with OAuth ("moved to OAuth"), Unix seconds.
    #[serde(default)]
    pub moved: BTreeMap<String, u64>,
    /// When each mailbox's Basic Auth password was removed ("Disconnect Basic"), Unix seconds.
    #[serde(default)]
    pub basic_disconnected: BTreeMap<String, u64>,
}

impl State {
    /// The saved state in the default place.
    pub fn load() -> State {
        StateFile::default_location().map_or_else(State::default, |file| file.load())
    }

    pub fn last_verification(&self, mailbox: &str) -> Option<&LastVerification> {
        self.verifications.get(&mailbox_key(mailbox))
    }

    pub fn last_renewal(&self, mailbox: &str) -> Option<&Renewal> {
        self.renewals.get(&mailbox_key(mailbox))
    }

    /// When the mailbox was moved to OAuth (both checks passed), if it was.
    pub fn moved_at(&self, mailbox: &str) -> Option<u64> {
        self.moved.get(&mailbox_key(mailbox)).copied()
    }

    pub fn basic_disconnected_at(&self, mailbox: &str) -> Option<u64> {
        self.basic_disconnected.get(&mailbox_key(mailbox)).copied()
    }

    /// Records a verification in the default place.
    pub fn record(mailbox: &str, imap: &CheckReport, smtp: &CheckReport) -> std::io::Result<()> {
        StateFile::default_location()
            .ok_or_else(|| std::io::Error::other("no data folder on this computer"))?
            .record(mailbox, imap, smtp)
    }
}

/// Where the state is kept. Every change is a read-modify-write under a lock file beside it, so two processes
/// recording at once (the wizard and `verify`, two `verify` runs) never lose each other's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

/// How long a recording waits for another process's.
const STATE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl StateFile {
    /// `state.json` in the platform's data folder.
    pub fn default_location() -> Option<StateFile> {
        directories::ProjectDirs::from("", "", "mailconnect").map(|dirs| StateFile {
            path: dirs.data_dir().join("state.json"),
        })
    }

    pub fn at(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    /// The saved state; an empty one when there is none or it cannot be read (it only holds history).
    pub fn load(&self) -> State {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Records both verdicts of a verification and writes the file atomically, under the lock.
    pub fn record(
        &self,
        mailbox: &str,
        imap: &CheckReport,
        smtp: &CheckReport,
    ) -> std::io::Result<()> {
        debug_assert_eq!(
            (imap.protocol, smtp.protocol),
            (Protocol::Imap, Protocol::Smtp)
        );
        let at = crate::words::now_unix();
        let verification = LastVerification {
            at,
            imap: LastCheck::from_report(imap),
            smtp: LastCheck::from_report(smtp),
        };
        let both_passed = verification.imap.passed && verification.smtp.passed;
        self.update(|state| {
            // Every path that records checks marks the move: the window, `verify`, a bulk run.
            if both_passed {
                state.moved.entry(mailbox_key(mailbox)).or_insert(at);
            }
            state
                .verifications
                .insert(mailbox_key(mailbox), verification);
        })
    }

    /// Records a check's two verdicts and the renewal it led to, under one lock.
    pub fn record_check(
        &self,
        mailbox: &str,
        imap: &CheckReport,
        smtp: &CheckReport,
        renewal: Option<RenewalOutcome>,
    ) -> std::io::Result<()> {
        self.record(mailbox, imap, smtp)?;
        match renewal {
            Some(outcome) => self.record_renewal(mailbox, outcome),
            None => Ok(()),
        }
    }

    /// Records that the mailbox's Basic Auth password was removed.
    pub fn record_basic_disconnected(&self, mailbox: &str) -> std::io::Result<()> {
        let at = crate::words::now_unix();
        self.update(|state| {
            state.basic_disconnected.insert(mailbox_key(mailbox), at);
        })
    }

    /// Records how a renewal went.
    pub fn record_renewal(&self, mailbox: &str, outcome: RenewalOutcome) -> std::io::Result<()> {
        let at = crate::words::now_unix();
        self.update(|state| {
            state
                .renewals
                .insert(mailbox_key(mailbox), Renewal { at, outcome });
        })
    }

    /// Applies `change` to the current state and writes it back, holding the lock throughout.
    fn update(&self, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
        let directory = self
            .path
            .parent()
            .ok_or_else(|| std::io::Error::other("the state file has no folder"))?;
        let _lock = crate::store::MailboxLock::acquire(directory, "state", STATE_LOCK_WAIT)
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        let mut state = self.load();
        change(&mut state);
        let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        crate::config::write_atomically(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{CheckReport, Verdict};

    fn passed(protocol: Protocol) -> CheckReport {
        CheckReport {
            protocol,
            server: "s:1".into(),
            verdict: Verdict::Passed {
                server_reply: "OK".into(),
            },
            elapsed: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn concurrent_recordings_from_many_threads_are_all_kept() {
        let directory = tempfile::tempdir().unwrap();
        let file = StateFile::at(directory.path().join("state.json"));
        let threads: Vec<_> = (0..16)
            .map(|n| {
                let file = file.clone();
                std::thread::spawn(move || {
                    file.record(
                        &format!("m{n}@x.com"),
                        &passed(Protocol::Imap),
                        &passed(Protocol::Smtp),
                    )
                    .unwrap()
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(file.load().verifications.len(), 16);
    }
}
