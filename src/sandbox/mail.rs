//! The sandbox's IMAP and SMTP responders: just enough of each protocol for the checks, speaking Exchange's words.

use std::sync::Arc;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Fault, Shared};

/// Dovecot's and Gmail's error continuation; Exchange fails at once, Dovecot-style servers send this first.
const ERROR_CONTINUATION_JSON: &str = r#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
const LONGEST_LINE: usize = 64 * 1024;

/// Accepts connections until the sandbox is dropped; dropping the `JoinSet` ends every open session too.
async fn serve<F, Fut>(listener: TcpListener, shared: Arc<Shared>, session: F)
where
    F: Fn(TcpStream, Arc<Shared>) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let mut sessions = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let hang = shared
            .has_fault(|fault| *fault == Fault::MailHang)
            .is_some();
        if hang {
            // Accept, then say nothing, as a stuck server or a black-holing firewall does.
            sessions.spawn(async move {
                let _held = stream;
                std::future::pending::<()>().await;
            });
        } else {
            let session = session(stream, shared.clone());
            sessions.spawn(async move {
                if let Err(error) = session.await {
                    tracing::debug!(%error, "sandbox mail session ended");
                }
            });
        }
        while sessions.try_join_next().is_some() {}
    }
}

pub(super) async fn serve_imap(listener: TcpListener, shared: Arc<Shared>) {
    serve(listener, shared, imap_session).await;
}

pub(super) async fn serve_smtp(listener: TcpListener, shared: Arc<Shared>) {
    serve(listener, shared, smtp_session).await;
}

/// `user=<user>\x01auth=Bearer <token>\x01\x01`, base64-decoded and split.
fn parse_xoauth2(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let mut user = None;
    let mut token = None;
    for field in text.split('\x01') {
        if let Some(value) = field.strip_prefix("user=") {
            user = Some(value.to_owned());
        } else if let Some(value) = field.strip_prefix("auth=Bearer ") {
            token = Some(value.to_owned());
        }
    }
    Some((user?, token?))
}

/// Who is signed in on SMTP when the XOAUTH2 response is accepted: the token's own user, or the mailbox an app
/// may send as.
fn smtp_signed_in_as(shared: &Shared, encoded: &str) -> Option<String> {
    let (user, owner) = token_owner(shared, encoded)?;
    if owner.eq_ignore_ascii_case(&user) {
        Some(owner)
    } else if owner.starts_with("app:") && shared.app_may_send(&owner, &user) {
        Some(user)
    } else {
        None
    }
}

/// The `user=` of an XOAUTH2 string and whose live token it carries.
fn token_owner(shared: &Shared, encoded: &str) -> Option<(String, String)> {
    let (user, token) = parse_xoauth2(encoded)?;
    let owner = shared.access_token_user(&token)?;
    Some((user, owner))
}

/// The address in `MAIL FROM:<address>`.
fn envelope_sender(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}

async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let read = (&mut *reader)
        .take(LONGEST_LINE as u64)
        .read_line(&mut line)
        .await?;
    Ok((read > 0).then(|| line.trim_end_matches(['\r', '\n']).to_owned()))
}

