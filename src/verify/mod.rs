//! Live checks that IMAP and SMTP accept the OAuth token (SASL XOAUTH2), reported stage by stage.
//!
//! Both checks run at once; each reports its progress through a [`ProgressSink`] and ends in a [`Verdict`] that
//! names the failed stage, the server's exact reply and what to do about it.

mod imap;
mod net;
mod smtp;
pub mod xoauth2;

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

pub use net::MailStream;
pub use smtp::submit;

use crate::config::{Account, ServerSettings, Timeouts};
use crate::tls::Trust;

/// Which protocol a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Smtp,
}

impl Protocol {
    /// What the protocol does, in the words the wizard uses.
    pub fn role(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP (receiving)",
            Protocol::Smtp => "SMTP (sending)",
        }
    }
}

/// The stages of one check, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Resolving,
    Connecting,
    Tls,
    Greeting,
    Capabilities,
    Authenticating,
    /// IMAP only: opening INBOX read-only proves access to the mailbox.
    Mailbox,
    /// SMTP only: `MAIL FROM:<mailbox>` then `RSET`, so a missing "Send as" right shows before the first real mail.
    Sender,
    /// SMTP only, and only when asked: a test message to the mailbox itself.
    TestMessage,
    /// SMTP, the bridge: `RCPT TO` for each recipient of a message handed on.
    Recipients,
    /// SMTP, the bridge: `DATA` and the message handed on.
    Message,
}

impl Stage {
    /// Present-tense words for a live status line.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Resolving => "Looking up the server",
            Stage::Connecting => "Connecting",
            Stage::Tls => "Securing the connection",
            Stage::Greeting => "Waiting for the server's greeting",
            Stage::Capabilities => "Asking what the server supports",
            Stage::Authenticating => "Signing in with OAuth",
            Stage::Mailbox => "Opening the inbox",
            Stage::Sender => "Checking it may send as the mailbox",
            Stage::TestMessage => "Sending a test message",
            Stage::Recipients => "Giving the recipients",
            Stage::Message => "Handing the message on",
        }
    }

    /// The stage's short name, as support staff say it: DNS, connect, TLS, greeting, ...
    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolving => "DNS",
            Stage::Connecting => "connect",
            Stage::Tls => "TLS",
            Stage::Greeting => "greeting",
            Stage::Capabilities => "capability",
            Stage::Authenticating => "authentication",
            Stage::Mailbox => "mailbox",
            Stage::Sender => "sender",
            Stage::TestMessage => "test message",
            Stage::Recipients => "recipients",
            Stage::Message => "message",
        }
    }
}

/// What kind of failure ended a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server name does not exist (or DNS is unreachable).
    Dns,
    /// Nothing listens on that port.
    Refused,
    /// The network path is broken (no route, reset).
    Unreachable,
    /// The stage took longer than its timeout.
    Timeout,
    /// The server's certificate was not accepted.
    Certificate,
    /// The secure connection could not be set up for another reason.
    Tls,
    /// The server closed the connection or said goodbye.
    Closed,
    /// The server answered something that is not the protocol.
    Protocol,
    /// The server does not offer what the check needs (XOAUTH2, STARTTLS).
    Unsupported,
    /// A connection without encryption to another computer was refused by us.
    Insecure,
    /// The server refused the sign-in or the mailbox.
    Rejected,
    /// The server could not decide right now (4xx, NO [UNAVAILABLE]).
    Temporary,
}

/// A failed check: where, why, the server's words, and the fix.
#[derive(Debug, Clone)]
pub struct CheckFailure {
    pub stage: Stage,
    pub kind: FailureKind,
    /// Our own one-line description.
    pub detail: String,
    /// The server's final reply, exactly as sent, when there was one.
    pub server_reply: Option<String>,
    /// The decoded XOAUTH2 error continuation, when the server sent one (Dovecot, Gmail).
    pub oauth_error: Option<String>,
}

