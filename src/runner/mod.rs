//! Carries out the wizard's effects on tokio and sends the results back as events, waking the window each time.
//!
//! No egui here: the window hands in a `wake` callback (egui's `request_repaint`) and drains the event channel.

use std::sync::Arc;
use std::sync::mpsc;

use secrecy::SecretString;
use tokio::task::AbortHandle;

use crate::auth::SignInClient;
use crate::config::{Account, ConfigFile, Timeouts};
use crate::home::HomeEvent;
use crate::state::StateFile;
use crate::store::{StoreAccess, StoreError};
use crate::tls::Trust;
use crate::verify::CheckReport;
use crate::verify::{self, CheckContext, MailCredentials, Protocol};
use crate::wizard::{Effect, Event};

mod device_test;
mod devices;
mod home;

pub use devices::{BridgeStatus, DeviceRow, DevicesEvent, QueuedRow, WindowBridge};

/// What background work reports to the window: the wizard's results, the accounts home's and the devices page's.
#[derive(Debug)]
pub enum AppEvent {
    Wizard(Event),
    Home(HomeEvent),
    Devices(DevicesEvent),
}

impl From<DevicesEvent> for AppEvent {
    fn from(event: DevicesEvent) -> AppEvent {
        AppEvent::Devices(event)
    }
}

impl From<Event> for AppEvent {
    fn from(event: Event) -> AppEvent {
        AppEvent::Wizard(event)
    }
}

impl From<HomeEvent> for AppEvent {
    fn from(event: HomeEvent) -> AppEvent {
        AppEvent::Home(event)
    }
}

/// Where the wizard's work goes: trust, timeouts, keyring and configuration.
#[derive(Clone)]
pub struct Services {
    pub trust: Trust,
    pub timeouts: Timeouts,
    /// Where tokens go: the OS keyring under `mailconnect` (a separate service for the demo), or memory in tests.
    pub store: StoreAccess,
    /// Where a saved account is recorded; `None` keeps the configuration untouched (the demo).
    pub config_file: Option<ConfigFile>,
    /// Where the wizard's verdicts are recorded at Save, for `status` and the report; `None` records nothing.
    pub state_file: Option<StateFile>,
    /// Open the system browser for browser sign-in (off in tests, which play the browser themselves).
    pub open_browser: bool,
    /// The demo's mailbox and its old Basic Auth password, shown on the reminder step instead of reading the
    /// keyring (for that mailbox only: another one typed in the demo has none).
    pub demo_password: Option<(String, SecretString)>,
    /// A demo: its settings and queue are temporary, so nothing is installed for it (no service).
    pub demo: bool,
    /// The bridge for scanners and programs, run in the window's session; `None` offers none (the demo).
    pub bridge: Option<WindowBridge>,
}

/// What the window itself must do: things only it can (clipboard, opening a link, closing).
#[derive(Debug, Clone)]
pub enum WindowCommand {
    CopyToClipboard(SecretString),
    OpenUrl(String),
    Close,
}

/// Runs effects; owns the handles of running work so that it can be stopped.
pub struct EffectRunner {
    runtime: tokio::runtime::Handle,
    services: Arc<Services>,
    sender: mpsc::Sender<AppEvent>,
    wake: Arc<dyn Fn() + Send + Sync>,
    sign_in_task: Option<AbortHandle>,
    /// Bounds how many mailboxes "Check now" checks at once.
    checks_at_once: Arc<tokio::sync::Semaphore>,
    /// The running "Check now" tasks, so that Cancel can stop them.
    check_tasks: Vec<AbortHandle>,
    /// The bridge, once started in this window.
    bridge: devices::BridgeSlot,
}

impl Drop for EffectRunner {
    fn drop(&mut self) {
        self.cancel_sign_in();
    }
}

impl EffectRunner {
    /// A runner and the receiving end the window drains before it draws.
    pub fn new(
        runtime: tokio::runtime::Handle,
        services: Services,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> (EffectRunner, mpsc::Receiver<AppEvent>) {
        let (sender, receiver) = mpsc::channel();
        let runner = EffectRunner {
            runtime,
            services: Arc::new(services),
            sender,
            wake,
            sign_in_task: None,
            checks_at_once: Arc::new(tokio::sync::Semaphore::new(crate::home::CHECKS_AT_ONCE)),
            check_tasks: Vec::new(),
            bridge: devices::BridgeSlot::default(),
        };
        (runner, receiver)
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            sender: self.sender.clone(),
            wake: self.wake.clone(),
        }
    }

