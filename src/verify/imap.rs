//! The IMAP check: greeting, capabilities, `AUTHENTICATE XOAUTH2` (with SASL-IR when offered), `EXAMINE INBOX`.
//!
//! async-imap owns the connection's read buffer and parses every response (imap-proto). Commands are written to
//! the stream directly: async-imap keeps command sending private before login, and traces each command it encodes,
//! which would put the token in a log.

use async_imap::Client;
use async_imap::imap_proto::{Capability, MailboxDatum, Response, ResponseCode, Status};
use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;

use super::net::{self, Bounded, MailStream, failure, io_failure, server_refusal, within};
use super::{CheckContext, CheckFailure, FailureKind, MailCredentials, Protocol, Stage, xoauth2};
use crate::config::{Security, ServerSettings};

/// An IMAP connection with our own command tags.
struct ImapClient {
    client: Client<Bounded<MailStream>>,
    commands_sent: u32,
}

impl ImapClient {
    fn new(stream: MailStream) -> ImapClient {
        ImapClient {
            client: Client::new(Bounded::for_imap(stream)),
            commands_sent: 0,
        }
    }

    /// Sends `command` under a fresh tag and returns the tag. `command` may be secret: it is never logged.
    async fn send(&mut self, command: &str, stage: Stage) -> Result<String, CheckFailure> {
        self.commands_sent += 1;
        let tag = format!("mc{}", self.commands_sent);
        let line = format!("{tag} {command}\r\n");
        self.write_raw(line.as_bytes(), stage).await?;
        Ok(tag)
    }

    async fn write_raw(&mut self, bytes: &[u8], stage: Stage) -> Result<(), CheckFailure> {
        net::send(self.client.get_mut().get_mut(), bytes, stage).await
    }
}

/// imap-proto's status, copyable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImapStatus {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl From<&Status> for ImapStatus {
    fn from(status: &Status) -> ImapStatus {
        match status {
            Status::Ok => ImapStatus::Ok,
            Status::No => ImapStatus::No,
            Status::Bad => ImapStatus::Bad,
            Status::PreAuth => ImapStatus::PreAuth,
            Status::Bye => ImapStatus::Bye,
        }
    }
}

/// One server response, reduced to what the check needs.
enum Reply {
    Continue(String),
    Tagged {
        tag: String,
        status: ImapStatus,
        text: String,
    },
    Untagged {
        text: String,
        capabilities: Option<Vec<String>>,
        bye: bool,
        /// The status word of a status response (`* OK`, `* PREAUTH`, `* NO` ...), if it was one.
        status: Option<ImapStatus>,
    },
}

/// Runs the check; `Ok` holds the server's reply to the sign-in.
pub(super) async fn run(
    server: &ServerSettings,
    credentials: &MailCredentials,
    context: &CheckContext,
) -> Result<String, CheckFailure> {
    let progress = |stage| (context.progress)(Protocol::Imap, stage);
    let reply_limit = context.timeouts.reply;
    let stream = net::connect(Protocol::Imap, server, context).await?;
    progress(Stage::Greeting);
    let mut client = ImapClient::new(stream);
    let mut capabilities = within(Stage::Greeting, reply_limit, read_greeting(&mut client)).await?;

    if server.security == Security::StartTls {
        progress(Stage::Capabilities);
        let offered = known_or_queried(&mut client, capabilities.take(), reply_limit).await?;
        if !offered
            .iter()
            .any(|capability| capability.eq_ignore_ascii_case("STARTTLS"))
        {
            return Err(failure(
                Stage::Tls,
                FailureKind::Unsupported,
                "the server does not offer STARTTLS on this port",
            ));
        }
        within(
            Stage::Tls,
            reply_limit,
            run_simple(&mut client, "STARTTLS", Stage::Tls),
        )
        .await?;
        let MailStream::Plain(tcp) = client.client.into_inner().into_inner() else {
            return Err(failure(
                Stage::Tls,
                FailureKind::Protocol,
                "the connection was already secured",
            ));
        };
        client = ImapClient::new(net::start_tls(Protocol::Imap, tcp, &server.host, context).await?);
    }

    progress(Stage::Capabilities);
    let capabilities = known_or_queried(&mut client, capabilities, reply_limit).await?;
    if !capabilities
        .iter()
        .any(|capability| capability.eq_ignore_ascii_case("AUTH=XOAUTH2"))
    {
        return Err(failure(
            Stage::Capabilities,
            FailureKind::Unsupported,
            format!(
                "the server does not offer OAuth sign-in (AUTH=XOAUTH2); it offers: {}",
                capabilities.join(" ")
            ),
        ));
    }
    let sasl_ir = capabilities
        .iter()
        .any(|capability| capability.eq_ignore_ascii_case("SASL-IR"));

    progress(Stage::Authenticating);
    let auth_reply = within(
        Stage::Authenticating,
        reply_limit,
        authenticate(&mut client, credentials, sasl_ir),
    )
    .await?;

    progress(Stage::Mailbox);
    within(
        Stage::Mailbox,
        reply_limit,
        run_simple(&mut client, "EXAMINE INBOX", Stage::Mailbox),
    )
    .await?;

    // The verdict is known; say goodbye without waiting for the server's BYE.
    let _ = client.send("LOGOUT", Stage::Mailbox).await;
    let _ = client.client.get_mut().shutdown().await;
    Ok(auth_reply)
}

