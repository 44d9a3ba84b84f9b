//! The wizard's step logic as a state machine: intents from the window and events from background work go in,
//! effects for the runtime come out. No egui here, so every transition is testable without a window.
//!
//! The state is one [`Page`] that carries exactly what is valid on it. Moving on builds the next page from the
//! current one; moving back hands a finished sign-in back only together with the account it was made for, and the
//! first step drops it when anything it depends on changed ([`crate::config::Account::sign_in_basis`]). Nothing
//! reaches the keyring or the configuration before the user chooses Save on the last page.

mod form;
mod pages;

use std::time::{Instant, SystemTime};

use secrecy::SecretString;

pub use form::AccountForm;
pub use pages::{
    CheckPage, CheckRow, KeptSignIn, Page, ReminderPage, SavePage, Saving, SignIn, SignInMethod,
    SignInPage, Step, StoredPassword,
};

use crate::auth::{DeviceCodePrompt, SignInError, SignInOptions, TokenSet};
use crate::config::Account;
use crate::store::{Forgotten, StoreError, StoredTokens};
use crate::verify::{CheckReport, Protocol, Stage};

/// What the user asked for, as returned by the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Next,
    Back,
    Cancel,
    /// Pick an existing account (by index) into the form.
    ChooseAccount(usize),
    /// Fill the form from one of the support team's presets (by index), keeping the typed address.
    ChoosePreset(usize),
    NewAccount,
    SetNoted(bool),
    TogglePasswordShown,
    StartSignIn(SignInMethod),
    CancelSignIn,
    /// Drop the sign-in in memory and choose how to sign in again (step 3, or from the check step).
    SignInAgain,
    /// Sign in again with the account picker shown.
    UseAnotherAccount,
    RetryFailedChecks,
    CopySupportReport,
    /// Copy the stored Basic Auth password (the reminder's Copy button).
    CopyPassword,
    /// Copy something that is not secret: the user code, the sign-in link.
    CopyText {
        text: String,
        what: Copied,
    },
    OpenUrl(String),
    /// Store the checked sign-in (the last page's Save button, and its Try again).
    Save,
    /// Take a saved sign-in out of the keyring again, from the last page.
    RemoveSaved,
    /// A preset file was dropped on the window (or chosen): read it and offer its presets.
    LoadPresetFile(std::path::PathBuf),
    /// "Open preset file…": the system's file dialog.
    OpenPresetFile,
    /// "Explain an error message": the window shows its explain page (nothing changes in the wizard).
    ExplainError,
    Finish,
}

/// What a Copy button copied, for the "copied" notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    Code,
    Link,
    /// The ready e-mail to the IT admin.
    Email,
}

/// What background work reports back. `attempt` ties a result to the request that caused it.
#[derive(Debug, Clone)]
pub enum Event {
    BasicPassword {
        attempt: u64,
        result: Result<Option<SecretString>, StoreError>,
    },
    DeviceCode {
        attempt: u64,
        result: Result<DeviceCodePrompt, SignInError>,
    },
    BrowserOpened {
        attempt: u64,
        url: url::Url,
    },
    SignedIn {
        attempt: u64,
        result: Result<TokenSet, SignInError>,
    },
    CheckProgress {
        attempt: u64,
        protocol: Protocol,
        stage: Stage,
    },
    CheckFinished {
        attempt: u64,
        report: CheckReport,
    },
    Saved {
        attempt: u64,
        result: Result<(), StoreError>,
    },
    Forgotten {
        attempt: u64,
        result: Result<Forgotten, StoreError>,
    },
    /// The presets read from a file, or why it could not be read (in words).
    PresetsLoaded {
        path: std::path::PathBuf,
        result: Result<Vec<crate::config::Preset>, String>,
    },
    /// The file chooser closed without a file: chosen so, or no chooser could open on this computer.
    PresetFileNotChosen,
}

/// Why the accounts home opened the wizard, for one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub mailbox: String,
    pub words: String,
}