    fn cancel_sign_in(&mut self) {
        if let Some(task) = self.sign_in_task.take() {
            task.abort();
        }
    }

    /// Starts `effect`; returns what the window has to do itself, if anything.
    pub fn run(&mut self, effect: Effect) -> Option<WindowCommand> {
        match effect {
            Effect::CopyToClipboard(text) => return Some(WindowCommand::CopyToClipboard(text)),
            Effect::OpenUrl(url) => return Some(WindowCommand::OpenUrl(url)),
            Effect::Close => {
                self.cancel_sign_in();
                return Some(WindowCommand::Close);
            }
            Effect::CancelSignIn => self.cancel_sign_in(),
            Effect::LoadBasicPassword { attempt, mailbox } => {
                let reporter = self.reporter();
                let services = self.services.clone();
                self.runtime.spawn(async move {
                    let result = match &services.demo_password {
                        Some((demo_mailbox, password)) => Ok(demo_mailbox
                            .eq_ignore_ascii_case(&mailbox)
                            .then(|| password.clone())),
                        None => match services.store.open() {
                            Ok(store) => {
                                store
                                    .run(move |store| store.load_basic_password(&mailbox))
                                    .await
                            }
                            Err(error) => Err(error),
                        },
                    };
                    reporter.send(Event::BasicPassword { attempt, result });
                });
            }
            Effect::StartDeviceCode { attempt, account } => {
                self.cancel_sign_in();
                let reporter = self.reporter();
                let services = self.services.clone();
                let task = self.runtime.spawn(async move {
                    let client = match sign_in_client(&account, &services) {
                        Ok(client) => client,
                        Err(error) => {
                            return reporter.send(Event::DeviceCode {
                                attempt,
                                result: Err(error),
                            });
                        }
                    };
                    let prompt = match client.start_device_code().await {
                        Ok(prompt) => prompt,
                        Err(error) => {
                            return reporter.send(Event::DeviceCode {
                                attempt,
                                result: Err(error),
                            });
                        }
                    };
                    reporter.send(Event::DeviceCode {
                        attempt,
                        result: Ok(prompt.clone()),
                    });
                    let result = client.poll_device_code(&prompt, |_| {}).await;
                    reporter.send(Event::SignedIn { attempt, result });
                });
                self.sign_in_task = Some(task.abort_handle());
            }
            Effect::StartBrowser {
                attempt,
                account,
                options,
            } => {
                self.cancel_sign_in();
                let reporter = self.reporter();
                let services = self.services.clone();
                let task = self.runtime.spawn(async move {
                    let client = match sign_in_client(&account, &services) {
                        Ok(client) => client,
                        Err(error) => return reporter.send(Event::SignedIn { attempt, result: Err(error) }),
                    };
                    let sign_in = match client.start_browser_sign_in(&options).await {
                        Ok(sign_in) => sign_in,
                        Err(error) => return reporter.send(Event::SignedIn { attempt, result: Err(error) }),
                    };
                    if services.open_browser
                        && let Err(error) = webbrowser::open(sign_in.authorize_url.as_str())
                    {
                        tracing::info!(%error, "no browser could be opened; the link is shown to copy");
                    }
                    reporter.send(Event::BrowserOpened { attempt, url: sign_in.authorize_url.clone() });
                    let result = sign_in.finish(&client).await;
                    reporter.send(Event::SignedIn { attempt, result });
                });
                self.sign_in_task = Some(task.abort_handle());
            }
            Effect::RunChecks {
                attempt,
                account,
                access_token,
                protocols,
            } => {
                for protocol in protocols {
                    let reporter = self.reporter();
                    let progress_reporter = self.reporter();
                    let context =
                        CheckContext::new(self.services.trust.clone(), self.services.timeouts)
                            .with_progress(Arc::new(move |protocol, stage| {
                                progress_reporter.send(Event::CheckProgress {
                                    attempt,
                                    protocol,
                                    stage,
                                })
                            }));
                    let credentials = MailCredentials::for_account(&account, access_token.clone());
                    let account = account.clone();
                    self.runtime.spawn(async move {
                        let report = match protocol {
                            Protocol::Imap => {
                                verify::check_imap(&account.imap, &credentials, &context).await
                            }
                            Protocol::Smtp => {
                                verify::check_smtp(&account.smtp, &credentials, &context).await
                            }
                        };
                        reporter.send(Event::CheckFinished { attempt, report });
                    });
                }
            }
            Effect::LoadPresets { path } => {
                let reporter = self.reporter();
                self.runtime
                    .spawn(async move { load_presets(&reporter, path).await });
            }
            Effect::PickPresetFile => {
                let reporter = self.reporter();
                self.runtime.spawn(async move {
                    // The desktop's file chooser (the XDG portal, or zenity). Without either nothing opens, and that
                    // cannot be told from Cancel: the page then offers a typed path and dropping the file.
                    let chosen = rfd::AsyncFileDialog::new()
                        .set_title("Open preset file")
                        .add_filter("Preset file", &["toml"])
                        .pick_file()
                        .await;
                    match chosen {
                        Some(file) => load_presets(&reporter, file.path().to_path_buf()).await,
                        None => reporter.send(Event::PresetFileNotChosen),
                    }
                });
            }
            Effect::Save {
                attempt,
                account,
                tokens,
                imap,
                smtp,
                preset_file,
            } => {
                let reporter = self.reporter();
                let services = self.services.clone();
                self.runtime.spawn(async move {
                    let result = save(&services, *account, tokens, &imap, &smtp, preset_file).await;
                    reporter.send(Event::Saved { attempt, result });
                });
            }
            Effect::Forget { attempt, mailbox } => {
                let reporter = self.reporter();
                let services = self.services.clone();
                self.runtime.spawn(async move {
                    let result = match services.store.open() {
                        Ok(store) => {
                            store
                                .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
                                    store.forget(&mailbox, false)
                                })
                                .await
                        }
                        Err(error) => Err(error),
                    };
                    reporter.send(Event::Forgotten { attempt, result });
                });
            }
        }
        None
    }
}

