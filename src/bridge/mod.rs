//! The SMTP bridge for the practice's other programs: scanners and old practice software that only know a user
//! name and password send to mailconnect on this computer (or the local network, when chosen), and mailconnect
//! hands each message on to the provider with the mailbox's own OAuth sign-in (XOAUTH2).
//!
//! - [`devices`]: each device's user name and Argon2id password hash.
//! - [`places`]: at most 64 connections, 8 from one address; one not signed in makes room when the bridge is full.
//! - [`server`]: the SMTP submission listener (STARTTLS, implicit TLS, AUTH PLAIN and LOGIN, never an open relay).
//! - [`signin`]: AUTH PLAIN and LOGIN, the password check and the count of failed sign-ins.
//! - [`spool`]: the queue on disk: accepted only once written and synced, removed only once delivered.
//! - [`relay`]: hands queued messages on, in order per device, at most 30 a minute per mailbox, with backoff.
//! - [`verdict`]: what a provider's refusal means for a queued message, by its stage and codes.

pub mod devices;
pub mod network;
mod places;
mod relay;
mod server;
mod signin;
pub mod spool;
pub mod tls;
pub mod verdict;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::ConfigFile;
use crate::store::StoreAccess;
use crate::tls::Trust;

pub use relay::MESSAGES_PER_MINUTE;

/// A device with what the queue holds for it: the one summary `device list` and the window's page both show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSummary {
    pub name: String,
    pub user_name: String,
    pub mailbox: String,
    pub plain_on_lan: bool,
    pub waiting: usize,
    pub refused: usize,
    /// The newest problem among its queued messages.
    pub last_problem: Option<String>,
    /// The soonest retry of a waiting message that failed (Unix seconds), when one is later than `now`.
    pub next_attempt_at: Option<u64>,
}

/// Each device's queue, from the devices file and the queue's envelopes.
pub fn device_summaries(
    devices: &devices::Devices,
    queued: &[spool::Envelope],
    now: u64,
) -> Vec<DeviceSummary> {
    use spool::MessageState;
    devices
        .devices
        .iter()
        .map(|device| {
            let mine: Vec<_> = queued
                .iter()
                .filter(|envelope| envelope.device.eq_ignore_ascii_case(&device.user_name))
                .collect();
            DeviceSummary {
                name: device.name.clone(),
                user_name: device.user_name.clone(),
                mailbox: device.mailbox.clone(),
                plain_on_lan: device.plain_on_lan,
                waiting: mine
                    .iter()
                    .filter(|e| e.state == MessageState::Waiting)
                    .count(),
                refused: mine
                    .iter()
                    .filter(|e| e.state == MessageState::Refused)
                    .count(),
                last_problem: mine.iter().rev().find_map(|e| e.last_error.clone()),
                next_attempt_at: mine
                    .iter()
                    .filter(|e| e.state == MessageState::Waiting && e.next_attempt_at > now)
                    .map(|e| e.next_attempt_at)
                    .min(),
            }
        })
        .collect()
}

/// How the bridge listens, and where it keeps things.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Plain SMTP with STARTTLS (and plain AUTH on loopback): 127.0.0.1:2525 by default.
    pub listen: Vec<SocketAddr>,
    /// SMTP over TLS from the first byte (port 2465 by default), when wanted.
    pub implicit_tls: Vec<SocketAddr>,
    /// Addresses or networks besides this computer allowed to connect (empty: this computer only).
    pub allow: Vec<ipnet::IpNet>,
    /// The queue's folder.
    pub spool: PathBuf,
    /// The settings (accounts are read anew for each delivery round).
    pub config_file: ConfigFile,
    /// The devices file (read anew for each sign-in, so a device added while running works at once).
    pub devices_file: PathBuf,
    /// The host name put in the certificate and the greeting.
    pub host_name: String,
    /// The wait after a message's first temporary failure; it doubles with each further one (up to 30 minutes).
    pub first_retry: std::time::Duration,
    /// On a permanent refusal, also send the mailbox a message saying which message was refused and why.
    pub bounce: bool,
    /// How long things may take.
    pub limits: Limits,
}

/// The longest a queued message waits before it is refused with the reason.
pub const MESSAGE_AGE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 60 * 60);
/// How long a connection has to sign in, whatever it sends meanwhile.
pub const SIGN_IN_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The bridge's time limits that a test may shorten.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A queued message not handed on within this (from its arrival or the admin's retry) is refused.
    pub max_age: std::time::Duration,
    /// A connection not signed in this long after it began is closed ([`SIGN_IN_LIMIT`]).
    pub sign_in_within: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_age: MESSAGE_AGE_LIMIT,
            sign_in_within: SIGN_IN_LIMIT,
        }
    }
}

impl BridgeOptions {
    /// Whether a client at `address` may connect at all: this computer, or an allowed address or network.
    pub fn is_allowed(&self, address: IpAddr) -> bool {
        address.is_loopback() || self.allow.iter().any(|net| net.contains(&address))
    }
}

/// What the bridge needs besides its options.
#[derive(Clone)]
pub struct BridgeServices {
    pub store: StoreAccess,
    pub trust: Trust,
    pub timeouts: crate::config::Timeouts,
}

/// A running bridge: the addresses it listens on; dropping it stops it.
pub struct RunningBridge {
    pub listening: Vec<SocketAddr>,
    pub listening_tls: Vec<SocketAddr>,
    /// The certificate devices see (the window's test message accepts this one only).
    pub certificate: rustls_pki_types::CertificateDer<'static>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningBridge {
    /// Stops listening and delivering, and waits until the listeners are closed (so the ports can be taken again
    /// at once).
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts listening and delivering. Fails when an address cannot be listened on or the queue cannot be opened.
pub async fn start(
    options: BridgeOptions,
    services: BridgeServices,
) -> anyhow::Result<RunningBridge> {
    let spool = spool::Spool::open(&options.spool)?;
    let (tls, certificate) = tls::server_config(&services.store, &options.host_name).await?;
    let shared = Arc::new(server::Shared::new(options.clone(), spool.clone(), tls));
    let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut listening = Vec::new();
    let mut listening_tls = Vec::new();
    for (addresses, implicit) in [(&options.listen, false), (&options.implicit_tls, true)] {
        for address in addresses {
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => listener,
                Err(error) => {
                    // Whatever already listens stops too: a half-started bridge is no bridge.
                    for task in &tasks {
                        task.abort();
                    }
                    return Err(anyhow::anyhow!("cannot listen on {address}: {error}"));
                }
            };
            let local = listener.local_addr()?;
            if implicit {
                listening_tls.push(local);
            } else {
                listening.push(local);
            }
            tasks.push(tokio::spawn(server::serve(
                listener,
                shared.clone(),
                implicit,
            )));
        }
    }
    tasks.push(tokio::spawn(relay::run(
        spool,
        options,
        services,
        shared.delivered_wakeup(),
    )));
    Ok(RunningBridge {
        listening,
        listening_tls,
        certificate,
        tasks,
    })
}
