//! The window's "Programs and devices" work: the devices and their queue read from disk, a device added or removed,
//! the bridge run inside the window's session, and a test message sent through it as the device.

use std::sync::Arc;

use secrecy::SecretString;

use super::{EffectRunner, Services};
use crate::bridge::devices::{Devices, devices_path};
use crate::bridge::spool::{MessageId, MessageState, Request, Spool};
use crate::bridge::{BridgeOptions, BridgeServices, RunningBridge};

/// Where the window's bridge keeps its queue and listens.
#[derive(Debug, Clone)]
pub struct WindowBridge {
    pub spool: std::path::PathBuf,
    pub port: u16,
    pub tls_port: u16,
}

/// A device as the page shows it: the bridge's own summary.
pub type DeviceRow = crate::bridge::DeviceSummary;

/// A queued message as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRow {
    pub id: MessageId,
    pub device: String,
    pub received_at: u64,
    pub recipients: usize,
    pub size: u64,
    pub refused: bool,
    pub attempts: u32,
    pub next_attempt_at: u64,
    pub waiting_for_sign_in: bool,
    pub last_problem: Option<String>,
}

/// Whether the bridge runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeStatus {
    NotSetUp,
    Starting,
    /// Running in this window: the ports, and this computer's addresses on the networks whose devices may send
    /// (empty: programs on this computer only).
    Running {
        port: u16,
        tls_port: u16,
        network: Vec<crate::bridge::network::LocalAddress>,
        /// "Devices on this network can send" is on (even when no private address was found).
        on_network: bool,
    },
    /// The port is taken: most likely the bridge runs as a service already.
    PortInUse {
        port: u16,
    },
    Failed(String),
}

/// What the devices work reports.
#[derive(Debug)]
pub enum DevicesEvent {
    Read(Result<(Vec<DeviceRow>, Vec<QueuedRow>), String>),
    Added {
        row: DeviceRow,
        password: SecretString,
    },
    NotAdded(String),
    /// A device's new password (the old one stopped working): shown once, like a new device's.
    NewPassword {
        row: DeviceRow,
        password: SecretString,
    },
    Bridge(BridgeStatus),
    TestSent(Result<String, String>),
    /// "Run it as a service" finished, or why not.
    ServiceInstalled(Result<(), String>),
}

/// Loads the devices file, applies `change`, and saves it: what a change returns, or why it could not be made.
fn change_devices<T>(
    services: &Services,
    change: impl FnOnce(&mut Devices) -> Result<T, String>,
) -> Result<T, String> {
    let config_file = services
        .config_file
        .as_ref()
        .ok_or_else(|| "the demo keeps no devices".to_owned())?;
    let path = devices_path(config_file.path());
    let mut devices = Devices::load(&path).map_err(|e| e.to_string())?;
    let changed = change(&mut devices)?;
    devices.save(&path).map_err(|e| e.to_string())?;
    Ok(changed)
}

fn read_rows(services: &Services) -> Result<(Vec<DeviceRow>, Vec<QueuedRow>), String> {
    let (Some(config_file), Some(bridge)) = (&services.config_file, &services.bridge) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let devices = Devices::load(&devices_path(config_file.path())).map_err(|e| e.to_string())?;
    let queued = Spool::view(&bridge.spool).envelopes().unwrap_or_default();
    let names: std::collections::HashMap<String, String> = devices
        .devices
        .iter()
        .map(|device| (device.user_name.to_ascii_lowercase(), device.name.clone()))
        .collect();
    let queue = queued
        .iter()
        .map(|envelope| QueuedRow {
            id: envelope.id.clone(),
            device: names
                .get(&envelope.device.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| envelope.device.clone()),
            received_at: envelope.received_at,
            recipients: envelope.recipients.len(),
            size: envelope.size,
            refused: envelope.state == MessageState::Refused,
            attempts: envelope.attempts,
            next_attempt_at: envelope.next_attempt_at,
            waiting_for_sign_in: envelope.waiting_for_sign_in.is_some(),
            last_problem: envelope.last_error.clone(),
        })
        .collect();
    let rows = crate::bridge::device_summaries(&devices, &queued, crate::words::now_unix());
    Ok((rows, queue))
}

