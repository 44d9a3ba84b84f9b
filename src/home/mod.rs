//! The accounts home's model (no egui): one row per mailbox with its Basic Auth and OAuth standing, the last checks
//! and an alert; a filter, sorting by any column, a selection, and the banner that stays until a sign-in is fixed.
//! The window draws it; the rows' words come from `health` and `state`, the same as `status`.

use std::cmp::Ordering;

use crate::config::Account;
use crate::health::Health;
use crate::state::{LastCheck, LastVerification};

mod batch;
mod selection;
mod standing;
use batch::batch_cause;
pub use batch::{Batch, BatchCause, CauseGroup, Through};
pub use selection::RemovalPlan;
pub use standing::{Cell, CheckColumn, Tone};

/// How often the open window checks every sign-in's health (and once when it opens).
pub const HEALTH_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30 * 60);
/// How many mailboxes "Check now" checks at the same time: enough to move through a long list, few enough not to
/// look like an attack to the mail servers (Exchange Online limits connections per mailbox and per address).
pub const CHECKS_AT_ONCE: usize = 4;

/// What was read about one mailbox, off the window's thread (keyring, state file, maybe a renewal or checks).
#[derive(Debug, Clone)]
pub struct RowReading {
    pub basic_password: Option<bool>,
    pub health: Health,
    /// When the sign-in was found to need a person (Unix seconds), for the banner.
    pub failed_at: Option<u64>,
    /// The last receiving and sending checks, when known (a check just made, or the state file).
    pub last_checks: Option<LastVerification>,
    /// When both checks first passed with OAuth (Unix seconds).
    pub moved_at: Option<u64>,
}

/// Results of the home's background work, sent to the window.
#[derive(Debug)]
pub enum HomeEvent {
    /// A row read anew; `after_check` when it ends a "Check now" for it.
    RowRead {
        mailbox: String,
        reading: RowReading,
        after_check: bool,
    },
    /// Mailboxes added by "Add many mailboxes" (saved in the settings), or why not.
    Imported {
        accounts: Vec<Account>,
        result: Result<(), String>,
    },
    /// The text of a file chosen on "Add many mailboxes".
    ImportFileRead(Result<String, String>),
    /// Text made for the clipboard ("The support report"), or why it could not be made.
    CopyText {
        what: String,
        text: Result<secrecy::SecretString, String>,
    },
    /// Mailboxes put in a group (`None`: taken out of their group), or why not.
    GroupSet {
        mailboxes: Vec<String>,
        group: Option<String>,
        result: Result<(), String>,
    },
    /// One mailbox's Basic Auth password removed (`Ok(true)`: there was one), or why not.
    BasicDisconnected {
        mailbox: String,
        result: Result<bool, String>,
    },
    /// One mailbox removed (its sign-in and its place in the settings), or why not.
    Removed {
        mailbox: String,
        result: Result<(), String>,
    },
}

/// One mailbox on the home page.
#[derive(Debug, Clone)]
pub struct Row {
    pub account: Account,
    /// Whether an old Basic Auth password is still stored (`None`: the keyring could not say).
    pub basic_password: Option<bool>,
    pub health: Health,
    /// The last receiving and sending checks, with their time (Unix seconds).
    pub last_checked_at: Option<u64>,
    pub imap: Option<LastCheck>,
    pub smtp: Option<LastCheck>,
    pub selected: bool,
    /// A "Check now" is running for this mailbox.
    pub checking: bool,
    /// When the sign-in was found to need a person (Unix seconds).
    pub failed_at: Option<u64>,
    /// When both checks first passed with OAuth ("moved to OAuth").
    pub moved_at: Option<u64>,
}

impl Row {
    /// A row for a mailbox not read yet.
    pub fn unread(account: Account) -> Row {
        Row {
            account,
            basic_password: None,
            health: Health::Reading,
            last_checked_at: None,
            imap: None,
            smtp: None,
            selected: false,
            checking: false,
            failed_at: None,
            moved_at: None,
        }
    }

    fn apply(&mut self, reading: RowReading, after_check: bool) {
        self.basic_password = reading.basic_password;
        self.health = reading.health;
        self.failed_at = reading.failed_at;
        self.moved_at = reading.moved_at.or(self.moved_at);
        if let Some(last) = reading.last_checks {
            self.last_checked_at = Some(last.at);
            self.imap = Some(last.imap);
            self.smtp = Some(last.smtp);
        }
        if after_check {
            self.checking = false;
        }
    }
}

/// The columns a person can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Mailbox,
    BasicAuth,
    OAuth,
    Receiving,
    Sending,
    Alert,
}