/// Work for the runtime to do.
#[derive(Debug, Clone)]
pub enum Effect {
    LoadBasicPassword {
        attempt: u64,
        mailbox: String,
    },
    StartDeviceCode {
        attempt: u64,
        account: Box<Account>,
    },
    StartBrowser {
        attempt: u64,
        account: Box<Account>,
        options: SignInOptions,
    },
    /// Stop whatever sign-in is running (polling, listener).
    CancelSignIn,
    RunChecks {
        attempt: u64,
        account: Box<Account>,
        access_token: SecretString,
        protocols: Vec<Protocol>,
    },
    /// Store the sign-in (under the mailbox's lock, replacing any earlier one), record the account in the
    /// configuration and the two verdicts in the state file.
    Save {
        attempt: u64,
        account: Box<Account>,
        tokens: StoredTokens,
        imap: Box<CheckReport>,
        smtp: Box<CheckReport>,
        /// A preset file given in this window, remembered in the configuration with the account.
        preset_file: Option<std::path::PathBuf>,
    },
    /// Read a preset file.
    /// Shows the system's file dialog; a chosen file is loaded as by `LoadPresets`.
    PickPresetFile,
    LoadPresets {
        path: std::path::PathBuf,
    },
    /// Remove the mailbox's saved sign-in from the keyring.
    Forget {
        attempt: u64,
        mailbox: String,
    },
    /// Clipboard text is held as a secret: it may be the Basic Auth password.
    CopyToClipboard(SecretString),
    OpenUrl(String),
    Close,
}

/// The whole wizard.
#[derive(Debug)]
pub struct Wizard {
    pub page: Page,
    pub accounts: Vec<Account>,
    /// The presets from the support team's preset file, offered on the first step.
    pub presets: Vec<crate::config::Preset>,
    /// A preset file given in this window (dropped on it), remembered at Save.
    pub preset_file: Option<std::path::PathBuf>,
    /// What is typed on the first step; kept while the user is on later steps, so Back shows it again.
    pub form: AccountForm,
    /// Incremented by every new request; results carrying an older number are dropped.
    attempt: u64,
    /// "Copied" after a Copy button, shown in the footer until the next intent.
    pub notice: Option<String>,
    pub started_at: SystemTime,
    /// Why the wizard was opened, when the accounts home opened it to sign a mailbox in again ("The sign-in
    /// stopped working on 6 Dec: …"), shown above every page while the form is about that mailbox.
    pub reason: Option<Reason>,
    /// This computer has a web browser to sign in with: step 3 offers it first (the window sets it).
    pub browser_here: bool,
    /// The last Copy copied the old password.
    last_copied_password: bool,
    /// A preset file's path as typed, offered once the file chooser closed without a file (there may be no
    /// chooser on this computer).
    pub preset_path: Option<String>,
}

impl Wizard {
    pub fn new(mut accounts: Vec<Account>, form: AccountForm) -> Wizard {
        // No one signs in for a mailbox on the organisation's app: the wizard never offers one to sign in for.
        accounts.retain(|account| !account.app_only);
        Wizard {
            page: Page::Account { kept: None },
            accounts,
            presets: Vec::new(),
            preset_file: None,
            form,
            attempt: 0,
            notice: None,
            started_at: SystemTime::now(),
            reason: None,
            browser_here: false,
            last_copied_password: false,
            preset_path: None,
        }
    }

    pub fn step(&self) -> Step {
        self.page.step()
    }

    /// The account being connected, from step 2 on.
    pub fn account(&self) -> Option<&Account> {
        self.page.account()
    }

    /// The sign-in step's progress, while on step 3.
    pub fn sign_in(&self) -> Option<&SignIn> {
        match &self.page {
            Page::SignIn(page) => Some(&page.sign_in),
            _ => None,
        }
    }

    /// A protocol's row, while on step 4.
    pub fn check_row(&self, protocol: Protocol) -> Option<&CheckRow> {
        match (&self.page, protocol) {
            (Page::Check(page), Protocol::Imap) => Some(&page.imap),
            (Page::Check(page), Protocol::Smtp) => Some(&page.smtp),
            _ => None,
        }
    }

    /// The last step's state, while on step 5.
    pub fn saving(&self) -> Option<&Saving> {
        match &self.page {
            Page::Save(page) => Some(&page.saving),
            _ => None,
        }
    }

    fn next_attempt(&mut self) -> u64 {
        self.attempt += 1;
        self.attempt
    }

