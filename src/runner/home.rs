//! The accounts home's background work: reading each row (keyring and state file), the health check that renews
//! what is ending and classifies the outcome, "Check now" with a bounded number of mailboxes at once, and Remove.
//! Every result comes back to the window as a `HomeEvent`; nothing here runs on the window's thread.

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Account;
use crate::home::{HomeEvent, RowReading};
use crate::keepalive::{Due, KeptAlive, keep_alive};
use crate::mailbox_check::check_mailbox;
use crate::state::{LastCheck, LastVerification, Renewal, RenewalOutcome, State};
use crate::store::TokenStore;
use crate::tokens::TokenError;
use crate::verify::CheckContext;

use super::{EffectRunner, Services, sign_in_client};

impl EffectRunner {
    /// Reads every row anew, without renewing anything.
    pub fn read_rows(&self, accounts: Vec<Account>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            // One read of the state file for the whole list, not one a row.
            let state = load_state(&services).await;
            for account in accounts {
                let reading = read_row(&services, &account, &state, None, None).await;
                reporter.send(HomeEvent::RowRead {
                    mailbox: account.mailbox,
                    reading,
                    after_check: false,
                });
            }
        });
    }

    /// The health check: for each mailbox, renews a sign-in whose access token is ending (or that was idle for
    /// days) under its lock, records how it went, and reads the row anew.
    pub fn health_check(&self, accounts: Vec<Account>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            // Renewals recorded during the loop come to read_row directly; the rest of the state is as it was.
            let state = load_state(&services).await;
            for account in accounts {
                let kept = renew_if_due(&services, &account).await;
                let reading = read_row(&services, &account, &state, kept, None).await;
                reporter.send(HomeEvent::RowRead {
                    mailbox: account.mailbox,
                    reading,
                    after_check: false,
                });
            }
        });
    }

    /// "Check now": both checks for each mailbox, at most `CHECKS_AT_ONCE` mailboxes at a time; each row is sent
    /// back as soon as its checks end.
    pub fn check_mailboxes(&mut self, accounts: Vec<Account>) {
        self.check_tasks.retain(|task| !task.is_finished());
        for account in accounts {
            let reporter = self.reporter();
            let services = self.services.clone();
            let checks_at_once = self.checks_at_once.clone();
            let task = self.runtime.spawn(async move {
                // The semaphore is never closed; should it be, the check runs unbounded rather than not at all.
                let _turn = checks_at_once.acquire_owned().await.ok();
                let kept = renew_if_due(&services, &account).await;
                let (checks, renewal) = check_one(&services, &account).await;
                let renewal = renewal
                    .map(|outcome| Renewal {
                        at: crate::words::now_unix(),
                        outcome,
                    })
                    .or(kept);
                let state = load_state(&services).await;
                let reading = read_row(&services, &account, &state, renewal, Some(checks)).await;
                reporter.send(HomeEvent::RowRead {
                    mailbox: account.mailbox,
                    reading,
                    after_check: true,
                });
            });
            self.check_tasks.push(task.abort_handle());
        }
    }

    /// Stops every running "Check now": a check in the middle of a conversation is cut off (nothing is sent,
    /// nothing stored is changed by a check), and the ones still waiting never start.
    pub fn cancel_checks(&mut self) {
        for task in self.check_tasks.drain(..) {
            task.abort();
        }
    }

    /// "Copy support report" on a row's details: the same report as `mailconnect report`, built off the window's
    /// thread (it reads the keyring and the state file).
    pub fn copy_report(&self, account: Account) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let text = tokio::task::spawn_blocking(move || {
                let store = services.store.open();
                let stored = crate::report::StoredSignIn::read(&store, &account);
                let state = services
                    .state_file
                    .as_ref()
                    .map(|file| file.load())
                    .unwrap_or_default();
                crate::report::account_report(&account, stored, &state)
            })
            .await
            .map(secrecy::SecretString::from)
            .map_err(|_| "the report could not be made".to_owned());
            reporter.send(HomeEvent::CopyText {
                what: "The support report".to_owned(),
                text,
            });
        });
    }

    /// "Copy PowerShell for these": the same text `mailconnect powershell` prints for these mailboxes, with the
    /// organisation's app registrations from the settings.
    pub fn copy_powershell(&self, accounts: Vec<Account>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        let count = accounts.len();
        self.runtime.spawn(async move {
            let text = tokio::task::spawn_blocking(move || {
                let apps = match &services.config_file {
                    Some(file) => file.load().map(|config| config.apps).unwrap_or_default(),
                    None => Vec::new(),
                };
                crate::cli_powershell::powershell_text(&accounts, &apps)
                    .map(secrecy::SecretString::from)
                    .map_err(|error| error.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("it could not be made".to_owned()));
            reporter.send(HomeEvent::CopyText {
                what: format!(
                    "The PowerShell for {}",
                    crate::words::count(count as u64, "mailbox", "mailboxes")
                ),
                text,
            });
        });
    }

    /// "Add many mailboxes": records the accounts in the settings (the demo keeps them in memory).
    pub fn import_accounts(&self, accounts: Vec<Account>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let adding = accounts.clone();
            let result = edit_config(&services, move |config| {
                for account in adding {
                    config.upsert_account(account);
                }
            })
            .await;
            reporter.send(HomeEvent::Imported { accounts, result });
        });
    }

    /// The desktop's file chooser for the admin center's export; its text comes back to the import page.
    pub fn pick_import_file(&self) {
        let reporter = self.reporter();
        self.runtime.spawn(async move {
            let chosen = rfd::AsyncFileDialog::new()
                .set_title("Open the exported users file")
                .add_filter("Exported users", &["csv", "txt"])
                .pick_file()
                .await;
            if let Some(file) = chosen {
                let path = file.path().to_path_buf();
                // The same reading as `mailconnect import`: Excel's encodings, bounded.
                let read = tokio::task::spawn_blocking(move || {
                    std::fs::File::open(&path)
                        .and_then(crate::import::read)
                        .map_err(|error| error.to_string())
                })
                .await
                .unwrap_or_else(|_| Err("the file could not be read".to_owned()));
                reporter.send(HomeEvent::ImportFileRead(read));
            }
        });
    }

    /// Puts the mailboxes in `group` (or takes them out of any) in the settings; the window's rows follow.
    pub fn set_group(&self, mailboxes: Vec<String>, group: Option<String>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let (names, chosen) = (mailboxes.clone(), group.clone());
            let result = edit_config(&services, move |config| {
                for account in &mut config.accounts {
                    if names
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(&account.mailbox))
                    {
                        account.group = chosen.clone();
                    }
                }
            })
            .await;
            reporter.send(HomeEvent::GroupSet {
                mailboxes,
                group,
                result,
            });
        });
    }

    /// "Disconnect Basic": removes each mailbox's stored Basic Auth password (under its lock) and records it. Only
    /// mailboxes that moved to OAuth are given here.
    pub fn disconnect_basic(&self, mailboxes: Vec<String>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            for mailbox in mailboxes {
                let result = disconnect_one(&services, &mailbox).await;
                reporter.send(HomeEvent::BasicDisconnected { mailbox, result });
            }
        });
    }

    /// Removes each mailbox: its saved sign-in (under its lock) and its place in the settings. An old Basic Auth
    /// password is left as it is: removing it is a separate, deliberate step.
    pub fn remove_mailboxes(&self, mailboxes: Vec<String>) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            for mailbox in mailboxes {
                let result = remove_mailbox(&services, &mailbox).await;
                reporter.send(HomeEvent::Removed { mailbox, result });
            }
        });
    }
}

