//! The bridge's wire: a device's connection (plain until STARTTLS, or TLS), the SMTP path and SIZE parameters, and
//! whether the queue's disk has room.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::spool::MAX_MESSAGE_BYTES;

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

/// Whether the queue's disk has room for another message (always true where it cannot be asked).
pub(super) fn enough_space(folder: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(path) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
            return true;
        };
        // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
            return true;
        }
        let free = stats.f_bavail as u64 * stats.f_frsize as u64;
        free >= MIN_FREE_BYTES + MAX_MESSAGE_BYTES
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        true
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
