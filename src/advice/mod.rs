//! The one place that turns a refusal into words: the catalogue (`catalogue.toml`, embedded) of causes and numbered
//! fixes keyed by stable ids, the matching that reads codes first, the error name second and English text last, and
//! the mapping from each kind of failure (sign-in, keyring, checks) to its entry. The domain types only classify.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::auth::{IdentityError, SignInError};
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::verify::{CheckFailure, FailureKind, Protocol, Stage};

pub mod explain;
#[cfg(test)]
mod tests;

pub use crate::controls::Surface;
pub use explain::{Finding, explain};

/// Whether trying again later can work with nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lasting {
    Transient,
    Permanent,
}

/// The sign-in method an entry suggests instead of the one that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Browser,
    Code,
}

/// One cause and its fix, as written in the catalogue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    /// The cause in a few words, for a table column.
    #[serde(default)]
    short: Option<String>,
    #[serde(default)]
    pub aadsts: Vec<u32>,
    #[serde(default)]
    pub enhanced: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub replies: Vec<String>,
    #[serde(default)]
    pub text: Vec<String>,
    #[serde(default)]
    pub refines: Option<String>,
    #[serde(default)]
    pub overrides: bool,
    pub lasting: Lasting,
    pub sign_in_helps: bool,
    #[serde(default)]
    pub admin_consent: bool,
    #[serde(default)]
    pub suggest: Option<Method>,
    #[serde(default)]
    pub after_code: Option<Method>,
    /// A device or program that only knows a password is the likely sender: mailconnect's bridge helps.
    #[serde(default)]
    pub devices: bool,
    pub cause: String,
    pub steps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    entry: Vec<Entry>,
}

impl Entry {
    /// The cause in a few words ("no right to send as the mailbox"): the entry's own, or the cause's first clause.
    pub fn short_cause(&self) -> &str {
        self.short.as_deref().unwrap_or_else(|| {
            let end = self
                .cause
                .find(['.', ':', ';', '('])
                .unwrap_or(self.cause.len());
            self.cause[..end].trim()
        })
    }
}

/// The catalogue entry with this id, when there is one (an id read back from the state file may be from another
/// version).
pub fn entry(id: &str) -> Option<&'static Entry> {
    // Looked up for every row the accounts home sorts or draws: an index, built once.
    static BY_ID: OnceLock<std::collections::HashMap<&'static str, &'static Entry>> =
        OnceLock::new();
    BY_ID
        .get_or_init(|| {
            entries()
                .iter()
                .map(|entry| (entry.id.as_str(), entry))
                .collect()
        })
        .get(id)
        .copied()
}

/// The catalogue, read once from the text built into the program.
pub fn entries() -> &'static [Entry] {
    static CATALOGUE: OnceLock<Vec<Entry>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // The file is part of the program and checked by the tests; a broken one cannot ship.
        toml::from_str::<CatalogueFile>(include_str!("catalogue.toml"))
            .expect("the built-in advice catalogue is valid")
            .entry
    })
}

/// What went wrong in plain words, and the steps that fix it: a catalogue entry. Steps name the window's controls
/// only through markers; see [`Advice::steps_for`].
#[derive(Debug, Clone, Copy)]
pub struct Advice {
    pub entry: &'static Entry,
    pub cause: &'static str,
    pub steps: &'static [String],
}

impl PartialEq for Advice {
    fn eq(&self, other: &Advice) -> bool {
        self.entry.id == other.entry.id
    }
}

impl Eq for Advice {}

impl Advice {
    pub(crate) fn of(entry: &'static Entry) -> Advice {
        Advice {
            entry,
            cause: &entry.cause,
            steps: &entry.steps,
        }
    }

    pub fn id(&self) -> &'static str {
        &self.entry.id
    }

    pub fn is_transient(&self) -> bool {
        self.entry.lasting == Lasting::Transient
    }

    /// The sign-in method to offer instead, knowing which one failed (`None`: not known).
    pub fn suggested_method(&self, failed_with_code: Option<bool>) -> Option<Method> {
        match failed_with_code {
            Some(true) => self.entry.after_code.or(self.entry.suggest),
            _ => self.entry.suggest,
        }
    }
}

