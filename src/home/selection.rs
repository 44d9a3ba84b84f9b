//! Which mailboxes the home's actions reach: the ticked rows the filter shows (hidden ticks are counted and left
//! out), what Remove would do (a service account others go through is kept), and the service account new mailboxes
//! usually go through.

use super::Home;
use crate::config::Account;

impl Home {
    /// The header's tick box: ticks (or unticks) every row shown, leaving filtered-out rows as they are.
    pub fn select_all_shown(&mut self, selected: bool) {
        for index in self.visible() {
            self.rows[index].selected = selected;
        }
    }

    /// Ticks only the row for `mailbox`.
    pub fn select_only(&mut self, mailbox: &str) {
        for row in &mut self.rows {
            row.selected = row.account.mailbox.eq_ignore_ascii_case(mailbox);
        }
    }

    /// Whether every shown row is ticked (the header's tick box shows this).
    pub fn all_shown_selected(&self) -> bool {
        self.all_selected(&self.visible())
    }

    /// Whether every row of `shown` (indices from [`Home::visible`]) is ticked.
    pub fn all_selected(&self, shown: &[usize]) -> bool {
        !shown.is_empty() && shown.iter().all(|&index| self.rows[index].selected)
    }

    /// The ticked mailboxes that are shown: what every action acts on. A row hidden by the filter keeps its tick
    /// for when the filter is cleared, but no action reaches it while it is hidden.
    pub fn selected(&self) -> Vec<&Account> {
        self.selected_among(&self.visible())
    }

    /// The ticked rows of `shown` (indices from [`Home::visible`], worked out once a frame by the window).
    pub fn selected_among(&self, shown: &[usize]) -> Vec<&Account> {
        shown
            .iter()
            .map(|&index| &self.rows[index])
            .filter(|row| row.selected)
            .map(|row| &row.account)
            .collect()
    }

    /// How many ticked rows are not among `shown`: the filter hides them (left out of every action; the window
    /// says so).
    pub fn ticked_but_hidden(&self, shown: &[usize]) -> usize {
        self.rows.iter().filter(|row| row.selected).count() - self.selected_among(shown).len()
    }

    /// What removing the ticked, shown mailboxes would do: those it removes, and those it keeps because other
    /// mailboxes go through their sign-in (a service account) and are not being removed with it.
    pub fn removal_plan(&self) -> RemovalPlan {
        let ticked: Vec<String> = self
            .selected()
            .into_iter()
            .map(|account| account.mailbox.clone())
            .collect();
        let is_ticked = |mailbox: &str| ticked.iter().any(|m| m.eq_ignore_ascii_case(mailbox));
        let mut plan = RemovalPlan::default();
        for mailbox in &ticked {
            let dependants: Vec<String> = self
                .rows
                .iter()
                .filter(|row| {
                    row.account
                        .service_account
                        .as_deref()
                        .is_some_and(|service| service.eq_ignore_ascii_case(mailbox))
                        && !is_ticked(&row.account.mailbox)
                })
                .map(|row| row.account.mailbox.clone())
                .collect();
            if dependants.is_empty() {
                plan.remove.push(mailbox.clone());
            } else {
                plan.kept.push((mailbox.clone(), dependants));
            }
        }
        plan
    }

    /// The service account most mailboxes go through, when most do (new mailboxes are added the same way).
    pub fn usual_service_account(&self) -> Option<String> {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for service in self
            .rows
            .iter()
            .filter_map(|row| row.account.service_account.as_deref())
        {
            match counts
                .iter_mut()
                .find(|(seen, _)| seen.eq_ignore_ascii_case(service))
            {
                Some((_, count)) => *count += 1,
                None => counts.push((service, 1)),
            }
        }
        let (service, count) = counts.into_iter().max_by_key(|(_, count)| *count)?;
        (2 * count > self.rows.len()).then(|| service.to_owned())
    }
}

/// What "Remove" does with the ticked mailboxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalPlan {
    /// Removed on "Yes, remove".
    pub remove: Vec<String>,
    /// Kept: service accounts, each with the mailboxes that go through its sign-in and are not being removed.
    pub kept: Vec<(String, Vec<String>)>,
}
