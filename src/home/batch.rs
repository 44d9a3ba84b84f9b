//! A run of checks over several mailboxes: progress, an estimate of the time left, and the summary grouped by
//! cause, each group with what to do about it (and, for missing rights, the PowerShell that grants them).

use super::Row;

/// A run of checks over the ticked mailboxes.
#[derive(Debug, Clone)]
pub struct Batch {
    pub mailboxes: Vec<String>,
    pub done: usize,
    /// The mailboxes whose checks did not both pass, with their cause.
    pub failed: Vec<(String, BatchCause)>,
    /// The mailboxes whose checks both passed.
    pub passed: Vec<String>,
    pub started: std::time::Instant,
    /// Stopped with Cancel before every mailbox was checked.
    pub cancelled: bool,
}

/// Why a mailbox of the run did not pass, as the summary groups it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchCause {
    /// Its sign-in (or its service account's) needs a person.
    NeedsSignIn,
    /// No sign-in is saved for it.
    NoSignIn,
    /// The sign-in works but may not open it or send as it: the rights are granted by the IT admin.
    NoAccess(Through),
    /// Any other cause: its catalogue entry's id.
    Other(&'static str),
}

/// Whose rights a mailbox lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Through {
    ServiceAccount(String),
    App,
    OwnSignIn,
}

/// The mailboxes of a run that failed for one cause, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseGroup {
    pub mailboxes: Vec<String>,
    /// "2 need Full Access and Send As for it@practice.com"
    pub words: String,
    /// What to do, in the home's words.
    pub what_to_do: String,
    /// The IT admin's PowerShell grants what is missing ("Copy PowerShell for these 2").
    pub powershell: bool,
}

impl Batch {
    /// A mailbox removed during or after the run: no longer counted or grouped.
    pub fn forget(&mut self, mailbox: &str) {
        let finished = self.failed.len() + self.passed.len();
        self.mailboxes.retain(|m| !m.eq_ignore_ascii_case(mailbox));
        self.failed
            .retain(|(m, _)| !m.eq_ignore_ascii_case(mailbox));
        self.passed.retain(|m| !m.eq_ignore_ascii_case(mailbox));
        let forgotten = finished - self.failed.len() - self.passed.len();
        self.done = self.done.saturating_sub(forgotten);
    }

    pub fn total(&self) -> usize {
        self.mailboxes.len()
    }

    pub fn finished(&self) -> bool {
        self.cancelled || self.done >= self.total()
    }

    /// About how long the rest takes, from the pace so far (`None` until one mailbox is done).
    pub fn time_left(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        let per_mailbox = now
            .saturating_duration_since(self.started)
            .checked_div(self.done as u32)?;
        Some(per_mailbox * (self.total() - self.done.min(self.total())) as u32)
    }

    /// "18 of 20 passed; 2 did not." (and where a cancelled run stopped); the groups say why.
    pub fn summary(&self) -> String {
        let passed = self.done - self.failed.len();
        let mut text = format!("{passed} of {} passed", self.total());
        if !self.failed.is_empty() {
            text.push_str(&format!("; {} did not", self.failed.len()));
        }
        if self.cancelled {
            text.push_str(&format!(
                " (stopped after {} of {})",
                self.done,
                self.total()
            ));
        }
        text.push('.');
        text
    }

    /// The failed mailboxes grouped by cause, in the order the causes first appeared.
    pub fn groups(&self) -> Vec<CauseGroup> {
        let mut groups: Vec<(&BatchCause, Vec<String>)> = Vec::new();
        for (mailbox, cause) in &self.failed {
            match groups.iter_mut().find(|(seen, _)| *seen == cause) {
                Some((_, mailboxes)) => mailboxes.push(mailbox.clone()),
                None => groups.push((cause, vec![mailbox.clone()])),
            }
        }
        groups
            .into_iter()
            .map(|(cause, mailboxes)| cause.group(mailboxes))
            .collect()
    }
}

