//! The bridge's wire: a device's connection (plain until STARTTLS, or TLS), the SMTP path and SIZE parameters, and
//! whether the queue's disk has room.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::TcpStream;

use super::spool::MAX_MESSAGE_BYTES;

/// RFC 5321 allows 512 octets a command line; AUTH lines carry base64, so a little more is accepted.
const MAX_COMMAND_LINE: u64 = 2048;
/// How long a device may stay silent between commands.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(5 * 60);
/// How long writing one reply may take.
pub(super) const WRITE_LIMIT: Duration = Duration::from_secs(60);

/// Free space the queue's disk must keep before a message is taken.
const MIN_FREE_BYTES: u64 = 200 * 1024 * 1024;

/// A device's connection: plain until STARTTLS, or TLS from the start.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How long the bridge waits for a device's next line: [`IDLE_LIMIT`] between commands, and before it signed in no
/// longer than what is left of the time it has to sign in, which no command (NOOP, RSET, EHLO) starts again. A
/// connection that never signs in cannot hold a place that a device needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Patience {
    sign_in_by: Option<std::time::Instant>,
}

impl Patience {
    pub(super) fn new(sign_in_within: Duration) -> Patience {
        Patience {
            sign_in_by: Some(std::time::Instant::now() + sign_in_within),
        }
    }

    pub(super) fn signed_in(&mut self) {
        self.sign_in_by = None;
    }

    /// How long to wait for the next line, and what to say when it does not come.
    fn wait(&self) -> (Duration, &'static str) {
        if let Some(by) = self.sign_in_by {
            let left = by.saturating_duration_since(std::time::Instant::now());
            if left < IDLE_LIMIT {
                return (left, "421 4.7.0 Sign in soon after connecting; closing");
            }
        }
        (IDLE_LIMIT, "421 4.4.2 Idle too long; closing")
    }
}

/// One command line, bounded in length and in waiting time; `None` when the device went away or ran out of time
/// (it was told why).
pub(super) async fn read_command(
    stream: &mut BufReader<Stream>,
    patience: &Patience,
) -> std::io::Result<Option<Vec<u8>>> {
    let (limit, farewell) = patience.wait();
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        limit,
        (&mut *stream)
            .take(MAX_COMMAND_LINE)
            .read_until(b'\n', &mut line),
    )
    .await;
    match read {
        Err(_) => {
            let _ = reply(stream, farewell).await;
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

/// A command line as text: UTF-8 without NUL or a bare CR (a CR only right before the final LF), the line end
/// removed. `None` for anything else, which is answered "500" and never read as a command.
pub(super) fn command_text(line: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(line).ok()?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    (!text.contains(['\0', '\r', '\n'])).then(|| text.to_owned())
}

/// Sends one reply (its lines joined by CRLF) with its final CRLF, in one write: a reply split over two packets
/// makes some clients (`openssl s_client`, simple firmware) read half a line and give up. Every reply of the
/// bridge goes through here.
pub(super) async fn reply(
    writer: &mut (impl AsyncWrite + Unpin),
    text: &str,
) -> std::io::Result<()> {
    let mut whole = Vec::with_capacity(text.len() + 2);
    whole.extend_from_slice(text.as_bytes());
    whole.extend_from_slice(b"\r\n");
    // A device that stops reading must not hold its connection for ever.
    tokio::time::timeout(WRITE_LIMIT, async {
        writer.write_all(&whole).await?;
        writer.flush().await
    })
    .await
    .map_err(|_| std::io::Error::other("the device stopped reading"))?
}

/// The free space on the queue's disk, when it can be asked (Unix: statvfs; elsewhere not yet, and every message
/// is taken as before).
pub(super) fn free_bytes(folder: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
        // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
            return None;
        }
        Some(stats.f_bavail as u64 * stats.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        None
    }
}

/// The room on the queue's disk that messages still arriving will take: each holds the largest message's size
/// until it is written, so messages received at once cannot together eat the reserve.
#[derive(Debug, Default)]
pub(super) struct DiskReserve {
    in_flight: std::sync::Mutex<u64>,
}

/// A message's share of the reserve, given back when it is written (or given up).
pub(super) struct Room<'a> {
    reserve: &'a DiskReserve,
}

impl DiskReserve {
    /// Room for one more message when `free` (None: unknown) leaves [`MIN_FREE_BYTES`] after every message now
    /// arriving and this one at their largest.
    pub(super) fn take(&self, free: Option<u64>) -> Option<Room<'_>> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let needed = MIN_FREE_BYTES + *in_flight + MAX_MESSAGE_BYTES;
        if free.is_some_and(|free| free < needed) {
            return None;
        }
        *in_flight += MAX_MESSAGE_BYTES;
        Some(Room { reserve: self })
    }
}

