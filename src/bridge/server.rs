//! The bridge's SMTP submission listener. Devices sign in with their own user name and password (AUTH PLAIN or
//! LOGIN, only over TLS except on this computer or for a device allowed plain sign-in on the local network), may
//! send only as their mailbox, and a message is answered 250 only once it is in the queue on disk. Never an open
//! relay: no sign-in, no mail.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::BridgeOptions;
use super::devices::{Device, Devices, password_matches};
use super::spool::{MAX_MESSAGE_BYTES, ReceiveError, Spool};
use super::wire::{Stream, enough_space, path_argument, size_parameter};

/// RFC 5321 allows 512 octets a command line; AUTH lines carry base64, so a little more is accepted.
const MAX_COMMAND_LINE: u64 = 2048;
/// How long a device may stay silent between commands.
const IDLE_LIMIT: Duration = Duration::from_secs(5 * 60);
/// Recipients a message may have.
const MAX_RECIPIENTS: usize = 500;
/// Commands the bridge does not understand before it lets the client go.
const MAX_NOT_UNDERSTOOD: usize = 20;
/// Failed sign-ins from one address within [`FAILURE_WINDOW`] before it must wait.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses whose failures are remembered at most (more: the oldest are forgotten).
const MAX_REMEMBERED_ADDRESSES: usize = 4096;
/// Connections at once, in all and from one network address (this computer: only the total): a flood cannot use
/// up the computer's file handles.
const MAX_CONNECTIONS: usize = 64;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 8;
/// How long a TLS handshake, and writing one reply, may take.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);
const WRITE_LIMIT: Duration = Duration::from_secs(60);
/// Password hashes checked at once: each Argon2id check takes about 19 MiB.
const HASHES_AT_ONCE: usize = 2;

/// What failed sign-ins are counted by: the address on the network; on this computer, the user name (programs on
/// it share one address).
fn failure_key(address: IpAddr, user: &str) -> String {
    if address.is_loopback() {
        format!("this computer, {}", user.to_ascii_lowercase())
    } else {
        address.to_string()
    }
}

/// Failed sign-ins by client address, for the delay and the limit; bounded in the addresses it remembers.
#[derive(Default)]
struct FailureLog {
    by_address: HashMap<String, Vec<Instant>>,
}

impl FailureLog {
    /// Failures from `address` within the window before `now`.
    fn recent(&mut self, address: &str, now: Instant) -> usize {
        let Some(list) = self.by_address.get_mut(address) else {
            return 0;
        };
        list.retain(|at| now.duration_since(*at) < FAILURE_WINDOW);
        let count = list.len();
        if count == 0 {
            self.by_address.remove(address);
        }
        count
    }

    /// Counts a failed sign-in; returns how many `address` has in the window. Parallel guesses are bounded by the
    /// connections an address may hold and by the hashes checked at once.
    fn record(&mut self, address: &str, now: Instant) -> usize {
        if self.by_address.len() >= MAX_REMEMBERED_ADDRESSES
            && !self.by_address.contains_key(address)
        {
            self.by_address.retain(|_, list| {
                list.iter()
                    .any(|at| now.duration_since(*at) < FAILURE_WINDOW)
            });
            if self.by_address.len() >= MAX_REMEMBERED_ADDRESSES {
                self.by_address.clear();
            }
        }
        let list = self.by_address.entry(address.to_owned()).or_default();
        list.retain(|at| now.duration_since(*at) < FAILURE_WINDOW);
        list.push(now);
        list.len()
    }
}

/// What every connection shares.
pub struct Shared {
    options: BridgeOptions,
    spool: Spool,
    tls: Arc<rustls::ServerConfig>,
    /// Failed sign-ins, for the delay and the limit.
    failures: Mutex<FailureLog>,
    /// Woken whenever a message is queued.
    queued: Arc<tokio::sync::Notify>,
    connections: Arc<tokio::sync::Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    hashing: tokio::sync::Semaphore,
    /// A hash checked when the user name is unknown, so the answer takes as long as for a known one.
    decoy: Device,
}

