//! The bridge's SMTP submission listener. Devices sign in with their own user name and password (AUTH PLAIN or
//! LOGIN, only over TLS except on this computer or for a device allowed plain sign-in on the local network), may
//! send only as their mailbox, and a message is answered 250 only once it is in the queue on disk. Never an open
//! relay: no sign-in, no mail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::BridgeOptions;
use super::devices::{Device, Devices, shown_quoted};
use super::places::{Place, Places};
use super::signin::{Attempt, Gate, MAX_FAILURES, authenticate, failure_key};
use super::spool::{MAX_MESSAGE_BYTES, ReceiveError, Spool};
use super::wire::{
    DiskReserve, Patience, Stream, command_text, free_bytes, path_argument, read_command, reply,
    size_parameter,
};

/// Recipients a message may have.
const MAX_RECIPIENTS: usize = 500;
/// Commands the bridge does not understand before it lets the client go.
const MAX_NOT_UNDERSTOOD: usize = 20;
/// How long a TLS handshake may take.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);

/// What every connection shares.
pub struct Shared {
    options: BridgeOptions,
    spool: Spool,
    tls: Arc<rustls::ServerConfig>,
    /// Signing in: failures so far, turns at hashing, the decoy.
    gate: Gate,
    /// Woken whenever a message is queued.
    queued: Arc<tokio::sync::Notify>,
    /// Places for connections.
    places: Arc<Places>,
    /// The queue's disk space that messages now arriving will take.
    disk: DiskReserve,
}

impl Shared {
    pub fn new(options: BridgeOptions, spool: Spool, tls: Arc<rustls::ServerConfig>) -> Shared {
        Shared {
            options,
            spool,
            tls,
            gate: Gate::new(),
            queued: Arc::new(tokio::sync::Notify::new()),
            places: Arc::new(Places::new()),
            disk: DiskReserve::default(),
        }
    }

    /// What the relay waits on.
    pub fn delivered_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.queued.clone()
    }
}

/// Accepts connections until the task is stopped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, implicit_tls: bool) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Some((place, let_go)) = shared.places.admit(peer.ip()).await else {
                let mut tcp = tcp;
                let _ = reply(
                    &mut tcp,
                    "421 4.7.0 Too many connections; try again in a minute",
                )
                .await;
                return;
            };
            tokio::select! {
                ended = connection(tcp, peer, shared.clone(), implicit_tls, &place) => {
                    if let Err(error) = ended {
                        tracing::debug!(%peer, %error, "device connection ended");
                    }
                }
                // Only a place given up counts: a signed-in connection's sender is dropped, which is no call to go.
                Ok(()) = let_go => {
                    tracing::info!(%peer, "a connection that had not signed in made room for another");
                }
            }
            drop(place);
        });
    }
}