impl EffectRunner {
    /// Reads the devices and their queue.
    pub fn read_devices(&self) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let rows = tokio::task::spawn_blocking(move || read_rows(&services))
                .await
                .unwrap_or_else(|error| Err(error.to_string()));
            reporter.send(DevicesEvent::Read(rows));
        });
    }

    /// Adds a device; its password comes back once.
    pub fn add_device(&self, name: String, mailbox: String, plain_on_lan: bool) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let added = tokio::task::spawn_blocking(move || {
                change_devices(&services, |devices| {
                    devices
                        .add(&name, &mailbox, plain_on_lan)
                        .map_err(|e| e.to_string())
                })
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
            match added {
                Ok((device, password)) => reporter.send(DevicesEvent::Added {
                    row: DeviceRow {
                        name: device.name,
                        user_name: device.user_name,
                        mailbox: device.mailbox,
                        plain_on_lan: device.plain_on_lan,
                        waiting: 0,
                        refused: 0,
                        last_problem: None,
                        next_attempt_at: None,
                    },
                    password,
                }),
                Err(error) => reporter.send(DevicesEvent::NotAdded(error)),
            }
        });
    }

    /// Gives a device a new password; it comes back once.
    pub fn new_password(&self, user_name: String) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let made = tokio::task::spawn_blocking(move || {
                let (device, password) = change_devices(&services, |devices| {
                    devices.new_password(&user_name).map_err(|e| e.to_string())
                })?;
                let row = read_rows(&services)?
                    .0
                    .into_iter()
                    .find(|row| row.user_name == device.user_name)
                    .ok_or_else(|| "the device is gone".to_owned())?;
                Ok::<_, String>((row, password))
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
            match made {
                Ok((row, password)) => reporter.send(DevicesEvent::NewPassword { row, password }),
                Err(error) => reporter.send(DevicesEvent::NotAdded(error)),
            }
        });
    }

    /// Removes a device; it can no longer sign in.
    pub fn remove_device(&self, user_name: String) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let services_for_read = services.clone();
            let rows = tokio::task::spawn_blocking(move || {
                if let Some(config_file) = &services.config_file {
                    let path = devices_path(config_file.path());
                    let mut devices = Devices::load(&path).map_err(|e| e.to_string())?;
                    devices.remove(&user_name).map_err(|e| e.to_string())?;
                    devices.save(&path).map_err(|e| e.to_string())?;
                }
                read_rows(&services_for_read)
            })
            .await
            .unwrap_or_else(|error| Err(error.to_string()));
            reporter.send(DevicesEvent::Read(rows));
        });
    }

    /// Asks for a queued message to be tried again or dropped (by the bridge that owns the queue, this window's or
    /// a service), then reads the queue again once it had time to.
    pub fn ask_about_message(&self, id: MessageId, request: Request) {
        let reporter = self.reporter();
        let services = self.services.clone();
        self.runtime.spawn(async move {
            let Some(bridge) = services.bridge.clone() else {
                return;
            };
            let asked =
                tokio::task::spawn_blocking(move || Spool::view(&bridge.spool).ask(&id, request))
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|asked| asked.map_err(|error| error.to_string()));
            if let Err(problem) = asked {
                reporter.send(DevicesEvent::Read(Err(format!(
                    "The queue cannot be changed: {problem}"
                ))));
                return;
            }
            // The bridge looks for requests every second; the try itself may take a few more.
            for wait in [1500, 2500, 4000] {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                let services = services.clone();
                let rows = tokio::task::spawn_blocking(move || read_rows(&services))
                    .await
                    .unwrap_or_else(|error| Err(error.to_string()));
                reporter.send(DevicesEvent::Read(rows));
            }
        });
    }

    /// Starts the bridge inside this window's session (once); a port already in use is reported as such. With
    /// `only_with_devices`, nothing is opened while no device is set up.
    pub fn start_bridge(&self, only_with_devices: bool) {
        let reporter = self.reporter();
        let services = self.services.clone();
        let slot = self.bridge.clone();
        self.runtime.spawn(async move {
            start_bridge(reporter, services, slot, only_with_devices, false).await;
        });
    }

    /// "Devices on this network can send": saves the choice and starts the window's bridge again with it.
    pub fn set_bridge_on_network(&self, on: bool) {
        let reporter = self.reporter();
        let services = self.services.clone();
        let slot = self.bridge.clone();
        self.runtime.spawn(async move {
            let Some(config_file) = services.config_file.clone() else {
                return;
            };
            let saved = tokio::task::spawn_blocking(move || {
                let mut config = config_file.load()?;
                config.bridge_on_network = on;
                config_file.save(&config)
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|saved| saved.map_err(|error| error.to_string()));
            if let Err(problem) = saved {
                reporter.send(DevicesEvent::Bridge(BridgeStatus::Failed(format!(
                    "the choice could not be saved: {problem}"
                ))));
                return;
            }
            // The running bridge stops (its connections end) and starts again listening as chosen.
            reporter.send(DevicesEvent::Bridge(BridgeStatus::Starting));
            start_bridge(reporter, services, slot, false, true).await;
        });
    }

    /// "Run it as a service": stops this window's bridge and installs the bridge as a service of this user with
    /// the same queue, ports and choice of network (`mailconnect bridge --install`, the command line's own way).
    pub fn install_bridge_service(&self) {
        let reporter = self.reporter();
        let services = self.services.clone();
        let slot = self.bridge.clone();
        self.runtime.spawn(async move {
            let (Some(config_file), Some(bridge)) = (&services.config_file, &services.bridge)
            else {
                return;
            };
            // The demo's settings and queue are a temporary folder: a service on them would outlive it.
            if services.demo {
                reporter.send(DevicesEvent::ServiceInstalled(Err(
                    "the demo cannot run the bridge as a service (its settings are temporary)".to_owned(),
                )));
                return;
            }
            let mut arguments: Vec<std::ffi::OsString> = vec![
                "--config".into(),
                config_file.path().into(),
                "bridge".into(),
                "--install".into(),
                "--bounce".into(),
                format!("--port={}", bridge.port).into(),
                format!("--tls-port={}", bridge.tls_port).into(),
                "--spool".into(),
                bridge.spool.clone().into(),
            ];
            if on_network_chosen(config_file).await {
                for network in
                    crate::bridge::network::networks(&crate::bridge::network::local_addresses())
                {
                    arguments.push(format!("--allow={network}").into());
                }
            }
            // The service takes the ports: this window's bridge stops first (held, so nothing starts it meanwhile).
            let mut running = slot.lock().await;
            if let Some(stopping) = running.take() {
                stopping.bridge.stop().await;
            }
            reporter.send(DevicesEvent::Bridge(BridgeStatus::Starting));
            let installed = match std::env::current_exe() {
                Ok(program) => run_for(&program, &arguments).await,
                Err(error) => Err(error.to_string()),
            };
            // The command says what it wrote even when systemd did not start it: ask systemd.
            let installed = match installed {
                Ok(()) => run_for(
                    std::path::Path::new("systemctl"),
                    &[
                        "--user".into(),
                        "is-active".into(),
                        "--quiet".into(),
                        "mailconnect-bridge.service".into(),
                    ],
                )
                .await
                .map_err(|_| {
                    "the service was written but systemd did not start it (is this a desktop session?)"
                        .to_owned()
                }),
                failed => failed,
            };
            drop(running);
            reporter.send(DevicesEvent::ServiceInstalled(installed));
            // Started again: the port now in use says the service runs; free, this window runs it once more.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            start_bridge(reporter, services, slot, false, false).await;
        });
    }

    /// Sends a test message through the bridge as the device (on this computer: no TLS needed), addressed to its
    /// mailbox, then reads the queue again until it has gone (or a minute passed).
    pub fn send_test_message(&self, row: DeviceRow, password: SecretString, port: u16) {
        let reporter = self.reporter();
        let services = self.services.clone();
        let slot = self.bridge.clone();
        self.runtime.spawn(async move {
            // Open to the network: the way a device there does, to this computer's network address over TLS.
            let route = slot.lock().await.as_ref().and_then(|running| {
                let tls_port = running.bridge.listening_tls.first()?.port();
                let first = running.network.first()?;
                Some((first.address, tls_port, running.bridge.certificate.clone()))
            });
            let sent = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                super::device_test::test_message(port, route, &row, &password),
            )
            .await
            .unwrap_or_else(|_| Err("the bridge did not answer in 30 seconds".to_owned()));
            reporter.send(DevicesEvent::TestSent(sent));
            for _ in 0..30 {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let services = services.clone();
                let rows = tokio::task::spawn_blocking(move || read_rows(&services))
                    .await
                    .unwrap_or_else(|error| Err(error.to_string()));
                let done = rows
                    .as_ref()
                    .is_ok_and(|(rows, _)| rows.iter().all(|row| row.waiting == 0));
                reporter.send(DevicesEvent::Read(rows));
                if done {
                    break;
                }
            }
        });
    }
}