impl Shared {
    pub fn new(options: BridgeOptions, spool: Spool, tls: Arc<rustls::ServerConfig>) -> Shared {
        Shared {
            options,
            spool,
            tls,
            failures: Mutex::new(FailureLog::default()),
            queued: Arc::new(tokio::sync::Notify::new()),
            connections: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            per_address: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(HASHES_AT_ONCE),
            decoy: Device {
                name: String::new(),
                user_name: String::new(),
                mailbox: String::new(),
                password_hash: super::devices::hash_password(&SecretString::from(
                    rand::random::<u64>().to_string(),
                )),
                plain_on_lan: false,
            },
        }
    }

    /// What the relay waits on.
    pub fn delivered_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.queued.clone()
    }

    fn recent_failures(&self, address: &str) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recent(address, Instant::now())
    }

    fn record_failure(&self, address: &str) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(address, Instant::now())
    }

    /// A place among the connections, or `None` when the bridge (or this address) has as many as it takes.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        let permit = self.connections.clone().try_acquire_owned().ok()?;
        let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_address.entry(address).or_default();
        // Programs on this computer (practice software may open several at once) share only the total.
        if *count >= MAX_CONNECTIONS_PER_ADDRESS && !address.is_loopback() {
            return None;
        }
        *count += 1;
        Some(Admitted {
            shared: self.clone(),
            address,
            _permit: permit,
        })
    }
}

