//! The accounts home's model (no egui): one row per mailbox with its Basic Auth and OAuth standing, the last checks
//! and an alert; a filter, sorting by any column, a selection, and the banner that stays until a sign-in is fixed.
//! The window draws it; the rows' words come from `health` and `state`, the same as `status`.

use std::cmp::Ordering;

use crate::config::Account;
use crate::health::Health;
use crate::state::LastCheck;

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
}

impl Row {
    /// The alert column: the cause in a few words, or nothing when all is well.
    pub fn alert(&self) -> Option<String> {
        match &self.health {
            Health::Connected | Health::NotSetUp => {}
            other => return Some(other.words()),
        }
        let failed = |check: &Option<LastCheck>| check.as_ref().is_some_and(|check| !check.passed);
        match (failed(&self.imap), failed(&self.smtp)) {
            (true, true) => Some("receiving and sending failed at the last check".to_owned()),
            (true, false) => Some("receiving failed at the last check".to_owned()),
            (false, true) => Some("sending failed at the last check".to_owned()),
            (false, false) => None,
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
}

impl Home {
    pub fn new(rows: Vec<Row>) -> Home {
        Home {
            rows,
            filter: String::new(),
            sort: Column::Mailbox,
            ascending: true,
        }
    }

    /// The rows shown, as indices into `rows`: those matching the filter (any part of the address or the alert, in
    /// any case), in the chosen order.
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.trim().to_lowercase();
        let mut shown: Vec<usize> = (0..self.rows.len())
            .filter(|&index| {
                let row = &self.rows[index];
                needle.is_empty()
                    || row.account.mailbox.to_lowercase().contains(&needle)
                    || row
                        .alert()
                        .is_some_and(|alert| alert.to_lowercase().contains(&needle))
            })
            .collect();
        shown.sort_by(|&a, &b| {
            let order = compare(&self.rows[a], &self.rows[b], self.sort).then_with(|| {
                self.rows[a]
                    .account
                    .mailbox
                    .cmp(&self.rows[b].account.mailbox)
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

    /// The header's tick box: ticks (or unticks) every row shown, leaving filtered-out rows as they are.
    pub fn select_all_shown(&mut self, selected: bool) {
        for index in self.visible() {
            self.rows[index].selected = selected;
        }
    }

    /// Whether every shown row is ticked (the header's tick box shows this).
    pub fn all_shown_selected(&self) -> bool {
        let shown = self.visible();
        !shown.is_empty() && shown.iter().all(|&index| self.rows[index].selected)
    }

    pub fn selected(&self) -> Vec<&Account> {
        self.rows
            .iter()
            .filter(|row| row.selected)
            .map(|row| &row.account)
            .collect()
    }

    /// The banner at the top while any sign-in needs a person; it names the first such mailbox and how many more.
    pub fn banner(&self) -> Option<String> {
        let mut needing: Vec<&Row> = self
            .rows
            .iter()
            .filter(|row| row.health.needs_person())
            .collect();
        needing.sort_by(|a, b| a.account.mailbox.cmp(&b.account.mailbox));
        let first = needing.first()?;
        let others = needing.len() - 1;
        Some(if others == 0 {
            format!("The sign-in for {} stopped working.", first.account.mailbox)
        } else {
            format!(
                "The sign-in for {} and {} stopped working.",
                first.account.mailbox,
                crate::words::count(others as u64, "other mailbox", "other mailboxes")
            )
        })
    }
}

fn compare(a: &Row, b: &Row, column: Column) -> Ordering {
    let check = |check: &Option<LastCheck>| match check {
        None => 0,
        Some(check) if check.passed => 2,
        Some(_) => 1,
    };
    match column {
        Column::Mailbox => a
            .account
            .mailbox
            .to_lowercase()
            .cmp(&b.account.mailbox.to_lowercase()),
        Column::BasicAuth => a.basic_password.cmp(&b.basic_password),
        Column::OAuth => a.health.code().cmp(b.health.code()),
        Column::Receiving => check(&a.imap).cmp(&check(&b.imap)),
        Column::Sending => check(&a.smtp).cmp(&check(&b.smtp)),
        Column::Alert => a.alert().is_some().cmp(&b.alert().is_some()).reverse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, Provider};

    fn row(mailbox: &str, health: Health, smtp_passed: Option<bool>) -> Row {
        Row {
            account: Account::from_preset(mailbox, &Preset::for_provider(Provider::Microsoft365)),
            basic_password: Some(false),
            health,
            last_checked_at: Some(1),
            imap: None,
            smtp: smtp_passed.map(|passed| LastCheck {
                passed,
                code: if passed {
                    "passed"
                } else {
                    "SMTP-authentication-rejected"
                }
                .to_owned(),
                server_reply: None,
            }),
            selected: false,
        }
    }

    fn home() -> Home {
        Home::new(vec![
            row("reception@practice.com", Health::Connected, Some(true)),
            row(
                "frontdesk@practice.com",
                Health::NeedsSignIn {
                    code: "AADSTS700082".into(),
                },
                None,
            ),
            row("billing@practice.com", Health::Connected, Some(false)),
            row(
                "dr.lee@practice.com",
                Health::NeedsSignIn {
                    code: "invalid_grant".into(),
                },
                None,
            ),
        ])
    }

    fn mailboxes(home: &Home) -> Vec<&str> {
        home.visible()
            .into_iter()
            .map(|index| home.rows[index].account.mailbox.as_str())
            .collect()
    }

    #[test]
    fn rows_filter_sort_and_select_as_a_person_expects() {
        let mut home = home();
        assert_eq!(
            mailboxes(&home),
            [
                "billing@practice.com",
                "dr.lee@practice.com",
                "frontdesk@practice.com",
                "reception@practice.com"
            ]
        );
        home.sort_by(Column::Alert);
        assert_eq!(
            &mailboxes(&home)[..3],
            [
                "billing@practice.com",
                "dr.lee@practice.com",
                "frontdesk@practice.com"
            ],
            "rows with an alert first"
        );
        home.sort_by(Column::Mailbox);
        home.sort_by(Column::Mailbox);
        assert_eq!(
            mailboxes(&home)[0],
            "reception@practice.com",
            "the same column again reverses"
        );

        home.filter = "NEEDS SIGN".into();
        assert_eq!(mailboxes(&home).len(), 2, "the filter reads the alert too");
        home.select_all_shown(true);
        assert!(home.all_shown_selected());
        home.filter.clear();
        assert!(
            !home.all_shown_selected(),
            "the hidden rows were not ticked"
        );
        assert_eq!(home.selected().len(), 2);
    }

    #[test]
    fn the_banner_names_who_needs_a_sign_in_until_it_is_fixed() {
        let mut home = home();
        assert_eq!(
            home.banner().as_deref(),
            Some("The sign-in for dr.lee@practice.com and 1 other mailbox stopped working.")
        );
        for row in &mut home.rows {
            row.health = Health::Connected;
        }
        assert_eq!(home.banner(), None);
        assert_eq!(
            home.rows[2].alert().as_deref(),
            Some("sending failed at the last check")
        );
    }
}
