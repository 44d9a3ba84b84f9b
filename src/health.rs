//! How a mailbox's connection stands, in the same few words for `status`, the keep-alive and (later) the
//! accounts home: one source, so the window and the command line never disagree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::state::{Renewal, RenewalOutcome};
use crate::store::{Manifest, StoreError};

/// Microsoft ends a refresh token that was not used for 90 days (AADSTS700082).
pub const REFRESH_TOKEN_IDLE_LIMIT: Duration = Duration::from_secs(90 * 86_400);
/// From this many idle days on, the health says so: there is still time to renew.
pub const WARN_AFTER_IDLE: Duration = Duration::from_secs(75 * 86_400);

/// How long the stored sign-in has gone without a save (a sign-in or a renewal): the refresh token's idle time.
/// An impossible date counts as very long ago.
pub fn idle_time(manifest: &Manifest, now: SystemTime) -> Duration {
    let saved = crate::words::unix_time(manifest.saved_at).unwrap_or(UNIX_EPOCH);
    now.duration_since(saved).unwrap_or_default()
}

/// A mailbox's health from what is stored: the sign-in it uses (its own or its service account's) with its last
/// renewal, or, for a mailbox reached by the organisation's app, that app's credential. Also returns the sign-in's
/// manifest (`Ok(None)` for the app). Blocks on the keyring: the one reading for `status`, the keep-alive and the
/// window.
pub fn read_stored(
    store: &crate::store::TokenStore,
    account: &crate::config::Account,
    renewal: Option<&Renewal>,
    now: SystemTime,
) -> (Result<Option<Manifest>, StoreError>, Health) {
    if account.app_only {
        let info =
            store.app_credential_info(&account.client_id, crate::store::AppCredentialSlot::Current);
        let today = chrono::DateTime::<chrono::Utc>::from(now).date_naive();
        return (Ok(None), Health::assess_app(&info, today));
    }
    let manifest = store.manifest(account.token_owner());
    let health = Health::assess(&manifest, renewal, now);
    (manifest, health)
}

/// A mailbox's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// A sign-in is stored and renews itself.
    Connected,
    /// The sign-in was not renewed for a long time; it ends in `days_left` days unless renewed.
    ExpiresSoon { days_left: u64 },
    /// Only a new sign-in helps; `code` says why (AADSTS700082, invalid_grant ...).
    NeedsSignIn { code: String },
    /// The last renewal failed for a passing reason; the keep-alive tries again.
    RetryingLater { code: String },
    /// No sign-in is stored for this mailbox.
    NotSetUp,
    /// The keyring could not be read, or the stored sign-in is damaged.
    Unreadable { code: &'static str },
    /// Not read yet (the window shows the row while the keyring is asked).
    Reading,
    /// Reached by the organisation's app, whose certificate or secret ends in `days_left` days.
    AppCredentialEndsSoon { days_left: i64 },
    /// Reached by the organisation's app, whose certificate or secret has ended (or is not on this computer).
    AppCredentialEnded,
}

impl Health {
    /// The health of a mailbox from its stored sign-in and its last renewal.
    pub fn assess(
        sign_in: &Result<Option<Manifest>, StoreError>,
        renewal: Option<&Renewal>,
        now: SystemTime,
    ) -> Health {
        let manifest = match sign_in {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return Health::NotSetUp,
            Err(StoreError::Damaged { .. }) => {
                return Health::NeedsSignIn {
                    code: "keyring-damaged".to_owned(),
                };
            }
            Err(error) => return Health::Unreadable { code: error.code() },
        };
        // The idle time first: repeated "passing" failures must not hide a refresh token running out.
        let idle = idle_time(manifest, now);
        if idle >= REFRESH_TOKEN_IDLE_LIMIT {
            return Health::NeedsSignIn {
                code: "AADSTS700082".to_owned(),
            };
        }
        // A renewal result older than the stored sign-in was overtaken by a newer save.
        if let Some(renewal) = renewal.filter(|renewal| renewal.at >= manifest.saved_at)
            && let RenewalOutcome::NeedsSignIn { code } = &renewal.outcome
        {
            return Health::NeedsSignIn { code: code.clone() };
        }
        if idle >= WARN_AFTER_IDLE {
            return Health::ExpiresSoon {
                days_left: (REFRESH_TOKEN_IDLE_LIMIT - idle).as_secs().div_ceil(86_400),
            };
        }
        match renewal.filter(|renewal| renewal.at >= manifest.saved_at) {
            Some(Renewal {
                outcome: RenewalOutcome::Temporary { code },
                ..
            }) => Health::RetryingLater { code: code.clone() },
            _ => Health::Connected,
        }
    }

