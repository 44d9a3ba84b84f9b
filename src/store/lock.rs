//! The per-mailbox lock that every token write holds: wizard save, `login`, refresh and `forget`.
//!
//! A [`MailboxLock`] is an exclusive lock on a file in the cache folder (released by the OS when the process dies),
//! and the store's write methods take one as an argument, so a write without the lock does not compile.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{StoreError, mailbox_key};

/// How long a writer waits for another one (a refresh takes a second or two; a sign-in saves in well under one).
pub const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting process looks again.
const POLL: Duration = Duration::from_millis(20);

/// Proof that this process holds the write lock of one mailbox. Dropping it releases the lock.
#[derive(Debug)]
pub struct MailboxLock {
    key: String,
    _file: File,
    taken_at: Instant,
}

impl Drop for MailboxLock {
    fn drop(&mut self) {
        tracing::debug!(
            mailbox = %self.key,
            held_ms = self.taken_at.elapsed().as_millis() as u64,
            "write lock released"
        );
    }
}

impl MailboxLock {
    /// The mailbox (lower case) this lock is for.
    pub fn mailbox(&self) -> &str {
        &self.key
    }

    /// Takes the lock for `mailbox` in `directory`, waiting at most `wait`. Blocks the calling thread.
    pub fn acquire(
        directory: &Path,
        mailbox: &str,
        wait: Duration,
    ) -> Result<MailboxLock, StoreError> {
        let key = mailbox_key(mailbox);
        let path = lock_path(directory, &key)?;
        let file = open_lock_file(&path)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    tracing::debug!(
                        mailbox = %key,
                        waited_ms = (wait.saturating_sub(deadline.saturating_duration_since(Instant::now()))).as_millis() as u64,
                        "write lock taken"
                    );
                    return Ok(MailboxLock {
                        key,
                        _file: file,
                        taken_at: Instant::now(),
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(POLL)
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy {
                        mailbox: key,
                        waited_seconds: wait.as_secs(),
                    });
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(lock_error(&path, &error.to_string()));
                }
            }
        }
    }
}

fn lock_error(path: &Path, detail: &str) -> StoreError {
    StoreError::LockFile {
        path: path.display().to_string(),
        detail: detail.to_owned(),
    }
}

/// The lock file's path; the name keeps letters, digits and a few marks of the mailbox key.
fn lock_path(directory: &Path, key: &str) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(directory)
        .map_err(|error| lock_error(directory, &error.to_string()))?;
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(directory.join(format!("{name}.lock")))
}

/// Opens (or creates) the lock file without following a symbolic link and without waiting on a FIFO, and refuses
/// anything that is not a regular file: another local user must not be able to hang or redirect the lock.
fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o600);
    }
    let file = options
        .open(path)
        .map_err(|error| lock_error(path, &error.to_string()))?;
    let metadata = file
        .metadata()
        .map_err(|error| lock_error(path, &error.to_string()))?;
    if !metadata.is_file() {
        return Err(lock_error(path, "it is not a regular file"));
    }
    Ok(file)
}

/// The default folder for lock files: the platform's cache folder (nothing secret is in them).
pub fn default_lock_directory() -> PathBuf {
    directories::ProjectDirs::from("", "", "mailconnect")
        .map(|dirs| dirs.cache_dir().join("locks"))
        .unwrap_or_else(|| std::env::temp_dir().join("mailconnect-locks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_then_gives_up_with_a_clear_error() {
        let directory = tempfile::tempdir().unwrap();
        let first = MailboxLock::acquire(directory.path(), "A@x.com", LOCK_WAIT).unwrap();
        assert_eq!(first.mailbox(), "a@x.com");
        let second = MailboxLock::acquire(directory.path(), "a@X.com", Duration::from_millis(100));
        assert!(matches!(second, Err(StoreError::Busy { .. })), "{second:?}");
        drop(first);
        MailboxLock::acquire(directory.path(), "a@x.com", Duration::from_millis(100)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_or_a_fifo_in_place_of_the_lock_file_is_refused_at_once() {
        let directory = tempfile::tempdir().unwrap();
        let target = directory.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, directory.path().join("a@x.com.lock")).unwrap();
        let linked = MailboxLock::acquire(directory.path(), "a@x.com", LOCK_WAIT);
        assert!(
            matches!(linked, Err(StoreError::LockFile { .. })),
            "{linked:?}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");

        let fifo = directory.path().join("b@x.com.lock");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let piped = MailboxLock::acquire(directory.path(), "b@x.com", LOCK_WAIT);
        assert!(
            matches!(piped, Err(StoreError::LockFile { .. })),
            "{piped:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
