//! `mailconnect app`: sets up the organisation's own app registration for app-only access (client credentials):
//! a certificate made here (preferred) or a client secret, kept in the keyring, and the ids kept in the settings.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};

use crate::app_only::{AppRegistration, AppSecret};
use crate::cli::UsageError;
use crate::config::{Config, ConfigFile};
use crate::store::TokenStore;

/// The `app` subcommands.
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Make a key pair and a certificate for the app (preferred): the private key stays in the keyring, the
    /// certificate is printed (or written with --out) for uploading to the app registration.
    Certificate {
        #[command(flatten)]
        ids: AppIds,
        /// Write the certificate to this file instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Keep a client secret made in the Entra admin center (read from standard input, never from the command
    /// line) with the day it expires; a warning comes 30 days before.
    Secret {
        #[command(flatten)]
        ids: AppIds,
        /// The last day the secret works, as the admin center shows it (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        expires: chrono::NaiveDate,
    },
    /// Show the apps (or only the one named), each with its certificate or secret and when it ends.
    Show {
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
    },
    /// Remove the app's private key or secret from the keyring and the app from the settings.
    Forget {
        #[arg(long, value_name = "ID")]
        client_id: String,
    },
}

/// The app registration's ids.
#[derive(clap::Args, Debug)]
pub struct AppIds {
    /// The Application (client) id from App registrations > the app > Overview.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The tenant id or domain (such as contoso.onmicrosoft.com): an app signs in to one organisation.
    #[arg(long)]
    tenant: String,
    /// The Object ID on Enterprise applications > the app (not the one on App registrations), for the
    /// PowerShell that registers the app in Exchange.
    #[arg(long, value_name = "ID")]
    enterprise_object_id: Option<String>,
}

impl AppIds {
    fn registration(&self) -> Result<AppRegistration, UsageError> {
        let registration = AppRegistration {
            client_id: self.client_id.trim().to_owned(),
            tenant: self.tenant.trim().to_owned(),
            enterprise_object_id: self
                .enterprise_object_id
                .as_ref()
                .map(|id| id.trim().to_owned()),
        };
        match registration.problems().first() {
            Some(problem) => Err(UsageError(problem.message.clone())),
            None => Ok(registration),
        }
    }
}

/// Runs an `app` subcommand.
pub fn run(
    command: AppCommand,
    config_file: &ConfigFile,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Certificate { ids, out } => certificate(&ids, out, config_file, config),
        AppCommand::Secret { ids, expires } => secret(&ids, expires, config_file, config),
        AppCommand::Show { client_id } => show(config, client_id.as_deref()),
        AppCommand::Forget { client_id } => forget(&client_id, config_file, config),
    }
}

use crate::app_only::today;
use crate::store::AppCredentialSlot as Slot;

