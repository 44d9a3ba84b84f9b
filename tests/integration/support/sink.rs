//! A minimal SMTP server that accepts every message: the relay Dovecot's submission service forwards to.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<AtomicU32>,
    /// Every message received: its envelope sender and its Subject, in arrival order.
    pub received: Arc<std::sync::Mutex<Vec<Received>>>,
}

/// One message as the sink got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub mail_from: String,
    pub subject: String,
    pub size: usize,
}

impl SmtpSink {
    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl SmtpSink {
    /// Listens on 127.0.0.1; the thread ends with the test process.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().expect("sink address").port();
        let messages = Arc::new(AtomicU32::new(0));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let counter = messages.clone();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, &counter, &log);
                });
            }
        });
        SmtpSink {
            port,
            messages,
            received,
        }
    }
}

fn session(
    stream: TcpStream,
    messages: &AtomicU32,
    log: &std::sync::Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink ESMTP\r\n")?;
    let mut line = String::new();
    let mut mail_from = String::new();
    while reader.read_line(&mut line)? > 0 {
        if line
            .get(..10)
            .is_some_and(|head| head.eq_ignore_ascii_case("MAIL FROM:"))
        {
            mail_from = line[10..]
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n",
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                let mut subject = String::new();
                let mut size = 0;
                while reader.read_line(&mut data)? > 0 && data != ".\r\n" {
                    size += data.len();
                    if subject.is_empty()
                        && data
                            .get(..9)
                            .is_some_and(|h| h.eq_ignore_ascii_case("Subject: "))
                    {
                        subject = data[9..].trim().to_owned();
                    }
                    data.clear();
                }
                log.lock().unwrap().push(Received {
                    mail_from: mail_from.clone(),
                    subject,
                    size,
                });
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
