//! The window's "Send a test message": the SMTP conversation a device has with the bridge, from this computer or,
//! when the network may send, from this computer's network address over TLS pinned to the bridge's certificate.

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::DeviceRow;

/// The SMTP conversation of a device: AUTH PLAIN, one message to its own mailbox. With `network` (an address of
/// this computer, the bridge's TLS port and its certificate) it comes from the network address over TLS, as a
/// device elsewhere on the network does; without, from this computer to `port`.
pub(super) async fn test_message(
    port: u16,
    network: Option<(
        std::net::Ipv4Addr,
        u16,
        rustls_pki_types::CertificateDer<'static>,
    )>,
    row: &DeviceRow,
    password: &SecretString,
) -> Result<String, String> {
    let unreachable = |error: std::io::Error| format!("the bridge cannot be reached: {error}");
    match network {
        None => {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(unreachable)?;
            converse(stream, row, password).await
        }
        Some((address, tls_port, certificate)) => {
            let stream = tokio::net::TcpStream::connect((address, tls_port))
                .await
                .map_err(|error| format!("{address}:{tls_port}: {}", unreachable(error)))?;
            let connector = tokio_rustls::TlsConnector::from(
                crate::bridge::tls::client_config_pinned(certificate),
            );
            let name =
                rustls_pki_types::ServerName::IpAddress(std::net::IpAddr::V4(address).into());
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|error| format!("the secure connection to {address} failed: {error}"))?;
            converse(stream, row, password)
                .await
                .map(|queued| format!("{queued} (sent to {address}, as a device on the network)"))
        }
    }
}

async fn converse<S>(stream: S, row: &DeviceRow, password: &SecretString) -> Result<String, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let reply = async |read: &mut BufReader<tokio::io::ReadHalf<S>>| -> Result<String, String> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = (&mut *read)
                .take(4096)
                .read_line(&mut line)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the bridge closed the connection".to_owned());
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(text.trim_end().to_owned());
            }
        }
    };
    let expect = |text: String, code: &str| {
        if text.starts_with(code) {
            Ok(text)
        } else {
            Err(text)
        }
    };
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!(
        "\0{}\0{}",
        row.user_name,
        password.expose_secret()
    ));
    expect(reply(&mut read).await?, "220")?;
    let steps: [(String, &str); 5] = [
        ("EHLO mailconnect-window\r\n".to_owned(), "250"),
        (format!("AUTH PLAIN {plain}\r\n"), "235"),
        (format!("MAIL FROM:<{}>\r\n", row.mailbox), "250"),
        (format!("RCPT TO:<{}>\r\n", row.mailbox), "250"),
        ("DATA\r\n".to_owned(), "354"),
    ];
    for (command, code) in steps {
        write
            .write_all(command.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        expect(reply(&mut read).await?, code)?;
    }
    let message = format!(
        "From: {mailbox}\r\nTo: {mailbox}\r\nSubject: mailconnect test message from {name}\r\n\r\nThis message went \
         through the mailconnect bridge as \"{name}\" would send it.\r\n.\r\n",
        mailbox = row.mailbox,
        name = row.name
    );
    write
        .write_all(message.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let queued = expect(reply(&mut read).await?, "250")?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(queued)
}
