//! The wizard's step logic as a state machine: intents from the window and events from background work go in,
//! effects for the runtime come out. No egui here, so every transition is testable without a window.

mod form;

use std::time::{Instant, SystemTime};

use secrecy::SecretString;

pub use form::AccountForm;

use crate::auth::{DeviceCodePrompt, SignInError, SignInOptions, TokenSet};
use crate::config::Account;
use crate::store::{StoreError, StoredTokens};
use crate::verify::{CheckFailure, CheckReport, Protocol, Stage, Verdict};

/// The five steps, in order.
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
            Step::Save => "Save",
        }
    }

    fn previous(self) -> Option<Step> {
        Step::ALL.get((self as usize).checked_sub(1)?).copied()
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

/// The sign-in step's state. Each variant carries only what is valid in it.
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
    /// Tokens in memory; `mismatch` is set when someone other than the expected account signed in.
    SignedIn {
        tokens: TokenSet,
        mismatch: Option<String>,
    },
}

/// One protocol's row on the check step.
#[derive(Debug, Clone)]
pub enum CheckRow {
    Waiting,
    Running(Stage),
    Passed { server_reply: String },
    Failed(CheckFailure),
}

impl CheckRow {
    pub fn passed(&self) -> bool {
        matches!(self, CheckRow::Passed { .. })
    }

    pub fn failed(&self) -> bool {
        matches!(self, CheckRow::Failed(_))
    }
}

/// The save step's state.
#[derive(Debug, Clone)]
pub enum Saving {
    InProgress,
    Saved,
    Failed(StoreError),
}

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
    StartSignIn(SignInMethod),
    CancelSignIn,
    /// Start over with the account picker shown.
    UseAnotherAccount,
    RetryFailedChecks,
    CopySupportReport,
    /// Copy the stored Basic Auth password (the reminder's Copy button).
    CopyPassword,
    /// Copy something that is not secret: the user code, the sign-in link.
    CopyText(String),
    OpenUrl(String),
    RetrySave,
    Finish,
}

/// What background work reports back. `attempt` ties a result to the request that caused it.
#[derive(Debug, Clone)]
pub enum Event {
    BasicPassword(Result<Option<SecretString>, StoreError>),
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
}

/// Work for the runtime to do.
#[derive(Debug, Clone)]
pub enum Effect {
    LoadBasicPassword {
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
    Save {
        attempt: u64,
        account: Box<Account>,
        tokens: StoredTokens,
    },
    /// Clipboard text is held as a secret: it may be the Basic Auth password.
    CopyToClipboard(SecretString),
    OpenUrl(String),
    Close,
}

/// The whole wizard.
#[derive(Debug)]
pub struct Wizard {
    pub step: Step,
    pub accounts: Vec<Account>,
    /// The presets from the support team's preset file, offered on the first step.
    pub presets: Vec<crate::config::Preset>,
    pub form: AccountForm,
    /// The account being connected, fixed when leaving the first step.
    pub account: Option<Account>,
    pub password: StoredPassword,
    pub password_shown: bool,
    pub noted: bool,
    pub sign_in: SignIn,
    pub imap: CheckRow,
    pub smtp: CheckRow,
    pub saving: Option<Saving>,
    /// Incremented by every new request; results carrying an older number are dropped.
    attempt: u64,
    /// Shown once after "Copy support report" until the next intent.
    pub notice: Option<String>,
    pub started_at: SystemTime,
}

impl Wizard {
    pub fn new(accounts: Vec<Account>, form: AccountForm) -> Wizard {
        Wizard {
            step: Step::Account,
            accounts,
            presets: Vec::new(),
            form,
            account: None,
            password: StoredPassword::Loading,
            password_shown: false,
            noted: false,
            sign_in: SignIn::Choosing,
            imap: CheckRow::Waiting,
            smtp: CheckRow::Waiting,
            saving: None,
            attempt: 0,
            notice: None,
            started_at: SystemTime::now(),
        }
    }

    fn next_attempt(&mut self) -> u64 {
        self.attempt += 1;
        self.attempt
    }

    /// Whether Next is allowed on this step right now.
    pub fn can_go_next(&self) -> bool {
        match self.step {
            Step::Account => self.form.problems().is_empty(),
            Step::Reminder => {
                self.noted
                    || matches!(
                        self.password,
                        StoredPassword::None | StoredPassword::Unavailable(_)
                    )
            }
            Step::SignIn => matches!(self.sign_in, SignIn::SignedIn { mismatch: None, .. }),
            Step::Check => self.imap.passed() && self.smtp.passed(),
            Step::Save => matches!(self.saving, Some(Saving::Saved)),
        }
    }