/// Where a conversation stands.
#[derive(Default)]
struct Conversation {
    device: Option<Device>,
    sender: bool,
    recipients: Vec<String>,
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    implicit_tls: bool,
    place: &Place,
) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let host = shared.options.host_name.clone();
    if !shared.options.is_allowed(peer.ip()) {
        tracing::info!(%peer, "a connection from an address not on the allow-list was refused");
        let mut tcp = tcp;
        reply(
            &mut tcp,
            "554 5.7.1 This address may not use the mailconnect bridge",
        )
        .await?;
        return Ok(());
    }
    // The time to sign in counts from here, the TLS handshake included.
    let mut patience = Patience::new(shared.options.limits.sign_in_within);
    let acceptor = tokio_rustls::TlsAcceptor::from(shared.tls.clone());
    let mut stream = if implicit_tls {
        let tls = tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        BufReader::new(Stream::Tls(Box::new(tls)))
    } else {
        BufReader::new(Stream::Plain(tcp))
    };
    let loopback = peer.ip().is_loopback();
    reply(&mut stream, &format!("220 {host} mailconnect bridge ready")).await?;
    let mut conversation = Conversation::default();
    // EHLO or HELO comes first (RFC 5321); a client that only sends what the bridge does not understand is let go.
    let mut greeted = false;
    let mut not_understood = 0;
    loop {
        let tls_active = matches!(stream.get_ref(), Stream::Tls(_));
        let Some(line) = read_command(&mut stream, &patience).await? else {
            return Ok(());
        };
        let Some(line) = command_text(line) else {
            reply(
                &mut stream,
                "500 5.5.2 Commands are plain text, without NUL or a lone CR",
            )
            .await?;
            continue;
        };
        let (verb, argument) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        // Signing in needs TLS except on this computer, or for a device allowed plain sign-in on the network.
        let secure = tls_active || loopback;
        if !greeted
            && matches!(
                verb.as_str(),
                "AUTH" | "MAIL" | "RCPT" | "DATA" | "STARTTLS"
            )
        {
            reply(&mut stream, "503 5.5.1 Say EHLO first").await?;
            continue;
        }
        match verb.as_str() {
            "EHLO" => {
                greeted = true;
                let mut lines = vec![format!("250-{host} Hello")];
                lines.push(format!("250-SIZE {MAX_MESSAGE_BYTES}"));
                lines.push("250-8BITMIME".to_owned());
                // Addresses in other scripts are handed on with SMTPUTF8.
                lines.push("250-SMTPUTF8".to_owned());
                lines.push("250-ENHANCEDSTATUSCODES".to_owned());
                if !tls_active {
                    lines.push("250-STARTTLS".to_owned());
                }
                if secure || any_plain_device(&shared) {
                    lines.push("250-AUTH PLAIN LOGIN".to_owned());
                    // The old form some Outlook versions and scanner firmware look for.
                    lines.push("250-AUTH=PLAIN LOGIN".to_owned());
                }
                lines.push("250 HELP".to_owned());
                reply(&mut stream, &lines.join("\r\n")).await?;
            }
            "HELO" => {
                greeted = true;
                reply(&mut stream, &format!("250 {host}")).await?
            }
            "STARTTLS" if tls_active => {
                reply(&mut stream, "503 5.5.1 TLS is already on").await?;
            }
            "STARTTLS" => {
                reply(&mut stream, "220 2.0.0 Ready to start TLS").await?;
                // Anything sent before the handshake is dropped: it could be injected (CVE-2011-0411 class).
                let Stream::Plain(tcp) = stream.into_inner() else {
                    unreachable!("checked above")
                };
                let tls = tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp))
                    .await
                    .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
                stream = BufReader::new(Stream::Tls(Box::new(tls)));
                conversation = Conversation::default();
            }
            "AUTH" if conversation.device.is_some() => {
                reply(&mut stream, "503 5.5.1 Already signed in").await?;
            }
            "AUTH" => {
                // The devices file is read once for this sign-in: whether it is offered here, whether the name
                // may sign in without TLS, and its hash.
                let devices = read_devices(&shared);
                if !secure && !devices.devices.iter().any(|device| device.plain_on_lan) {
                    reply(&mut stream, "538 5.7.11 Use STARTTLS before signing in").await?;
                    continue;
                }
                // Without TLS from the network only a device allowed plain sign-in may go on, and that is decided
                // from the user name before any password is asked for or checked.
                let plain_allowed = |user: &str| {
                    secure
                        || devices
                            .by_user_name(user)
                            .is_some_and(|device| device.plain_on_lan)
                };
                match authenticate(&mut stream, argument, &plain_allowed, &patience).await? {
                    Attempt::Gone => return Ok(()),
                    Attempt::UnknownMechanism => {
                        reply(&mut stream, "504 5.5.4 Use AUTH PLAIN or AUTH LOGIN").await?
                    }
                    Attempt::Malformed => {
                        reply(
                            &mut stream,
                            "501 5.5.2 The sign-in could not be read (base64 was expected)",
                        )
                        .await?
                    }
                    Attempt::Cancelled => reply(&mut stream, "501 5.7.0 Sign-in cancelled").await?,
                    Attempt::NeedsTls => {
                        reply(
                            &mut stream,
                            "538 5.7.11 This device must use STARTTLS before signing in",
                        )
                        .await?;
                    }
                    Attempt::Credentials(user, password) => {
                        // Held back per address on the network; on this computer per user name, so one program
                        // with a wrong password does not lock out every device on it.
                        let key = failure_key(peer.ip(), &user, &devices);
                        if shared.gate.recent_failures(&key) >= MAX_FAILURES {
                            reply(
                                &mut stream,
                                "454 4.7.0 Too many failed sign-ins; wait 10 minutes",
                            )
                            .await?;
                            return Ok(());
                        }
                        let device = shared.gate.check(&devices, &user, password).await;
                        match device {
                            Some(device) => {
                                tracing::info!(device = %device.user_name, %peer, "a device signed in");
                                conversation.device = Some(device);
                                patience.signed_in();
                                place.signed_in();
                                reply(&mut stream, "235 2.7.0 Signed in").await?;
                            }
                            None => {
                                let count = shared.gate.record_failure(&key);
                                tracing::warn!(%peer, user = %shown_quoted(&user), failures = count, "a device's sign-in was refused");
                                // Slower with every failure: a guesser gets a handful of tries a minute.
                                tokio::time::sleep(Duration::from_secs(count.min(5) as u64)).await;
                                reply(&mut stream, "535 5.7.8 The user name or password is wrong")
                                    .await?;
                            }
                        }
                    }
                }
            }
            "MAIL" => {
                let Some(device) = &conversation.device else {
                    reply(&mut stream, "530 5.7.0 Sign in first").await?;
                    continue;
                };
                let Some(address) = path_argument(argument, "FROM:") else {
                    reply(&mut stream, "501 5.5.4 Use MAIL FROM:<address>").await?;
                    continue;
                };
                if let Some(size) = size_parameter(argument)
                    && size > MAX_MESSAGE_BYTES
                {
                    reply(&mut stream, "552 5.3.4 The message is larger than 35 MB").await?;
                    continue;
                }
                if !address.eq_ignore_ascii_case(&device.mailbox) {
                    reply(
                        &mut stream,
                        &format!("550 5.7.1 This device may send only as {}", device.mailbox),
                    )
                    .await?;
                    continue;
                }
                conversation.sender = true;
                conversation.recipients.clear();
                reply(&mut stream, "250 2.1.0 Sender OK").await?;
            }
            "RCPT" => {
                if !conversation.sender {
                    reply(&mut stream, "503 5.5.1 MAIL FROM first").await?;
                    continue;
                }
                let Some(address) = path_argument(argument, "TO:") else {
                    reply(&mut stream, "501 5.5.4 Use RCPT TO:<address>").await?;
                    continue;
                };
                if address.parse::<lettre::Address>().is_err() {
                    reply(&mut stream, "553 5.1.3 That is not an e-mail address").await?;
                    continue;
                }
                if conversation.recipients.len() >= MAX_RECIPIENTS {
                    reply(&mut stream, "452 4.5.3 Too many recipients").await?;
                    continue;
                }
                // Named twice, sent once.
                if !conversation
                    .recipients
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(&address))
                {
                    conversation.recipients.push(address);
                }
                reply(&mut stream, "250 2.1.5 Recipient OK").await?;
            }
            "DATA" => {
                let Some(device) = conversation.device.clone() else {
                    reply(&mut stream, "530 5.7.0 Sign in first").await?;
                    continue;
                };
                if conversation.recipients.is_empty() {
                    reply(&mut stream, "503 5.5.1 RCPT TO first").await?;
                    continue;
                }
                // Held until the message is written: messages arriving at once share the reserve.
                let Some(_room) = shared.disk.take(free_bytes(shared.spool.folder())) else {
                    reply(
                        &mut stream,
                        "452 4.3.1 The queue's disk is nearly full; try again later",
                    )
                    .await?;
                    continue;
                };
                reply(
                    &mut stream,
                    "354 Send the message; end with a line holding only a dot",
                )
                .await?;
                let received = shared
                    .spool
                    .receive(
                        &mut stream,
                        &device.user_name,
                        &device.mailbox,
                        &conversation.recipients,
                    )
                    .await;
                conversation.sender = false;
                conversation.recipients.clear();
                match received {
                    Ok(envelope) => {
                        shared.queued.notify_one();
                        tracing::info!(device = %device.user_name, id = %envelope.id, size = envelope.size, "a message was queued");
                        reply(&mut stream, &format!("250 2.0.0 Queued as {}", envelope.id)).await?;
                    }
                    Err(ReceiveError::TooBig) => {
                        reply(&mut stream, "552 5.3.4 The message is larger than 35 MB").await?
                    }
                    Err(ReceiveError::LineTooLong) => {
                        reply(&mut stream, "500 5.5.2 A line of the message is too long").await?;
                        return Ok(());
                    }
                    Err(ReceiveError::Cut) => return Ok(()),
                    Err(ReceiveError::Disk(error)) => {
                        tracing::error!(%error, "the queue cannot be written");
                        reply(
                            &mut stream,
                            "451 4.3.0 The message could not be queued; try again later",
                        )
                        .await?;
                    }
                }
            }
            "RSET" => {
                conversation.sender = false;
                conversation.recipients.clear();
                reply(&mut stream, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut stream, "250 2.0.0 OK").await?,
            "HELP" => reply(
                &mut stream,
                "214 2.0.0 EHLO, STARTTLS, AUTH PLAIN or LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT",
            )
            .await?,
            "QUIT" => {
                reply(&mut stream, "221 2.0.0 Goodbye").await?;
                let _ = stream.get_mut().shutdown().await;
                return Ok(());
            }
            _ => {
                not_understood += 1;
                if not_understood > MAX_NOT_UNDERSTOOD {
                    reply(
                        &mut stream,
                        "421 4.7.0 Too many commands not understood; closing",
                    )
                    .await?;
                    return Ok(());
                }
                reply(&mut stream, "502 5.5.2 Command not understood").await?
            }
        }
    }
}

/// The devices as the file says now (a device added while the bridge runs signs in at once); none when it cannot
/// be read, which is logged.
fn read_devices(shared: &Shared) -> Devices {
    Devices::load(&shared.options.devices_file).unwrap_or_else(|error| {
        tracing::warn!(%error, "the devices file cannot be read");
        Devices::default()
    })
}

fn any_plain_device(shared: &Shared) -> bool {
    read_devices(shared)
        .devices
        .iter()
        .any(|device| device.plain_on_lan)
}