/// Runs `program` with `arguments` for at most a minute; `Err` with what it said on standard error when it failed.
async fn run_for(
    program: &std::path::Path,
    arguments: &[std::ffi::OsString],
) -> Result<(), String> {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(program)
            .kill_on_drop(true)
            .args(arguments)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| "it did not finish within a minute".to_owned())?
    .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(crate::words::excerpt(said.trim(), 300))
    }
}

/// The window's bridge, once started, with the addresses it was opened to (what the page shows is what the bridge
/// allows, even when the computer's addresses change later).
pub struct WindowBridgeRunning {
    bridge: RunningBridge,
    /// This computer's addresses whose networks may send (empty: this computer only).
    network: Vec<crate::bridge::network::LocalAddress>,
    /// "Devices on this network can send" was on when it started.
    on_network: bool,
}

/// The window's bridge. Every start and stop holds its lock throughout, so two can never race.
pub type BridgeSlot = Arc<tokio::sync::Mutex<Option<WindowBridgeRunning>>>;

/// Whether the settings say the window's bridge takes mail from the network.
async fn on_network_chosen(config_file: &crate::config::ConfigFile) -> bool {
    let config_file = config_file.clone();
    tokio::task::spawn_blocking(move || config_file.load())
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|config| config.bridge_on_network)
}