    pub fn checks_running(&self) -> bool {
        matches!(self.imap, CheckRow::Running(_)) || matches!(self.smtp, CheckRow::Running(_))
    }

    fn tokens(&self) -> Option<&TokenSet> {
        match &self.sign_in {
            SignIn::SignedIn { tokens, .. } => Some(tokens),
            _ => None,
        }
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
            Intent::Back => self.go_back(),
            Intent::Cancel => {
                // Whatever runs is stopped; tokens only ever lived in memory, so nothing is left behind.
                self.attempt += 1;
                vec![Effect::CancelSignIn, Effect::Close]
            }
            Intent::ChooseAccount(index) => {
                if let Some(account) = self.accounts.get(index) {
                    self.form = AccountForm::from_account(account);
                }
                Vec::new()
            }
            Intent::ChoosePreset(index) => {
                if let Some(preset) = self.presets.get(index) {
                    let mailbox = std::mem::take(&mut self.form.mailbox);
                    self.form = AccountForm::new_for(preset.clone());
                    self.form.mailbox = mailbox;
                }
                Vec::new()
            }
            Intent::NewAccount => {
                self.form = AccountForm::new_for(self.form.preset.clone());
                Vec::new()
            }
            Intent::SetNoted(noted) => {
                self.noted = noted;
                Vec::new()
            }
            Intent::StartSignIn(method) => self.start_sign_in(method, false),
            Intent::CancelSignIn => {
                self.attempt += 1;
                self.sign_in = SignIn::Choosing;
                vec![Effect::CancelSignIn]
            }
            Intent::UseAnotherAccount => {
                // The account picker (prompt=select_account) exists only on the browser page.
                let mut effects = vec![Effect::CancelSignIn];
                effects.extend(self.start_sign_in(SignInMethod::Browser, true));
                effects
            }
            Intent::RetryFailedChecks => self.run_checks(true),
            Intent::CopySupportReport => {
                self.notice = Some(
                    "Support report copied. Paste it into an email or chat to support.".to_owned(),
                );
                vec![Effect::CopyToClipboard(SecretString::from(
                    crate::report::wizard_report(self),
                ))]
            }
            Intent::CopyPassword => match &self.password {
                StoredPassword::Present(password) => {
                    vec![Effect::CopyToClipboard(password.clone())]
                }
                _ => Vec::new(),
            },
            Intent::CopyText(text) => vec![Effect::CopyToClipboard(SecretString::from(text))],
            Intent::OpenUrl(url) => vec![Effect::OpenUrl(url)],
            Intent::RetrySave => self.save(),
            Intent::Finish if matches!(self.saving, Some(Saving::Saved)) => vec![Effect::Close],
            Intent::Finish => Vec::new(),
        }
    }

    fn advance(&mut self) -> Vec<Effect> {
        match self.step {
            Step::Account => {
                let account = self.form.to_account();
                self.password = StoredPassword::Loading;
                self.noted = false;
                self.password_shown = false;
                let mailbox = account.mailbox.clone();
                self.account = Some(account);
                self.step = Step::Reminder;
                vec![Effect::LoadBasicPassword { mailbox }]
            }
            Step::Reminder => {
                self.step = Step::SignIn;
                Vec::new()
            }
            Step::SignIn => {
                self.step = Step::Check;
                self.run_checks(false)
            }
            Step::Check => {
                self.step = Step::Save;
                self.save()
            }
            Step::Save => vec![Effect::Close],
        }
    }

    fn go_back(&mut self) -> Vec<Effect> {
        let Some(previous) = self.step.previous() else {
            return Vec::new();
        };
        // Leaving a step abandons what it started: its results will arrive with an old attempt number.
        self.attempt += 1;
        let mut effects = Vec::new();
        if self.step == Step::SignIn && !matches!(self.sign_in, SignIn::SignedIn { .. }) {
            self.sign_in = SignIn::Choosing;
            effects.push(Effect::CancelSignIn);
        }
        if self.step == Step::Check {
            self.imap = CheckRow::Waiting;
            self.smtp = CheckRow::Waiting;
        }
        if self.step == Step::Save {
            self.saving = None;
        }
        self.step = previous;
        effects
    }

    fn start_sign_in(&mut self, method: SignInMethod, another_account: bool) -> Vec<Effect> {
        let Some(account) = self.account.clone() else {
            return Vec::new();
        };
        let attempt = self.next_attempt();
        self.sign_in = SignIn::Starting(method);
        let account = Box::new(account);
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
        let (Some(account), Some(tokens)) = (self.account.clone(), self.tokens()) else {
            return Vec::new();
        };
        let access_token = tokens.access_token.clone();
        let mut protocols = Vec::new();
        for (protocol, row) in [
            (Protocol::Imap, &mut self.imap),
            (Protocol::Smtp, &mut self.smtp),
        ] {
            if !only_failed || row.failed() {
                *row = CheckRow::Running(Stage::Resolving);
                protocols.push(protocol);
            }
        }
        if protocols.is_empty() {
            return Vec::new();
        }
        let attempt = self.next_attempt();
        vec![Effect::RunChecks {
            attempt,
            account: Box::new(account),
            access_token,
            protocols,
        }]
    }