impl Drop for Room<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .reserve
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *in_flight = in_flight.saturating_sub(MAX_MESSAGE_BYTES);
    }
}

/// The address in `FROM:<address>` or `TO:<address>` (any case, spaces allowed before `<`).
pub(super) fn path_argument(argument: &str, keyword: &str) -> Option<String> {
    let rest = argument
        .get(..keyword.len())
        .filter(|head| head.eq_ignore_ascii_case(keyword))
        .map(|_| argument[keyword.len()..].trim_start())?;
    let inner = rest.strip_prefix('<')?;
    let (address, parameters) = inner.split_once('>')?;
    // After the address only ESMTP parameters (KEY=VALUE, space-separated): "<a>, <b>" is a syntax error, not a
    // second recipient dropped without a word.
    let parameters_ok = parameters.is_empty()
        || (parameters.starts_with(' ')
            && parameters.split_whitespace().all(|word| {
                !word.contains(['<', '>', ',']) && word.chars().all(|c| c.is_ascii_graphic())
            }));
    (parameters_ok && !address.is_empty() && !address.contains(['\r', '\n', ' ', '<']))
        .then(|| address.to_owned())
}

/// `SIZE=<n>` among MAIL's parameters.
pub(super) fn size_parameter(argument: &str) -> Option<u64> {
    argument.split_whitespace().find_map(|word| {
        word.get(..5)
            .filter(|head| head.eq_ignore_ascii_case("SIZE="))
            .and_then(|_| word[5..].parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each write it is given, as a socket would send each as its own packet.
    #[derive(Default)]
    struct Packets(Vec<Vec<u8>>);

    impl AsyncWrite for Packets {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.get_mut().0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn the_free_space_reserve_counts_messages_in_flight() {
        let reserve = DiskReserve::default();
        // Room for exactly two messages at their largest above the reserve.
        let free = Some(MIN_FREE_BYTES + 2 * MAX_MESSAGE_BYTES);
        let first = reserve.take(free).expect("room for one");
        let second = reserve.take(free).expect("room for two");
        assert!(
            reserve.take(free).is_none(),
            "a third would eat the reserve"
        );
        drop(first);
        let third = reserve.take(free).expect("room again once one is written");
        drop((second, third));
        assert!(reserve.take(Some(MIN_FREE_BYTES)).is_none());
        assert!(reserve.take(None).is_some(), "unknown free space: taken");
    }

    #[test]
    fn commands_with_nul_or_a_lone_cr_are_not_read() {
        assert_eq!(command_text(b"NOOP\r\n".to_vec()).as_deref(), Some("NOOP"));
        assert_eq!(command_text(b"NOOP\n".to_vec()).as_deref(), Some("NOOP"));
        for bad in [
            &b"MAIL FROM:<a@b>\rRCPT TO:<c@d>\r\n"[..],
            b"NOOP\0\r\n",
            b"NOOP\r\r\n",
            b"\xff\r\n",
        ] {
            assert_eq!(command_text(bad.to_vec()), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn every_reply_leaves_in_one_write_with_its_line_end() {
        for text in [
            "250 2.0.0 OK",
            "250-localhost Hello\r\n250-STARTTLS\r\n250 HELP",
            "334 ",
            "354 Send the message; end with a line holding only a dot",
        ] {
            let mut packets = Packets::default();
            reply(&mut packets, text).await.unwrap();
            assert_eq!(
                packets.0,
                vec![format!("{text}\r\n").into_bytes()],
                "{text:?}"
            );
        }
    }

    #[test]
    fn paths_and_sizes_are_read_strictly() {
        assert_eq!(
            path_argument("FROM:<a@b.example> SIZE=10", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            path_argument("from: <a@b.example>", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(path_argument("FROM:a@b.example", "FROM:"), None);
        assert_eq!(path_argument("TO:<>", "TO:"), None);
        assert_eq!(path_argument("TO:<a b@c>", "TO:"), None);
        assert_eq!(
            path_argument("TO:<a@example.org>, <b@example.org>", "TO:"),
            None
        );
        assert_eq!(
            path_argument("TO:<a@example.org> NOTIFY=NEVER", "TO:").as_deref(),
            Some("a@example.org")
        );
        assert_eq!(size_parameter("FROM:<a@b> SIZE=36700161"), Some(36_700_161));
        assert_eq!(size_parameter("FROM:<a@b>"), None);
    }
}
