//! The SMTP check: greeting, EHLO, STARTTLS, EHLO, `AUTH XOAUTH2`, `MAIL FROM` and `RSET` (may it send as the
//! mailbox?), and QUIT; a test message instead of the sender check only when asked.
//!
//! lettre supplies the SMTP grammar (commands, reply parsing, EHLO extensions) and builds the test message. The
//! dialogue itself is driven here: lettre's XOAUTH2 mechanism refuses the error continuation that Dovecot and Gmail
//! send before their final reply, and its connection hides which stage failed.

use std::str::FromStr;

use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Quit, Rcpt, Rset, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, ServerInfo};
use lettre::transport::smtp::response::Response;
use secrecy::ExposeSecret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::net::{self, Bounded, MailStream, failure, io_failure, server_refusal, within};
use super::{CheckContext, CheckFailure, FailureKind, MailCredentials, Protocol, Stage, xoauth2};
use crate::config::{Security, ServerSettings};

/// RFC 5321 4.5.3.1.4: a command line, CRLF included, is at most 512 octets.
const MAX_COMMAND_LINE: usize = 512;
/// Longest reply accepted: a server that streams endless lines is a protocol failure, not a memory problem.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A reply as the server sent it, and as lettre parsed it.
struct Reply {
    text: String,
    parsed: Response,
}

impl Reply {
    fn code(&self) -> u16 {
        self.text
            .get(..3)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }
}

struct Connection {
    stream: BufReader<Bounded<MailStream>>,
}

impl Connection {
    async fn read_reply(&mut self, stage: Stage) -> Result<Reply, CheckFailure> {
        let mut bytes = Vec::new();
        loop {
            let before = bytes.len();
            // The bound applies inside a line too: a greeting of gigabytes without a newline stops here.
            let allowed = (MAX_REPLY_BYTES + 1 - before) as u64;
            let read = (&mut self.stream)
                .take(allowed)
                .read_until(b'\n', &mut bytes)
                .await
                .map_err(|error| io_failure(stage, &error))?;
            if bytes.len() > MAX_REPLY_BYTES {
                return Err(failure(
                    stage,
                    FailureKind::Protocol,
                    "the server's reply is far too long",
                ));
            }
            if read == 0 || !bytes.ends_with(b"\n") {
                return Err(failure(
                    stage,
                    FailureKind::Closed,
                    "the server closed the connection",
                ));
            }
            let line = &bytes[before..];
            // The last line of a reply has a space (or nothing) after the code; earlier ones have a hyphen.
            if line.len() < 4 || line[3] != b'-' {
                break;
            }
        }
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let parsed = Response::from_str(&raw).map_err(|_| CheckFailure {
            server_reply: Some(net::excerpt(&raw, net::MAX_SERVER_TEXT)),
            ..failure(
                stage,
                FailureKind::Protocol,
                "the server's reply is not SMTP",
            )
        })?;
        let text = net::excerpt(
            &raw.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n"),
            net::MAX_SERVER_TEXT,
        );
        Ok(Reply { text, parsed })
    }

    async fn write(&mut self, bytes: &[u8], stage: Stage) -> Result<(), CheckFailure> {
        net::send(self.stream.get_mut().get_mut(), bytes, stage).await
    }

    async fn command(
        &mut self,
        command: impl std::fmt::Display,
        stage: Stage,
        expected: u16,
    ) -> Result<Reply, CheckFailure> {
        self.write(command.to_string().as_bytes(), stage).await?;
        let reply = self.read_reply(stage).await?;
        if reply.code() == expected {
            Ok(reply)
        } else {
            Err(refused(stage, reply.text))
        }
    }

    /// EHLO: what the server offers, and whether it accepts pipelined commands (RFC 2920).
    async fn ehlo(&mut self, context: &CheckContext) -> Result<(ServerInfo, bool), CheckFailure> {
        let stage = Stage::Capabilities;
        let reply = within(
            stage,
            context.timeouts.reply,
            self.command(Ehlo::new(ClientId::default()), stage, 250),
        )
        .await?;
        let pipelining = reply.text.lines().any(|line| {
            line.get(4..)
                .is_some_and(|word| word.trim().eq_ignore_ascii_case("PIPELINING"))
        });
        let info = ServerInfo::from_response(&reply.parsed).map_err(|_| CheckFailure {
            server_reply: Some(reply.text.clone()),
            ..failure(
                stage,
                FailureKind::Protocol,
                "the server's EHLO reply cannot be read",
            )
        })?;
        Ok((info, pipelining))
    }
}