fn certificate(
    ids: &AppIds,
    out: Option<PathBuf>,
    config_file: &ConfigFile,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let registration = ids.registration()?;
    let store = TokenStore::open()?;
    eprintln!("Making a key pair and a certificate for the app…");
    let generated = crate::app_only::certificate::generate(&registration.client_id, today())?;
    // The certificate is shown (or written) before anything is stored, so nothing stored is ever without it.
    match &out {
        Some(path) => std::fs::write(path, &generated.certificate_pem).map_err(|error| {
            UsageError(format!("{} cannot be written: {error}", path.display()))
        })?,
        None => {
            print!("{}", generated.certificate_pem);
            std::io::stdout().flush()?;
        }
    }
    save_registration(config_file, config, registration.clone())?;
    let slot = store.add_app_credential(
        &registration.client_id,
        &AppSecret::PrivateKey {
            key: generated.private_key,
            thumbprint_sha256: generated.thumbprint_sha256.clone(),
            thumbprint_sha1_hex: Some(generated.thumbprint_sha1_hex.clone()),
        },
        generated.expires,
    )?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "\nThe private key is in this computer's keyring; it never leaves it."
    )?;
    match &out {
        Some(path) => writeln!(err, "The certificate is in {}.", path.display())?,
        None => writeln!(
            err,
            "Save the certificate above as mailconnect.cer (from -----BEGIN to END-----)."
        )?,
    }
    writeln!(
        err,
        "Upload it: Entra admin center > App registrations > the app > Certificates & secrets > Certificates > \
         Upload certificate.\nThumbprint (shown there after the upload): {}\nIt works until {}; a warning comes 30 \
         days before.",
        generated.thumbprint_sha1_hex,
        generated.expires.format("%-d %b %Y"),
    )?;
    if slot == Slot::Pending {
        writeln!(err, "{}", waiting_words("certificate"))?;
    } else {
        writeln!(
            err,
            "Next: `mailconnect import <list> --app {} --save`, then `mailconnect powershell --all` for the Exchange \
             admin.",
            registration.client_id
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn secret(
    ids: &AppIds,
    expires: chrono::NaiveDate,
    config_file: &ConfigFile,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let registration = ids.registration()?;
    if expires < today() {
        return Err(UsageError(format!(
            "that secret stopped working on {expires}; make a new one in the Entra admin center"
        ))
        .into());
    }
    let secret = read_secret()?;
    let store = TokenStore::open()?;
    let slot = store.add_app_credential(
        &registration.client_id,
        &AppSecret::ClientSecret(secret),
        expires,
    )?;
    save_registration(config_file, config, registration.clone())?;
    eprintln!(
        "The client secret is in this computer's keyring. It works until {}; a warning comes 30 days before.",
        expires.format("%-d %b %Y"),
    );
    if slot == Slot::Pending {
        eprintln!("{}", waiting_words("client secret"));
    } else {
        eprintln!(
            "Next: `mailconnect import <list> --app {} --save`, then `mailconnect powershell --all` for the Exchange \
             admin.",
            registration.client_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What happens to a new credential made while one is in use.
fn waiting_words(what: &str) -> String {
    format!(
        "The app's credential in use keeps working: the new {what} waits beside it and takes over by itself the first \
         time Microsoft accepts it (`mailconnect app show` says while it waits). If Microsoft refuses it, nothing \
         changes; give the right one again. Remove the old credential from the app registration once the new one is \
         in use."
    )
}

/// The secret from standard input: asked for without echo on a terminal, else the first line.
fn read_secret() -> anyhow::Result<SecretString> {
    let text = if std::io::stdin().is_terminal() {
        SecretString::from(rpassword::prompt_password(
            "Paste the secret's Value (not its Secret ID) and press Enter: ",
        )?)
    } else {
        let mut text = String::new();
        std::io::stdin().take(64 * 1024).read_to_string(&mut text)?;
        SecretString::from(text)
    };
    let secret = text.expose_secret().lines().next().unwrap_or("").trim();
    if secret.is_empty() {
        return Err(UsageError("no secret was given on standard input".to_owned()).into());
    }
    // Microsoft's list shows a Secret ID (a GUID) beside the Value; the ID is the usual mistake (AADSTS7000215).
    if crate::config::validate::client_id(secret).is_ok() {
        return Err(UsageError(
            "that is the secret's ID, not its Value: copy the Value column (shown only when the secret is made)"
                .to_owned(),
        )
        .into());
    }
    Ok(SecretString::from(secret.to_owned()))
}

/// Adds or replaces the app in the settings (one entry per client id).
fn save_registration(
    config_file: &ConfigFile,
    config: &Config,
    registration: AppRegistration,
) -> anyhow::Result<()> {
    let mut updated = config.clone();
    match updated
        .apps
        .iter_mut()
        .find(|app| app.client_id.eq_ignore_ascii_case(&registration.client_id))
    {
        Some(app) => {
            app.tenant = registration.tenant.clone();
            if registration.enterprise_object_id.is_some() {
                app.enterprise_object_id = registration.enterprise_object_id.clone();
            }
        }
        None => updated.apps.push(registration.clone()),
    }
    // A mailbox on the app asks the app's tenant for tokens: it follows the app.
    for account in updated.accounts.iter_mut().filter(|account| {
        account.app_only
            && account
                .client_id
                .eq_ignore_ascii_case(&registration.client_id)
    }) {
        account.tenant = registration.tenant.clone();
    }
    config_file.save(&updated)?;
    Ok(())
}

fn show(config: &Config, client_id: Option<&str>) -> anyhow::Result<ExitCode> {
    let apps: Vec<&AppRegistration> = config
        .apps
        .iter()
        .filter(|app| client_id.is_none_or(|id| app.client_id.eq_ignore_ascii_case(id.trim())))
        .collect();
    if apps.is_empty() {
        return match client_id {
            Some(id) => Err(UsageError(format!(
                "the app {id} is not set up (`mailconnect app show` lists those that are)"
            ))
            .into()),
            None => {
                println!(
                    "No app is set up. `mailconnect app certificate --client-id … --tenant …` sets one up."
                );
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    let store = TokenStore::open()?;
    let mut out = std::io::stdout().lock();
    for app in apps {
        let mailboxes = config
            .accounts
            .iter()
            .filter(|account| {
                account.app_only && account.client_id.eq_ignore_ascii_case(&app.client_id)
            })
            .count();
        writeln!(out, "App {} (tenant {})", app.client_id, app.tenant)?;
        writeln!(
            out,
            "  enterprise application object id: {}",
            app.enterprise_object_id
                .as_deref()
                .unwrap_or("not given (--enterprise-object-id)")
        )?;
        writeln!(
            out,
            "  mailboxes:  {}",
            crate::words::count(mailboxes as u64, "mailbox", "mailboxes")
        )?;
        match store.app_credential_info(&app.client_id, Slot::Current) {
            Ok(Some(info)) => {
                writeln!(
                    out,
                    "  credential: {}, works until {}",
                    info.kind.label(),
                    info.expires.format("%-d %b %Y")
                )?;
                if let Some(thumbprint) = &info.thumbprint_sha1_hex {
                    writeln!(out, "  thumbprint: {thumbprint}")?;
                }
                if let Some(warning) = info.expiry_warning(today()) {
                    writeln!(out, "  warning:    {warning}")?;
                }
            }
            Ok(None) => writeln!(
                out,
                "  credential: none on this computer (`mailconnect app certificate` or `mailconnect app secret`)"
            )?,
            Err(error) => writeln!(out, "  credential: cannot be read ({})", error.code())?,
        }
        if let Ok(Some(pending)) = store.app_credential_info(&app.client_id, Slot::Pending) {
            let thumbprint = pending
                .thumbprint_sha1_hex
                .as_deref()
                .map(|thumbprint| format!(" thumbprint {thumbprint},"))
                .unwrap_or_default();
            writeln!(
                out,
                "  new {}, waiting until Microsoft accepts it (the one above is used until then):{thumbprint} works \
                 until {}",
                pending.kind.label(),
                pending.expires.format("%-d %b %Y")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn forget(client_id: &str, config_file: &ConfigFile, config: &Config) -> anyhow::Result<ExitCode> {
    let using: Vec<&str> = config
        .accounts
        .iter()
        .filter(|account| {
            account.app_only && account.client_id.eq_ignore_ascii_case(client_id.trim())
        })
        .map(|account| account.mailbox.as_str())
        .collect();
    if !using.is_empty() {
        return Err(UsageError(format!(
            "{} still use this app ({}); remove them first (`mailconnect forget <mailbox>` and the window's Remove)",
            crate::words::count(using.len() as u64, "mailbox", "mailboxes"),
            using.join(", ")
        ))
        .into());
    }
    let store = TokenStore::open()?;
    let had = store.delete_app_credential(client_id, Slot::Current)?
        | store.delete_app_credential(client_id, Slot::Pending)?;
    let mut updated = config.clone();
    updated
        .apps
        .retain(|app| !app.client_id.eq_ignore_ascii_case(client_id.trim()));
    if updated != *config {
        config_file.save(&updated)?;
    }
    println!(
        "{}",
        if had {
            "The app's private key or secret was removed from the keyring."
        } else {
            "No private key or secret for that app was stored."
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// One line per app that mailboxes are reached with: its credential's health (a warning from 30 days before
/// its end). Returns whether all are fine.
pub fn report_credentials(
    config: &Config,
    store: &TokenStore,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut all_fine = true;
    let today = today();
    let mut client_ids: Vec<String> = config
        .accounts
        .iter()
        .filter(|account| account.app_only)
        .map(|account| account.client_id.to_ascii_lowercase())
        .collect();
    client_ids.sort();
    client_ids.dedup();
    for client_id in client_ids {
        let info = store.app_credential_info(&client_id, Slot::Current);
        let health = crate::health::Health::assess_app(&info, today);
        all_fine &= health == crate::health::Health::Connected;
        let warning = info
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(|info| info.expiry_warning(today));
        if json {
            let line = serde_json::json!({
                "app": client_id,
                "result": health.code(),
                "words": warning.clone().unwrap_or_else(|| health.words()),
            });
            writeln!(out, "{line}")?;
        } else {
            let words = warning.unwrap_or_else(|| health.words());
            writeln!(out, "the organisation's app {client_id}: {words}")?;
        }
    }
    Ok(all_fine)
}