async fn disconnect_one(services: &Services, mailbox: &str) -> Result<bool, String> {
    let store = services.store.open().map_err(|error| error.to_string())?;
    let deleting = mailbox.to_owned();
    let had = store
        .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
            store.delete_basic_password(&deleting)
        })
        .await
        .map_err(|error| error.to_string())?;
    if let Some(state_file) = services.state_file.clone() {
        let recording = mailbox.to_owned();
        tokio::task::spawn_blocking(move || state_file.record_basic_disconnected(&recording))
            .await
            .map_err(|_| "it could not be recorded".to_owned())?
            .map_err(|error| error.to_string())?;
    }
    Ok(had)
}

async fn remove_mailbox(services: &Services, mailbox: &str) -> Result<(), String> {
    let store = services.store.open().map_err(|error| error.to_string())?;
    let forgetting = mailbox.to_owned();
    store
        .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
            store.forget(&forgetting, false)
        })
        .await
        .map_err(|error| error.to_string())?;
    let removing = mailbox.to_owned();
    edit_config(services, move |config| {
        config.remove_account(&removing);
    })
    .await
}

/// Changes the settings file (read, changed, written back atomically) off the async threads; the demo, which has
/// no settings file, keeps its changes in the window only.
async fn edit_config(
    services: &Services,
    change: impl FnOnce(&mut crate::config::Config) + Send + 'static,
) -> Result<(), String> {
    let Some(config_file) = services.config_file.clone() else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || {
        let mut config = config_file.load()?;
        change(&mut config);
        config_file.save(&config)
    })
    .await
    .map_err(|_| "the settings could not be changed".to_owned())?
    .map_err(|error| error.to_string())
}

/// Renews the sign-in when it is due, recording the outcome; `None` when there was nothing to renew.
async fn renew_if_due(services: &Arc<Services>, account: &Account) -> Option<Renewal> {
    let store = services.store.open().ok()?;
    let kept = keep_alive(
        account,
        &store,
        services.state_file.as_ref(),
        Due::AccessTokenEndingOrIdle,
        || sign_in_client(account, services).map_err(anyhow::Error::from),
    )
    .await;
    if let KeptAlive::NeedsSignIn { code } = &kept {
        tracing::info!(mailbox = %account.mailbox, code, "the health check found a sign-in that needs a person");
    }
    kept.renewal_outcome().map(|outcome| Renewal {
        at: crate::words::now_unix(),
        outcome,
    })
}