/// A connection signed in with XOAUTH2, the server's reply to the sign-in, and whether it takes pipelining.
struct SignedIn {
    connection: Connection,
    auth_reply: String,
    pipelining: bool,
}

/// Greeting, EHLO, STARTTLS when the settings say so, EHLO again and `AUTH XOAUTH2`: each stage bounded in time.
async fn sign_in(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> Result<SignedIn, CheckFailure> {
    let progress = |stage| (context.progress)(Protocol::Smtp, stage);
    let reply_limit = context.timeouts.reply;
    let stream = net::connect(Protocol::Smtp, server, context).await?;
    let mut connection = Connection {
        stream: BufReader::new(Bounded::new(stream)),
    };

    progress(Stage::Greeting);
    let greeting = within(
        Stage::Greeting,
        reply_limit,
        connection.read_reply(Stage::Greeting),
    )
    .await?;
    if greeting.code() != 220 {
        return Err(refused(Stage::Greeting, greeting.text));
    }
    progress(Stage::Capabilities);
    let (mut info, mut pipelining) = connection.ehlo(context).await?;

    if server.security == Security::StartTls {
        if !info.supports_feature(Extension::StartTls) {
            return Err(failure(
                Stage::Tls,
                FailureKind::Unsupported,
                "the server does not offer STARTTLS on this port",
            ));
        }
        within(
            Stage::Tls,
            reply_limit,
            connection.command(Starttls, Stage::Tls, 220),
        )
        .await?;
        if !connection.stream.buffer().is_empty() {
            // Anything sent before the handshake could be an injection (CVE-2011-0411 class); refuse it.
            return Err(failure(
                Stage::Tls,
                FailureKind::Protocol,
                "the server sent data before the secure connection started",
            ));
        }
        let MailStream::Plain(tcp) = connection.stream.into_inner().into_inner() else {
            return Err(failure(
                Stage::Tls,
                FailureKind::Protocol,
                "the connection was already secured",
            ));
        };
        connection = Connection {
            stream: BufReader::new(Bounded::new(
                net::start_tls(Protocol::Smtp, tcp, &server.host, context).await?,
            )),
        };
        progress(Stage::Capabilities);
        (info, pipelining) = connection.ehlo(context).await?;
    }
    if !info.supports_auth_mechanism(Mechanism::Xoauth2) {
        return Err(failure(
            Stage::Capabilities,
            FailureKind::Unsupported,
            "the server does not offer OAuth sign-in (AUTH XOAUTH2) for sending",
        ));
    }

    progress(Stage::Authenticating);
    let auth_reply = within(
        Stage::Authenticating,
        reply_limit,
        authenticate(&mut connection, credentials),
    )
    .await?;
    Ok(SignedIn {
        connection,
        auth_reply,
        pipelining,
    })
}

/// Runs the check; `Ok` holds the server's reply to the sign-in.
pub(super) async fn run(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> Result<String, CheckFailure> {
    let progress = |stage| (context.progress)(Protocol::Smtp, stage);
    let reply_limit = context.timeouts.reply;
    let SignedIn {
        mut connection,
        auth_reply,
        pipelining,
    } = sign_in(server, credentials, context).await?;

    if context.send_test_message {
        progress(Stage::TestMessage);
        within(
            Stage::TestMessage,
            reply_limit,
            send_test_message(&mut connection, &credentials.mailbox),
        )
        .await?;
    } else {
        // Signed in is not yet allowed to send: a missing "Send as" right (5.7.60, 5.2.252) shows here, at
        // set-up, rather than on the first real mail. Nothing is sent.
        progress(Stage::Sender);
        within(
            Stage::Sender,
            reply_limit,
            check_sender(&mut connection, &credentials.mailbox, pipelining),
        )
        .await?;
    }

    // The verdict is known; say goodbye without waiting for the 221.
    let _ = connection
        .write(Quit.to_string().as_bytes(), Stage::Authenticating)
        .await;
    let _ = connection.stream.get_mut().shutdown().await;
    Ok(auth_reply)
}

/// `AUTH XOAUTH2 <initial response>`; a 334 error continuation is answered with an empty line and the final
/// reply is what gets reported.
async fn authenticate(
    connection: &mut Connection,
    credentials: &MailCredentials,
) -> Result<String, CheckFailure> {
    let stage = Stage::Authenticating;
    let initial = xoauth2::initial_response(&credentials.smtp_user, &credentials.access_token);
    let command = format!("AUTH XOAUTH2 {}\r\n", initial.expose_secret());
    let mut reply = if command.len() <= MAX_COMMAND_LINE {
        connection.write(command.as_bytes(), stage).await?;
        connection.read_reply(stage).await?
    } else {
        // RFC 4954 4: an initial response that would make the line too long MUST NOT be sent with the command;
        // the server asks for it with an empty 334 instead (Dovecot enforces this: "500 5.5.2 Line too long").
        connection.write(b"AUTH XOAUTH2\r\n", stage).await?;
        let prompt = connection.read_reply(stage).await?;
        if prompt.code() != 334 {
            return Err(refused(stage, prompt.text));
        }
        connection
            .write(format!("{}\r\n", initial.expose_secret()).as_bytes(), stage)
            .await?;
        connection.read_reply(stage).await?
    };
    drop(command);
    let mut oauth_error = None;
    if reply.code() == 334 {
        oauth_error = Some(xoauth2::decode_error_challenge(
            reply.text.get(4..).unwrap_or_default(),
        ));
        connection.write(b"\r\n", stage).await?;
        reply = connection.read_reply(stage).await?;
    }
    if reply.code() == 235 {
        Ok(reply.text)
    } else {
        Err(CheckFailure {
            oauth_error,
            ..refused(stage, reply.text)
        })
    }
}

/// `MAIL FROM:<mailbox>` then `RSET` (together, when the server takes pipelined commands: one round trip).
async fn check_sender(
    connection: &mut Connection,
    mailbox: &str,
    pipelining: bool,
) -> Result<(), CheckFailure> {
    let stage = Stage::Sender;
    // Parsed as an address first: nothing the settings hold can add a line to the conversation.
    let address = parse_address(mailbox, "sender address", stage)?;
    let mail = Mail::new(Some(address), Vec::new()).to_string();
    let sender_reply = if pipelining {
        connection
            .write(format!("{mail}{Rset}").as_bytes(), stage)
            .await?;
        let sender_reply = connection.read_reply(stage).await?;
        connection.read_reply(stage).await?;
        sender_reply
    } else {
        connection.write(mail.as_bytes(), stage).await?;
        let sender_reply = connection.read_reply(stage).await?;
        if sender_reply.code() == 250 {
            connection.command(Rset, stage, 250).await?;
        }
        sender_reply
    };
    if sender_reply.code() == 250 {
        Ok(())
    } else {
        Err(refused(stage, sender_reply.text))
    }
}

async fn send_test_message(connection: &mut Connection, mailbox: &str) -> Result<(), CheckFailure> {
    let stage = Stage::TestMessage;
    let address = parse_address(mailbox, "sender address", stage)?;
    let message = lettre::Message::builder()
        .from(lettre::message::Mailbox::new(Some("mailconnect".to_owned()), address.clone()))
        .to(lettre::message::Mailbox::new(None, address.clone()))
        .subject("mailconnect test message")
        .body("This message was sent by mailconnect to check that this mailbox can send mail with OAuth.\r\n".to_owned())
        .map_err(|error| failure(stage, FailureKind::Protocol, error.to_string()))?;
    connection
        .command(Mail::new(Some(address.clone()), Vec::new()), stage, 250)
        .await?;
    connection
        .command(Rcpt::new(address, Vec::new()), stage, 250)
        .await?;
    connection.command(Data, stage, 354).await?;
    let mut body = dot_stuff(&message.formatted());
    body.extend_from_slice(b"\r\n.\r\n");
    connection.write(&body, stage).await?;
    let reply = connection.read_reply(stage).await?;
    if reply.code() == 250 {
        Ok(())
    } else {
        Err(refused(stage, reply.text))
    }
}

/// RFC 5321 4.5.2: a line starting with a dot gets another one.
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut stuffed = Vec::with_capacity(message.len() + 8);
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            stuffed.push(b'.');
        }
        stuffed.push(byte);
        at_line_start = byte == b'\n';
    }
    if !stuffed.ends_with(b"\r\n") {
        stuffed.extend_from_slice(b"\r\n");
    }
    stuffed.truncate(stuffed.len() - 2);
    stuffed
}