    /// The health of a mailbox reached by the organisation's app: whether its credential is stored, and how near
    /// the end of the certificate or secret is.
    pub fn assess_app(
        credential: &Result<Option<crate::app_only::CredentialInfo>, StoreError>,
        today: chrono::NaiveDate,
    ) -> Health {
        match credential {
            Err(StoreError::Damaged { .. }) | Ok(None) => Health::AppCredentialEnded,
            Err(error) => Health::Unreadable { code: error.code() },
            Ok(Some(info)) => match info.expiry(today) {
                crate::app_only::Expiry::Fine => Health::Connected,
                crate::app_only::Expiry::Soon { days_left } => {
                    Health::AppCredentialEndsSoon { days_left }
                }
                crate::app_only::Expiry::Expired => Health::AppCredentialEnded,
            },
        }
    }

    /// The health in a few words for a practice admin.
    pub fn words(&self) -> String {
        match self {
            Health::Connected => "connected, renews itself".to_owned(),
            Health::ExpiresSoon { days_left } => format!(
                "expires soon: renews on the next check, or sign in again within {}",
                crate::words::count(*days_left, "day", "days")
            ),
            Health::NeedsSignIn { code } => format!("needs sign-in ({code})"),
            Health::RetryingLater { code } => {
                format!("could not renew just now ({code}); tries again later")
            }
            Health::NotSetUp => "not set up".to_owned(),
            Health::Unreadable { code } => format!("cannot be read ({code})"),
            Health::Reading => "reading…".to_owned(),
            Health::AppCredentialEndsSoon { days_left } => format!(
                "the app's certificate or secret ends in {}: the IT admin renews it",
                crate::words::count(*days_left as u64, "day", "days")
            ),
            Health::AppCredentialEnded => {
                "the app's certificate or secret has ended or is missing: the IT admin renews it"
                    .to_owned()
            }
        }
    }