impl CheckFailure {
    /// The code support staff read out: `IMAP-authentication-rejected`, `SMTP-TLS-certificate`, ...
    pub fn code(&self, protocol: Protocol) -> String {
        let kind = match self.kind {
            FailureKind::Dns => "not-found",
            FailureKind::Refused => "refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Certificate => "certificate",
            FailureKind::Tls => "tls",
            FailureKind::Closed => "closed",
            FailureKind::Protocol => "protocol",
            FailureKind::Unsupported => "unsupported",
            FailureKind::Insecure => "insecure",
            FailureKind::Rejected => "rejected",
            FailureKind::Temporary => "temporary",
        };
        let protocol = match protocol {
            Protocol::Imap => "IMAP",
            Protocol::Smtp => "SMTP",
        };
        format!("{protocol}-{}-{kind}", self.stage.name().replace(' ', "-"))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub enum Verdict {
    Passed {
        /// The server's reply to the sign-in, e.g. `OK AUTHENTICATE completed.` or `235 2.7.0 Authentication successful`.
        server_reply: String,
    },
    Failed(CheckFailure),
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }

    pub fn failure(&self) -> Option<&CheckFailure> {
        match self {
            Verdict::Failed(failure) => Some(failure),
            Verdict::Passed { .. } => None,
        }
    }
}

/// A finished check.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub protocol: Protocol,
    pub server: String,
    pub verdict: Verdict,
    pub elapsed: Duration,
}

/// Receives live progress: (protocol, stage just started).
pub type ProgressSink = Arc<dyn Fn(Protocol, Stage) + Send + Sync>;

/// Who authenticates where, and with which token.
#[derive(Debug, Clone)]
pub struct MailCredentials {
    /// The SASL `user=` for IMAP: the mailbox itself (for a shared mailbox, the shared address).
    pub imap_user: String,
    /// The SASL `user=` for SMTP: whoever signed in (a shared mailbox sends as the delegate with SendAs).
    pub smtp_user: String,
    /// The envelope sender and recipient of an optional test message.
    pub mailbox: String,
    pub access_token: SecretString,
}

impl MailCredentials {
    pub fn for_account(account: &Account, access_token: SecretString) -> MailCredentials {
        MailCredentials {
            imap_user: account.mailbox.clone(),
            smtp_user: account.sign_in_account().to_owned(),
            mailbox: account.mailbox.clone(),
            access_token,
        }
    }
}

/// Everything a check needs besides the credentials.
#[derive(Clone)]
pub struct CheckContext {
    pub trust: Trust,
    pub timeouts: Timeouts,
    pub progress: ProgressSink,
    /// Send a test message to the mailbox itself after SMTP sign-in.
    pub send_test_message: bool,
}

impl CheckContext {
    pub fn new(trust: Trust, timeouts: Timeouts) -> CheckContext {
        CheckContext {
            trust,
            timeouts,
            progress: Arc::new(|_, _| {}),
            send_test_message: false,
        }
    }

    pub fn with_progress(mut self, progress: ProgressSink) -> CheckContext {
        self.progress = progress;
        self
    }
}

/// Checks IMAP alone.
pub async fn check_imap(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> CheckReport {
    timed(
        Protocol::Imap,
        server,
        imap::run(server, credentials, context),
    )
    .await
}

/// Checks SMTP alone.
pub async fn check_smtp(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> CheckReport {
    timed(
        Protocol::Smtp,
        server,
        smtp::run(server, credentials, context),
    )
    .await
}

/// Checks IMAP and SMTP at the same time; returns (IMAP, SMTP).
pub async fn check_both(
    account: &Account,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> (CheckReport, CheckReport) {
    tokio::join!(
        check_imap(&account.imap, credentials, context),
        check_smtp(&account.smtp, credentials, context)
    )
}

async fn timed(
    protocol: Protocol,
    server: &ServerSettings,
    check: impl Future<Output = Result<String, CheckFailure>>,
) -> CheckReport {
    let started = Instant::now();
    let verdict = match check.await {
        Ok(server_reply) => Verdict::Passed { server_reply },
        Err(failure) => Verdict::Failed(failure),
    };
    match &verdict {
        Verdict::Passed { .. } => tracing::info!(?protocol, server = %server.host, "check passed"),
        Verdict::Failed(failure) => {
            tracing::info!(?protocol, server = %server.host, stage = failure.stage.name(), kind = ?failure.kind, "check failed")
        }
    }
    CheckReport {
        protocol,
        server: format!("{}:{}", server.host, server.port),
        verdict,
        elapsed: started.elapsed(),
    }
}
