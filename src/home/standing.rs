//! The one place that words a home row's cells: the OAuth column, the two check columns and the Alert column, each
//! with its tone. Green is said only when it is true: signed in and both last checks passed; results from before a
//! sign-in stopped working look old.

use crate::health::Health;
use crate::state::LastCheck;

use super::Row;

/// How a cell is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Green: it works, now.
    Pass,
    /// Red: a person must act.
    Fail,
    /// Plain text: nothing proven either way.
    Plain,
    /// Grey: true once, not any more (a check from before the sign-in stopped working).
    Old,
}

/// A cell's words, its tone, and the detail a pointer or screen reader gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub words: String,
    pub tone: Tone,
    pub detail: String,
}

/// Which check column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckColumn {
    Receiving,
    Sending,
}

/// Catalogue entries that mean the sign-in worked but may not open or send as this mailbox.
const NO_ACCESS: [&str; 2] = ["imap-not-connected", "smtp-send-as-denied"];

impl Row {
    fn checks(&self) -> [Option<&LastCheck>; 2] {
        [self.imap.as_ref(), self.smtp.as_ref()]
    }

    /// The first failed check's catalogue entry, when one of the last checks failed for a known cause (a result
    /// recorded by an older version may have none).
    pub fn failed_cause(&self) -> Option<&'static crate::advice::Entry> {
        let failed = self.checks().into_iter().flatten().find(|c| !c.passed)?;
        crate::advice::entry(failed.cause.as_deref()?)
    }

    /// Whether the sign-in this mailbox uses has stopped working (a person must sign in, or the app's credential
    /// ended): no check can pass now.
    fn access_stopped(&self) -> bool {
        self.health.needs_person() || self.health == Health::AppCredentialEnded
    }

    /// Whether `check` says nothing about now because access stopped after it: a passed check always (it cannot
    /// pass now), a failed one when it was made before access stopped (when that time is known).
    fn is_old(&self, check: &LastCheck) -> bool {
        self.access_stopped()
            && (check.passed
                || matches!((self.last_checked_at, self.failed_at), (Some(checked), Some(failed)) if checked <= failed))
    }

    /// Whether any last check says nothing about now (see [`Row::is_old`]).
    pub fn checks_are_old(&self) -> bool {
        self.checks()
            .into_iter()
            .flatten()
            .any(|check| self.is_old(check))
    }

    /// Whether the last checks found the sign-in working but no access to this mailbox.
    pub fn lacks_access(&self) -> bool {
        !self.checks_are_old()
            && self
                .failed_cause()
                .is_some_and(|entry| NO_ACCESS.contains(&entry.id.as_str()))
    }

    /// The OAuth column.
    pub fn oauth_cell(&self) -> Cell {
        let detail = self.health.words();
        let (words, tone) = match &self.health {
            Health::Connected | Health::RetryingLater { .. } => {
                let signed_in = match (&self.health, self.account.app_only) {
                    (Health::RetryingLater { .. }, _) => "retrying later",
                    (_, true) => "connected through the organisation's app",
                    _ => "connected, renews itself",
                };
                let passed = |check: Option<&LastCheck>| check.is_some_and(|c| c.passed);
                let [imap, smtp] = self.checks();
                match (imap, smtp) {
                    (None, _) | (_, None) => {
                        (format!("{signed_in} · not checked yet"), Tone::Plain)
                    }
                    _ if passed(imap) && passed(smtp) => (
                        signed_in.to_owned(),
                        if matches!(self.health, Health::Connected) {
                            Tone::Pass
                        } else {
                            Tone::Plain
                        },
                    ),
                    _ if self.lacks_access() => ("no access to the mailbox".to_owned(), Tone::Fail),
                    _ => ("signed in · last check failed".to_owned(), Tone::Fail),
                }
            }
            Health::NeedsSignIn { .. } | Health::Unreadable { .. } | Health::AppCredentialEnded => {
                (self.health.short_words().to_owned(), Tone::Fail)
            }
            _ => (self.health.short_words().to_owned(), Tone::Plain),
        };
        Cell {
            words,
            tone,
            detail,
        }
    }

    /// A check column: "works · 14:05", "failed · 14:05", "not checked yet", or greyed when from before the
    /// sign-in stopped working.
    pub fn check_cell(&self, column: CheckColumn, now: std::time::SystemTime) -> Cell {
        let check = match column {
            CheckColumn::Receiving => self.imap.as_ref(),
            CheckColumn::Sending => self.smtp.as_ref(),
        };
        let Some(check) = check else {
            return Cell {
                words: "not checked yet".to_owned(),
                tone: Tone::Old,
                detail: "No check has been made since this mailbox was added.".to_owned(),
            };
        };
        let when = self
            .last_checked_at
            .map(|at| crate::words::when(at, now))
            .unwrap_or_default();
        let detail = match &check.server_reply {
            Some(reply) => format!("{} — the server said: {reply}", check.code),
            None => check.code.clone(),
        };
        if self.is_old(check) {
            let words = if check.passed { "worked" } else { "failed" };
            return Cell {
                words: format!("{words} · {when}, before the sign-in stopped"),
                tone: Tone::Old,
                detail,
            };
        }
        let (words, tone) = if check.passed {
            ("works", Tone::Pass)
        } else {
            ("failed", Tone::Fail)
        };
        Cell {
            words: format!("{words} · {when}"),
            tone,
            detail,
        }
    }

    /// The Alert column: the cause in a few words, or nothing when all is well. A failed check's code is left to
    /// [`Row::alert_detail`] (hover and Details): the column has room for two short lines.
    pub fn alert(&self) -> Option<String> {
        if let Some(alert) = self.health.alert() {
            return Some(alert);
        }
        let failed = |check: Option<&LastCheck>| check.is_some_and(|c| !c.passed);
        let [imap, smtp] = self.checks();
        Some(
            match (self.failed_cause(), failed(imap), failed(smtp)) {
                (Some(entry), ..) => entry.short_cause(),
                (None, true, true) => "receiving and sending failed",
                (None, true, false) => "receiving failed",
                (None, false, true) => "sending failed",
                (None, false, false) => return None,
            }
            .to_owned(),
        )
    }

    /// The Alert column's words with the failed check's code, for its hover text.
    pub fn alert_detail(&self) -> Option<String> {
        let alert = self.alert()?;
        if self.health.alert().is_some() {
            return Some(alert);
        }
        let code = self.checks().into_iter().flatten().find(|c| !c.passed)?;
        Some(format!("{alert} ({})", code.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Account, Preset, Provider};

    fn check(passed: bool, failure: (&str, &str)) -> LastCheck {
        LastCheck {
            passed,
            code: if passed { "passed" } else { failure.0 }.to_owned(),
            server_reply: None,
            cause: (!passed).then(|| failure.1.to_owned()),
        }
    }

    fn row(health: Health, checks: Option<(bool, bool)>) -> Row {
        let mut row = Row::unread(Account::from_preset(
            "reception@practice.com",
            &Preset::for_provider(Provider::Microsoft365),
        ));
        row.health = health;
        if let Some((imap, smtp)) = checks {
            row.last_checked_at = Some(1_000);
            row.imap = Some(check(imap, ("IMAP-mailbox-rejected", "imap-not-connected")));
            row.smtp = Some(check(smtp, ("SMTP-sender-rejected", "smtp-send-as-denied")));
        }
        row
    }

    /// Every combination of health and last checks: green only when signed in and both checks passed.
    #[test]
    fn green_is_said_only_when_it_is_true() {
        let needs = || Health::NeedsSignIn {
            code: "AADSTS50173".into(),
        };
        let healths = [
            Health::Connected,
            needs(),
            Health::RetryingLater { code: "503".into() },
            Health::NotSetUp,
            Health::ExpiresSoon { days_left: 5 },
            Health::Reading,
        ];
        let checks = [
            None,
            Some((true, true)),
            Some((true, false)),
            Some((false, false)),
        ];
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000);
        for health in &healths {
            for checks in checks {
                let mut row = row(health.clone(), checks);
                if health.needs_person() {
                    row.failed_at = Some(1_500);
                }
                let oauth = row.oauth_cell();
                let both_passed = checks == Some((true, true));
                assert_eq!(
                    oauth.tone == Tone::Pass,
                    *health == Health::Connected && both_passed,
                    "{health:?} with {checks:?}: {oauth:?}"
                );
                for column in [CheckColumn::Receiving, CheckColumn::Sending] {
                    let cell = row.check_cell(column, now);
                    if health.needs_person() || checks.is_none() {
                        assert_eq!(cell.tone, Tone::Old, "{health:?} {checks:?} {cell:?}");
                    }
                }
                if checks == Some((false, false)) && !health.needs_person() {
                    assert!(
                        row.alert().is_some_and(|alert| alert.contains("no access")
                            || alert.contains("retrying")
                            || alert.contains("sign in within")),
                        "{health:?}: {:?}",
                        row.alert()
                    );
                }
            }
        }
    }

    #[test]
    fn an_ended_app_credential_greys_what_passed_before() {
        let row = row(Health::AppCredentialEnded, Some((true, true)));
        assert_eq!(row.oauth_cell().tone, Tone::Fail);
        for column in [CheckColumn::Receiving, CheckColumn::Sending] {
            assert_eq!(
                row.check_cell(column, std::time::UNIX_EPOCH).tone,
                Tone::Old
            );
        }
    }

    #[test]
    fn a_check_made_after_the_sign_in_stopped_is_not_old() {
        let mut row = row(
            Health::NeedsSignIn {
                code: "invalid_grant".into(),
            },
            Some((false, false)),
        );
        row.failed_at = Some(500);
        assert!(!row.checks_are_old());
        assert_eq!(
            row.check_cell(CheckColumn::Sending, std::time::UNIX_EPOCH)
                .tone,
            Tone::Fail
        );
        row.failed_at = Some(1_000);
        assert!(row.checks_are_old(), "made at the same second: before");
    }

    #[test]
    fn no_access_is_named_in_the_oauth_and_alert_columns() {
        let row = row(Health::Connected, Some((false, true)));
        assert_eq!(row.oauth_cell().words, "no access to the mailbox");
        assert_eq!(row.alert().as_deref(), Some("no access to the mailbox"));
        assert_eq!(
            row.alert_detail().as_deref(),
            Some("no access to the mailbox (IMAP-mailbox-rejected)")
        );
    }
}