/// The home page's state.
#[derive(Debug, Clone)]
pub struct Home {
    pub rows: Vec<Row>,
    pub filter: String,
    pub sort: Column,
    pub ascending: bool,
    /// The dialog open over the table, if any (one at a time).
    pub dialog: Option<Dialog>,
    /// A short message about the last action ("2 mailboxes were removed."), until the next one.
    pub notice: Option<String>,
    /// The mailboxes removed since the last confirmation, for the notice.
    removed: Vec<String>,
    /// The mailboxes whose old password was removed since the last "Disconnect Basic", for the notice.
    disconnected: Vec<String>,
    /// The latest "Check now" over several mailboxes: its progress, then its summary.
    pub batch: Option<Batch>,
}

impl Home {
    pub fn new(rows: Vec<Row>) -> Home {
        Home {
            rows,
            filter: String::new(),
            sort: Column::Mailbox,
            ascending: true,
            dialog: None,
            notice: None,
            removed: Vec::new(),
            disconnected: Vec::new(),
            batch: None,
        }
    }

    /// A home for these accounts, each to be read.
    pub fn for_accounts(accounts: impl IntoIterator<Item = Account>) -> Home {
        Home::new(accounts.into_iter().map(Row::unread).collect())
    }

    pub fn row(&self, mailbox: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.account.mailbox.eq_ignore_ascii_case(mailbox))
    }

    fn row_mut(&mut self, mailbox: &str) -> Option<&mut Row> {
        self.rows
            .iter_mut()
            .find(|row| row.account.mailbox.eq_ignore_ascii_case(mailbox))
    }

    /// Adds a mailbox (just saved by the wizard), or replaces the settings of the row with the same address.
    pub fn upsert_account(&mut self, mut account: Account) {
        match self.row_mut(&account.mailbox) {
            Some(row) => {
                account.keep_group_of(&row.account);
                row.account = account
            }
            None => self.rows.push(Row::unread(account)),
        }
    }

    /// A mailbox the wizard just saved, with the checks the wizard made.
    pub fn upsert_saved(&mut self, account: Account, checks: LastVerification) {
        let mailbox = account.mailbox.clone();
        self.upsert_account(account);
        if let Some(row) = self.row_mut(&mailbox) {
            if checks.imap.passed && checks.smtp.passed {
                row.moved_at = row.moved_at.or(Some(checks.at));
            }
            row.last_checked_at = Some(checks.at);
            row.imap = Some(checks.imap);
            row.smtp = Some(checks.smtp);
        }
    }

    /// Takes in a result of background work.
    pub fn apply(&mut self, event: HomeEvent) {
        match event {
            HomeEvent::RowRead {
                mailbox,
                reading,
                after_check,
            } => {
                let counted = after_check && self.row(&mailbox).is_some_and(|row| row.checking);
                if let Some(row) = self.row_mut(&mailbox) {
                    row.apply(reading, after_check);
                }
                if counted {
                    self.count_in_batch(&mailbox);
                }
            }
            HomeEvent::Imported { accounts, result } => match result {
                Ok(()) => {
                    let count = accounts.len();
                    for account in accounts {
                        self.upsert_account(account);
                    }
                    self.notice = Some(format!(
                        "{} added.",
                        crate::words::count(count as u64, "mailbox", "mailboxes")
                    ));
                }
                Err(error) => {
                    self.notice = Some(format!("The mailboxes could not be added: {error}"))
                }
            },
            // The window takes the file's text onto its import page, and copied text to the clipboard.
            HomeEvent::ImportFileRead(_) | HomeEvent::CopyText { .. } => {}
            HomeEvent::GroupSet {
                mailboxes,
                group,
                result,
            } => match result {
                Ok(()) => {
                    for mailbox in &mailboxes {
                        if let Some(row) = self.row_mut(mailbox) {
                            row.account.group = group.clone();
                        }
                    }
                    self.notice = Some(match &group {
                        Some(group) => format!(
                            "{} put in the group \"{group}\".",
                            crate::words::count(mailboxes.len() as u64, "mailbox", "mailboxes")
                        ),
                        None => format!(
                            "{} taken out of their group.",
                            crate::words::count(mailboxes.len() as u64, "mailbox", "mailboxes")
                        ),
                    });
                }
                Err(error) => self.notice = Some(format!("The group could not be saved: {error}")),
            },
            HomeEvent::BasicDisconnected { mailbox, result } => match result {
                Ok(_) => {
                    if let Some(row) = self.row_mut(&mailbox) {
                        row.basic_password = Some(false);
                    }
                    self.disconnected.push(mailbox);
                    self.notice = Some(match self.disconnected.as_slice() {
                        [only] => format!(
                            "The old Basic Auth password kept on this computer for {only} was removed."
                        ),
                        all => format!(
                            "The old Basic Auth passwords kept on this computer for {} mailboxes were removed.",
                            all.len()
                        ),
                    });
                }
                Err(error) => {
                    self.notice = Some(format!(
                        "The old password of {mailbox} could not be removed: {error}"
                    ));
                }
            },
            HomeEvent::Removed { mailbox, result } => match result {
                Ok(()) => {
                    self.rows
                        .retain(|row| !row.account.mailbox.eq_ignore_ascii_case(&mailbox));
                    // A run of checks forgets it too: its count and its groups are about the rows there are.
                    if let Some(batch) = &mut self.batch {
                        batch.forget(&mailbox);
                    }
                    self.removed.push(mailbox);
                    self.notice = Some(match self.removed.as_slice() {
                        [only] => format!("{only} was removed."),
                        all => format!("{} mailboxes were removed.", all.len()),
                    });
                }
                Err(error) => {
                    self.notice = Some(format!("{mailbox} could not be removed: {error}"));
                }
            },
        }
    }

    /// The confirmed removal starts: the mailboxes it removes.
    pub fn confirm_removal(&mut self) -> Vec<String> {
        self.removed.clear();
        if !matches!(self.dialog.take(), Some(Dialog::ConfirmRemoval(_))) {
            return Vec::new();
        }
        // Worked out again now: rows read in the background meanwhile may have changed what is shown or who goes
        // through whom.
        self.removal_plan().remove
    }

    /// Marks the selected rows as being checked, starts a batch over them, and returns their accounts.
    pub fn start_checks(&mut self) -> Vec<Account> {
        let shown = self.visible();
        let accounts: Vec<Account> = shown
            .into_iter()
            .filter_map(|index| {
                let row = &mut self.rows[index];
                (row.selected && !row.checking).then(|| {
                    row.checking = true;
                    row.account.clone()
                })
            })
            .collect();
        if !accounts.is_empty() {
            self.batch = Some(Batch {
                mailboxes: accounts.iter().map(|a| a.mailbox.clone()).collect(),
                done: 0,
                failed: Vec::new(),
                passed: Vec::new(),
                started: std::time::Instant::now(),
                cancelled: false,
            });
        }
        accounts
    }

    /// "Disconnect Basic" was confirmed: the mailboxes whose old passwords go.
    pub fn confirm_disconnect(&mut self) -> Vec<String> {
        self.disconnected.clear();
        match self.dialog.take() {
            Some(Dialog::ConfirmDisconnect { moved, .. }) => moved,
            _ => Vec::new(),
        }
    }

    /// The ticked mailboxes split for "Disconnect Basic": moved to OAuth, and not yet.
    pub fn disconnect_candidates(&self) -> (Vec<String>, Vec<String>) {
        let (moved, not_yet): (Vec<&Account>, Vec<&Account>) =
            self.selected().into_iter().partition(|account| {
                self.row(&account.mailbox)
                    .is_some_and(|row| row.moved_at.is_some())
            });
        let names = |accounts: Vec<&Account>| accounts.iter().map(|a| a.mailbox.clone()).collect();
        (names(moved), names(not_yet))
    }

    /// Ticks exactly the mailboxes that failed in the last batch (for "Retry failed").
    pub fn select_failed(&mut self) {
        // The failed rows are what is acted on: a filter must not hide them (actions leave hidden rows out).
        self.filter.clear();
        let failed: Vec<String> = self
            .batch
            .as_ref()
            .map(|batch| {
                batch
                    .failed
                    .iter()
                    .map(|(mailbox, _)| mailbox.clone())
                    .collect()
            })
            .unwrap_or_default();
        for row in &mut self.rows {
            row.selected = failed
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&row.account.mailbox));
        }
    }

    /// Cancel: the rows still waiting stop showing "checking…"; the batch says where it stopped.
    pub fn cancel_checks(&mut self) {
        for row in &mut self.rows {
            row.checking = false;
        }
        if let Some(batch) = &mut self.batch
            && !batch.finished()
        {
            batch.cancelled = true;
        }
    }

    fn count_in_batch(&mut self, mailbox: &str) {
        let cause = self.row(mailbox).and_then(|row| {
            let passed = |check: &Option<LastCheck>| check.as_ref().is_some_and(|c| c.passed);
            (!(passed(&row.imap) && passed(&row.smtp))).then(|| batch_cause(row))
        });
        if let Some(batch) = &mut self.batch
            && !batch.cancelled
            && batch
                .mailboxes
                .iter()
                .any(|m| m.eq_ignore_ascii_case(mailbox))
        {
            batch.done += 1;
            match cause {
                Some(cause) => batch.failed.push((mailbox.to_owned(), cause)),
                None => batch.passed.push(mailbox.to_owned()),
            }
        }
    }

    /// Whether any check is still running (the window shows progress).
    pub fn checks_running(&self) -> usize {
        self.rows.iter().filter(|row| row.checking).count()
    }

    /// The rows shown, as indices into `rows`: those matching the filter (any part of the address, the OAuth
    /// words or the alert, in any case), in the chosen order.
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.trim().to_lowercase();
        let mut shown: Vec<usize> = (0..self.rows.len())
            .filter(|&index| {
                let row = &self.rows[index];
                needle.is_empty()
                    || row.account.mailbox.to_lowercase().contains(&needle)
                    || row.oauth_cell().words.to_lowercase().contains(&needle)
                    || row
                        .account
                        .group
                        .as_deref()
                        .is_some_and(|group| group.to_lowercase().contains(&needle))
                    || row
                        .alert()
                        .is_some_and(|alert| alert.to_lowercase().contains(&needle))
            })
            .collect();
        shown.sort_by(|&a, &b| {
            let order = compare(&self.rows[a], &self.rows[b], self.sort).then_with(|| {
                address_order(&self.rows[a].account.mailbox)
                    .cmp(&address_order(&self.rows[b].account.mailbox))
            });
            if self.ascending {
                order
            } else {
                order.reverse()
            }
        });
        shown
    }

    /// Sorts by `column`; choosing the same column again turns the order round.
    pub fn sort_by(&mut self, column: Column) {
        if self.sort == column {
            self.ascending = !self.ascending;
        } else {
            self.sort = column;
            self.ascending = true;
        }
    }

    /// The banner at the top while any sign-in needs a person: the words, and the mailbox its "Re-authenticate
    /// now" opens (the first such mailbox; the others follow once it is fixed).
    pub fn banner(&self) -> Option<Banner> {
        let mut needing: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| row.health.needs_person())
            .collect();
        needing.sort_by(|a, b| a.account.mailbox.cmp(&b.account.mailbox));
        let first = needing.first()?;
        let others = needing.len() - 1;
        let when = first
            .failed_at
            .map(|at| format!(" on {}", crate::words::day_and_month(at)))
            .unwrap_or_default();
        let words = if others == 0 {
            format!(
                "The sign-in for {} stopped working{when}.",
                first.account.mailbox
            )
        } else {
            format!(
                "The sign-in for {} stopped working{when}, as did {}.",
                first.account.mailbox,
                crate::words::count(others as u64, "other mailbox", "other mailboxes")
            )
        };
        Some(Banner {
            words,
            mailbox: first.account.mailbox.clone(),
        })
    }
}

