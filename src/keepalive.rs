//! The keep-alive: renews every saved sign-in that has not been renewed for a few days, so that no refresh token
//! reaches Microsoft's 90 idle days; records each outcome; and raises a desktop notification when only a new
//! sign-in helps. `mailconnect keepalive` runs it once; `--install` sets up a daily systemd user timer.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::auth::SignInClient;
use crate::config::Account;
use crate::state::{RenewalOutcome, StateFile};
use crate::store::TokenStore;
use crate::tokens::{Renew, TokenError, access_token};

/// A sign-in renewed within this time is left alone (a daily timer then renews each about twice a week).
pub const RENEW_AFTER: Duration = Duration::from_secs(3 * 86_400);

/// When a renewal is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The daily keep-alive: only sign-ins not renewed for `RENEW_AFTER`, so the refresh token stays well inside its
    /// 90 idle days without asking Microsoft more often than needed.
    IdleForDays,
    /// The open window's health check (on start, then every 30 minutes): also when the access token has run out or
    /// is about to. Renewing then is what a mail program would do next anyway, and it is how a sign-in revoked
    /// since the last save is found out while the practice admin is looking.
    AccessTokenEndingOrIdle,
}

/// The access token counts as ending within this time of its expiry (the window checks every 30 minutes).
pub const ACCESS_TOKEN_ENDING: Duration = Duration::from_secs(10 * 60);

impl Due {
    fn is_due(self, manifest: &crate::store::Manifest, now: SystemTime) -> bool {
        let idle = crate::health::idle_time(manifest, now) >= RENEW_AFTER;
        match self {
            Due::IdleForDays => idle,
            Due::AccessTokenEndingOrIdle => {
                let expires = crate::words::unix_time(manifest.access_token_expires_at)
                    .unwrap_or(std::time::UNIX_EPOCH);
                idle || expires <= now + ACCESS_TOKEN_ENDING
            }
        }
    }
}

/// What the keep-alive did for one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptAlive {
    /// No sign-in stored: nothing to keep alive.
    NotSetUp,
    /// Renewed recently enough: nothing sent to Microsoft.
    Recent,
    Renewed,
    /// A passing failure; tried again next time, nothing wiped.
    Temporary {
        code: String,
    },
    /// Only a new sign-in helps.
    NeedsSignIn {
        code: String,
    },
}

impl KeptAlive {
    pub fn code(&self) -> &'static str {
        match self {
            KeptAlive::NotSetUp => "not-set-up",
            KeptAlive::Recent => "recent",
            KeptAlive::Renewed => "renewed",
            KeptAlive::Temporary { .. } => "temporary-failure",
            KeptAlive::NeedsSignIn { .. } => "needs-sign-in",
        }
    }

    pub fn words(&self) -> String {
        match self {
            KeptAlive::NotSetUp => "no sign-in saved".to_owned(),
            KeptAlive::Recent => "renewed recently; nothing to do".to_owned(),
            KeptAlive::Renewed => "renewed".to_owned(),
            KeptAlive::Temporary { code } => {
                format!("could not renew just now ({code}); tries again next time")
            }
            KeptAlive::NeedsSignIn { code } => format!("needs a new sign-in ({code})"),
        }
    }
}

/// Keeps one mailbox's sign-in alive and records the outcome.
pub async fn keep_alive(
    account: &Account,
    store: &TokenStore,
    state_file: Option<&StateFile>,
    due: Due,
    client: impl FnOnce() -> anyhow::Result<SignInClient>,
) -> KeptAlive {
    let mailbox = account.token_owner().to_owned();
    let manifest = store.run(move |store| store.manifest(&mailbox)).await;
    let manifest = match manifest {
        Ok(Some(manifest)) => manifest,
        Ok(None) => return KeptAlive::NotSetUp,
        Err(crate::store::StoreError::Damaged { .. }) => {
            return record(
                account,
                state_file,
                KeptAlive::NeedsSignIn {
                    code: "keyring-damaged".to_owned(),
                },
            );
        }
        Err(error) => {
            return record(
                account,
                state_file,
                KeptAlive::Temporary {
                    code: error.code().to_owned(),
                },
            );
        }
    };
    if !due.is_due(&manifest, SystemTime::now()) {
        return KeptAlive::Recent;
    }
    let outcome = match access_token(account, store, Renew::Now, client).await {
        Ok(fresh) => {
            crate::tokens::tidy(store, account.token_owner(), &fresh).await;
            match fresh.warning {
                // The renewal failed for a passing reason; the stored token was handed out instead.
                Some(_) => KeptAlive::Temporary {
                    code: "renewal-deferred".to_owned(),
                },
                None => KeptAlive::Renewed,
            }
        }
        Err(TokenError::NotSignedIn { .. }) => KeptAlive::NotSetUp,
        Err(error) => match classify(&error) {
            RenewalOutcome::NeedsSignIn { code } => KeptAlive::NeedsSignIn { code },
            RenewalOutcome::Temporary { code } => KeptAlive::Temporary { code },
            RenewalOutcome::Renewed => KeptAlive::Renewed,
        },
    };
    record(account, state_file, outcome)
}

