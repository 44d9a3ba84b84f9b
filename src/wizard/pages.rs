//! What each wizard page holds. A page carries exactly what is valid on it: the check page cannot exist without
//! the sign-in it checks, and a sign-in is only carried back to earlier pages together with the account it was
//! made for, so a changed account can never pick up someone else's tokens.

use secrecy::SecretString;

use crate::auth::{DeviceCodePrompt, SignInError, TokenSet};
use crate::config::Account;
use crate::store::{Forgotten, StoreError};
use crate::verify::{CheckFailure, CheckReport, Stage, Verdict};

/// The five steps, in order (the header and support staff name them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Account,
    Reminder,
    SignIn,
    Check,
    Save,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Account,
        Step::Reminder,
        Step::SignIn,
        Step::Check,
        Step::Save,
    ];

    pub fn number(self) -> usize {
        self as usize + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Account => "Choose the mailbox",
            Step::Reminder => "Your current settings",
            Step::SignIn => "Sign in to Microsoft",
            Step::Check => "Check the connection",
            Step::Save => "Save the sign-in",
        }
    }
}

/// How the user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    DeviceCode,
    Browser,
}

/// Where the Basic Auth password for the reminder stands.
#[derive(Debug, Clone)]
pub enum StoredPassword {
    Loading,
    None,
    Present(SecretString),
    Unavailable(StoreError),
}

/// A finished sign-in kept while the user looks back at the first step, with the account it was made for.
#[derive(Debug, Clone)]
pub struct KeptSignIn {
    pub account: Account,
    pub tokens: TokenSet,
}

/// Step 2: the settings the mailbox uses today.
#[derive(Debug, Clone)]
pub struct ReminderPage {
    pub account: Account,
    pub password: StoredPassword,
    pub password_shown: bool,
    pub noted: bool,
    /// A sign-in made earlier for exactly this account, offered again on step 3.
    pub kept: Option<TokenSet>,
}

/// The sign-in step's progress. Each variant carries only what is valid in it.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Nothing started: the two ways to sign in are offered.
    Choosing,
    /// Asking the identity server for a code, or opening the listener for the browser.
    Starting(SignInMethod),
    /// The code is shown; polling runs in the background.
    ShowingCode(DeviceCodePrompt),
    /// The browser was sent to the sign-in page; the listener waits.
    WaitingForBrowser {
        url: url::Url,
    },
    /// The code ran out before the user signed in.
    CodeExpired,
    Failed(SignInError),
    /// Tokens in memory, for the page's account. Whether they are for the expected person is computed from the
    /// page's account each time it is asked ([`SignInPage::mismatch`]), never stored.
    SignedIn {
        tokens: TokenSet,
    },
}

/// Step 3.
#[derive(Debug, Clone)]
pub struct SignInPage {
    pub account: Account,
    pub sign_in: SignIn,
    /// The method of the latest attempt: a refusal reads differently after a code than after the browser.
    pub last_method: Option<SignInMethod>,
}

impl SignInPage {
    /// Who should sign in: the mailbox, or its delegate.
    pub fn expected(&self) -> &str {
        self.account.sign_in_account()
    }

    /// Why the signed-in person is not the expected one, if so.
    pub fn mismatch(&self) -> Option<SignInError> {
        match &self.sign_in {
            SignIn::SignedIn { tokens } => tokens.ensure_account(self.expected()).err(),
            _ => None,
        }
    }

    pub fn tokens(&self) -> Option<&TokenSet> {
        match &self.sign_in {
            SignIn::SignedIn { tokens } => Some(tokens),
            _ => None,
        }
    }
}

/// One protocol's row on the check step.
#[derive(Debug, Clone)]
pub enum CheckRow {
    Waiting,
    Running(Stage),
    Finished(CheckReport),
}

impl CheckRow {
    pub fn passed(&self) -> bool {
        matches!(self, CheckRow::Finished(report) if report.verdict.passed())
    }

    pub fn failed(&self) -> bool {
        matches!(self, CheckRow::Finished(report) if !report.verdict.passed())
    }

    pub fn failure(&self) -> Option<&CheckFailure> {
        match self {
            CheckRow::Finished(CheckReport {
                verdict: Verdict::Failed(failure),
                ..
            }) => Some(failure),
            _ => None,
        }
    }
}

/// Step 4: the sign-in being checked, and the two rows.
#[derive(Debug, Clone)]
pub struct CheckPage {
    pub account: Account,
    pub tokens: TokenSet,
    pub imap: CheckRow,
    pub smtp: CheckRow,
}

impl CheckPage {
    pub fn running(&self) -> bool {
        matches!(self.imap, CheckRow::Running(_)) || matches!(self.smtp, CheckRow::Running(_))
    }
}

/// Where the last step stands.
#[derive(Debug, Clone)]
pub enum Saving {
    /// Nothing stored yet: the page says what Save will store.
    NotYet,
    InProgress,
    Saved,
    Failed(StoreError),
    /// The user removed the saved sign-in again from this page.
    Removing,
    Removed(Forgotten),
    RemoveFailed(StoreError),
}

/// Step 5: the checked sign-in, both passing verdicts, and whether it is stored.
#[derive(Debug, Clone)]
pub struct SavePage {
    pub account: Account,
    pub tokens: TokenSet,
    pub imap: CheckReport,
    pub smtp: CheckReport,
    pub saving: Saving,
}

impl SavePage {
    /// Whether the keyring holds this sign-in now (Back and Cancel must not pretend otherwise).
    pub fn is_stored(&self) -> bool {
        matches!(
            self.saving,
            Saving::Saved | Saving::Removing | Saving::RemoveFailed(_)
        )
    }
}

/// The page on screen, with everything valid on it.
#[derive(Debug, Clone)]
pub enum Page {
    Account { kept: Option<Box<KeptSignIn>> },
    Reminder(Box<ReminderPage>),
    SignIn(Box<SignInPage>),
    Check(Box<CheckPage>),
    Save(Box<SavePage>),
}

impl Page {
    pub fn step(&self) -> Step {
        match self {
            Page::Account { .. } => Step::Account,
            Page::Reminder(_) => Step::Reminder,
            Page::SignIn(_) => Step::SignIn,
            Page::Check(_) => Step::Check,
            Page::Save(_) => Step::Save,
        }
    }

    /// The account the page is about (none on the first step, where it is still being typed).
    pub fn account(&self) -> Option<&Account> {
        match self {
            Page::Account { .. } => None,
            Page::Reminder(page) => Some(&page.account),
            Page::SignIn(page) => Some(&page.account),
            Page::Check(page) => Some(&page.account),
            Page::Save(page) => Some(&page.account),
        }
    }
}
