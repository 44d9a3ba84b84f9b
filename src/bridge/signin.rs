//! Signing in to the bridge: reading AUTH PLAIN and LOGIN, checking a device's password against its Argon2id hash
//! (a bounded number at once, a decoy hash for unknown names), and counting failed sign-ins for the delay and the
//! limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use tokio::io::BufReader;

use super::devices::{Device, Devices, HashMemory, password_matches_in, user_name_key};
use super::wire::{Patience, Stream, read_command, reply};

/// Failed sign-ins from one address within [`FAILURE_WINDOW`] before it must wait.
pub(super) const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses whose failures are remembered at most (more: the oldest are forgotten).
const MAX_REMEMBERED_ADDRESSES: usize = 4096;
/// Password hashes checked at once: each Argon2id check takes about 19 MiB, in memory allocated once per turn.
const HASHES_AT_ONCE: usize = 2;

/// What every sign-in shares: the failures so far, the turns at checking a hash, and the decoy hash.
pub(super) struct Gate {
    failures: Mutex<FailureLog>,
    hashing: Arc<tokio::sync::Semaphore>,
    /// The memory of each turn at hashing: allocated once, so the bridge's memory stays bounded however many
    /// sign-ins come (each blocking thread that allocated its own kept it: 300 MB after a flood).
    memories: Arc<Mutex<Vec<HashMemory>>>,
    /// A hash checked when the user name is unknown, so the answer takes as long as for a known one.
    decoy: Device,
}

impl Gate {
    pub(super) fn new() -> Gate {
        Gate {
            failures: Mutex::new(FailureLog::default()),
            hashing: Arc::new(tokio::sync::Semaphore::new(HASHES_AT_ONCE)),
            memories: Arc::new(Mutex::new(Vec::new())),
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

    pub(super) fn recent_failures(&self, key: &str) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recent(key, Instant::now())
    }

    pub(super) fn record_failure(&self, key: &str) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(key, Instant::now())
    }

    /// The device whose user name and password these are (the hash checked off the async threads).
    pub(super) async fn check(
        &self,
        devices: &Devices,
        user: &str,
        password: SecretString,
    ) -> Option<Device> {
        // An unknown user name is checked against a decoy hash: the answer takes as long as for a known one.
        let (device, known) = match devices.by_user_name(user) {
            Some(device) => (device.clone(), true),
            None => (self.decoy.clone(), false),
        };
        let turn = self.hashing.clone().acquire_owned().await.ok()?;
        let memories = self.memories.clone();
        tokio::task::spawn_blocking(move || {
            // One memory per turn: made on first use, then handed from turn to turn.
            let mut memory = memories
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default();
            let matches = password_matches_in(&device, &password, &mut memory).then_some(device);
            memories
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(memory);
            drop(turn);
            matches
        })
        .await
        .ok()
        .flatten()
        .filter(|_| known)
    }
}

/// What failed sign-ins are counted by: the address on the network; on this computer (programs on it share one
/// address) the device's user name as normalised, and every unknown name together, so padding or inventing names
/// neither gives fresh tries nor grows the count's memory.
pub(super) fn failure_key(address: IpAddr, user: &str, devices: &Devices) -> String {
    if !address.is_loopback() {
        return address.to_string();
    }
    match devices.by_user_name(user) {
        Some(device) => format!("this computer, {}", user_name_key(&device.user_name)),
        None => "this computer, unknown user names".to_owned(),
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
        // Past the limit only the count matters: a few more than it are kept, never an endless list.
        if list.len() > 2 * MAX_FAILURES {
            list.remove(0);
        }
        list.push(now);
        list.len()
    }
}

/// What an AUTH command amounted to.
pub(super) enum Attempt {
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
pub(super) async fn authenticate(
    stream: &mut BufReader<Stream>,
    argument: &str,
    plain_allowed: &(dyn Fn(&str) -> bool + Sync),
    patience: &Patience,
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
                    match ask(stream, patience).await? {
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
                    match ask(stream, patience).await? {
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
            let Some(password) = ask(stream, patience).await? else {
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
async fn ask(
    stream: &mut BufReader<Stream>,
    patience: &Patience,
) -> std::io::Result<Option<String>> {
    Ok(read_command(stream, patience)
        .await?
        .map(|line| String::from_utf8_lossy(&line).trim().to_owned()))
}

fn text_pair(user: &[u8], password: &[u8]) -> Option<(String, SecretString)> {
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        SecretString::from(String::from_utf8(password.to_vec()).ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_address_or_normalised_local_name_and_the_log_stays_bounded() {
        let mut devices = Devices::default();
        for name in ["Scanner", "Old software"] {
            devices.add(name, "a@b.example", false).unwrap();
        }
        let mut log = FailureLog::default();
        let start = Instant::now();
        let network = |user: &str| failure_key("192.168.1.50".parse().unwrap(), user, &devices);
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
                &failure_key("192.168.1.51".parse().unwrap(), "scanner", &devices),
                start
            ),
            0
        );
        // On this computer one program's wrong password does not hold back the others.
        let local = |user: &str| failure_key("127.0.0.1".parse().unwrap(), user, &devices);
        log.record(&local("old.software"), start);
        assert_eq!(log.recent(&local("scanner"), start), 0);
        assert_eq!(log.recent(&local("old.software"), start), 1);
        // The same name padded, in capitals or with invisible characters is the same count.
        for padded in [
            " old.software",
            "old.software  ",
            "OLD.SOFTWARE",
            "old.soft\u{200b}ware",
        ] {
            assert_eq!(log.recent(&local(padded), start), 1, "{padded:?}");
        }
        // Invented names share one count and one entry, however many.
        for n in 0..10_000 {
            log.record(&local(&format!("guess{n}")), start);
        }
        assert_eq!(
            log.recent(&local("anyone-else"), start),
            2 * MAX_FAILURES + 1
        );
        assert_eq!(log.recent(&local("scanner"), start), 0);
        assert!(log.by_address.len() <= 4, "{:?}", log.by_address.keys());
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
