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
}

impl LastCheck {
    pub fn from_report(report: &CheckReport) -> LastCheck {
        match &report.verdict {
            Verdict::Passed { server_reply } => LastCheck {
                passed: true,
                code: "passed".to_owned(),
                server_reply: Some(server_reply.clone()),
            },
            Verdict::Failed(failure) => LastCheck {
                passed: false,
                code: failure.code(report.protocol),
                server_reply: failure.server_reply.clone(),
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

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub verifications: BTreeMap<String, LastVerification>,
}

impl State {
    fn path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "mailconnect")
            .map(|dirs| dirs.data_dir().join("state.json"))
    }

    /// The saved state; an empty one when there is none or it cannot be read (it only holds history).
    pub fn load() -> State {
        State::path()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn last_verification(&self, mailbox: &str) -> Option<&LastVerification> {
        self.verifications.get(&mailbox_key(mailbox))
    }

    /// Records a verification and writes the file atomically.
    pub fn record(mailbox: &str, imap: &CheckReport, smtp: &CheckReport) -> std::io::Result<()> {
        let mut state = State::load();
        debug_assert_eq!(
            (imap.protocol, smtp.protocol),
            (Protocol::Imap, Protocol::Smtp)
        );
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        state.verifications.insert(
            mailbox_key(mailbox),
            LastVerification {
                at,
                imap: LastCheck::from_report(imap),
                smtp: LastCheck::from_report(smtp),
            },
        );
        let path = State::path()
            .ok_or_else(|| std::io::Error::other("no data folder on this computer"))?;
        let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        crate::config::write_atomically(&path, &json)
    }
}