/// A connection's place, given back when it ends.
struct Admitted {
    shared: Arc<Shared>,
    address: IpAddr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_address = self
            .shared
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

/// Accepts connections until the task is stopped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, implicit_tls: bool) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(admitted) = shared.admit(peer.ip()) else {
            tokio::spawn(async move {
                let mut tcp = tcp;
                let _ = tokio::time::timeout(
                    WRITE_LIMIT,
                    tcp.write_all(b"421 4.7.0 Too many connections; try again in a minute\r\n"),
                )
                .await;
            });
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(error) = connection(tcp, peer, shared, implicit_tls).await {
                tracing::debug!(%peer, %error, "device connection ended");
            }
            drop(admitted);
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
) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let host = shared.options.host_name.clone();
    if !shared.options.is_allowed(peer.ip()) {
        tracing::info!(%peer, "a connection from an address not on the allow-list was refused");
        let mut tcp = tcp;
        tcp.write_all(b"554 5.7.1 This address may not use the mailconnect bridge\r\n")
            .await?;
        return Ok(());
    }
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
    stream
        .get_mut()
        .write_all(format!("220 {host} mailconnect bridge ready\r\n").as_bytes())
        .await?;
    let mut conversation = Conversation::default();
    // EHLO or HELO comes first (RFC 5321); a client that only sends what the bridge does not understand is let go.
    let mut greeted = false;
    let mut not_understood = 0;
    loop {
        let tls_active = matches!(stream.get_ref(), Stream::Tls(_));
        let Some(line) = read_command(&mut stream).await? else {
            return Ok(());
        };
        let Ok(line) = String::from_utf8(line) else {
            reply(&mut stream, "500 5.5.2 Commands are plain text").await?;
            continue;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
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
                match authenticate(&mut stream, argument, &plain_allowed).await? {
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
                        let key = failure_key(peer.ip(), &user);
                        if shared.recent_failures(&key) >= MAX_FAILURES {
                            reply(
                                &mut stream,
                                "454 4.7.0 Too many failed sign-ins; wait 10 minutes",
                            )
                            .await?;
                            return Ok(());
                        }
                        let device = check_device(&shared, &devices, &user, password).await;
                        match device {
                            Some(device) => {
                                tracing::info!(device = %device.user_name, %peer, "a device signed in");
                                conversation.device = Some(device);
                                reply(&mut stream, "235 2.7.0 Signed in").await?;
                            }
                            None => {
                                let count = shared.record_failure(&key);
                                tracing::warn!(%peer, user = %user, failures = count, "a device's sign-in was refused");
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
                if !enough_space(shared.spool.folder()) {
                    reply(
                        &mut stream,
                        "452 4.3.1 The queue's disk is nearly full; try again later",
                    )
                    .await?;
                    continue;
                }
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

/// One command line, bounded in length and in waiting time; `None` when the device went away.
async fn read_command(stream: &mut BufReader<Stream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        IDLE_LIMIT,
        (&mut *stream)
            .take(MAX_COMMAND_LINE)
            .read_until(b'\n', &mut line),
    )
    .await;
    match read {
        Err(_) => {
            let _ = reply(stream, "421 4.4.2 Idle too long; closing").await;
            Ok(None)
        }
        Ok(Err(error)) => Err(error),
        Ok(Ok(0)) => Ok(None),
        Ok(Ok(_)) if !line.ends_with(b"\n") => {
            let _ = reply(stream, "500 5.5.2 Line too long").await;
            Ok(None)
        }
        Ok(Ok(_)) => Ok(Some(line)),
    }
}

async fn reply(stream: &mut BufReader<Stream>, text: &str) -> std::io::Result<()> {
    let writer = stream.get_mut();
    // A device that stops reading must not hold its connection for ever.
    tokio::time::timeout(WRITE_LIMIT, async {
        writer.write_all(text.as_bytes()).await?;
        writer.write_all(b"\r\n").await?;
        writer.flush().await
    })
    .await
    .map_err(|_| std::io::Error::other("the device stopped reading"))?
}

/// What an AUTH command amounted to.
enum Attempt {
    Credentials(String, SecretString),
    Malformed,
    UnknownMechanism,
    Cancelled,
    /// The client went away, or kept silent, in the middle.
    Gone,
    /// The user name belongs to a device that must use TLS here.
    NeedsTls,
}

/// The user name and password of AUTH PLAIN (initial response or after 334) or AUTH LOGIN; `None` for another
/// mechanism or a malformed answer.
async fn authenticate(
    stream: &mut BufReader<Stream>,
    argument: &str,
    plain_allowed: &(dyn Fn(&str) -> bool + Sync),
) -> std::io::Result<Attempt> {
    let mut words = argument.split_whitespace();
    let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let decode = |text: &str| STANDARD.decode(text.trim()).ok();
    let finish = |user: &[u8], password: &[u8]| match text_pair(user, password) {
        None => Attempt::Malformed,
        Some((user, _)) if !plain_allowed(&user) => Attempt::NeedsTls,
        Some((user, password)) => Attempt::Credentials(user, password),
    };
    match mechanism.as_str() {
        "PLAIN" => {
            let encoded = match initial {
                Some(initial) => initial,
                None => {
                    reply(stream, "334 ").await?;
                    match ask(stream).await? {
                        Some(answer) => answer,
                        None => return Ok(Attempt::Gone),
                    }
                }
            };
            if encoded == "*" {
                return Ok(Attempt::Cancelled);
            }
            let Some(decoded) = decode(&encoded) else {
                return Ok(Attempt::Malformed);
            };
            // authzid NUL authcid NUL password
            let mut parts = decoded.split(|byte| *byte == 0);
            let (Some(authorize_as), Some(user), Some(password), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Ok(Attempt::Malformed);
            };
            // Signing in as one device to act as another is not a thing devices do: refused outright.
            if !authorize_as.is_empty() && !authorize_as.eq_ignore_ascii_case(user) {
                return Ok(Attempt::Malformed);
            }
            Ok(finish(user, password))
        }
        "LOGIN" => {
            let user = match initial {
                Some(initial) => initial,
                None => {
                    reply(stream, "334 VXNlcm5hbWU6").await?;
                    match ask(stream).await? {
                        Some(answer) => answer,
                        None => return Ok(Attempt::Gone),
                    }
                }
            };
            if user == "*" {
                return Ok(Attempt::Cancelled);
            }
            let Some(user) = decode(&user) else {
                return Ok(Attempt::Malformed);
            };
            // Asked before the password is: a device that must use TLS never sends it in the clear.
            if !plain_allowed(&String::from_utf8_lossy(&user)) {
                return Ok(Attempt::NeedsTls);
            }
            reply(stream, "334 UGFzc3dvcmQ6").await?;
            let Some(password) = ask(stream).await? else {
                return Ok(Attempt::Gone);
            };
            if password == "*" {
                return Ok(Attempt::Cancelled);
            }
            match decode(&password) {
                Some(password) => Ok(finish(&user, &password)),
                None => Ok(Attempt::Malformed),
            }
        }
        _ => Ok(Attempt::UnknownMechanism),
    }
}

/// The client's answer to a 334 prompt; `None` when it went away or stayed silent (the 421 is already sent).
async fn ask(stream: &mut BufReader<Stream>) -> std::io::Result<Option<String>> {
    Ok(read_command(stream)
        .await?
        .map(|line| String::from_utf8_lossy(&line).trim().to_owned()))
}

fn text_pair(user: &[u8], password: &[u8]) -> Option<(String, SecretString)> {
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        SecretString::from(String::from_utf8(password.to_vec()).ok()?),
    ))
}

/// The device whose user name and password these are (the hash checked off the async threads).
async fn check_device(
    shared: &Shared,
    devices: &Devices,
    user: &str,
    password: SecretString,
) -> Option<Device> {
    // An unknown user name is checked against a decoy hash: the answer takes as long as for a known one.
    let (device, known) = match devices.by_user_name(user) {
        Some(device) => (device.clone(), true),
        None => (shared.decoy.clone(), false),
    };
    let _turn = shared.hashing.acquire().await.ok()?;
    tokio::task::spawn_blocking(move || password_matches(&device, &password).then_some(device))
        .await
        .ok()
        .flatten()
        .filter(|_| known)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_in_ten_minutes_hold_back_an_address_or_a_local_name_and_the_log_stays_bounded()
    {
        let mut log = FailureLog::default();
        let start = Instant::now();
        let network = |user| failure_key("192.168.1.50".parse().unwrap(), user);
        for n in 1..=MAX_FAILURES {
            assert_eq!(
                log.record(&network("scanner"), start + Duration::from_secs(n as u64)),
                n
            );
        }
        assert_eq!(
            log.recent(&network("scanner"), start + Duration::from_secs(60)),
            MAX_FAILURES
        );
        assert_eq!(
            log.recent(&network("fax"), start),
            MAX_FAILURES,
            "on the network the address is held back, whatever the name"
        );
        assert_eq!(
            log.recent(
                &failure_key("192.168.1.51".parse().unwrap(), "scanner"),
                start
            ),
            0
        );
        // On this computer one program's wrong password does not hold back the others.
        let local = |user| failure_key("127.0.0.1".parse().unwrap(), user);
        log.record(&local("old-software"), start);
        assert_eq!(log.recent(&local("scanner"), start), 0);
        assert_eq!(log.recent(&local("old-software"), start), 1);
        // Ten minutes on, the address may try again, and is forgotten.
        let later = start + FAILURE_WINDOW + Duration::from_secs(11);
        assert_eq!(log.recent(&network("scanner"), later), 0);
        assert!(!log.by_address.contains_key(&network("scanner")));
        // A flood of addresses does not grow the log without end.
        for n in 0..(MAX_REMEMBERED_ADDRESSES as u32 + 10) {
            log.record(
                &IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)).to_string(),
                start,
            );
        }
        assert!(log.by_address.len() <= MAX_REMEMBERED_ADDRESSES);
    }
}
