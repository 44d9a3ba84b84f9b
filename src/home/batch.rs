//! A run of checks over several mailboxes: progress, an estimate of the time left, and the summary by cause.

use super::Row;

/// A run of checks over the ticked mailboxes.
#[derive(Debug, Clone)]
pub struct Batch {
    pub mailboxes: Vec<String>,
    pub done: usize,
    /// The mailboxes whose checks did not both pass, with the cause in a few words.
    pub failed: Vec<(String, String)>,
    pub started: std::time::Instant,
    /// Stopped with Cancel before every mailbox was checked.
    pub cancelled: bool,
}

impl Batch {
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

    /// "18 of 20 passed; 2 did not: 1 cannot send as the mailbox, 1 has no sign-in."
    pub fn summary(&self) -> String {
        let passed = self.done - self.failed.len();
        let mut text = format!("{passed} of {} passed", self.total());
        if !self.failed.is_empty() {
            let mut causes: Vec<(String, usize)> = Vec::new();
            for (_, cause) in &self.failed {
                match causes.iter_mut().find(|(seen, _)| seen == cause) {
                    Some((_, count)) => *count += 1,
                    None => causes.push((cause.clone(), 1)),
                }
            }
            let causes: Vec<String> = causes
                .iter()
                .map(|(cause, count)| match (*count, singular(cause)) {
                    (1, Some(one)) => format!("1 {one}"),
                    _ => format!("{count} {cause}"),
                })
                .collect();
            text.push_str(&format!(
                "; {} did not: {}",
                self.failed.len(),
                causes.join(", ")
            ));
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
}

/// A failed mailbox's cause in a few words for the batch summary, from the catalogue entry of its first failure.
/// A cause said of one mailbox ("needs" rather than "need").
fn singular(plural: &str) -> Option<&'static str> {
    match plural {
        "need a new sign-in" => Some("needs a new sign-in"),
        "have no sign-in" => Some("has no sign-in"),
        _ => None,
    }
}

pub(super) fn batch_cause(row: &Row) -> String {
    if row.health.needs_person() {
        return "need a new sign-in".to_owned();
    }
    let code = [&row.imap, &row.smtp]
        .into_iter()
        .flatten()
        .find(|check| !check.passed)
        .map(|check| check.code.as_str())
        .unwrap_or_default();
    match code {
        "not-signed-in" => "have no sign-in".to_owned(),
        _ if code.contains("sender") => "cannot send as the mailbox".to_owned(),
        _ if code.contains("mailbox") => "cannot open the mailbox".to_owned(),
        _ if code.starts_with("IMAP") => "failed at receiving".to_owned(),
        _ if code.starts_with("SMTP") => "failed at sending".to_owned(),
        _ => "need a new sign-in".to_owned(),
    }
}
