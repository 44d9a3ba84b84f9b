//! `mailconnect bridge` and `mailconnect device`: run the SMTP bridge for scanners and old practice software, and
//! add, list and remove the devices that send through it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::bridge::devices::{Devices, devices_path};
use crate::bridge::spool::{Asked, MessageState, Request, Spool};
use crate::bridge::{BridgeOptions, BridgeServices};
use crate::cli::UsageError;
use crate::config::{Config, ConfigFile};

/// How the bridge is started (`mailconnect bridge`).
#[derive(clap::Args, Debug)]
pub struct BridgeArgs {
    /// The port for SMTP with STARTTLS.
    #[arg(long, default_value_t = 2525)]
    port: u16,
    /// The port for SMTP over TLS from the first byte (0: none).
    #[arg(long, default_value_t = 2465)]
    tls_port: u16,
    /// Listen on the local network too, for this address or network only (such as 192.168.1.0/24); repeat for
    /// more. Without it only this computer can connect.
    #[arg(long = "allow", value_name = "ADDRESS OR NETWORK", value_parser = parse_allowed)]
    allow: Vec<ipnet::IpNet>,
    /// The queue's folder (default: mailconnect's data folder).
    #[arg(long, value_name = "FOLDER")]
    spool: Option<PathBuf>,
    /// Seconds to wait after a message's first temporary failure (the provider down, the sign-in ended); the wait
    /// doubles with each further failure, up to 30 minutes.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    first_retry: u64,
    /// When the provider refuses a message for good, also tell the mailbox in a message of its own.
    #[arg(long)]
    bounce: bool,
    /// Run the bridge as a systemd user service with these settings, started now, at every boot (lingering),
    /// and again after a failure (Linux).
    #[arg(long, conflicts_with = "uninstall")]
    install: bool,
    /// Stop that service and remove it.
    #[arg(long)]
    uninstall: bool,
}

const UNIT: &str = "mailconnect-bridge.service";

/// The systemd user unit that runs the bridge with `arguments` on the settings in `config` (made absolute),
/// restarted after a failure.
pub fn systemd_unit(
    program: &std::path::Path,
    arguments: &[String],
    config: &std::path::Path,
) -> Result<String, crate::units::UnitError> {
    let mut words = vec![
        "--config".to_owned(),
        crate::units::path_text(config)?,
        "bridge".to_owned(),
    ];
    words.extend(arguments.iter().cloned());
    Ok(format!(
        "[Unit]\nDescription=mailconnect bridge: the practice's scanners and programs send mail through it\n\
         After=network-online.target\nWants=network-online.target\n\n\
         [Service]\nExecStart={}\nRestart=on-failure\nRestartSec=10\n\n\
         [Install]\nWantedBy=default.target\n",
        crate::units::exec_start(program, &words)?
    ))
}

/// The bridge's own arguments, as the unit repeats them.
fn unit_arguments(args: &BridgeArgs) -> Result<Vec<String>, crate::units::UnitError> {
    let mut arguments = vec![
        "--port".to_owned(),
        args.port.to_string(),
        "--tls-port".to_owned(),
        args.tls_port.to_string(),
        "--first-retry".to_owned(),
        args.first_retry.to_string(),
    ];
    for allowed in &args.allow {
        arguments.push("--allow".to_owned());
        arguments.push(allowed.to_string());
    }
    if args.bounce {
        arguments.push("--bounce".to_owned());
    }
    if let Some(spool) = &args.spool {
        arguments.push("--spool".to_owned());
        arguments.push(crate::units::path_text(spool)?);
    }
    Ok(arguments)
}