/// A refusal by the server, classified as temporary (4xx) or permanent, with the advice its words point to.
/// `text` as an address for a command line, or the failure naming it (`what`: "sender address", "address"):
/// nothing from the settings or a queued envelope can add a line to the conversation.
fn parse_address(text: &str, what: &str, stage: Stage) -> Result<lettre::Address, CheckFailure> {
    text.parse().map_err(|_| {
        failure(
            stage,
            FailureKind::Protocol,
            format!("{text} is not a valid {what}"),
        )
    })
}

fn refused(stage: Stage, reply: String) -> CheckFailure {
    let temporary = reply.starts_with('4');
    server_refusal(stage, reply, temporary)
}

/// Hands a message on: signs in like the check, then `MAIL FROM`, one `RCPT TO` per recipient and `DATA`, the
/// message read line by line from `message` (CRLF lines, not dot-stuffed: stuffing is done here) and never held
/// whole. `Ok` holds the server's final reply. A 4xx reply or a network failure is temporary
/// ([`FailureKind::Temporary`] and the network kinds); a 5xx reply is a refusal.
pub async fn submit(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
    recipients: &[String],
    mut message: impl tokio::io::AsyncBufRead + Unpin,
) -> Result<String, CheckFailure> {
    let reply_limit = context.timeouts.reply;
    let SignedIn { mut connection, .. } = sign_in(server, credentials, context).await?;
    let sender = parse_address(&credentials.mailbox, "address", Stage::Sender)?;
    // An address beyond ASCII (RFC 6531) needs SMTPUTF8 on MAIL FROM, or the provider may mangle or refuse it.
    let parameters = if !credentials.mailbox.is_ascii() || recipients.iter().any(|r| !r.is_ascii())
    {
        vec![lettre::transport::smtp::extension::MailParameter::SmtpUtfEight]
    } else {
        Vec::new()
    };
    within(
        Stage::Sender,
        reply_limit,
        connection.command(Mail::new(Some(sender), parameters), Stage::Sender, 250),
    )
    .await?;
    for recipient in recipients {
        let recipient = parse_address(recipient, "address", Stage::Recipients)?;
        within(
            Stage::Recipients,
            reply_limit,
            connection.command(Rcpt::new(recipient, Vec::new()), Stage::Recipients, 250),
        )
        .await?;
    }
    within(
        Stage::Message,
        reply_limit,
        connection.command(Data, Stage::Message, 354),
    )
    .await?;
    let mut line = Vec::new();
    // Whether what was sent so far ends a line: the final dot must start one.
    let mut at_line_start = true;
    loop {
        line.clear();
        let read = message
            .read_until(b'\n', &mut line)
            .await
            .map_err(|error| {
                failure(
                    Stage::Message,
                    FailureKind::Protocol,
                    format!("the queued message cannot be read: {error}"),
                )
            })?;
        if read == 0 {
            break;
        }
        if line.first() == Some(&b'.') {
            within(
                Stage::Message,
                reply_limit,
                connection.write(b".", Stage::Message),
            )
            .await?;
        }
        within(
            Stage::Message,
            reply_limit,
            connection.write(&line, Stage::Message),
        )
        .await?;
        at_line_start = line.ends_with(b"\n");
    }
    if !at_line_start {
        within(
            Stage::Message,
            reply_limit,
            connection.write(b"\r\n", Stage::Message),
        )
        .await?;
    }
    // Exchange answers the end of a large message only after it has checked it: allow more than one reply's time.
    let reply = within(Stage::Message, reply_limit * 4, async {
        connection.write(b".\r\n", Stage::Message).await?;
        connection.read_reply(Stage::Message).await
    })
    .await?;
    let _ = connection
        .write(Quit.to_string().as_bytes(), Stage::Message)
        .await;
    let _ = connection.stream.get_mut().shutdown().await;
    if reply.code() == 250 {
        Ok(reply.text)
    } else {
        Err(refused(Stage::Message, reply.text))
    }
}

#[cfg(test)]
mod tests {
    use super::dot_stuff;

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        assert_eq!(
            dot_stuff(b".hidden\r\nline\r\n.\r\n"),
            b"..hidden\r\nline\r\n..".to_vec()
        );
        assert_eq!(dot_stuff(b"a.b\r\n"), b"a.b".to_vec());
    }
}