/// Why a token could not be had, as recorded: only a new sign-in helps (invalid_grant, 700082, 50173, 70008,
/// 70043, another account, a damaged keyring entry), or a passing failure tried again later, never wiped. The one
/// place that decides, for the keep-alive, the window's health check and its "Check now".
pub fn classify(error: &TokenError) -> RenewalOutcome {
    match error {
        TokenError::Refresh(error) if error.requires_new_sign_in() => {
            RenewalOutcome::NeedsSignIn { code: error.code() }
        }
        TokenError::Refresh(error) => RenewalOutcome::Temporary { code: error.code() },
        TokenError::AccountChanged { .. } => RenewalOutcome::NeedsSignIn {
            code: "account-changed".to_owned(),
        },
        TokenError::NotSignedIn { .. } => RenewalOutcome::NeedsSignIn {
            code: "not-signed-in".to_owned(),
        },
        TokenError::NoAppCredential { .. } => RenewalOutcome::NeedsSignIn {
            code: "app-credential-missing".to_owned(),
        },
        TokenError::Store(crate::store::StoreError::Damaged { .. }) => {
            RenewalOutcome::NeedsSignIn {
                code: "keyring-damaged".to_owned(),
            }
        }
        TokenError::Store(error) => RenewalOutcome::Temporary {
            code: error.code().to_owned(),
        },
        TokenError::Setup(_) => RenewalOutcome::Temporary {
            code: "settings".to_owned(),
        },
    }
}

impl KeptAlive {
    /// What is recorded of this run: nothing when no renewal was tried.
    pub fn renewal_outcome(&self) -> Option<RenewalOutcome> {
        match self {
            KeptAlive::Renewed => Some(RenewalOutcome::Renewed),
            KeptAlive::Temporary { code } => Some(RenewalOutcome::Temporary { code: code.clone() }),
            KeptAlive::NeedsSignIn { code } => {
                Some(RenewalOutcome::NeedsSignIn { code: code.clone() })
            }
            KeptAlive::NotSetUp | KeptAlive::Recent => None,
        }
    }
}

fn record(account: &Account, state_file: Option<&StateFile>, outcome: KeptAlive) -> KeptAlive {
    if let (Some(renewal), Some(state_file)) = (outcome.renewal_outcome(), state_file)
        && let Err(error) = state_file.record_renewal(&account.mailbox, renewal)
    {
        tracing::warn!(%error, "the renewal could not be recorded");
    }
    outcome
}

/// The mailbox's health after a keep-alive run (the stored sign-in and the outcome just recorded), read off the
/// async threads and bounded like every keyring call.
pub async fn health_after(
    account: &Account,
    store: &TokenStore,
    state_file: Option<&StateFile>,
) -> crate::health::Health {
    let state = state_file.map(StateFile::load).unwrap_or_default();
    let renewal = state.last_renewal(&account.mailbox).cloned();
    let account = account.clone();
    store
        .run(move |store| {
            Ok(crate::health::read_stored(store, &account, renewal.as_ref(), SystemTime::now()).1)
        })
        .await
        .unwrap_or_else(|error| crate::health::Health::Unreadable { code: error.code() })
}

/// How long `keepalive` waits for a click on "Re-authenticate now" after showing a notification. The daily timer's
/// unit allows for it.
pub const ACTION_WAIT: Duration = Duration::from_secs(5 * 60);

/// The action key of "Re-authenticate now" (the notification's body click does the same).
const REAUTHENTICATE: &str = "reauthenticate";