async fn imap_session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    writer
        .write_all(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID] mailconnect sandbox IMAP ready.\r\n")
        .await?;
    let mut authenticated = false;
    let mut connected = false;
    while let Some(line) = read_line(&mut reader).await? {
        let mut words = line.splitn(3, ' ');
        let tag = words.next().unwrap_or("*").to_owned();
        let command = words.next().unwrap_or_default().to_ascii_uppercase();
        let arguments = words.next().unwrap_or_default().to_owned();
        let reply = match command.as_str() {
            "CAPABILITY" => format!(
                "* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 ID\r\n{tag} OK CAPABILITY completed.\r\n"
            ),
            "AUTHENTICATE" => {
                let mut parts = arguments.splitn(2, ' ');
                if !parts
                    .next()
                    .unwrap_or_default()
                    .eq_ignore_ascii_case("XOAUTH2")
                {
                    format!("{tag} NO The specified authentication mechanism is not supported.\r\n")
                } else {
                    let initial = match parts.next() {
                        Some(initial) => initial.to_owned(),
                        None => {
                            writer.write_all(b"+ \r\n").await?;
                            read_line(&mut reader).await?.unwrap_or_default()
                        }
                    };
                    if let Some(Fault::ImapAuthReply(text)) =
                        shared.has_fault(|fault| matches!(fault, Fault::ImapAuthReply(_)))
                    {
                        format!("{tag} {text}\r\n")
                    } else if let Some((user, owner)) = token_owner(&shared, &initial)
                        && shared.app_registered_in_exchange(&owner)
                        && shared.app_has_role(&owner, "IMAP.AccessAsApp")
                    {
                        // Exchange accepts any live token here and refuses the mailbox later when the token's
                        // owner has no Full Access to `user`.
                        authenticated = true;
                        connected = shared.may_open(&owner, &user);
                        format!("{tag} OK AUTHENTICATE completed.\r\n")
                    } else {
                        let challenge = base64::engine::general_purpose::STANDARD
                            .encode(ERROR_CONTINUATION_JSON);
                        writer
                            .write_all(format!("+ {challenge}\r\n").as_bytes())
                            .await?;
                        read_line(&mut reader).await?;
                        format!("{tag} NO AUTHENTICATE failed.\r\n")
                    }
                }
            }
            "EXAMINE" | "SELECT" if !authenticated => {
                format!("{tag} BAD Command received in Invalid state.\r\n")
            }
            "EXAMINE" | "SELECT" if !connected => {
                format!("{tag} BAD User is authenticated but not connected.\r\n")
            }
            "EXAMINE" | "SELECT" => format!(
                "* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n{tag} OK [{}] {command} completed.\r\n",
                if command == "EXAMINE" {
                    "READ-ONLY"
                } else {
                    "READ-WRITE"
                }
            ),
            "NOOP" | "ID" => format!("{tag} OK {command} completed.\r\n"),
            "LOGOUT" => {
                writer.write_all(format!("* BYE mailconnect sandbox signing off.\r\n{tag} OK LOGOUT completed.\r\n").as_bytes()).await?;
                return Ok(());
            }
            _ => format!("{tag} BAD Command Error. 10\r\n"),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

async fn smtp_session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    writer.write_all(b"220 sandbox.mailconnect.invalid Microsoft ESMTP MAIL Service ready (mailconnect sandbox)\r\n").await?;
    let mut authenticated = false;
    let mut signed_in_as = String::new();
    let mut has_sender = false;
    let mut recipients = 0;
    while let Some(line) = read_line(&mut reader).await? {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default().to_owned();
        let reply = match verb.as_str() {
            "EHLO" => "250-sandbox.mailconnect.invalid Hello\r\n250-SIZE 37748736\r\n250-8BITMIME\r\n250-AUTH XOAUTH2\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n".to_owned(),
            "HELO" => "250 sandbox.mailconnect.invalid Hello\r\n".to_owned(),
            "AUTH" => {
                let mut parts = line.splitn(3, ' ').skip(1);
                if !parts.next().unwrap_or_default().eq_ignore_ascii_case("XOAUTH2") {
                    "504 5.7.4 Unrecognized authentication type\r\n".to_owned()
                } else {
                    let initial = match parts.next() {
                        Some(initial) => initial.to_owned(),
                        None => {
                            writer.write_all(b"334 \r\n").await?;
                            read_line(&mut reader).await?.unwrap_or_default()
                        }
                    };
                    if let Some(Fault::SmtpAuthReply(text)) = shared.has_fault(|fault| matches!(fault, Fault::SmtpAuthReply(_))) {
                        format!("{text}\r\n")
                    } else if let Some(who) = smtp_signed_in_as(&shared, &initial) {
                        authenticated = true;
                        signed_in_as = who;
                        "235 2.7.0 Authentication successful\r\n".to_owned()
                    } else {
                        let challenge = base64::engine::general_purpose::STANDARD.encode(ERROR_CONTINUATION_JSON);
                        writer.write_all(format!("334 {challenge}\r\n").as_bytes()).await?;
                        read_line(&mut reader).await?;
                        "535 5.7.3 Authentication unsuccessful [sandbox.mailconnect.invalid]\r\n".to_owned()
                    }
                }
            }
            "MAIL" if !authenticated => "530 5.7.57 Client not authenticated to send mail. [sandbox.mailconnect.invalid]\r\n".to_owned(),
            "MAIL" if let Some(Fault::SmtpMailFromReply(text)) = shared.has_fault(|fault| matches!(fault, Fault::SmtpMailFromReply(_))) => format!("{text}\r\n"),
            "MAIL" if !shared.may_send_as(&signed_in_as, &envelope_sender(&line)) => {
                "550 5.7.60 SMTP; Client does not have permissions to send as this sender\r\n".to_owned()
            }
            "MAIL" => {
                has_sender = true;
                recipients = 0;
                shared.state().stats.mail_from.push(line.clone());
                "250 2.1.0 Sender OK\r\n".to_owned()
            }
            "RCPT" if !has_sender => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "RCPT" if let Some(Fault::SmtpRcptReply { reply, .. }) = shared.has_fault(|fault| matches!(fault, Fault::SmtpRcptReply { recipient, .. } if upper.contains(&format!("<{}>", recipient.to_ascii_uppercase())))) => format!("{reply}\r\n"),
            "RCPT" => {
                recipients += 1;
                "250 2.1.5 Recipient OK\r\n".to_owned()
            }
            "DATA" if recipients == 0 => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "DATA" => {
                writer.write_all(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n").await?;
                let mut subject = String::new();
                while let Some(data_line) = read_line(&mut reader).await? {
                    if data_line == "." {
                        break;
                    }
                    if subject.is_empty() && let Some(text) = data_line.strip_prefix("Subject: ") {
                        subject = text.to_owned();
                    }
                }
                let mut state = shared.state();
                state.stats.messages_received += 1;
                state.stats.subjects.push(subject);
                drop(state);
                has_sender = false;
                "250 2.6.0 Queued mail for delivery\r\n".to_owned()
            }
            "RSET" => {
                has_sender = false;
                "250 2.0.0 Resetting\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Service closing transmission channel\r\n").await?;
                return Ok(());
            }
            _ => "500 5.3.3 Unrecognized command\r\n".to_owned(),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_xoauth2;

    #[test]
    fn parses_the_xoauth2_initial_response() {
        let encoded = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "user=a@b.c\x01auth=Bearer tok\x01\x01",
        );
        assert_eq!(
            parse_xoauth2(&encoded),
            Some(("a@b.c".to_owned(), "tok".to_owned()))
        );
        assert_eq!(parse_xoauth2("!!"), None);
    }
}
