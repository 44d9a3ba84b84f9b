//! The bridge's queue on disk. A message is accepted (250) only once it and its envelope are written and synced;
//! it is removed only after the provider accepted it.
//!
//! Layout of the spool folder:
//! - `incoming/<id>.part`: a message still arriving; left over after a crash, it was never accepted and is removed.
//! - `<id>.msg`: the message as the device sent it, CRLF lines, dot-stuffing undone.
//! - `<id>.json`: its envelope and delivery state; its presence is what "accepted" means. Written (and synced)
//!   after the message, replaced atomically on every change, removed first when delivered.
//! - `requests/<id>.retry` or `.drop`: the admin's wish for a message (`device retry`, the window), carried out by
//!   the bridge that owns the queue within seconds, or at once when none does.
//!
//! Ids sort in arrival order, so delivery keeps each device's order. An id becomes a path only as a [`MessageId`],
//! whose only way in checks its form.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

mod requests;

pub use requests::{Asked, Request};

/// The largest message accepted: Exchange Online's own limit for a message with its encoding.
pub const MAX_MESSAGE_BYTES: u64 = 35 * 1024 * 1024;
/// The longest line inside a message: far above RFC 5321's 1,000, low enough to bound memory.
const MAX_LINE_BYTES: u64 = 1024 * 1024;
/// How long a device may pause in the middle of a message.
const DATA_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// A queued message's id: 24 digits (arrival time in nanoseconds) and 8 hex digits. Nothing else becomes a path in
/// the queue: an envelope whose id has another form is not read, and the admin's requests are checked the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    fn new() -> MessageId {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        MessageId(format!("{nanos:024}-{:08x}", rand::random::<u32>()))
    }

    /// The id's last 8 characters, which the admin types (`device retry 1a2b3c4d`).
    pub fn short(&self) -> &str {
        &self.0[25..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageId {
    type Error = String;

    fn try_from(text: String) -> Result<MessageId, String> {
        let bytes = text.as_bytes();
        let valid = bytes.len() == 33
            && bytes[..24].iter().all(u8::is_ascii_digit)
            && bytes[24] == b'-'
            && bytes[25..]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if valid {
            Ok(MessageId(text))
        } else {
            Err("not a queued message's id".to_owned())
        }
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageState {
    /// Waiting for its turn (or its next try after a temporary failure).
    Waiting,
    /// The provider refused it for good; it stays for the admin to see until removed.
    Refused,
}

/// A queued message's envelope and delivery state (no message content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: MessageId,
    /// The device's user name.
    pub device: String,
    /// The mailbox it is sent as (and the envelope sender).
    pub mailbox: String,
    pub recipients: Vec<String>,
    /// Unix seconds.
    pub received_at: u64,
    pub size: u64,
    pub state: MessageState,
    pub attempts: u32,
    /// Unix seconds; not tried before then.
    pub next_attempt_at: u64,
    /// The last failure in words (a server reply or what went wrong), for the window and the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Set when only a new sign-in helps: the stored sign-in's generation then. The message waits, without asking
    /// Microsoft again, until a new sign-in is saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_sign_in: Option<u64>,
    /// When the admin last asked for it to be tried again (Unix seconds): its age limit counts from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_at: Option<u64>,
}

impl Envelope {
    /// Since when its age limit counts: its arrival, or the admin's last retry.
    pub fn age_from(&self) -> u64 {
        self.retried_at
            .unwrap_or(self.received_at)
            .max(self.received_at)
    }
}

/// Why a message could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the message is larger than 35 MB")]
    TooBig,
    #[error("a line of the message is longer than 1 MB")]
    LineTooLong,
    #[error("the connection ended before the message did")]
    Cut,
    #[error("the queue cannot be written: {0}")]
    Disk(#[from] std::io::Error),
}

/// The spool folder. The bridge that owns it ([`Spool::open`]) holds a lock on it; readers ([`Spool::view`]) do not
/// touch anything.
#[derive(Debug, Clone)]
pub struct Spool {
    folder: PathBuf,
    /// The owner's exclusive lock (`spool/lock`), held for as long as any clone lives.
    _owner: Option<std::sync::Arc<std::fs::File>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A message line without its line end, as it is kept: NUL characters dropped, each lone CR a line end (CRLF).
fn normalise_line(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !content.iter().any(|byte| matches!(byte, b'\0' | b'\r')) {
        return std::borrow::Cow::Borrowed(content);
    }
    let mut clean = Vec::with_capacity(content.len() + 8);
    for byte in content {
        match byte {
            b'\0' => {}
            b'\r' => clean.extend_from_slice(b"\r\n"),
            other => clean.push(*other),
        }
    }
    std::borrow::Cow::Owned(clean)
}

/// Syncs a folder, so a rename or removal in it survives a power cut.
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(folder)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

impl Spool {
    /// Opens (and creates) the spool folder as its one owner, removing messages that never finished arriving and
    /// message files whose envelope was removed (delivered just before a crash). Fails when another bridge (the
    /// window's or a service) owns it: two relays of one queue would send messages twice.
    pub fn open(folder: impl Into<PathBuf>) -> std::io::Result<Spool> {
        let folder = folder.into();
        std::fs::create_dir_all(folder.join("incoming"))?;
        std::fs::create_dir_all(folder.join("requests"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join("lock"))?;
        // flock on Unix, LockFileEx on Windows: held until the file is closed, a crash included.
        if let Err(error) = lock.try_lock() {
            return Err(match error {
                std::fs::TryLockError::WouldBlock => std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another mailconnect bridge already runs with this queue",
                ),
                std::fs::TryLockError::Error(error) => error,
            });
        }
        for entry in std::fs::read_dir(folder.join("incoming"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "msg")
                && !path.with_extension("json").exists()
            {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(Spool {
            folder,
            _owner: Some(std::sync::Arc::new(lock)),
        })
    }

    /// The queue for reading only (`device list`, the window's page): nothing is removed or locked.
    pub fn view(folder: impl Into<PathBuf>) -> Spool {
        Spool {
            folder: folder.into(),
            _owner: None,
        }
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Reads DATA from `reader` up to the lone "." line into the queue, then writes the envelope: returns it once
    /// both are on disk. On any error nothing is queued.
    pub async fn receive(
        &self,
        reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
        device: &str,
        mailbox: &str,
        recipients: &[String],
    ) -> Result<Envelope, ReceiveError> {
        let id = MessageId::new();
        let part = self.folder.join("incoming").join(format!("{id}.part"));
        let result = self.receive_into(&part, reader).await;
        let size = match result {
            Ok(size) => size,
            Err(error) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(error);
            }
        };
        let message = self.folder.join(format!("{id}.msg"));
        tokio::fs::rename(&part, &message).await?;
        let envelope = Envelope {
            id: id.clone(),
            device: device.to_owned(),
            mailbox: mailbox.to_owned(),
            recipients: recipients.to_vec(),
            received_at: unix_now(),
            size,
            state: MessageState::Waiting,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            waiting_for_sign_in: None,
            retried_at: None,
        };
        if let Err(error) = self.write_envelope(&envelope).await {
            let _ = tokio::fs::remove_file(&message).await;
            return Err(error.into());
        }
        Ok(envelope)
    }

    /// Queues a message to `refused`'s mailbox saying the provider refused it and why (a bounce), as `device`.
    pub async fn enqueue_bounce(
        &self,
        refused: &Envelope,
        words: &str,
        device: &str,
    ) -> Result<Envelope, ReceiveError> {
        let received = crate::words::unix_time(refused.received_at)
            .map(|at| chrono::DateTime::<chrono::Utc>::from(at).to_rfc2822())
            .unwrap_or_default();
        let recipients = refused.recipients.join(", ");
        // Lines of the reason are kept short and never start a line with a dot.
        let reason: String = words.replace(['\r', '\n'], " ").chars().take(900).collect();
        let text = format!(
            "From: mailconnect bridge <{mailbox}>\r\nTo: {mailbox}\r\nSubject: Not delivered: a message from \
             {device_name}\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe \
             provider refused a message that {device_name} sent through mailconnect on {received}, to {recipients}.\r\n\
             It will not be sent again by itself.\r\n\r\nThe provider said: {reason}\r\n.\r\n",
            mailbox = refused.mailbox,
            device_name = refused.device,
        );
        let mut reader = text.as_bytes();
        self.receive(
            &mut reader,
            device,
            &refused.mailbox,
            std::slice::from_ref(&refused.mailbox),
        )
        .await
    }

    /// Copies the DATA lines into `part`, undoing dot-stuffing, bounded in size; syncs it. Returns the size.
    async fn receive_into(
        &self,
        part: &Path,
        reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    ) -> Result<u64, ReceiveError> {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Readable by this user only, like the folder.
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(part).await?;
        let mut writer = tokio::io::BufWriter::with_capacity(64 * 1024, file);
        let mut line = Vec::with_capacity(1024);
        let mut size: u64 = 0;
        let mut too_big = false;
        // A failed write still reads the message to its end, so the device gets a clear 451, not its body taken
        // for commands.
        let mut disk_error = None;
        // How the line before ended (the start of DATA counts as after CRLF: the DATA command's own line end).
        let mut previous_crlf = true;
        loop {
            line.clear();
            let read = tokio::time::timeout(
                DATA_READ_LIMIT,
                tokio::io::AsyncReadExt::take(&mut *reader, MAX_LINE_BYTES + 1)
                    .read_until(b'\n', &mut line),
            )
            .await
            .map_err(|_| ReceiveError::Cut)?
            .map_err(|_| ReceiveError::Cut)?;
            if read == 0 {
                return Err(ReceiveError::Cut);
            }
            if !line.ends_with(b"\n") {
                if read as u64 > MAX_LINE_BYTES {
                    return Err(ReceiveError::LineTooLong);
                }
                return Err(ReceiveError::Cut);
            }
            // "." ends the message only when its line ends the way the line before it did: CRLF "." CRLF (RFC 5321), or
            // LF "." LF from a program that uses bare line feeds throughout. A mixed "\n.\r\n" is content, so no
            // message can be cut short, or a second one slipped in, by mixing line ends.
            let crlf = line.ends_with(b"\r\n");
            if line.len() == 2 + usize::from(crlf) && line[0] == b'.' && crlf == previous_crlf {
                break;
            }
            previous_crlf = crlf;
            // Past the limit the rest is read and dropped, so the device gets a clear 552 at the end.
            if too_big || disk_error.is_some() {
                continue;
            }
            let unstuffed = if line.first() == Some(&b'.') {
                &line[1..]
            } else {
                &line[..]
            };
            // Every line is kept with CRLF, as the provider expects, whatever the device ended it with.
            let content = unstuffed
                .strip_suffix(b"\r\n")
                .or_else(|| unstuffed.strip_suffix(b"\n"))
                .unwrap_or(unstuffed);
            // Before anything is handed on: NUL dropped, a lone CR made a line end (what old programs mean by it),
            // so neither reaches the provider to be read differently there.
            let content = normalise_line(content);
            size += content.len() as u64 + 2;
            if size > MAX_MESSAGE_BYTES {
                too_big = true;
                continue;
            }
            if let Err(error) = async {
                writer.write_all(&content).await?;
                writer.write_all(b"\r\n").await
            }
            .await
            {
                disk_error = Some(error);
            }
        }
        if too_big {
            return Err(ReceiveError::TooBig);
        }
        if let Some(error) = disk_error {
            return Err(ReceiveError::Disk(error));
        }
        writer.flush().await?;
        writer.get_ref().sync_all().await?;
        Ok(size)
    }

    /// Writes (or replaces) an envelope atomically and durably.
    pub async fn write_envelope(&self, envelope: &Envelope) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(envelope).map_err(std::io::Error::other)?;
        let target = self.folder.join(format!("{}.json", envelope.id));
        let folder = self.folder.clone();
        tokio::task::spawn_blocking(move || {
            crate::config::write_atomically(&target, &json)?;
            sync_folder(&folder)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Every queued envelope in arrival order; unreadable envelopes are skipped (and logged).
    pub fn envelopes(&self) -> std::io::Result<Vec<Envelope>> {
        let mut envelopes = Vec::new();
        for entry in std::fs::read_dir(&self.folder)? {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            // The id inside must be the file's own name: an envelope cannot point at another file.
            let stem = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or_default();
            match std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Envelope>(&bytes).ok())
                .filter(|envelope| envelope.id.as_str() == stem)
            {
                Some(envelope) => envelopes.push(envelope),
                None => tracing::warn!(file = %path.display(), "a queued envelope cannot be read"),
            }
        }
        envelopes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(envelopes)
    }

    /// The message file of a queued envelope.
    pub fn message_path(&self, id: &MessageId) -> PathBuf {
        self.folder.join(format!("{id}.msg"))
    }

    /// The queued message the admin means: its whole id or its last 8 characters, as `device list` shows them.
    pub fn find(&self, id: &str) -> Result<Envelope, String> {
        let id = id.trim().to_ascii_lowercase();
        let found: Vec<Envelope> = self
            .envelopes()
            .map_err(|error| format!("the queue cannot be read: {error}"))?
            .into_iter()
            .filter(|envelope| envelope.id.as_str() == id || envelope.id.short() == id)
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one")),
            0 => Err(format!(
                "no queued message is {id} (see `mailconnect device list`)"
            )),
            _ => Err(format!(
                "more than one queued message ends in {id}; give its whole id"
            )),
        }
    }

    /// Removes a delivered (or given-up) message: the envelope first, so a crash in between leaves only a message
    /// file that [`Spool::open`] sweeps, never a second delivery.
    pub async fn remove(&self, id: &MessageId) -> std::io::Result<()> {
        tokio::fs::remove_file(self.folder.join(format!("{id}.json"))).await?;
        let folder = self.folder.clone();
        tokio::task::spawn_blocking(move || sync_folder(&folder))
            .await
            .map_err(std::io::Error::other)??;
        let _ = tokio::fs::remove_file(self.message_path(id)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_is_queued_with_dots_undone_and_a_cut_one_leaves_nothing() {
        let folder = tempfile::tempdir().unwrap();
        let spool = Spool::open(folder.path().join("spool")).unwrap();
        let mut data: &[u8] =
            b"Subject: hi\r\n\r\n..dotted\r\nbare LF\n.\r\nmixed\r\n.\nplain\r\nlone\rCR\r.\rNUL\0\0s\r\n.\r\nQUIT\r\n";
        let envelope = spool
            .receive(
                &mut data,
                "scanner",
                "a@b.example",
                &["c@d.example".to_owned()],
            )
            .await
            .unwrap();
        assert_eq!(data, b"QUIT\r\n", "reading stops at the lone dot");
        let stored = std::fs::read(spool.message_path(&envelope.id)).unwrap();
        assert_eq!(
            stored,
            b"Subject: hi\r\n\r\n.dotted\r\nbare LF\r\n\r\nmixed\r\n\r\nplain\r\nlone\r\nCR\r\n.\r\nNULs\r\n",
            "a dot after a different line end is content, not the end; every line is stored with CRLF; a lone CR \
             is a line end and NUL is dropped (the lone dot between them is stuffed again when handed on)"
        );
        assert!(
            Spool::open(folder.path().join("spool")).is_err(),
            "one owner at a time"
        );
        assert_eq!(spool.envelopes().unwrap(), vec![envelope.clone()]);

        // A program that uses bare line feeds throughout ends with LF "." LF.
        let mut bare: &[u8] = b"Subject: bare\n\nbody\n.\nQUIT\n";
        let bare = spool
            .receive(
                &mut bare,
                "scanner",
                "a@b.example",
                &["c@d.example".to_owned()],
            )
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(spool.message_path(&bare.id)).unwrap(),
            b"Subject: bare\r\n\r\nbody\r\n"
        );
        spool.remove(&bare.id).await.unwrap();
        let mut cut: &[u8] = b"Subject: cut\r\nno end";
        assert!(matches!(
            spool.receive(&mut cut, "scanner", "a@b.example", &[]).await,
            Err(ReceiveError::Cut)
        ));
        assert_eq!(spool.envelopes().unwrap().len(), 1);
        assert_eq!(
            std::fs::read_dir(spool.folder().join("incoming"))
                .unwrap()
                .count(),
            0
        );
        spool.remove(&envelope.id).await.unwrap();
        assert!(spool.envelopes().unwrap().is_empty());
        assert!(!spool.message_path(&envelope.id).exists());
    }

    #[tokio::test]
    async fn an_id_becomes_a_path_only_in_its_own_form() {
        for bad in [
            "../../etc/passwd",
            "000001796530757545413248-4b7997a1/..",
            "000001796530757545413248-4B7997A1",
            "00000179653075754541324-4b7997a1x",
            "",
        ] {
            assert!(MessageId::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        let folder = tempfile::tempdir().unwrap();
        let spool = Spool::open(folder.path().join("spool")).unwrap();
        let mut data: &[u8] = b"Subject: ok\r\n.\r\n";
        let good = spool
            .receive(
                &mut data,
                "scanner",
                "a@b.example",
                &["c@d.example".to_owned()],
            )
            .await
            .unwrap();
        // An envelope that names another id, or an id of another form, is not read.
        let mut other = serde_json::to_value(&good).unwrap();
        other["id"] = serde_json::json!("000000000000000000000001-00000000");
        std::fs::write(
            spool
                .folder()
                .join("000000000000000000000002-00000000.json"),
            other.to_string(),
        )
        .unwrap();
        other["id"] = serde_json::json!("../../outside");
        std::fs::write(spool.folder().join("outside.json"), other.to_string()).unwrap();
        assert_eq!(spool.envelopes().unwrap(), vec![good.clone()]);
        // A request whose name is not an id is removed unread; one that is, is carried out.
        let requests = spool.folder().join("requests");
        std::fs::write(requests.join("..%2F..%2Foutside.drop"), b"").unwrap();
        std::fs::write(requests.join(format!("{}.drop", good.id)), b"").unwrap();
        let done = spool.carry_out_requests();
        assert_eq!(done, vec![(good.id.clone(), Request::Drop)]);
        assert!(spool.envelopes().unwrap().is_empty());
        assert!(!spool.has_requests());
    }
}
