//! What a provider's answer means for a queued message, decided in one place from the stage it came at, its reply
//! code and its enhanced status code (RFC 3463): a sign-in problem, the provider busy, this message (or one of its
//! recipients) not now, or never. The relay acts on the verdict only, and the admin reads its words.

use crate::verify::{CheckFailure, FailureKind, Stage};

/// What to do with a message the provider did not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The provider refused the mailbox's sign-in: the token is renewed once, then the mailbox's messages wait.
    SignIn,
    /// The provider (or the way to it) cannot take mail right now: every message of the mailbox waits its turn.
    ServerBusy,
    /// This message cannot go right now (a recipient's mailbox is busy, greylisting, its content): it waits, and
    /// only the later messages of the same device wait behind it; other devices go on.
    ThisMessageLater,
    /// Trying again would get the same answer: refused, with the provider's words.
    Refused,
}

impl Verdict {
    /// What the admin reads before the provider's own words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::SignIn => "the provider refused the mailbox's sign-in",
            Verdict::ServerBusy => "the provider cannot take mail right now",
            Verdict::ThisMessageLater => {
                "the provider cannot take this message right now (a recipient or its content); later \
                 messages of other devices still go"
            }
            Verdict::Refused => "the provider refused this message for good",
        }
    }
}

/// The verdict on a failure to hand a message on.
pub fn of_failure(failure: &CheckFailure) -> Verdict {
    match failure.server_reply.as_deref() {
        Some(reply) => of_reply(failure.stage, reply),
        // No answer at all (no connection, a timeout, TLS): the way to the provider, not the message.
        None => match failure.kind {
            FailureKind::Rejected => Verdict::SignIn,
            _ => Verdict::ServerBusy,
        },
    }
}

/// The verdict on the provider's `reply` at `stage`.
pub fn of_reply(stage: Stage, reply: &str) -> Verdict {
    let code = reply.get(..3).and_then(|code| code.parse::<u16>().ok());
    let Some(code) = code else {
        return Verdict::ServerBusy;
    };
    // The enhanced status code after the reply code: class.subject.detail, such as 4.7.500.
    let enhanced = reply
        .get(4..)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|word| {
            let mut parts = word.split('.');
            let class = parts.next()?.parse::<u16>().ok()?;
            let subject = parts.next()?.parse::<u16>().ok()?;
            let detail = parts.next()?.parse::<u16>().ok()?;
            (parts.next().is_none() && class == code / 100).then_some((subject, detail))
        });
    let subject = enhanced.map(|(subject, _)| subject);
    // 421: the service is closing, whatever the stage.
    if code == 421 {
        return Verdict::ServerBusy;
    }
    // Not signed in, or the sign-in refused (535 5.7.3, 5.7.139; 530 5.7.57 at MAIL FROM).
    let sign_in = matches!(code, 530 | 534 | 535)
        || (stage == Stage::Authenticating && code >= 500)
        || enhanced == Some((7, 57));
    if sign_in {
        return Verdict::SignIn;
    }
    let permanent = code >= 500;
    match stage {
        // Before anything is asked of the message, a refusal is about the provider or the way to it.
        Stage::Resolving
        | Stage::Connecting
        | Stage::Tls
        | Stage::Greeting
        | Stage::Capabilities
        | Stage::Authenticating
        | Stage::Mailbox
        | Stage::TestMessage => Verdict::ServerBusy,
        Stage::Sender if permanent => Verdict::Refused,
        // At MAIL FROM a 4xx is about the provider or the mailbox's sending (throttling, 4.7.500, storage).
        Stage::Sender => Verdict::ServerBusy,
        Stage::Recipients if permanent => Verdict::Refused,
        // At RCPT TO a 4xx is about that recipient, unless it names the mail system itself (4.3.x).
        Stage::Recipients => match subject {
            Some(3) => Verdict::ServerBusy,
            _ => Verdict::ThisMessageLater,
        },
        Stage::Message if permanent => Verdict::Refused,
        // After the message: the system (4.3.x), throttling (4.7.x) or a plain 451/452 is the provider's state;
        // addressing, mailbox, routing and content (4.1, 4.2, 4.4, 4.5, 4.6) are this message's.
        Stage::Message => match (subject, code) {
            (Some(1 | 2 | 4 | 5 | 6), _) => Verdict::ThisMessageLater,
            (None, 450) => Verdict::ThisMessageLater,
            _ => Verdict::ServerBusy,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reply_is_read_by_its_stage_and_codes() {
        use Stage::*;
        use Verdict::*;
        let table: &[(Stage, &str, Verdict)] = &[
            (Greeting, "421 4.3.2 Service not available", ServerBusy),
            (Greeting, "554 5.7.1 Client host rejected", ServerBusy),
            (
                Authenticating,
                "535 5.7.3 Authentication unsuccessful",
                SignIn,
            ),
            (
                Authenticating,
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled",
                SignIn,
            ),
            (
                Authenticating,
                "454 4.7.0 Temporary authentication failure",
                ServerBusy,
            ),
            (
                Sender,
                "530 5.7.57 Client not authenticated to send mail",
                SignIn,
            ),
            (
                Sender,
                "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
                Refused,
            ),
            (
                Sender,
                "451 4.7.500 Server busy. Please try again later",
                ServerBusy,
            ),
            (
                Sender,
                "452 4.3.1 Insufficient system resources",
                ServerBusy,
            ),
            (Sender, "450 Try later", ServerBusy),
            // A recipient's 451 is about that recipient, never the sign-in.
            (
                Recipients,
                "451 4.7.1 Greylisted, try again in 5 minutes",
                ThisMessageLater,
            ),
            (Recipients, "451 Try again later", ThisMessageLater),
            (Recipients, "450 4.2.1 Mailbox busy", ThisMessageLater),
            (
                Recipients,
                "452 4.5.3 Too many recipients",
                ThisMessageLater,
            ),
            (Recipients, "451 4.4.0 DNS query failed", ThisMessageLater),
            (
                Recipients,
                "451 4.3.0 Local error in processing",
                ServerBusy,
            ),
            (Recipients, "421 4.4.2 Connection dropped", ServerBusy),
            (Recipients, "550 5.1.1 User unknown", Refused),
            (Recipients, "554 5.4.14 Hop count exceeded", Refused),
            (Message, "451 4.7.500 Server busy", ServerBusy),
            (Message, "452 4.3.1 Insufficient system storage", ServerBusy),
            (
                Message,
                "451 Requested action aborted: local error",
                ServerBusy,
            ),
            (
                Message,
                "450 4.6.0 Content not accepted now",
                ThisMessageLater,
            ),
            (Message, "450 Mailbox unavailable", ThisMessageLater),
            (Message, "451 4.4.7 Message delayed", ThisMessageLater),
            (Message, "554 5.6.0 Corrupt message content", Refused),
            (
                Message,
                "552 5.3.4 Message size exceeds fixed maximum message size",
                Refused,
            ),
            // A code that does not match its class is not read as one.
            (Message, "451 5.6.0 mismatched", ServerBusy),
            (Message, "garbage", ServerBusy),
        ];
        for (stage, reply, verdict) in table {
            assert_eq!(of_reply(*stage, reply), *verdict, "{stage:?} {reply}");
        }
    }

    #[test]
    fn no_answer_is_the_way_to_the_provider() {
        let failure = CheckFailure {
            stage: Stage::Connecting,
            kind: FailureKind::Refused,
            detail: "nothing listens".to_owned(),
            server_reply: None,
            oauth_error: None,
        };
        assert_eq!(of_failure(&failure), Verdict::ServerBusy);
    }
}