async fn load_presets(reporter: &Reporter, path: std::path::PathBuf) {
    let reading = path.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::config::load_preset_file(&reading).map_err(|error| error.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("the file could not be read".to_owned()));
    reporter.send(Event::PresetsLoaded { path, result });
}

/// The wizard's Save: the tokens under the mailbox's lock (a new sign-in replaces any stored one), then the
/// account in the configuration and the verdicts in the state file.
async fn save(
    services: &Services,
    account: Account,
    tokens: crate::store::StoredTokens,
    imap: &CheckReport,
    smtp: &CheckReport,
    preset_file: Option<std::path::PathBuf>,
) -> Result<(), StoreError> {
    let store = services.store.open()?;
    // A mailbox reached through a service account keeps going through it: the new sign-in is the service
    // account's, saved under its name for every mailbox that uses it.
    let mailbox = account.token_owner().to_owned();
    let tidy_mailbox = mailbox.clone();
    store
        .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
            store.write_sign_in(&mailbox, &tokens)
        })
        .await?;
    // Older generations go afterwards, outside the Save's time limit: a slow clean-up must not turn a save that
    // happened into "Not saved yet".
    let tidy_store = store.clone();
    tokio::spawn(async move {
        let tidied = tidy_store.run(move |store| store.tidy(&tidy_mailbox)).await;
        if let Err(error) = tidied {
            tracing::info!(
                code = error.code(),
                "old token parts left for the next save"
            );
        }
    });
    // The tokens are safe in the keyring already; a configuration or history problem must not undo that.
    if let Some(config_file) = &services.config_file {
        let recorded = config_file.load().and_then(|mut config| {
            config.upsert_account(account.clone());
            if preset_file.is_some() {
                config.preset_file = preset_file;
            }
            config_file.save(&config)
        });
        if let Err(error) = recorded {
            tracing::warn!(%error, "the account could not be recorded in the configuration file");
        }
    }
    if let Some(state_file) = &services.state_file
        && let Err(error) = state_file.record(&account.mailbox, imap, smtp)
    {
        tracing::warn!(%error, "the wizard's checks could not be recorded");
    }
    Ok(())
}

fn sign_in_client(
    account: &Account,
    services: &Services,
) -> Result<SignInClient, crate::auth::SignInError> {
    SignInClient::for_account(account, &services.trust, &services.timeouts)
}

/// Sends events to the window and wakes it.
#[derive(Clone)]
pub(super) struct Reporter {
    sender: mpsc::Sender<AppEvent>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Reporter {
    fn send(&self, event: impl Into<AppEvent>) {
        // A closed channel means the window is gone; the result is simply not needed any more.
        if self.sender.send(event.into()).is_ok() {
            (self.wake)();
        }
    }
}