async fn next_reply(client: &mut ImapClient, stage: Stage) -> Result<Reply, CheckFailure> {
    let response = client
        .client
        .read_response()
        .await
        .map_err(|error| io_failure(stage, &error))?
        .ok_or_else(|| {
            failure(
                stage,
                FailureKind::Closed,
                "the server closed the connection",
            )
        })?;
    Ok(match response.parsed() {
        Response::Continue(outcome) => Reply::Continue(
            outcome
                .information
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
        ),
        Response::Done {
            tag,
            status,
            outcome,
        } => Reply::Tagged {
            tag: tag.0.clone(),
            status: ImapStatus::from(status),
            text: render(
                Some(ImapStatus::from(status)),
                outcome.code.as_ref(),
                outcome.information.as_deref(),
            ),
        },
        Response::Data { status, outcome } => Reply::Untagged {
            text: render(
                Some(ImapStatus::from(status)),
                outcome.code.as_ref(),
                outcome.information.as_deref(),
            ),
            capabilities: match &outcome.code {
                Some(ResponseCode::Capabilities(list)) => {
                    Some(list.iter().map(capability_name).collect())
                }
                _ => None,
            },
            bye: ImapStatus::from(status) == ImapStatus::Bye,
            status: Some(ImapStatus::from(status)),
        },
        Response::Capabilities(list) => Reply::Untagged {
            text: String::new(),
            capabilities: Some(list.iter().map(capability_name).collect()),
            bye: false,
            status: None,
        },
        Response::MailboxData(MailboxDatum::Exists(count)) => Reply::Untagged {
            text: format!("{count} EXISTS"),
            capabilities: None,
            bye: false,
            status: None,
        },
        _ => Reply::Untagged {
            text: String::new(),
            capabilities: None,
            bye: false,
            status: None,
        },
    })
}

/// The greeting must be `* OK` or `* PREAUTH` (RFC 9051 7.1); `* BYE`, `* NO`, anything else is refused with the
/// server's words. Dovecot and others include their capabilities in it, saving a round trip.
async fn read_greeting(client: &mut ImapClient) -> Result<Option<Vec<String>>, CheckFailure> {
    match next_reply(client, Stage::Greeting).await? {
        Reply::Untagged {
            status: Some(ImapStatus::Ok | ImapStatus::PreAuth),
            capabilities,
            ..
        } => Ok(capabilities),
        Reply::Untagged { text, .. } | Reply::Tagged { text, .. } | Reply::Continue(text) => {
            Err(CheckFailure {
                server_reply: Some(net::excerpt(&text, net::MAX_SERVER_TEXT)),
                ..failure(
                    Stage::Greeting,
                    FailureKind::Closed,
                    "the server did not greet with * OK or * PREAUTH",
                )
            })
        }
    }
}

/// The capabilities the greeting already listed, or else those a `CAPABILITY` command returns.
async fn known_or_queried(
    client: &mut ImapClient,
    known: Option<Vec<String>>,
    limit: std::time::Duration,
) -> Result<Vec<String>, CheckFailure> {
    match known {
        Some(capabilities) => Ok(capabilities),
        None => within(Stage::Capabilities, limit, query_capabilities(client)).await,
    }
}

async fn query_capabilities(client: &mut ImapClient) -> Result<Vec<String>, CheckFailure> {
    let tag = client.send("CAPABILITY", Stage::Capabilities).await?;
    let mut found = Vec::new();
    loop {
        match next_reply(client, Stage::Capabilities).await? {
            Reply::Untagged {
                capabilities: Some(list),
                ..
            } => found = list,
            Reply::Tagged {
                tag: done,
                status: ImapStatus::Ok,
                ..
            } if done == tag => return Ok(found),
            Reply::Tagged {
                tag: done, text, ..
            } if done == tag => return Err(rejected(Stage::Capabilities, text)),
            _ => {}
        }
    }
}

