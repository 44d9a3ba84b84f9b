//! A minimal SMTP server that accepts every message: the relay Dovecot's submission service forwards to.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<AtomicU32>,
}

impl SmtpSink {
    /// Listens on 127.0.0.1; the thread ends with the test process.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().expect("sink address").port();
        let messages = Arc::new(AtomicU32::new(0));
        let counter = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, &counter);
                });
            }
        });
        SmtpSink { port, messages }
    }
}

fn session(stream: TcpStream, messages: &AtomicU32) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink ESMTP\r\n")?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                while reader.read_line(&mut data)? > 0 && data != ".\r\n" {
                    data.clear();
                }
                messages.fetch_add(1, Ordering::SeqCst);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        writer.write_all(reply)?;
        line.clear();
    }
    Ok(())
}
