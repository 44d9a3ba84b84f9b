//! The network stages both checks share: DNS, TCP connect and TLS, each under its own timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{CheckContext, CheckFailure, FailureKind, Protocol, Stage};
use crate::config::{Security, ServerSettings};
use crate::tls::describe_certificate_error;

/// A connection to a mail server, before or after TLS.
#[derive(Debug)]
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MailStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How much a server may send on one connection (before TLS, and again after it): a greeting, capabilities, the
/// authentication exchange and a mailbox summary take a few kilobytes. More is a hostile or broken server, and is
/// refused before it costs memory.
pub const MAX_BYTES_PER_CONNECTION: usize = 1024 * 1024;
/// How much of a server's text a report, the window or the terminal shows.
pub const MAX_SERVER_TEXT: usize = 1000;
const TOO_MUCH: &str = "the server sent (or announced) more than 1 MiB";

/// A stream that refuses to read past a byte budget. For IMAP it also refuses a literal (`{N}` at the end of a
/// line) announcing more than the budget has left: the IMAP parser sets aside room for a literal before reading
/// it, so counting received bytes alone would not stop a server announcing half a gigabyte.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    remaining: usize,
    watch_literals: bool,
    /// The end of what was read last, so that a `{N}` split across two reads is still seen.
    tail: Vec<u8>,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Bounded<S> {
        Bounded {
            inner,
            remaining: MAX_BYTES_PER_CONNECTION,
            watch_literals: false,
            tail: Vec::new(),
        }
    }

    /// The same, also watching IMAP literal announcements.
    pub fn for_imap(inner: S) -> Bounded<S> {
        Bounded {
            watch_literals: true,
            ..Bounded::new(inner)
        }
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The largest literal size announced (`{N}` or `{N+}` right before CRLF) in `bytes`, if any.
fn largest_literal(bytes: &[u8]) -> Option<u64> {
    let mut largest = None;
    for (end, window) in bytes.windows(2).enumerate() {
        if window != b"\r\n" || end == 0 || bytes[end - 1] != b'}' {
            continue;
        }
        let mut start = end - 1;
        if start > 0 && bytes[start - 1] == b'+' {
            start -= 1;
        }
        let digits_end = start;
        while start > 0 && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
        if start == 0 || bytes[start - 1] != b'{' || start == digits_end {
            continue;
        }
        // More digits than fit in a u64 is a huge literal too.
        let size = std::str::from_utf8(&bytes[start..digits_end])
            .ok()
            .and_then(|digits| digits.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        largest = largest.max(Some(size));
    }
    largest
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, TOO_MUCH)));
        }
        let allowed = buf.remaining().min(this.remaining);
        let mut limited = buf.take(allowed);
        let start = limited.filled().as_ptr();
        let result = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        // The reader must have filled the buffer it was given (tokio's `Take` checks the same).
        assert_eq!(
            start,
            limited.filled().as_ptr(),
            "the reader swapped its buffer"
        );
        let filled = limited.filled().len();
        // SAFETY: `limited` wrote `filled` initialised bytes into `buf`'s unfilled part (checked above).
        unsafe { buf.assume_init(filled) };
        buf.advance(filled);
        this.remaining -= filled;
        if this.watch_literals && filled > 0 {
            let new = &buf.filled()[buf.filled().len() - filled..];
            let mut seen = std::mem::take(&mut this.tail);
            seen.extend_from_slice(new);
            if largest_literal(&seen).is_some_and(|size| size > this.remaining as u64) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, TOO_MUCH)));
            }
            let keep = seen.len().saturating_sub(32);
            this.tail = seen.split_off(keep);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub use crate::words::excerpt;

/// A failure at `stage`, with the advice that fits its kind.
pub fn failure(stage: Stage, kind: FailureKind, detail: impl Into<String>) -> CheckFailure {
    CheckFailure {
        stage,
        kind,
        detail: detail.into(),
        server_reply: None,
        oauth_error: None,
    }
}

/// Writes `bytes` and flushes them (through TLS, when secured); an error is a failure at `stage`.
pub async fn send(stream: &mut MailStream, bytes: &[u8], stage: Stage) -> Result<(), CheckFailure> {
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(bytes)
        .await
        .map_err(|error| io_failure(stage, &error))?;
    stream
        .flush()
        .await
        .map_err(|error| io_failure(stage, &error))
}

/// The server said no at `stage` (IMAP `NO`/`BAD`, SMTP 4xx/5xx): temporary or not, with the advice its words
/// point to.
pub fn server_refusal(stage: Stage, reply: String, temporary: bool) -> CheckFailure {
    CheckFailure {
        stage,
        kind: if temporary {
            FailureKind::Temporary
        } else {
            FailureKind::Rejected
        },
        detail: if temporary && stage == Stage::Authenticating {
            "the server could not check the sign-in right now".to_owned()
        } else if temporary {
            format!(
                "the server could not go on right now at the {} stage",
                stage.name()
            )
        } else {
            format!("the server refused at the {} stage", stage.name())
        },
        server_reply: Some(excerpt(&reply, MAX_SERVER_TEXT)),
        oauth_error: None,
    }
}

/// Runs one stage under its timeout; a hang becomes a timeout failure that names the stage.
pub async fn within<T>(
    stage: Stage,
    limit: Duration,
    work: impl Future<Output = Result<T, CheckFailure>>,
) -> Result<T, CheckFailure> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(failure(
            stage,
            FailureKind::Timeout,
            format!(
                "the server did not answer within {} seconds ({})",
                limit.as_secs_f32(),
                stage.doing().to_lowercase()
            ),
        )),
    }
}