/// The banner's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub words: String,
    pub mailbox: String,
}

/// A dialog over the accounts table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// "Remove": what it would do.
    ConfirmRemoval(RemovalPlan),
    /// "Group…": the name being typed for the ticked mailboxes.
    Group(String),
    /// "Disconnect Basic": the mailboxes moved to OAuth (their old passwords go) and those not yet (left as they
    /// are).
    ConfirmDisconnect {
        moved: Vec<String>,
        not_yet: Vec<String>,
    },
    /// A row's details: its checks' codes and the server's words, for support.
    Details(String),
}

/// An address in the order a person reads a list: by the name before the @ (so "hygiene" comes before
/// "hygiene2"), then the domain, ignoring case.
fn address_order(address: &str) -> (String, String) {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    (local.to_lowercase(), domain.to_lowercase())
}

fn compare(a: &Row, b: &Row, column: Column) -> Ordering {
    let check = |check: &Option<LastCheck>| match check {
        None => 0,
        Some(check) if check.passed => 2,
        Some(_) => 1,
    };
    match column {
        Column::Mailbox => {
            address_order(&a.account.mailbox).cmp(&address_order(&b.account.mailbox))
        }
        Column::BasicAuth => a.basic_password.cmp(&b.basic_password),
        Column::OAuth => a.health.code().cmp(b.health.code()),
        Column::Receiving => check(&a.imap).cmp(&check(&b.imap)),
        Column::Sending => check(&a.smtp).cmp(&check(&b.smtp)),
        Column::Alert => a.alert().is_some().cmp(&b.alert().is_some()).reverse(),
    }
}

#[cfg(test)]
mod tests;
