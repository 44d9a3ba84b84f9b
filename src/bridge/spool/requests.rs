//! The admin's requests for a queued message (try it again now, or drop it): a file `requests/<id>.retry` or
//! `.drop` in the queue's folder, carried out by the bridge that owns the queue within a second, or at once when no
//! bridge does. The request's name is checked as a [`MessageId`] before anything else is read.

use super::{Envelope, MessageId, MessageState, Spool, sync_folder, unix_now};

/// What the admin asks of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Try it again now, with a fresh age limit (a refused message too).
    Retry,
    /// Remove it from the queue unsent.
    Drop,
}

impl Request {
    fn extension(self) -> &'static str {
        match self {
            Request::Retry => "retry",
            Request::Drop => "drop",
        }
    }
}

/// Whether a request was carried out at once or waits for the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// No bridge owns the queue: done now.
    Done,
    /// The running bridge does it within seconds.
    Passed,
}

impl Spool {
    /// Asks for `request` on message `id`: the bridge that owns the queue carries it out within seconds; when none
    /// does, it is done now.
    pub fn ask(&self, id: &MessageId, request: Request) -> std::io::Result<Asked> {
        let folder = self.folder.join("requests");
        std::fs::create_dir_all(&folder)?;
        // The other wish for the same message goes: the last one counts.
        for other in [Request::Retry, Request::Drop] {
            let _ = std::fs::remove_file(folder.join(format!("{id}.{}", other.extension())));
        }
        // Created in place: the file is empty, its name is the whole request. Through a temporary file and a
        // rename, the owner's relay (which removes whatever else is in the folder) could take the temporary file
        // first, and the request failed with "No such file or directory".
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(folder.join(format!("{id}.{}", request.extension())))?;
        sync_folder(&folder)?;
        match Spool::open(&self.folder) {
            Ok(owner) => {
                owner.carry_out_requests();
                Ok(Asked::Done)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Ok(Asked::Passed),
            Err(error) => Err(error),
        }
    }

    /// Whether the admin asked for something (a cheap look, for the relay between rounds).
    pub fn has_requests(&self) -> bool {
        std::fs::read_dir(self.folder.join("requests"))
            .is_ok_and(|mut entries| entries.next().is_some())
    }

    /// Carries out the admin's requests (the owner only): a retry makes the message wait for an immediate try with
    /// a fresh age limit; a drop removes it. Returns what was done, for the log. Requests whose name is not a
    /// message id are removed unread.
    pub fn carry_out_requests(&self) -> Vec<(MessageId, Request)> {
        let folder = self.folder.join("requests");
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return Vec::new();
        };
        let mut done = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = std::fs::remove_file(&path);
            let request = match path.extension().and_then(|ext| ext.to_str()) {
                Some("retry") => Request::Retry,
                Some("drop") => Request::Drop,
                _ => continue,
            };
            let Some(id) = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .and_then(|stem| MessageId::try_from(stem.to_owned()).ok())
            else {
                continue;
            };
            let envelope_path = self.folder.join(format!("{id}.json"));
            let Some(mut envelope) = std::fs::read(&envelope_path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Envelope>(&bytes).ok())
                .filter(|envelope| envelope.id == id)
            else {
                continue;
            };
            let result = match request {
                Request::Retry => {
                    envelope.state = MessageState::Waiting;
                    envelope.next_attempt_at = 0;
                    envelope.waiting_for_sign_in = None;
                    envelope.retried_at = Some(unix_now());
                    serde_json::to_vec_pretty(&envelope)
                        .map_err(std::io::Error::other)
                        .and_then(|json| crate::config::write_atomically(&envelope_path, &json))
                        .and_then(|()| sync_folder(&self.folder))
                }
                Request::Drop => std::fs::remove_file(&envelope_path)
                    .and_then(|()| sync_folder(&self.folder))
                    .map(|()| {
                        let _ = std::fs::remove_file(self.message_path(&id));
                    }),
            };
            match result {
                Ok(()) => done.push((id, request)),
                Err(error) => tracing::error!(%error, %id, "a request for a queued message failed"),
            }
        }
        done
    }
}