fn install_service(args: &BridgeArgs, config_file: &ConfigFile) -> anyhow::Result<ExitCode> {
    let folder = crate::keepalive::user_unit_folder()
        .ok_or_else(|| UsageError("no home folder on this computer".into()))?;
    let program = std::env::current_exe()?;
    let unit = unit_arguments(args)
        .and_then(|arguments| systemd_unit(&program, &arguments, config_file.path()))
        .map_err(|error| UsageError(error.to_string()))?;
    std::fs::create_dir_all(&folder)?;
    crate::config::write_atomically(&folder.join(UNIT), unit.as_bytes())?;
    println!("Wrote {}.", folder.join(UNIT).display());
    let steps = crate::cli_timer::systemctl(&["daemon-reload"])
        .and_then(|()| crate::cli_timer::systemctl(&["enable", "--now", UNIT]));
    match steps {
        Ok(()) => println!("The bridge runs now, and again after a failure."),
        Err(error) => println!(
            "systemd did not take it yet ({error}). In a desktop session run: systemctl --user enable --now {UNIT}"
        ),
    }
    // Lingering starts the user's services at boot, before anyone logs in. Without a name loginctl takes the user
    // this process runs as, whatever $USER says (unset under cron, another user's after `su`).
    match std::process::Command::new("loginctl")
        .arg("enable-linger")
        .status()
    {
        Ok(status) if status.success() => {
            println!("It also starts when the computer starts, before anyone logs in.")
        }
        _ => println!(
            "To start it when the computer starts, before anyone logs in, run as this user: loginctl enable-linger"
        ),
    }
    println!(
        "Where the sign-in lives: in this user's keyring, which is locked until the user logs in. Until then the \
         bridge accepts mail and queues it; it goes as soon as the keyring is unlocked."
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall_service() -> anyhow::Result<ExitCode> {
    let folder = crate::keepalive::user_unit_folder()
        .ok_or_else(|| UsageError("no home folder on this computer".into()))?;
    let _ = crate::cli_timer::systemctl(&["disable", "--now", UNIT]);
    let removed = std::fs::remove_file(folder.join(UNIT)).is_ok();
    let _ = crate::cli_timer::systemctl(&["daemon-reload"]);
    println!(
        "{}",
        if removed {
            "Removed the bridge service."
        } else {
            "The bridge service was not set up."
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The `device` subcommands.
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Add a device or program: prints its user name, its password (shown only now) and what to type into it.
    Add {
        /// What the practice calls it, such as "Scanner in reception".
        name: String,
        /// The mailbox it sends as (set up in mailconnect, with a saved sign-in).
        #[arg(long)]
        mailbox: String,
        /// Let this device sign in without TLS from the local network (only for old devices that cannot do TLS:
        /// its password then crosses the network readable).
        #[arg(long)]
        plain_on_lan: bool,
    },
    /// List the devices, with their queued messages and last problem.
    List,
    /// Remove a device (by its name or user name); it can no longer sign in.
    Remove { name: String },
    /// Make a new password for a device (by its name or user name) and print its settings again; the old password
    /// stops working.
    Password { name: String },
    /// Try a queued message again now (also one refused or past its age limit), by the id `device list` shows.
    Retry {
        /// The message's id (its last 8 characters are enough).
        message: String,
    },
    /// Remove a queued message unsent, by the id `device list` shows.
    Drop {
        /// The message's id (its last 8 characters are enough).
        message: String,
    },
}

fn parse_allowed(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("\"{text}\" is not an address or a network such as 192.168.1.0/24"))
}

/// The queue's folder when none is given: `spool` in mailconnect's data folder.
pub fn default_spool() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "mailconnect")
        .map(|dirs| dirs.data_local_dir().join("spool"))
        .ok_or_else(|| {
            UsageError("no data folder on this computer; give --spool".to_owned()).into()
        })
}

/// Runs the bridge until stopped (Ctrl+C or the service manager).
pub fn run_bridge(
    args: BridgeArgs,
    config_file: &ConfigFile,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    if args.install {
        return install_service(&args, config_file);
    }
    if args.uninstall {
        return uninstall_service();
    }
    let host = if args.allow.is_empty() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let options = BridgeOptions {
        listen: vec![SocketAddr::new(host, args.port)],
        implicit_tls: if args.tls_port == 0 {
            Vec::new()
        } else {
            vec![SocketAddr::new(host, args.tls_port)]
        },
        allow: args.allow.clone(),
        spool: match args.spool {
            Some(folder) => folder,
            None => default_spool()?,
        },
        config_file: config_file.clone(),
        devices_file: devices_path(config_file.path()),
        host_name: crate::bridge::network::computer_name(),
        first_retry: std::time::Duration::from_secs(args.first_retry.max(1)),
        bounce: args.bounce,
        limits: Default::default(),
    };
    let services = BridgeServices {
        store: crate::store::StoreAccess::Keyring {
            service: crate::store::SERVICE,
        },
        trust: crate::tls::Trust::new(config.extra_ca_file.as_deref())
            .map_err(|error| UsageError(error.to_string()))?,
        timeouts: config.timeouts,
    };
    runtime.block_on(async {
        let running = crate::bridge::start(options.clone(), services).await?;
        let mut err = std::io::stderr().lock();
        for address in &running.listening {
            writeln!(err, "Listening on {address} (SMTP, STARTTLS)")?;
        }
        for address in &running.listening_tls {
            writeln!(err, "Listening on {address} (SMTP over TLS)")?;
        }
        if options.allow.is_empty() {
            writeln!(err, "Only programs on this computer can connect (--allow opens it to the local network).")?;
        } else {
            let allowed: Vec<String> = options.allow.iter().map(ToString::to_string).collect();
            writeln!(err, "Programs on this computer and on {} can connect.", allowed.join(", "))?;
        }
        writeln!(err, "The queue is in {}. Stop with Ctrl+C.", options.spool.display())?;
        drop(err);
        tokio::signal::ctrl_c().await?;
        drop(running);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a `device` subcommand.
pub fn run_device(
    command: DeviceCommand,
    config_file: &ConfigFile,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let path = devices_path(config_file.path());
    let mut devices = Devices::load(&path).map_err(|error| UsageError(error.to_string()))?;
    let mut out = std::io::stdout().lock();
    match command {
        DeviceCommand::Add {
            name,
            mailbox,
            plain_on_lan,
        } => {
            let Some(account) = config.account(&mailbox) else {
                return Err(UsageError(format!(
                    "{mailbox} is not set up; set it up and sign it in first (the window, or `{}`)",
                    crate::words::command("login", &[&mailbox])
                ))
                .into());
            };
            let (device, password) = devices
                .add(&name, &account.mailbox, plain_on_lan)
                .map_err(|error| UsageError(error.to_string()))?;
            devices
                .save(&path)
                .map_err(|error| UsageError(error.to_string()))?;
            writeln!(
                out,
                "Added \"{}\", sending as {}.",
                device.name, device.mailbox
            )?;
            print_settings(&mut out, &device, &password)?;
        }
        DeviceCommand::Password { name } => {
            let (device, password) = devices
                .new_password(&name)
                .map_err(|error| UsageError(error.to_string()))?;
            devices
                .save(&path)
                .map_err(|error| UsageError(error.to_string()))?;
            writeln!(
                out,
                "\"{}\" has a new password; the old one no longer works.",
                device.name
            )?;
            print_settings(&mut out, &device, &password)?;
        }
        DeviceCommand::List => {
            let queued = Spool::view(default_spool()?)
                .envelopes()
                .unwrap_or_default();
            if devices.devices.is_empty() {
                writeln!(
                    out,
                    "No devices yet: `mailconnect device add \"Scanner\" --mailbox <mailbox>`."
                )?;
            }
            let now = crate::words::now_unix();
            for device in crate::bridge::device_summaries(&devices, &queued, now) {
                writeln!(
                    out,
                    "{} (user name {}), sends as {}",
                    device.name, device.user_name, device.mailbox
                )?;
                if device.plain_on_lan {
                    writeln!(
                        out,
                        "  warning: may sign in without encryption on the local network"
                    )?;
                }
                writeln!(
                    out,
                    "  queue: {} waiting, {} refused",
                    device.waiting, device.refused
                )?;
                if let Some(problem) = &device.last_problem {
                    writeln!(out, "  last problem: {problem}")?;
                }
                if let Some(next) = device.next_attempt_at {
                    writeln!(
                        out,
                        "  next try: in {} (or at once when the bridge restarts)",
                        crate::words::duration(std::time::Duration::from_secs(next - now))
                    )?;
                }
                for envelope in queued
                    .iter()
                    .filter(|envelope| envelope.device.eq_ignore_ascii_case(&device.user_name))
                {
                    let state = match envelope.state {
                        MessageState::Refused => "refused",
                        MessageState::Waiting => "waiting",
                    };
                    writeln!(
                        out,
                        "  message {}: {state}, received {}, {}",
                        envelope.id.short(),
                        crate::words::day_and_month(envelope.received_at),
                        crate::words::count(
                            envelope.recipients.len() as u64,
                            "recipient",
                            "recipients"
                        )
                    )?;
                }
            }
            if !queued.is_empty() {
                writeln!(
                    out,
                    "Try a message again with `mailconnect device retry <message>`, or remove it with `mailconnect device drop <message>`."
                )?;
            }
        }
        DeviceCommand::Retry { message } | DeviceCommand::Drop { message }
            if message.trim().is_empty() =>
        {
            return Err(
                UsageError("give the message's id from `mailconnect device list`".into()).into(),
            );
        }
        DeviceCommand::Retry { message } => {
            ask_for_message(&mut out, &message, Request::Retry)?;
        }
        DeviceCommand::Drop { message } => {
            ask_for_message(&mut out, &message, Request::Drop)?;
        }
        DeviceCommand::Remove { name } => {
            let removed = devices
                .remove(&name)
                .map_err(|error| UsageError(error.to_string()))?;
            devices
                .save(&path)
                .map_err(|error| UsageError(error.to_string()))?;
            writeln!(
                out,
                "Removed \"{}\" (user name {}); it can no longer sign in.",
                removed.name, removed.user_name
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What to type into a device, with its password (shown only now).
fn print_settings(
    out: &mut impl Write,
    device: &crate::bridge::devices::Device,
    password: &secrecy::SecretString,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Type these into the device; the password is shown only now:"
    )?;
    writeln!(
        out,
        "  SMTP server: this computer's name or address (127.0.0.1 for a program on it)"
    )?;
    writeln!(
        out,
        "  Port:        2525 with STARTTLS, or 2465 with SSL/TLS"
    )?;
    writeln!(out, "  Sign-in:     on (AUTH), user name and password")?;
    writeln!(out, "  User name:   {}", device.user_name)?;
    writeln!(out, "  Password:    {}", password.expose_secret())?;
    writeln!(out, "  From:        {}", device.mailbox)?;
    if device.plain_on_lan {
        writeln!(
            out,
            "Warning: this device may sign in without encryption on the local network; anyone on the network \
             could read its password. Use STARTTLS or SSL/TLS if the device offers it."
        )?;
    }
    Ok(())
}

/// Asks for a queued message to be tried again or dropped, and says what happens.
fn ask_for_message(out: &mut impl Write, message: &str, request: Request) -> anyhow::Result<()> {
    let spool = Spool::view(default_spool()?);
    let envelope = spool.find(message).map_err(UsageError)?;
    let asked = spool
        .ask(&envelope.id, request)
        .map_err(|error| UsageError(format!("the queue cannot be written: {error}")))?;
    let id = envelope.id.short();
    let words = match (request, asked) {
        (Request::Retry, Asked::Passed) => {
            format!("The bridge tries message {id} again within seconds.")
        }
        (Request::Retry, Asked::Done) => {
            format!(
                "Message {id} is tried again as soon as the bridge runs (it is not running now)."
            )
        }
        (Request::Drop, Asked::Passed) => {
            format!(
                "The bridge removes message {id} from the queue within seconds; it is not sent."
            )
        }
        (Request::Drop, Asked::Done) => {
            format!("Removed message {id} from the queue; it is not sent.")
        }
    };
    writeln!(out, "{words}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_service_runs_the_bridge_with_its_settings_quoted_for_systemd() {
        let unit = super::systemd_unit(
            std::path::Path::new("/opt/mail connect/mailconnect"),
            &["--allow".to_owned(), "192.168.1.0/24".to_owned()],
            std::path::Path::new("/home/reception/.config/mailconnect/config 100%.toml"),
        )
        .unwrap();
        assert!(unit.contains(
            "ExecStart=\"/opt/mail connect/mailconnect\" \"--config\" \"/home/reception/.config/mailconnect/config 100%%.toml\" \"bridge\" \"--allow\" \"192.168.1.0/24\""
        ), "{unit}");
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("WantedBy=default.target"));
    }
}
