//! The `mailconnect` program: parses arguments, builds the runtime and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mailconnect::cli::UsageError;
use mailconnect::config::{ConfigFile, Preset, Provider, load_preset_file};
use mailconnect::runner::Services;
use mailconnect::tls::Trust;
use mailconnect::wizard::{AccountForm, Wizard};

/// Moves a mailbox from Basic Auth to OAuth 2.0 (Microsoft 365) and keeps it connected.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Arguments {
    /// Open the wizard against the built-in practice sandbox: fully offline, with a ready-made practice mailbox.
    #[arg(long)]
    demo: bool,
    /// With --demo: a practice of 20 mailboxes reached through one service account, on the accounts home.
    #[arg(long, requires = "demo")]
    practice: bool,
    /// Open the window straight at signing this mailbox in again (the notification's "Re-authenticate now").
    #[arg(long, value_name = "MAILBOX")]
    reauthenticate: Option<String>,
    /// The configuration file (default: config.toml in the platform's configuration folder).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Without a command, the wizard opens.
    #[command(subcommand)]
    command: Option<mailconnect::cli::Command>,
}

fn main() -> ExitCode {
    mailconnect::logging::init("warn");
    match run(Arguments::parse()) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say, and nothing went wrong.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("mailconnect: {}", mailconnect::cli::describe_error(&error));
            mailconnect::cli::exit_code_for(&error)
        }
    }
}

fn run(arguments: Arguments) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if arguments.demo {
        // The practice's accounts home, or the wizard whose code is approved by itself after eight seconds.
        let demo = runtime
            .block_on(mailconnect::demo::open(
                arguments.practice,
                Some(std::time::Duration::from_secs(8)),
            ))
            .context("starting the demo")?;
        let (_sandbox, _folder) = (demo.sandbox, demo.folder);
        mailconnect::ui::run(
            runtime.handle().clone(),
            demo.services,
            demo.wizard,
            demo.accounts,
            None,
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let config_file = match arguments.config {
        Some(path) => ConfigFile::at(path),
        None => ConfigFile::default_location()?,
    };
    if let Some(command) = arguments.command {
        let result = mailconnect::cli::run(command, config_file, &runtime);
        // Everything the command needed is done. A keyring call still tidying in the background (GNOME Keyring can
        // stall one for a minute) must not keep the mail program that waits for our exit waiting too.
        runtime.shutdown_background();
        return result;
    }
    let config = config_file
        .load()
        .map_err(|error| UsageError(error.to_string()))?;
    let presets = match &config.preset_file {
        Some(path) => load_preset_file(path).map_err(|error| UsageError(error.to_string()))?,
        None => Vec::new(),
    };
    let form = match config.accounts.first() {
        Some(account) => AccountForm::from_account(account),
        None => AccountForm::new_for(
            presets
                .first()
                .cloned()
                .unwrap_or_else(|| Preset::for_provider(Provider::Microsoft365)),
        ),
    };
    let services = Services {
        trust: Trust::new(config.extra_ca_file.as_deref())?,
        timeouts: config.timeouts,
        store: mailconnect::store::StoreAccess::Keyring {
            service: mailconnect::store::SERVICE,
        },
        config_file: Some(config_file),
        state_file: mailconnect::state::StateFile::default_location(),
        open_browser: true,
        demo_password: None,
        demo: false,
        bridge: mailconnect::cli_bridge::default_spool().ok().map(|spool| {
            mailconnect::runner::WindowBridge {
                spool,
                port: 2525,
                tls_port: 2465,
            }
        }),
    };
    let mut wizard = Wizard::new(config.accounts.clone(), form);
    wizard.presets = presets;
    mailconnect::ui::run(
        runtime.handle().clone(),
        services,
        wizard,
        config.accounts,
        arguments.reauthenticate,
    )
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(ExitCode::SUCCESS)
}