/// Starts the window's bridge (see [`EffectRunner::start_bridge`]); with `restart`, stops a running one first.
async fn start_bridge(
    reporter: super::Reporter,
    services: Arc<Services>,
    slot: BridgeSlot,
    only_with_devices: bool,
    restart: bool,
) {
    let (Some(config_file), Some(bridge)) = (&services.config_file, &services.bridge) else {
        reporter.send(DevicesEvent::Bridge(BridgeStatus::NotSetUp));
        return;
    };
    if only_with_devices
        && Devices::load(&devices_path(config_file.path()))
            .map_or(true, |devices| devices.devices.is_empty())
    {
        return;
    }
    let mut running = slot.lock().await;
    if restart && let Some(stopping) = running.take() {
        stopping.bridge.stop().await;
    }
    if let Some(running) = running.as_ref() {
        reporter.send(DevicesEvent::Bridge(running_status(running)));
        return;
    }
    let on_network = on_network_chosen(config_file).await;
    // On the network: every address of this computer, open to its private networks only; otherwise this
    // computer alone.
    let (network, host) = if on_network {
        (
            crate::bridge::network::local_addresses(),
            std::net::Ipv4Addr::UNSPECIFIED,
        )
    } else {
        (Vec::new(), std::net::Ipv4Addr::LOCALHOST)
    };
    let options = BridgeOptions {
        listen: vec![std::net::SocketAddr::from((host, bridge.port))],
        implicit_tls: vec![std::net::SocketAddr::from((host, bridge.tls_port))],
        allow: crate::bridge::network::networks(&network),
        spool: bridge.spool.clone(),
        config_file: config_file.clone(),
        devices_file: devices_path(config_file.path()),
        host_name: crate::bridge::network::computer_name(),
        first_retry: std::time::Duration::from_secs(60),
        bounce: true,
        limits: Default::default(),
    };
    let bridge_services = BridgeServices {
        store: services.store.clone(),
        trust: services.trust.clone(),
        timeouts: services.timeouts,
    };
    let status = match crate::bridge::start(options, bridge_services).await {
        Ok(started) => {
            let started = WindowBridgeRunning {
                bridge: started,
                network,
                on_network,
            };
            let status = running_status(&started);
            *running = Some(started);
            drop(running);
            // What waits or was refused shows at once (the home's notice, the page).
            let services = services.clone();
            let rows = tokio::task::spawn_blocking(move || read_rows(&services))
                .await
                .unwrap_or_else(|error| Err(error.to_string()));
            reporter.send(DevicesEvent::Read(rows));
            status
        }
        Err(error)
            if error.to_string().contains("Address already in use")
                || error.to_string().contains("already runs with this queue") =>
        {
            BridgeStatus::PortInUse { port: bridge.port }
        }
        Err(error) => BridgeStatus::Failed(format!("{error:#}")),
    };
    reporter.send(DevicesEvent::Bridge(status));
}

/// What the page shows of a running bridge.
fn running_status(running: &WindowBridgeRunning) -> BridgeStatus {
    BridgeStatus::Running {
        port: running.bridge.listening.first().map_or(0, |a| a.port()),
        tls_port: running.bridge.listening_tls.first().map_or(0, |a| a.port()),
        network: running.network.clone(),
        on_network: running.on_network,
    }
}