    /// Whether Next (Save, Finish on the last page) is allowed right now.
    pub fn can_go_next(&self) -> bool {
        match &self.page {
            Page::Account { .. } => self.form.problems().is_empty(),
            Page::Reminder(page) => {
                page.noted
                    || matches!(
                        page.password,
                        StoredPassword::None | StoredPassword::Unavailable(_)
                    )
            }
            Page::SignIn(page) => page.tokens().is_some() && page.mismatch().is_none(),
            Page::Check(page) => page.imap.passed() && page.smtp.passed(),
            // Only Save stores; Next (Finish) on the last page only closes once saved.
            Page::Save(page) => matches!(page.saving, Saving::Saved),
        }
    }

    /// Whether the last thing copied was the old password (the window wipes it from the clipboard later).
    pub fn copied_a_password(&self) -> bool {
        self.last_copied_password
    }

    /// Why Next cannot be chosen yet, in the page's words (shown beside the greyed button); `None` when it can.
    pub fn why_not_next(&self) -> Option<String> {
        if self.can_go_next() {
            return None;
        }
        Some(match &self.page {
            Page::Account { .. } => "Fix the marked boxes first.".to_owned(),
            Page::Reminder(page) if matches!(page.password, StoredPassword::Loading) => {
                "Looking up the old password…".to_owned()
            }
            Page::Reminder(_) => "Tick \"I have noted these settings\" first.".to_owned(),
            Page::SignIn(page) if page.mismatch().is_some() => {
                format!("Sign in as {} first.", page.expected())
            }
            Page::SignIn(_) => "Sign in first.".to_owned(),
            Page::Check(page) if page.running() => "Waiting for the checks.".to_owned(),
            Page::Check(_) => "Both checks must pass first.".to_owned(),
            Page::Save(_) => return None,
        })
    }

    /// Whether Back is allowed: not from the first step, not while saving, and not once the sign-in is saved
    /// (the last page says so and offers to remove it instead).
    pub fn can_go_back(&self) -> bool {
        match &self.page {
            Page::Account { .. } => false,
            Page::Save(page) => matches!(
                page.saving,
                Saving::NotYet | Saving::Failed(_) | Saving::Removed(_)
            ),
            _ => true,
        }
    }

    /// Whether Cancel would leave nothing behind (it is replaced by Finish once something is saved).
    pub fn can_cancel(&self) -> bool {
        !matches!(&self.page, Page::Save(page) if page.is_stored() || matches!(page.saving, Saving::InProgress))
    }

