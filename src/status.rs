//! One account's standing as `status` shows it: the stored sign-in, the Basic Auth password, the last checks.
//! Each account is read on its own, so one damaged or unreadable sign-in never hides the others.

use std::io::Write;
use std::time::SystemTime;

use crate::config::Account;
use crate::health::Health;
use crate::state::{LastVerification, State};
use crate::store::{Manifest, StoreError, TokenStore};

/// What is known about one account.
#[derive(Debug)]
pub struct AccountStatus {
    pub mailbox: String,
    /// The saved sign-in's manifest, `None` when there is none, or why it cannot be read.
    pub sign_in: Result<Option<Manifest>, StoreError>,
    pub basic_password: Result<bool, StoreError>,
    pub last_verification: Option<LastVerification>,
    /// The same words the keep-alive and the window use.
    pub health: Health,
    /// For a mailbox reached by the organisation's app: the app's credential as stored.
    pub app_credential: Option<Result<Option<crate::app_only::CredentialInfo>, StoreError>>,
}

impl AccountStatus {
    pub fn read(store: &TokenStore, state: &State, account: &Account) -> AccountStatus {
        let (sign_in, health) = crate::health::read_stored(
            store,
            account,
            state.last_renewal(&account.mailbox),
            SystemTime::now(),
        );
        AccountStatus {
            mailbox: account.mailbox.clone(),
            sign_in,
            basic_password: store
                .load_basic_password(&account.mailbox)
                .map(|password| password.is_some()),
            last_verification: state.last_verification(&account.mailbox).cloned(),
            health,
            app_credential: account.app_only.then(|| {
                store.app_credential_info(
                    &account.client_id,
                    crate::store::AppCredentialSlot::Current,
                )
            }),
        }
    }

    /// The sign-in in a few words.
    pub fn method(&self) -> String {
        let basic = matches!(self.basic_password, Ok(true));
        if let Some(credential) = &self.app_credential {
            let still_basic = if basic {
                " (an old Basic Auth password is still stored)"
            } else {
                ""
            };
            return match credential {
                Ok(Some(info)) => format!(
                    "the organisation's app ({}, works until {}){still_basic}",
                    info.kind.label(),
                    info.expires.format("%-d %b %Y")
                ),
                Ok(None) => format!(
                    "the organisation's app, but its certificate or secret is not on this computer{still_basic}"
                ),
                Err(error) => format!("cannot be read ({})", error.code()),
            };
        }
        match (&self.sign_in, basic) {
            (Ok(Some(_)), true) => "OAuth (an old Basic Auth password is still stored)".to_owned(),
            (Ok(Some(_)), false) => "OAuth".to_owned(),
            (Ok(None), true) => "Basic Auth only: not moved to OAuth yet".to_owned(),
            (Ok(None), false) => "no sign-in stored".to_owned(),
            (Err(StoreError::Damaged { .. }), _) => {
                "the saved sign-in is damaged: sign in again to repair it".to_owned()
            }
            (Err(error), _) => format!("cannot be read ({})", error.code()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let manifest = self.sign_in.as_ref().ok().and_then(Option::as_ref);
        serde_json::json!({
            "mailbox": self.mailbox,
            "health": self.health.code(),
            "health_words": self.health.words(),
            "oauth": manifest.is_some() || matches!(self.app_credential, Some(Ok(Some(_)))),
            "app_only": self.app_credential.is_some(),
            "app_credential_expires": self.app_credential.as_ref().and_then(|c| c.as_ref().ok()).and_then(Option::as_ref).map(|info| info.expires.to_string()),
            "sign_in_error": self.sign_in.as_ref().err().map(StoreError::code),
            "basic_password_stored": self.basic_password.as_ref().ok(),
            "signed_in_as": manifest.and_then(|m| m.signed_in_as.clone()),
            "access_token_expires_at": manifest.map(|m| m.access_token_expires_at),
            "last_refresh": manifest.map(|m| m.saved_at),
            "last_verification": self.last_verification,
        })
    }

    pub fn write_lines(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{}", self.mailbox)?;
        writeln!(out, "  connection:        {}", self.health.words())?;
        writeln!(out, "  sign-in:           {}", self.method())?;
        if let Ok(Some(manifest)) = &self.sign_in {
            writeln!(
                out,
                "  signed in as:      {}",
                manifest.signed_in_as.as_deref().unwrap_or("(unknown)")
            )?;
            writeln!(
                out,
                "  token expires:     {}",
                describe_time(manifest.access_token_expires_at)
            )?;
            writeln!(
                out,
                "  last refresh:      {}",
                describe_time(manifest.saved_at)
            )?;
        }
        match &self.last_verification {
            Some(last) => writeln!(
                out,
                "  last verification: {}: IMAP {}, SMTP {}",
                describe_time(last.at),
                last.imap.code,
                last.smtp.code
            ),
            None => writeln!(out, "  last verification: never"),
        }
    }
}

/// A Unix time as local date and time with how far away it is.
pub fn describe_time(unix_seconds: u64) -> String {
    let Some(time) = crate::words::unix_time(unix_seconds) else {
        return "(an impossible date)".to_owned();
    };
    let local = chrono::DateTime::<chrono::Local>::from(time).format("%Y-%m-%d %H:%M");
    match time.duration_since(SystemTime::now()) {
        Ok(ahead) => format!("{local} (in {})", crate::words::duration(ahead)),
        Err(behind) => format!(
            "{local} ({} ago)",
            crate::words::duration(behind.duration())
        ),
    }
}