/// Runs a command without secrets and waits for its tagged OK.
async fn run_simple(
    client: &mut ImapClient,
    command: &str,
    stage: Stage,
) -> Result<String, CheckFailure> {
    let tag = client.send(command, stage).await?;
    loop {
        match next_reply(client, stage).await? {
            Reply::Tagged {
                tag: done,
                status: ImapStatus::Ok,
                text,
            } if done == tag => return Ok(text),
            Reply::Tagged {
                tag: done, text, ..
            } if done == tag => return Err(rejected(stage, text)),
            Reply::Untagged {
                bye: true, text, ..
            } => return Err(rejected(stage, text)),
            _ => {}
        }
    }
}

/// `AUTHENTICATE XOAUTH2`: the initial response goes with the command when the server allows SASL-IR; an error
/// continuation is answered with an empty line so the server's final reply can be reported.
async fn authenticate(
    client: &mut ImapClient,
    credentials: &MailCredentials,
    sasl_ir: bool,
) -> Result<String, CheckFailure> {
    let stage = Stage::Authenticating;
    let initial = xoauth2::initial_response(&credentials.imap_user, &credentials.access_token);
    let auth_tag = if sasl_ir {
        client
            .send(
                &format!("AUTHENTICATE XOAUTH2 {}", initial.expose_secret()),
                stage,
            )
            .await?
    } else {
        client.send("AUTHENTICATE XOAUTH2", stage).await?
    };
    let mut initial_sent = sasl_ir;
    let mut oauth_error = None;
    loop {
        match next_reply(client, stage).await? {
            Reply::Continue(_) if !initial_sent => {
                initial_sent = true;
                let line = format!("{}\r\n", initial.expose_secret());
                client.write_raw(line.as_bytes(), stage).await?;
            }
            Reply::Continue(challenge_text) => {
                oauth_error = Some(xoauth2::decode_error_challenge(&challenge_text));
                client.write_raw(b"\r\n", stage).await?;
            }
            Reply::Tagged {
                tag,
                status: ImapStatus::Ok,
                text,
            } if tag == auth_tag => return Ok(text),
            Reply::Tagged { tag, text, .. } if tag == auth_tag => {
                return Err(CheckFailure {
                    oauth_error,
                    ..rejected(stage, text)
                });
            }
            Reply::Untagged {
                bye: true, text, ..
            } => return Err(rejected(stage, text)),
            _ => {}
        }
    }
}

/// A refusal by the server: `NO`, `BAD` or `BYE`, with the advice that fits its words.
fn rejected(stage: Stage, reply: String) -> CheckFailure {
    let temporary = reply.to_ascii_uppercase().contains("[UNAVAILABLE]");
    server_refusal(stage, reply, temporary)
}

fn capability_name(capability: &Capability<'_>) -> String {
    match capability {
        Capability::Imap4rev1 => "IMAP4rev1".to_owned(),
        Capability::Auth(mechanism) => format!("AUTH={mechanism}"),
        Capability::Atom(atom) => atom.to_string(),
    }
}

/// Puts a response back into the words the server used: `NO [UNAVAILABLE] Temporary authentication failure.`
fn render(
    status: Option<ImapStatus>,
    code: Option<&ResponseCode<'_>>,
    information: Option<&str>,
) -> String {
    let mut text = String::new();
    if let Some(status) = status {
        text.push_str(match status {
            ImapStatus::Ok => "OK",
            ImapStatus::No => "NO",
            ImapStatus::Bad => "BAD",
            ImapStatus::PreAuth => "PREAUTH",
            ImapStatus::Bye => "BYE",
        });
    }
    let code = match code {
        Some(ResponseCode::Alert) => Some("[ALERT]".to_owned()),
        Some(ResponseCode::ReadOnly) => Some("[READ-ONLY]".to_owned()),
        Some(ResponseCode::ReadWrite) => Some("[READ-WRITE]".to_owned()),
        Some(ResponseCode::Parse) => Some("[PARSE]".to_owned()),
        Some(ResponseCode::TryCreate) => Some("[TRYCREATE]".to_owned()),
        Some(ResponseCode::Capabilities(list)) => Some(format!(
            "[CAPABILITY {}]",
            list.iter()
                .map(capability_name)
                .collect::<Vec<_>>()
                .join(" ")
        )),
        _ => None,
    };
    for part in [code.as_deref(), information] {
        if let Some(part) = part.filter(|part| !part.is_empty()) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(part);
        }
    }
    // The server's words reach the window, the report and the terminal: no escape sequences, a readable length.
    net::excerpt(&text, net::MAX_SERVER_TEXT)
}