    /// Applies what the user asked for.
    #[must_use]
    pub fn apply_intent(&mut self, intent: Intent) -> Vec<Effect> {
        self.notice = None;
        match intent {
            Intent::Next if self.can_go_next() => self.advance(),
            Intent::Next => {
                // On the form, a refused Next is the moment to show every problem, not only those typed at.
                self.form.reveal_problems = true;
                Vec::new()
            }
            Intent::Back if self.can_go_back() => self.go_back(),
            Intent::Back => Vec::new(),
            Intent::Cancel if self.can_cancel() => {
                // Whatever runs is stopped; nothing was stored, so nothing is left behind.
                self.attempt += 1;
                vec![Effect::CancelSignIn, Effect::Close]
            }
            Intent::Cancel => Vec::new(),
            Intent::ChooseAccount(index) => {
                if let (Page::Account { .. }, Some(account)) =
                    (&self.page, self.accounts.get(index))
                {
                    self.form = AccountForm::from_account(account);
                }
                Vec::new()
            }
            Intent::ChoosePreset(index) => {
                if let (Page::Account { .. }, Some(preset)) = (&self.page, self.presets.get(index))
                {
                    let mailbox = std::mem::take(&mut self.form.mailbox);
                    self.form = AccountForm::new_for(preset.clone());
                    self.form.mailbox = mailbox;
                }
                Vec::new()
            }
            Intent::NewAccount => {
                if let Page::Account { .. } = &self.page {
                    self.form = AccountForm::new_for(self.form.preset.clone());
                }
                Vec::new()
            }
            Intent::SetNoted(noted) => {
                if let Page::Reminder(page) = &mut self.page {
                    page.noted = noted;
                }
                Vec::new()
            }
            Intent::TogglePasswordShown => {
                if let Page::Reminder(page) = &mut self.page {
                    page.password_shown = !page.password_shown;
                }
                Vec::new()
            }
            Intent::StartSignIn(method) => self.start_sign_in(method, false),
            Intent::CancelSignIn => {
                let Page::SignIn(page) = &mut self.page else {
                    return Vec::new();
                };
                self.attempt += 1;
                page.sign_in = SignIn::Choosing;
                vec![Effect::CancelSignIn]
            }
            Intent::SignInAgain => self.sign_in_again(),
            Intent::UseAnotherAccount => {
                // The account picker (prompt=select_account) exists only on the browser page.
                let mut effects = vec![Effect::CancelSignIn];
                effects.extend(self.start_sign_in(SignInMethod::Browser, true));
                effects
            }
            Intent::RetryFailedChecks => self.run_checks(true),
            Intent::CopySupportReport => {
                self.last_copied_password = false;
                self.notice = Some(
                    "Support report copied: paste it into an email or chat to support.".to_owned(),
                );
                vec![Effect::CopyToClipboard(SecretString::from(
                    crate::report::wizard_report(self),
                ))]
            }
            Intent::CopyPassword => match &self.page {
                Page::Reminder(page) => match &page.password {
                    StoredPassword::Present(password) => {
                        self.notice = Some(
                            "Password copied. It is wiped from the clipboard in a minute."
                                .to_owned(),
                        );
                        self.last_copied_password = true;
                        vec![Effect::CopyToClipboard(password.clone())]
                    }
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            },
            Intent::CopyText { text, what } => {
                self.last_copied_password = false;
                self.notice = Some(
                    match what {
                        Copied::Code => "Code copied.",
                        Copied::Link => "Link copied: paste it into your browser or an e-mail.",
                        Copied::Email => {
                            "E-mail text copied: paste it into an e-mail to your IT admin."
                        }
                    }
                    .to_owned(),
                );
                vec![Effect::CopyToClipboard(SecretString::from(text))]
            }
            Intent::OpenUrl(url) => vec![Effect::OpenUrl(url)],
            Intent::Save => self.save(),
            Intent::RemoveSaved => self.remove_saved(),
            Intent::LoadPresetFile(path) => match self.page {
                Page::Account { .. } => vec![Effect::LoadPresets { path }],
                _ => Vec::new(),
            },
            Intent::ExplainError => Vec::new(),
            Intent::OpenPresetFile => match self.page {
                Page::Account { .. } => vec![Effect::PickPresetFile],
                _ => Vec::new(),
            },
            // Finish also closes when removing the saved sign-in failed: the page says it is still saved.
            Intent::Finish => match &self.page {
                Page::Save(page)
                    if matches!(page.saving, Saving::Saved | Saving::RemoveFailed(_)) =>
                {
                    vec![Effect::Close]
                }
                _ => Vec::new(),
            },
        }
    }

    /// Moves to the next page, building it from the current one.
    fn advance(&mut self) -> Vec<Effect> {
        let page = std::mem::replace(&mut self.page, Page::Account { kept: None });
        let (next, effects) = match page {
            Page::Account { kept } => {
                let account = self.form.to_account();
                // A sign-in made for other settings (another mailbox, client id, tenant...) is dropped here.
                let kept = kept
                    .filter(|kept| kept.account.sign_in_basis() == account.sign_in_basis())
                    .map(|kept| kept.tokens);
                let attempt = self.next_attempt();
                let mailbox = account.mailbox.clone();
                let page = ReminderPage {
                    account,
                    password: StoredPassword::Loading,
                    password_shown: false,
                    noted: false,
                    kept,
                };
                (
                    Page::Reminder(Box::new(page)),
                    vec![Effect::LoadBasicPassword { attempt, mailbox }],
                )
            }
            Page::Reminder(page) => {
                let sign_in = match page.kept {
                    Some(tokens) => SignIn::SignedIn { tokens },
                    None => SignIn::Choosing,
                };
                let page = SignInPage {
                    account: page.account,
                    sign_in,
                    last_method: None,
                };
                (Page::SignIn(Box::new(page)), Vec::new())
            }
            Page::SignIn(page) => match page.sign_in {
                SignIn::SignedIn { tokens } => {
                    self.page = Page::Check(Box::new(CheckPage {
                        account: page.account,
                        tokens,
                        imap: CheckRow::Waiting,
                        smtp: CheckRow::Waiting,
                    }));
                    return self.run_checks(false);
                }
                // can_go_next() allows this only when signed in.
                other => (
                    Page::SignIn(Box::new(SignInPage {
                        account: page.account,
                        sign_in: other,
                        last_method: None,
                    })),
                    Vec::new(),
                ),
            },
            Page::Check(page) => match (page.imap, page.smtp) {
                (CheckRow::Finished(imap), CheckRow::Finished(smtp)) => (
                    Page::Save(Box::new(SavePage {
                        account: page.account,
                        tokens: page.tokens,
                        imap,
                        smtp,
                        saving: Saving::NotYet,
                    })),
                    Vec::new(),
                ),
                (imap, smtp) => (
                    Page::Check(Box::new(CheckPage {
                        imap,
                        smtp,
                        ..*page
                    })),
                    Vec::new(),
                ),
            },
            // can_go_next() allows this only once saved.
            Page::Save(page) => (Page::Save(page), vec![Effect::Close]),
        };
        self.page = next;
        effects
    }

    /// Moves to the previous page. Leaving a page abandons what it started: its results arrive with an old attempt
    /// number and are dropped.
    fn go_back(&mut self) -> Vec<Effect> {
        self.attempt += 1;
        let page = std::mem::replace(&mut self.page, Page::Account { kept: None });
        let (previous, effects) = match page {
            Page::Account { kept } => (Page::Account { kept }, Vec::new()),
            Page::Reminder(page) => {
                let ReminderPage { account, kept, .. } = *page;
                let kept = kept.map(|tokens| Box::new(KeptSignIn { account, tokens }));
                (Page::Account { kept }, Vec::new())
            }
            Page::SignIn(page) => {
                let (kept, mut effects) = match page.sign_in {
                    SignIn::SignedIn { tokens } => (Some(tokens), Vec::new()),
                    _ => (None, vec![Effect::CancelSignIn]),
                };
                effects.push(Effect::LoadBasicPassword {
                    attempt: self.attempt,
                    mailbox: page.account.mailbox.clone(),
                });
                (
                    Page::Reminder(Box::new(reminder_after_back(page.account, kept))),
                    effects,
                )
            }
            Page::Check(page) => (
                Page::SignIn(Box::new(SignInPage {
                    account: page.account,
                    sign_in: SignIn::SignedIn {
                        tokens: page.tokens,
                    },
                    last_method: None,
                })),
                Vec::new(),
            ),
            Page::Save(page) => (
                Page::Check(Box::new(CheckPage {
                    account: page.account,
                    tokens: page.tokens,
                    imap: CheckRow::Finished(page.imap),
                    smtp: CheckRow::Finished(page.smtp),
                })),
                Vec::new(),
            ),
        };
        self.page = previous;
        effects
    }

    /// Drops the sign-in in memory and shows step 3's choice again (from step 3, 4, or 5 before saving).
    fn sign_in_again(&mut self) -> Vec<Effect> {
        let account = match &self.page {
            Page::SignIn(page) => page.account.clone(),
            Page::Check(page) => page.account.clone(),
            Page::Save(page) if !page.is_stored() && !matches!(page.saving, Saving::InProgress) => {
                page.account.clone()
            }
            _ => return Vec::new(),
        };
        self.attempt += 1;
        self.page = Page::SignIn(Box::new(SignInPage {
            account,
            sign_in: SignIn::Choosing,
            last_method: None,
        }));
        vec![Effect::CancelSignIn]
    }

    fn start_sign_in(&mut self, method: SignInMethod, another_account: bool) -> Vec<Effect> {
        if !matches!(self.page, Page::SignIn(_)) {
            return Vec::new();
        }
        let attempt = self.next_attempt();
        let Page::SignIn(page) = &mut self.page else {
            return Vec::new();
        };
        page.sign_in = SignIn::Starting(method);
        page.last_method = Some(method);
        let account = Box::new(page.account.clone());
        match method {
            SignInMethod::DeviceCode => vec![Effect::StartDeviceCode { attempt, account }],
            SignInMethod::Browser => {
                let options = SignInOptions {
                    login_hint: (!another_account).then(|| account.sign_in_account().to_owned()),
                    select_account: another_account,
                    redirect_path: String::new(),
                };
                vec![Effect::StartBrowser {
                    attempt,
                    account,
                    options,
                }]
            }
        }
    }

    fn run_checks(&mut self, only_failed: bool) -> Vec<Effect> {
        let attempt = self.attempt + 1;
        let Page::Check(page) = &mut self.page else {
            return Vec::new();
        };
        if page.running() {
            return Vec::new();
        }
        let mut protocols = Vec::new();
        for (protocol, row) in [
            (Protocol::Imap, &mut page.imap),
            (Protocol::Smtp, &mut page.smtp),
        ] {
            if !only_failed || row.failed() {
                *row = CheckRow::Running(Stage::Resolving);
                protocols.push(protocol);
            }
        }
        if protocols.is_empty() {
            return Vec::new();
        }
        let effect = Effect::RunChecks {
            attempt,
            account: Box::new(page.account.clone()),
            access_token: page.tokens.access_token.clone(),
            protocols,
        };
        self.attempt = attempt;
        vec![effect]
    }

    fn save(&mut self) -> Vec<Effect> {
        let attempt = self.attempt + 1;
        let Page::Save(page) = &mut self.page else {
            return Vec::new();
        };
        if !matches!(
            page.saving,
            Saving::NotYet | Saving::Failed(_) | Saving::Removed(_)
        ) {
            return Vec::new();
        }
        let Some(refresh_token) = page.tokens.refresh_token.clone() else {
            page.saving = Saving::Failed(StoreError::Refused {
                name: page.account.mailbox.clone(),
                detail: "Microsoft sent no refresh token (is offline_access among the scopes?)"
                    .to_owned(),
            });
            return Vec::new();
        };
        let tokens = StoredTokens {
            access_token: page.tokens.access_token.clone(),
            refresh_token,
            access_token_expires_at: page.tokens.expires_at,
            signed_in_as: page
                .tokens
                .account
                .as_ref()
                .map(|signed_in| signed_in.username.clone()),
            saved_at: SystemTime::now(),
        };
        page.saving = Saving::InProgress;
        self.attempt = attempt;
        vec![Effect::Save {
            attempt,
            account: Box::new(page.account.clone()),
            tokens,
            imap: Box::new(page.imap.clone()),
            smtp: Box::new(page.smtp.clone()),
            preset_file: self.preset_file.clone(),
        }]
    }

    fn remove_saved(&mut self) -> Vec<Effect> {
        let attempt = self.attempt + 1;
        let Page::Save(page) = &mut self.page else {
            return Vec::new();
        };
        if !matches!(page.saving, Saving::Saved | Saving::RemoveFailed(_)) {
            return Vec::new();
        }
        page.saving = Saving::Removing;
        self.attempt = attempt;
        vec![Effect::Forget {
            attempt,
            mailbox: page.account.mailbox.clone(),
        }]
    }

    /// Applies a result from background work; results of abandoned attempts are dropped.
    #[must_use]
    pub fn apply_event(&mut self, event: Event) -> Vec<Effect> {
        let current = self.attempt;
        match (&mut self.page, event) {
            (Page::Reminder(page), Event::BasicPassword { attempt, result })
                if attempt == current =>
            {
                page.password = match result {
                    Ok(Some(password)) => StoredPassword::Present(password),
                    Ok(None) => StoredPassword::None,
                    Err(error) => StoredPassword::Unavailable(error),
                };
            }
            (Page::SignIn(page), Event::DeviceCode { attempt, result }) if attempt == current => {
                page.sign_in = match result {
                    Ok(prompt) => SignIn::ShowingCode(prompt),
                    Err(error) => SignIn::Failed(error),
                };
            }
            (Page::SignIn(page), Event::BrowserOpened { attempt, url }) if attempt == current => {
                page.sign_in = SignIn::WaitingForBrowser { url };
            }
            (Page::SignIn(page), Event::SignedIn { attempt, result }) if attempt == current => {
                page.sign_in = match result {
                    Ok(tokens) => SignIn::SignedIn { tokens },
                    Err(SignInError::DeviceCodeExpired) => SignIn::CodeExpired,
                    Err(error) if error.code() == "AADSTS70019" => SignIn::CodeExpired,
                    Err(error) => SignIn::Failed(error),
                };
            }
            (
                Page::Check(page),
                Event::CheckProgress {
                    attempt,
                    protocol,
                    stage,
                },
            ) if attempt == current => {
                let row = match protocol {
                    Protocol::Imap => &mut page.imap,
                    Protocol::Smtp => &mut page.smtp,
                };
                if matches!(row, CheckRow::Running(_)) {
                    *row = CheckRow::Running(stage);
                }
            }
            (Page::Check(page), Event::CheckFinished { attempt, report }) if attempt == current => {
                let row = match report.protocol {
                    Protocol::Imap => &mut page.imap,
                    Protocol::Smtp => &mut page.smtp,
                };
                *row = CheckRow::Finished(report);
            }
            (Page::Save(page), Event::Saved { attempt, result }) if attempt == current => {
                page.saving = match result {
                    Ok(()) => Saving::Saved,
                    Err(error) => Saving::Failed(error),
                };
            }
            (Page::Save(page), Event::Forgotten { attempt, result }) if attempt == current => {
                page.saving = match result {
                    Ok(forgotten) => Saving::Removed(forgotten),
                    Err(error) => Saving::RemoveFailed(error),
                };
            }
            (Page::Account { .. }, Event::PresetFileNotChosen) => {
                self.preset_path = Some(String::new());
            }
            (Page::Account { .. }, Event::PresetsLoaded { path, result }) => match result {
                Ok(presets) if !presets.is_empty() => {
                    // One preset fills the form at once (keeping the typed address); several are offered.
                    if let [preset] = presets.as_slice() {
                        let mailbox = std::mem::take(&mut self.form.mailbox);
                        self.form = AccountForm::new_for(preset.clone());
                        self.form.mailbox = mailbox;
                    }
                    self.notice = Some(format!(
                        "Loaded {} from {}.",
                        crate::words::count(presets.len() as u64, "preset", "presets"),
                        path.file_name().unwrap_or_default().to_string_lossy()
                    ));
                    self.presets = presets;
                    self.preset_file = Some(path);
                }
                Ok(_) => {
                    self.notice = Some("That file holds no [[preset]] settings.".to_owned());
                }
                Err(problem) => self.notice = Some(problem),
            },
            (_, stale) => tracing::debug!(
                event = event_name(&stale),
                "dropped a result from an abandoned attempt"
            ),
        }
        Vec::new()
    }

    /// Whether the window must repaint by itself (a countdown is visible).
    /// When the page next changes by itself (the code's countdown, in whole minutes); `None` when it does not.
    pub fn next_tick(&self, now: Instant) -> Option<std::time::Duration> {
        match self.sign_in() {
            Some(SignIn::ShowingCode(prompt)) if prompt.expires_at() > now => {
                let left = prompt.expires_at() - now;
                let into_minute =
                    std::time::Duration::from_millis(left.as_millis() as u64 % 60_000);
                Some(into_minute.max(std::time::Duration::from_millis(200)))
            }
            _ => None,
        }
    }
}

/// The reminder page again after Back from step 3: the password is read anew, and stays masked.
fn reminder_after_back(account: Account, kept: Option<TokenSet>) -> ReminderPage {
    ReminderPage {
        account,
        password: StoredPassword::Loading,
        // Noted once on the way forward already.
        password_shown: false,
        noted: true,
        kept,
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::BasicPassword { .. } => "basic password",
        Event::DeviceCode { .. } => "device code",
        Event::BrowserOpened { .. } => "browser opened",
        Event::SignedIn { .. } => "signed in",
        Event::CheckProgress { .. } => "check progress",
        Event::CheckFinished { .. } => "check finished",
        Event::Saved { .. } => "saved",
        Event::Forgotten { .. } => "forgotten",
        Event::PresetsLoaded { .. } => "presets loaded",
        Event::PresetFileNotChosen => "preset file not chosen",
    }
}

#[cfg(test)]
mod tests;