    /// The health in two or three words, for a table column.
    pub fn short_words(&self) -> &'static str {
        match self {
            Health::Connected => "connected, renews itself",
            Health::ExpiresSoon { .. } => "expires soon",
            Health::NeedsSignIn { .. } => "needs sign-in",
            Health::RetryingLater { .. } => "retrying later",
            Health::NotSetUp => "not set up",
            Health::Unreadable { .. } => "cannot be read",
            Health::Reading => "reading…",
            Health::AppCredentialEndsSoon { .. } => "app credential ends soon",
            Health::AppCredentialEnded => "app credential ended",
        }
    }

    /// What needs attention, in a few words for the home's alert column; `None` when nothing does.
    pub fn alert(&self) -> Option<String> {
        Some(match self {
            Health::Connected | Health::NotSetUp | Health::Reading => return None,
            Health::ExpiresSoon { days_left } => format!(
                "sign in within {}",
                crate::words::count(*days_left, "day", "days")
            ),
            Health::NeedsSignIn { code } => {
                format!(
                    "{} ({code})",
                    crate::advice::for_code(code).entry.short_cause()
                )
            }
            Health::RetryingLater { code } => format!("renewal failed; retrying ({code})"),
            Health::Unreadable { code } => format!("keyring cannot be read ({code})"),
            Health::AppCredentialEndsSoon { days_left } => format!(
                "app's certificate or secret ends in {}",
                crate::words::count(*days_left as u64, "day", "days")
            ),
            Health::AppCredentialEnded => "app's certificate or secret ended".to_owned(),
        })
    }

    /// Whether a person must act (sign in again).
    pub fn needs_person(&self) -> bool {
        matches!(self, Health::NeedsSignIn { .. })
    }

    /// Whether the desktop should be told: a sign-in is needed, or will be soon.
    pub fn worth_a_notification(&self) -> bool {
        matches!(
            self,
            Health::NeedsSignIn { .. }
                | Health::ExpiresSoon { .. }
                | Health::AppCredentialEndsSoon { .. }
                | Health::AppCredentialEnded
        )
    }

    /// A short stable name for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Health::Connected => "connected",
            Health::ExpiresSoon { .. } => "expires-soon",
            Health::NeedsSignIn { .. } => "needs-sign-in",
            Health::RetryingLater { .. } => "retrying-later",
            Health::NotSetUp => "not-set-up",
            Health::Unreadable { .. } => "unreadable",
            Health::Reading => "reading",
            Health::AppCredentialEndsSoon { .. } => "app-credential-ends-soon",
            Health::AppCredentialEnded => "app-credential-ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(saved_days_ago: u64, now: SystemTime) -> Manifest {
        let saved = now - Duration::from_secs(saved_days_ago * 86_400);
        Manifest {
            schema: 1,
            generation: 1,
            access_token_parts: 1,
            refresh_token_parts: 1,
            access_token_expires_at: 0,
            signed_in_as: None,
            saved_at: saved.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        }
    }

    #[test]
    fn health_follows_the_stored_sign_in_and_the_last_renewal() {
        let now = SystemTime::now();
        let at = |days_ago: u64| {
            (now - Duration::from_secs(days_ago * 86_400))
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        type Case = (
            &'static str,
            Result<Option<Manifest>, StoreError>,
            Option<Renewal>,
            Health,
        );
        let cases: [Case; 7] = [
            ("fresh", Ok(Some(manifest(1, now))), None, Health::Connected),
            (
                "idle 80 days",
                Ok(Some(manifest(80, now))),
                None,
                Health::ExpiresSoon { days_left: 10 },
            ),
            (
                "idle 91 days",
                Ok(Some(manifest(91, now))),
                None,
                Health::NeedsSignIn {
                    code: "AADSTS700082".into(),
                },
            ),
            (
                "renewal refused after the last save",
                Ok(Some(manifest(3, now))),
                Some(Renewal {
                    at: at(1),
                    outcome: RenewalOutcome::NeedsSignIn {
                        code: "AADSTS50173".into(),
                    },
                }),
                Health::NeedsSignIn {
                    code: "AADSTS50173".into(),
                },
            ),
            (
                "a refusal overtaken by a new sign-in",
                Ok(Some(manifest(1, now))),
                Some(Renewal {
                    at: at(3),
                    outcome: RenewalOutcome::NeedsSignIn {
                        code: "AADSTS50173".into(),
                    },
                }),
                Health::Connected,
            ),
            ("nothing stored", Ok(None), None, Health::NotSetUp),
            (
                "locked keyring",
                Err(StoreError::Locked {
                    detail: String::new(),
                }),
                None,
                Health::Unreadable {
                    code: "keyring-locked",
                },
            ),
        ];
        for (name, sign_in, renewal, expected) in cases {
            assert_eq!(
                Health::assess(&sign_in, renewal.as_ref(), now),
                expected,
                "{name}"
            );
        }
        assert_eq!(
            Health::ExpiresSoon { days_left: 1 }.words(),
            "expires soon: renews on the next check, or sign in again within 1 day"
        );
    }
}