/// Turns an I/O error during `stage` into a failure.
pub fn io_failure(stage: Stage, error: &io::Error) -> CheckFailure {
    use io::ErrorKind as K;
    if let Some(certificate_problem) = describe_certificate_error(error) {
        let kind = if certificate_problem.contains("certificate") {
            FailureKind::Certificate
        } else {
            FailureKind::Tls
        };
        return failure(stage, kind, certificate_problem);
    }
    let shown = excerpt(&error.to_string(), 300);
    let (kind, detail) = match error.kind() {
        K::InvalidData if error.to_string() == TOO_MUCH => (
            FailureKind::Protocol,
            format!("{TOO_MUCH} in this check; a mail server sends a few kilobytes"),
        ),
        K::ConnectionRefused => (
            FailureKind::Refused,
            "the server refused the connection (nothing listens on that port)".to_owned(),
        ),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => (
            FailureKind::Closed,
            "the server closed the connection".to_owned(),
        ),
        K::TimedOut => (FailureKind::Timeout, "the connection timed out".to_owned()),
        K::NetworkUnreachable | K::HostUnreachable | K::AddrNotAvailable => (
            FailureKind::Unreachable,
            format!("the server cannot be reached from this computer ({shown})"),
        ),
        _ if stage == Stage::Tls => (
            FailureKind::Tls,
            format!("the secure connection failed ({shown})"),
        ),
        _ => (
            FailureKind::Closed,
            format!("the connection failed ({shown})"),
        ),
    };
    failure(stage, kind, detail)
}

/// DNS, TCP connect and, for implicit TLS, the handshake.
pub async fn connect(
    protocol: Protocol,
    server: &ServerSettings,
    context: &CheckContext,
) -> Result<MailStream, CheckFailure> {
    let progress = |stage| (context.progress)(protocol, stage);
    progress(Stage::Resolving);
    let host = server.host.trim();
    let addresses: Vec<SocketAddr> = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => vec![SocketAddr::new(ip, server.port)],
        Err(_) => {
            within(Stage::Resolving, context.timeouts.dns, async {
                tokio::net::lookup_host((host, server.port))
                    .await
                    .map(Iterator::collect)
                    .map_err(|error| {
                        failure(
                            Stage::Resolving,
                            FailureKind::Dns,
                            format!("the server name {host} could not be found ({error})"),
                        )
                    })
            })
            .await?
        }
    };
    if addresses.is_empty() {
        return Err(failure(
            Stage::Resolving,
            FailureKind::Dns,
            format!("the server name {host} has no address"),
        ));
    }
    if server.security == Security::PlainLoopbackOnly
        && !addresses.iter().all(|address| address.ip().is_loopback())
    {
        return Err(failure(
            Stage::Connecting,
            FailureKind::Insecure,
            format!(
                "{host} is not this computer, and connections without encryption are only allowed to this computer"
            ),
        ));
    }

    progress(Stage::Connecting);
    let mut last_failure = None;
    let mut connected = None;
    for address in addresses {
        match within(Stage::Connecting, context.timeouts.connect, async {
            TcpStream::connect(address)
                .await
                .map_err(|error| io_failure(Stage::Connecting, &error))
        })
        .await
        {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(failure) => last_failure = Some(failure),
        }
    }
    let tcp = match (connected, last_failure) {
        (Some(tcp), _) => tcp,
        (None, Some(failure)) => return Err(failure),
        (None, None) => unreachable!("at least one address was tried"),
    };
    // Mail dialogues are small request/reply exchanges: Nagle's algorithm would only add delay.
    let _ = tcp.set_nodelay(true);
    match server.security {
        Security::ImplicitTls => start_tls(protocol, tcp, host, context).await,
        Security::StartTls | Security::PlainLoopbackOnly => Ok(MailStream::Plain(tcp)),
    }
}

/// The TLS handshake, verifying the certificate against the trusted roots and the host name.
pub async fn start_tls(
    protocol: Protocol,
    tcp: TcpStream,
    host: &str,
    context: &CheckContext,
) -> Result<MailStream, CheckFailure> {
    (context.progress)(protocol, Stage::Tls);
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|_| {
        failure(
            Stage::Tls,
            FailureKind::Tls,
            format!("{host} is not a valid server name for a certificate"),
        )
    })?;
    let connector = context.trust.connector();
    within(Stage::Tls, context.timeouts.tls, async {
        connector
            .connect(name, tcp)
            .await
            .map(|stream| MailStream::Tls(Box::new(stream)))
            .map_err(|error| io_failure(Stage::Tls, &error))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::largest_literal;

    #[test]
    fn literal_announcements_are_found_even_split_or_non_synchronising() {
        assert_eq!(
            largest_literal(b"* 1 FETCH (BODY[] {500000000}\r\n"),
            Some(500_000_000)
        );
        assert_eq!(largest_literal(b"a APPEND x {12+}\r\n"), Some(12));
        assert_eq!(largest_literal(b"* OK hello {not a literal}\r\n"), None);
        assert_eq!(largest_literal(b"* OK {}\r\n"), None);
        assert_eq!(
            largest_literal(b"{99999999999999999999999}\r\n"),
            Some(u64::MAX)
        );
    }
}