    fn save(&mut self) -> Vec<Effect> {
        let (Some(account), Some(tokens)) = (self.account.clone(), self.tokens()) else {
            return Vec::new();
        };
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            self.saving = Some(Saving::Failed(StoreError::Refused {
                name: account.mailbox.clone(),
                detail: "Microsoft sent no refresh token (is offline_access among the scopes?)"
                    .to_owned(),
            }));
            return Vec::new();
        };
        let stored = StoredTokens {
            access_token: tokens.access_token.clone(),
            refresh_token,
            access_token_expires_at: tokens.expires_at,
            signed_in_as: tokens
                .account
                .as_ref()
                .map(|signed_in| signed_in.username.clone()),
            saved_at: SystemTime::now(),
        };
        let attempt = self.next_attempt();
        self.saving = Some(Saving::InProgress);
        vec![Effect::Save {
            attempt,
            account: Box::new(account),
            tokens: stored,
        }]
    }

    /// Applies a result from background work; results of abandoned attempts are dropped.
    #[must_use]
    pub fn apply_event(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::BasicPassword(result) => {
                if self.step == Step::Reminder {
                    self.password = match result {
                        Ok(Some(password)) => StoredPassword::Present(password),
                        Ok(None) => StoredPassword::None,
                        Err(error) => StoredPassword::Unavailable(error),
                    };
                }
            }
            Event::DeviceCode { attempt, result } if attempt == self.attempt => {
                self.sign_in = match result {
                    Ok(prompt) => SignIn::ShowingCode(prompt),
                    Err(error) => SignIn::Failed(error),
                };
            }
            Event::BrowserOpened { attempt, url } if attempt == self.attempt => {
                self.sign_in = SignIn::WaitingForBrowser { url };
            }
            Event::SignedIn { attempt, result } if attempt == self.attempt => {
                self.sign_in = match result {
                    Ok(tokens) => {
                        let expected = self
                            .account
                            .as_ref()
                            .map(|account| account.sign_in_account().to_owned())
                            .unwrap_or_default();
                        let mismatch = tokens
                            .ensure_account(&expected)
                            .err()
                            .map(|error| error.to_string());
                        SignIn::SignedIn { tokens, mismatch }
                    }
                    Err(SignInError::DeviceCodeExpired) => SignIn::CodeExpired,
                    Err(error) if error.code() == "AADSTS70019" => SignIn::CodeExpired,
                    Err(error) => SignIn::Failed(error),
                };
            }
            Event::CheckProgress {
                attempt,
                protocol,
                stage,
            } if attempt == self.attempt => {
                let row = self.row_mut(protocol);
                if matches!(row, CheckRow::Running(_)) {
                    *row = CheckRow::Running(stage);
                }
            }
            Event::CheckFinished { attempt, report } if attempt == self.attempt => {
                *self.row_mut(report.protocol) = match report.verdict {
                    Verdict::Passed { server_reply } => CheckRow::Passed { server_reply },
                    Verdict::Failed(failure) => CheckRow::Failed(failure),
                };
            }
            Event::Saved { attempt, result } if attempt == self.attempt => {
                self.saving = Some(match result {
                    Ok(()) => Saving::Saved,
                    Err(error) => Saving::Failed(error),
                });
            }
            stale => tracing::debug!(
                event = event_name(&stale),
                "dropped a result from an abandoned attempt"
            ),
        }
        Vec::new()
    }

    fn row_mut(&mut self, protocol: Protocol) -> &mut CheckRow {
        match protocol {
            Protocol::Imap => &mut self.imap,
            Protocol::Smtp => &mut self.smtp,
        }
    }

    /// Whether the window must repaint by itself (a countdown is visible or work is running).
    pub fn needs_ticking(&self, now: Instant) -> bool {
        match &self.sign_in {
            SignIn::ShowingCode(prompt) if self.step == Step::SignIn => prompt.expires_at() > now,
            _ => false,
        }
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::BasicPassword(_) => "basic password",
        Event::DeviceCode { .. } => "device code",
        Event::BrowserOpened { .. } => "browser opened",
        Event::SignedIn { .. } => "signed in",
        Event::CheckProgress { .. } => "check progress",
        Event::CheckFinished { .. } => "check finished",
        Event::Saved { .. } => "saved",
    }
}

#[cfg(test)]
mod tests;