/// Both checks with the stored (renewed if needed) token, recorded in the state file, and the renewal they led to.
async fn check_one(
    services: &Arc<Services>,
    account: &Account,
) -> (LastVerification, Option<RenewalOutcome>) {
    let at = crate::words::now_unix();
    let store = match services.store.open() {
        Ok(store) => store,
        Err(error) => {
            let code = error.code().to_owned();
            let cause = crate::advice::for_store(&error).entry.id.as_str();
            return (
                LastVerification {
                    at,
                    imap: LastCheck::not_started(code.clone(), cause),
                    smtp: LastCheck::not_started(code, cause),
                },
                None,
            );
        }
    };
    let context = CheckContext::new(services.trust.clone(), services.timeouts);
    let checked = check_mailbox(account, &store, &context, || {
        sign_in_client(account, services).map_err(anyhow::Error::from)
    })
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(error) => {
            // No token at all: both checks fail for that reason, and a sign-in that needs a person says so.
            let outcome = crate::keepalive::classify(&error);
            let code = match &outcome {
                RenewalOutcome::NeedsSignIn { code } | RenewalOutcome::Temporary { code } => {
                    code.clone()
                }
                RenewalOutcome::Renewed => "renewed".to_owned(),
            };
            let renewal = (!matches!(error, TokenError::NotSignedIn { .. })).then_some(outcome);
            let cause = crate::advice::for_token(&error).entry.id.as_str();
            return (
                LastVerification {
                    at,
                    imap: LastCheck::not_started(code.clone(), cause),
                    smtp: LastCheck::not_started(code, cause),
                },
                renewal,
            );
        }
    };
    let renewal = checked.renewal_outcome();
    if let Some(state_file) = services.state_file.clone() {
        let (mailbox, checked) = (account.mailbox.clone(), Arc::new(checked));
        let recording = checked.clone();
        let recorded =
            tokio::task::spawn_blocking(move || recording.record(&mailbox, &state_file)).await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::warn!("the checks could not be recorded in the state file");
        }
        return (
            LastVerification {
                at,
                imap: LastCheck::from_report(&checked.imap),
                smtp: LastCheck::from_report(&checked.smtp),
            },
            renewal,
        );
    }
    (
        LastVerification {
            at,
            imap: LastCheck::from_report(&checked.imap),
            smtp: LastCheck::from_report(&checked.smtp),
        },
        renewal,
    )
}

/// A row as it stands: the stored sign-in and Basic Auth password, the renewal just made (or the last recorded),
/// and the checks just made (or the last recorded).
/// The state file as it is now (empty without one: the demo).
async fn load_state(services: &Services) -> State {
    match services.state_file.clone() {
        Some(file) => tokio::task::spawn_blocking(move || file.load())
            .await
            .unwrap_or_default(),
        None => State::default(),
    }
}

async fn read_row(
    services: &Arc<Services>,
    account: &Account,
    state: &State,
    renewal: Option<Renewal>,
    checks: Option<LastVerification>,
) -> RowReading {
    let mailbox = account.mailbox.clone();
    let renewal = renewal.or_else(|| state.last_renewal(&mailbox).cloned());
    let (health, basic_password) = match services.store.open() {
        Ok(store) => read_keyring(&store, account.clone(), renewal.clone()).await,
        Err(error) => (
            crate::health::Health::Unreadable { code: error.code() },
            None,
        ),
    };
    let basic_password = match &services.demo_password {
        Some((demo_mailbox, _)) => Some(demo_mailbox.eq_ignore_ascii_case(&account.mailbox)),
        None => basic_password,
    };
    let failed_at = match &renewal {
        Some(renewal) if health.needs_person() => Some(renewal.at),
        _ => None,
    };
    let fresh_pass = checks
        .as_ref()
        .filter(|checks| checks.imap.passed && checks.smtp.passed)
        .map(|checks| checks.at);
    RowReading {
        basic_password,
        health,
        failed_at,
        moved_at: state.moved_at(&mailbox).or(fresh_pass),
        last_checks: checks.or_else(|| state.last_verification(&mailbox).cloned()),
    }
}

type KeyringReading = (crate::health::Health, Option<bool>);

/// The mailbox's health from the keyring (its sign-in, its service account's, or its app's credential) and whether
/// its Basic Auth password is stored.
async fn read_keyring(
    store: &TokenStore,
    account: Account,
    renewal: Option<Renewal>,
) -> KeyringReading {
    let reading = store
        .run(move |store| {
            let basic = store
                .load_basic_password(&account.mailbox)
                .ok()
                .map(|password| password.is_some());
            let (_, health) =
                crate::health::read_stored(store, &account, renewal.as_ref(), SystemTime::now());
            Ok((health, basic))
        })
        .await;
    reading.unwrap_or_else(|error| {
        (
            crate::health::Health::Unreadable { code: error.code() },
            None,
        )
    })
}