impl BatchCause {
    fn group(&self, mailboxes: Vec<String>) -> CauseGroup {
        let count = mailboxes.len();
        let one = count == 1;
        let verb = |singular: &str, plural: &str| if one { singular } else { plural }.to_owned();
        let (words, what_to_do, powershell) = match self {
            BatchCause::NeedsSignIn => (
                verb("needs a new sign-in", "need a new sign-in"),
                "Tick one at a time and choose \"Re-authenticate now\" (mailboxes that go through one service \
                 account are fixed together)."
                    .to_owned(),
                false,
            ),
            BatchCause::NoSignIn => (
                verb("has no sign-in", "have no sign-in"),
                "Tick one at a time and choose \"Re-authenticate now\" to sign each in.".to_owned(),
                false,
            ),
            BatchCause::NoAccess(Through::ServiceAccount(service)) => (
                format!("{} Full Access and Send As for {service}", verb("needs", "need")),
                "The IT admin grants them in Exchange Online; they take up to 2 hours. Then choose \
                 \"Retry failed\"."
                    .to_owned(),
                true,
            ),
            BatchCause::NoAccess(Through::App) => (
                format!(
                    "{} Full Access (and the right to send) for the organisation's app",
                    verb("needs", "need")
                ),
                "The IT admin grants them in Exchange Online; they take up to 2 hours. Then choose \
                 \"Retry failed\"."
                    .to_owned(),
                true,
            ),
            BatchCause::NoAccess(Through::OwnSignIn) => (
                verb(
                    "cannot be opened with its own sign-in",
                    "cannot be opened with their own sign-in",
                ),
                "Check that the right account signed in: tick it and choose \"Re-authenticate now\"."
                    .to_owned(),
                false,
            ),
            BatchCause::Other(id) => (
                format!("failed: {}", crate::advice::by_id(id).entry.short_cause()),
                crate::advice::by_id(id)
                    .steps_for(crate::advice::Surface::Home, None)
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
                false,
            ),
        };
        CauseGroup {
            words: format!("{count} {words}"),
            mailboxes,
            what_to_do,
            powershell,
        }
    }
}

/// Why `row` did not pass, from its health and its first failed check's catalogue entry.
pub(super) fn batch_cause(row: &Row) -> BatchCause {
    if row.health.needs_person() {
        return BatchCause::NeedsSignIn;
    }
    let Some(entry) = row.failed_cause() else {
        return BatchCause::NeedsSignIn;
    };
    if entry.id == "not-signed-in" {
        return BatchCause::NoSignIn;
    }
    if row.lacks_access() {
        return BatchCause::NoAccess(match (&row.account.service_account, row.account.app_only) {
            (Some(service), _) => Through::ServiceAccount(service.clone()),
            (None, true) => Through::App,
            (None, false) => Through::OwnSignIn,
        });
    }
    BatchCause::Other(entry.id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_grouped_by_cause_with_what_to_do() {
        let batch = Batch {
            mailboxes: (0..20).map(|n| format!("m{n}@practice.com")).collect(),
            done: 20,
            failed: vec![
                (
                    "a@practice.com".into(),
                    BatchCause::NoAccess(Through::ServiceAccount("it@practice.com".into())),
                ),
                ("b@practice.com".into(), BatchCause::NeedsSignIn),
                (
                    "c@practice.com".into(),
                    BatchCause::NoAccess(Through::ServiceAccount("it@practice.com".into())),
                ),
            ],
            passed: Vec::new(),
            started: std::time::Instant::now(),
            cancelled: false,
        };
        assert_eq!(batch.summary(), "17 of 20 passed; 3 did not.");
        let groups = batch.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].words,
            "2 need Full Access and Send As for it@practice.com"
        );
        assert!(groups[0].what_to_do.contains("up to 2 hours"));
        assert!(groups[0].powershell);
        assert_eq!(groups[0].mailboxes, ["a@practice.com", "c@practice.com"]);
        assert_eq!(groups[1].words, "1 needs a new sign-in");
    }

    #[test]
    fn a_mailbox_removed_during_the_run_is_no_longer_counted_or_grouped() {
        let mut batch = Batch {
            mailboxes: vec!["a@p.com".into(), "b@p.com".into(), "c@p.com".into()],
            done: 2,
            failed: vec![("a@p.com".into(), BatchCause::NeedsSignIn)],
            passed: vec!["b@p.com".into()],
            started: std::time::Instant::now(),
            cancelled: false,
        };
        batch.forget("A@p.com");
        assert_eq!((batch.done, batch.total()), (1, 2));
        assert!(batch.groups().is_empty());
        batch.forget("c@p.com");
        assert!(
            batch.finished(),
            "the one still running was removed: the run is over"
        );
        assert_eq!(batch.summary(), "1 of 1 passed.");
    }

    #[test]
    fn other_causes_say_the_catalogues_words_and_a_step_for_the_home() {
        let group = BatchCause::Other("smtp-auth-disabled").group(vec!["a@practice.com".into()]);
        assert_eq!(group.words, "1 failed: Authenticated SMTP is switched off");
        assert!(!group.what_to_do.is_empty());
        assert!(
            !group.what_to_do.contains("Try again"),
            "{}",
            group.what_to_do
        );
    }
}