/// The entry with this id. Every id the program asks for is checked by a test; an unknown one reads as the
/// generic sign-in refusal rather than failing.
/// The advice for a code kept from an earlier refusal: a catalogue id (`keyring-damaged`), an AADSTS code or an
/// OAuth error name (`invalid_grant`); the generic entry when none is known.
pub fn for_code(code: &str) -> Advice {
    match entry(code) {
        Some(entry) => Advice::of(entry),
        None => find(&Evidence {
            name: Some(code),
            ..Evidence::from_text(code)
        })
        .unwrap_or_else(|| by_id("aad-unknown")),
    }
}

pub fn by_id(id: &str) -> Advice {
    let entry = entry(id)
        .or_else(|| entry("aad-unknown"))
        .expect("the catalogue has its generic entry");
    Advice::of(entry)
}

/// What is known about a refusal, for matching.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub aadsts: Option<u32>,
    pub enhanced: Option<String>,
    pub name: Option<&'a str>,
    /// The words around it (a server's reply, Microsoft's description).
    pub text: &'a str,
}

impl<'a> Evidence<'a> {
    /// Evidence from a server's reply or any text: the first AADSTS number and enhanced status code in it.
    pub fn from_text(text: &'a str) -> Evidence<'a> {
        Evidence {
            aadsts: explain::aadsts_codes(text).first().copied(),
            enhanced: explain::enhanced_codes(text).into_iter().next(),
            name: None,
            text,
        }
    }
}

/// ASCII-only case folding: byte positions stay the same (full Unicode lower-casing can change a text's length,
/// and every pattern in the catalogue is ASCII anyway).
fn fold(text: &str) -> String {
    text.to_ascii_lowercase()
}

/// The entry for `evidence`: a name that says exactly what happened (`overrides`), then the AADSTS number, the
/// enhanced status code, the error name, an IMAP reply, and last the English wording. A code's entry is narrowed
/// by wording where the catalogue has a more specific reading of it (5.7.139 has several).
pub fn find(evidence: &Evidence<'_>) -> Option<Advice> {
    let entries = entries();
    // Folded once: matching costs one pass over the text, not one per catalogue pattern.
    let text = fold(evidence.text);
    let mentions = |words: &str| text.contains(&fold(words));
    let by_name = |overriding: bool| {
        let name = evidence.name?;
        entries
            .iter()
            .find(|entry| entry.names.iter().any(|n| n == name) && (!overriding || entry.overrides))
    };
    let found = by_name(true)
        .or_else(|| {
            let code = evidence.aadsts?;
            entries.iter().find(|entry| entry.aadsts.contains(&code))
        })
        .or_else(|| {
            let code = evidence.enhanced.as_deref()?;
            entries
                .iter()
                .find(|entry| entry.enhanced.iter().any(|claimed| claimed == code))
        })
        .or_else(|| by_name(false))
        .or_else(|| {
            entries
                .iter()
                .find(|entry| entry.replies.iter().any(|reply| mentions(reply)))
        })
        .or_else(|| {
            // The wording alone, last: a narrower reading's words count too ("SmtpClientAuthentication is
            // disabled" without its 5.7.139 is still that).
            entries
                .iter()
                .find(|entry| entry.text.iter().any(|words| mentions(words)))
        })?;
    let narrowed = entries.iter().find(|entry| {
        entry.refines.as_deref() == Some(found.id.as_str())
            && entry.text.iter().any(|words| mentions(words))
    });
    Some(Advice::of(narrowed.unwrap_or(found)))
}

/// Microsoft's refusal of a sign-in or a renewal.
pub fn for_identity(error: &IdentityError) -> Advice {
    let text = error.error_description.as_deref().unwrap_or_default();
    find(&Evidence {
        aadsts: error.aadsts(),
        enhanced: None,
        name: Some(&error.error),
        text,
    })
    .unwrap_or_else(|| by_id("aad-unknown"))
}

/// Any sign-in failure, Microsoft's or this computer's.
pub fn for_sign_in(error: &SignInError) -> Advice {
    match error {
        SignInError::Rejected(identity) => for_identity(identity),
        SignInError::Unavailable { .. } => by_id("aad-temporary"),
        SignInError::Network { .. } | SignInError::Malformed { .. } => {
            by_id("identity-unreachable")
        }
        SignInError::InsecureEndpoint { .. } => by_id("insecure-endpoint"),
        SignInError::BrowserTimedOut { .. } => by_id("browser-timed-out"),
        SignInError::DeviceCodeExpired => by_id("aad-code-expired"),
        SignInError::Listener { .. } => by_id("listener-failed"),
        SignInError::UnexpectedAccount { .. } => by_id("unexpected-account"),
        SignInError::NoRefreshToken => by_id("no-refresh-token"),
    }
}

/// A keyring or lock problem.
pub fn for_store(error: &StoreError) -> Advice {
    by_id(match error {
        StoreError::Unavailable { .. } => "keyring-unavailable",
        StoreError::Locked { .. } | StoreError::TimedOut => "keyring-locked",
        StoreError::Damaged { .. } => "keyring-damaged",
        StoreError::Refused { .. } => "keyring-refused",
        StoreError::Busy { .. } => "mailbox-busy",
        StoreError::LockFile { .. } => "lock-file",
        StoreError::Conflict { found: 0, .. } => "sign-in-removed",
        StoreError::Conflict { .. } => "sign-in-replaced",
    })
}

/// Why no token could be handed out.
pub fn for_token(error: &TokenError) -> Advice {
    match error {
        TokenError::NotSignedIn { .. } => by_id("not-signed-in"),
        TokenError::NoAppCredential { .. } => by_id("app-credential-missing"),
        TokenError::Store(error) => for_store(error),
        TokenError::Refresh(error) => for_sign_in(error),
        TokenError::Setup(_) => by_id("settings-unusable"),
        TokenError::AccountChanged { .. } => by_id("account-changed"),
    }
}

/// A failed receiving or sending check: the server's reply when it refused, else how the connection failed.
pub fn for_check(failure: &CheckFailure, protocol: Protocol) -> Advice {
    if let Some(reply) = &failure.server_reply {
        let about_the_sign_in = matches!(
            failure.stage,
            Stage::Authenticating
                | Stage::Mailbox
                | Stage::Sender
                | Stage::TestMessage
                | Stage::Message
        );
        if about_the_sign_in && let Some(advice) = find(&Evidence::from_text(reply)) {
            return advice;
        }
        if failure.kind == FailureKind::Temporary {
            // A 4xx reply with no enhanced code the catalogue knows: temporary, as the reply class says.
            return by_id(match protocol {
                Protocol::Imap => "imap-unavailable",
                Protocol::Smtp => "smtp-temporary",
            });
        }
        if about_the_sign_in {
            return by_id(match protocol {
                Protocol::Imap => "imap-refused",
                Protocol::Smtp => "smtp-refused",
            });
        }
    }
    by_id(match failure.kind {
        FailureKind::Dns => "connection-dns",
        FailureKind::Refused | FailureKind::Unreachable => "connection-unreachable",
        FailureKind::Timeout => match failure.stage {
            Stage::Resolving | Stage::Connecting | Stage::Tls => "connection-timeout-early",
            _ => "connection-timeout-midway",
        },
        FailureKind::Certificate => "connection-certificate",
        FailureKind::Tls => "connection-tls",
        FailureKind::Closed | FailureKind::Protocol => "connection-closed",
        FailureKind::Unsupported => "connection-unsupported",
        FailureKind::Insecure => "connection-insecure",
        FailureKind::Temporary => match protocol {
            Protocol::Imap => "imap-unavailable",
            Protocol::Smtp => "smtp-temporary",
        },
        FailureKind::Rejected => match protocol {
            Protocol::Imap => "imap-refused",
            Protocol::Smtp => "smtp-refused",
        },
    })
}