/// Desktop notifications about sign-ins, with a "Re-authenticate now" button (freedesktop Notifications on the
/// session bus).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
pub struct Notifier {
    connection: zbus::blocking::Connection,
    /// The desktop's signals (clicks and closes), listened to before the first notification is shown, so that a
    /// click can never come before the listening.
    signals: std::sync::mpsc::Receiver<(String, u32, String)>,
    /// Shown notifications still open: (id, mailbox).
    open: Vec<(u32, String)>,
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
impl Notifier {
    /// Connects to the desktop session; fails without one (a server, a timer run before log-in).
    pub fn connect() -> Result<Notifier, String> {
        let connection =
            zbus::blocking::Connection::session().map_err(|error| error.to_string())?;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.Notifications")
            .map_err(|error| error.to_string())?
            .build();
        let messages = zbus::blocking::MessageIterator::for_match_rule(rule, &connection, Some(16))
            .map_err(|error| error.to_string())?;
        let (sender, signals) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for message in messages.flatten() {
                let header = message.header();
                let member = header
                    .member()
                    .map(|member| member.to_string())
                    .unwrap_or_default();
                let body = message.body();
                let signal = match member.as_str() {
                    "ActionInvoked" => body
                        .deserialize::<(u32, String)>()
                        .ok()
                        .map(|(id, key)| (member, id, key)),
                    "NotificationClosed" => body
                        .deserialize::<(u32, u32)>()
                        .ok()
                        .map(|(id, _reason)| (member, id, String::new())),
                    _ => None,
                };
                if let Some(signal) = signal
                    && sender.send(signal).is_err()
                {
                    return;
                }
            }
        });
        Ok(Notifier {
            connection,
            signals,
            open: Vec::new(),
        })
    }

    /// Shows a notification about `mailbox` with a "Re-authenticate now" button; returns its id.
    pub fn show(&mut self, mailbox: &str, summary: &str, body: &str) -> Result<u32, String> {
        let hints: std::collections::HashMap<&str, zbus::zvariant::Value<'_>> =
            std::collections::HashMap::from([("urgency", zbus::zvariant::Value::U8(2))]);
        let reply = self
            .connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "mailconnect",
                    0u32,
                    "mail-send",
                    summary,
                    body,
                    vec![
                        "default",
                        "Re-authenticate now",
                        REAUTHENTICATE,
                        "Re-authenticate now",
                    ],
                    hints,
                    -1i32,
                ),
            )
            .map_err(|error| error.to_string())?;
        let id = reply
            .body()
            .deserialize::<u32>()
            .map_err(|error| error.to_string())?;
        self.open.push((id, mailbox.to_owned()));
        Ok(id)
    }

    /// Waits up to `limit` for a click on one of the shown notifications; returns the mailbox clicked for, or
    /// `None` when they were all closed or the time ran out.
    pub fn wait_for_reauthenticate(&mut self, limit: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        while !self.open.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let (member, id, key) = self.signals.recv_timeout(left).ok()?;
            let Some(position) = self.open.iter().position(|(open, _)| *open == id) else {
                continue;
            };
            match member.as_str() {
                "ActionInvoked" if key == REAUTHENTICATE || key == "default" => {
                    return Some(self.open.swap_remove(position).1);
                }
                "NotificationClosed" => {
                    self.open.swap_remove(position);
                }
                _ => {}
            }
        }
        None
    }
}

/// Desktop notifications on Windows and macOS are not built yet (they cannot be tested on this Linux machine).
#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
pub struct Notifier;

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
impl Notifier {
    pub fn connect() -> Result<Notifier, String> {
        Err("desktop notifications are not available on this system yet".to_owned())
    }

    pub fn show(&mut self, _mailbox: &str, _summary: &str, _body: &str) -> Result<u32, String> {
        Err("desktop notifications are not available on this system yet".to_owned())
    }

    pub fn wait_for_reauthenticate(&mut self, _limit: Duration) -> Option<String> {
        None
    }
}

/// The words of the notification for a mailbox that needs a new sign-in now, or soon.
pub fn sign_in_notice(mailbox: &str, health: &crate::health::Health) -> (String, String) {
    if let crate::health::Health::ExpiresSoon { days_left } = health {
        return (
            format!("The sign-in for {mailbox} needs renewing"),
            format!(
                "It could not be renewed for a long time and ends in {}. Check this computer's internet connection, \
                 or choose Re-authenticate now (or run: {})",
                crate::words::count(*days_left, "day", "days"),
                crate::words::command("login", &[mailbox])
            ),
        );
    }
    (
        format!("The sign-in for {mailbox} stopped working"),
        format!(
            "Mail for {mailbox} cannot be sent or fetched until someone signs in again. Choose Re-authenticate now \
             (or run: {})",
            crate::words::command("login", &[mailbox])
        ),
    )
}

/// The arguments that open the window straight at signing `mailbox` in again, on the settings in `config`. The
/// mailbox goes in the `--reauthenticate=<mailbox>` form: an address starting with `-` (valid in an address) is
/// then the option's value, never read as an option of its own.
pub fn reauthenticate_arguments(config: &Path, mailbox: &str) -> Vec<std::ffi::OsString> {
    let mut setting = std::ffi::OsString::from("--config=");
    setting.push(config);
    vec![setting, format!("--reauthenticate={mailbox}").into()]
}

/// The systemd user units that run the keep-alive daily (and after a missed day, at the next start) on the settings
/// in `config` (made absolute: the timer has no working folder).
pub fn systemd_units(
    program: &Path,
    config: &Path,
) -> Result<[(&'static str, String); 2], crate::units::UnitError> {
    let command = crate::units::exec_start(
        program,
        &[
            "--config".to_owned(),
            crate::units::path_text(config)?,
            "keepalive".to_owned(),
        ],
    )?;
    Ok([
        (
            "mailconnect-keepalive.service",
            format!(
                "[Unit]\nDescription=Keep the mailconnect sign-ins renewed\nAfter=network-online.target\n\n\
                 [Service]\nType=oneshot\nExecStart={command}\n\
                 # Waits up to 5 minutes for a click on a notification's \"Re-authenticate now\".\n\
                 TimeoutStartSec=10min\n",
            ),
        ),
        (
            "mailconnect-keepalive.timer",
            "[Unit]\nDescription=Renew the mailconnect sign-ins daily\n\n\
             [Timer]\nOnCalendar=daily\nPersistent=true\nRandomizedDelaySec=1h\n\n\
             [Install]\nWantedBy=timers.target\n"
                .to_owned(),
        ),
    ])
}

/// Where the user's systemd units live (`~/.config/systemd/user`).
pub fn user_unit_folder() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.config_dir().join("systemd").join("user"))
}
