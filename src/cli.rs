//! The command line: login, verify, token, status, forget and report, for support staff and for mail programs
//! that need a fresh access token. Results go to stdout, everything meant for a person waiting goes to stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::auth::{SignInClient, SignInOptions};
use crate::config::{Account, Config, ConfigFile, load_preset_file};
use crate::state::State;
use crate::status::AccountStatus;
use crate::store::{StoredTokens, TokenStore};
use crate::tls::Trust;
use crate::tokens::{Renew, access_token};
use crate::verify::{CheckContext, xoauth2};

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in without a window and save the tokens in the keyring.
    Login {
        /// The mailbox, as in the configuration (or new, when the preset file holds one preset).
        mailbox: String,
        /// Sign in with a code shown here (the default).
        #[arg(long, conflicts_with = "browser")]
        device: bool,
        /// Sign in with the system browser.
        #[arg(long)]
        browser: bool,
    },
    /// Check IMAP and SMTP with the saved sign-in. Exit code 0: both pass; 1: a check failed; 2: usage or settings.
    /// For many mailboxes (--all, --group, or several names): one line, or JSON line, per mailbox.
    Verify {
        /// The mailboxes (one gives the detailed report).
        mailboxes: Vec<String>,
        /// Every mailbox set up.
        #[arg(long, conflicts_with_all = ["group", "mailboxes"])]
        all: bool,
        /// The mailboxes in this group.
        #[arg(long, value_name = "NAME", conflicts_with = "mailboxes")]
        group: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Also send a test message from the mailbox to itself.
        #[arg(long)]
        send_test_message: bool,
        /// Mailboxes checked at the same time.
        #[arg(long, default_value_t = crate::cli_bulk::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Only the mailboxes not moved to OAuth yet: a run cut short continues where it stopped.
        #[arg(long)]
        pending: bool,
    },
    /// Add many mailboxes: a list of addresses or the CSV the Microsoft 365 admin center exports from Active users
    /// (a file, or - for standard input). Shows what would be added; --save adds them.
    Import(crate::cli_bulk::ImportArgs),
    /// Set up the organisation's own app for app-only access (no one signs in): a certificate (preferred) or a
    /// client secret.
    App {
        #[command(subcommand)]
        command: crate::cli_app::AppCommand,
    },
    /// Run the SMTP bridge for scanners and programs that only know a user name and password, until stopped:
    /// they send to this computer, mailconnect hands the mail on with the mailbox's OAuth sign-in.
    Bridge(crate::cli_bridge::BridgeArgs),
    /// The devices and programs that send through the bridge: add (prints the password once), list, remove.
    Device {
        #[command(subcommand)]
        command: crate::cli_bridge::DeviceCommand,
    },
    /// Print the Exchange Online PowerShell that lets the service account or the organisation's app open its
    /// mailboxes and send as them, and checks it.
    Powershell {
        mailboxes: Vec<String>,
        #[arg(long, value_name = "NAME", conflicts_with = "mailboxes")]
        group: Option<String>,
        #[arg(long, conflicts_with_all = ["group", "mailboxes"])]
        all: bool,
    },
    /// Remove the stored Basic Auth passwords of mailboxes whose two OAuth checks passed; others are listed as
    /// "not yet".
    DisconnectBasic {
        mailboxes: Vec<String>,
        #[arg(long, value_name = "NAME", conflicts_with = "mailboxes")]
        group: Option<String>,
        #[arg(long, conflicts_with_all = ["group", "mailboxes"])]
        all: bool,
    },
    /// Print a valid access token and nothing else (refreshed when less than five minutes remain).
    Token {
        mailbox: String,
        /// Print the base64 SASL XOAUTH2 string instead of the bare token.
        #[arg(long)]
        sasl: bool,
        /// Renew the token now, even if the stored one has time left (Microsoft can revoke tokens early).
        #[arg(long)]
        refresh: bool,
    },
    /// Show every account: Basic or OAuth, token expiry, last refresh, last verification.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove a mailbox's secrets from the keyring.
    Forget {
        mailbox: String,
        /// Remove only the old Basic Auth password and keep the OAuth sign-in.
        #[arg(long)]
        basic_only: bool,
    },
    /// Print a support report (no secrets) for a mailbox.
    Report { mailbox: String },
    /// Explain an error message copied from any program: every sign-in code, server reply and id in it, with the
    /// cause and the fix. Reads the text from the argument, or from standard input.
    Explain {
        /// The pasted text (leave out to read standard input). Text starting with "-" is read as text too.
        #[arg(allow_hyphen_values = true)]
        text: Option<String>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the link an IT admin opens to approve mailconnect for the organisation, and a ready e-mail.
    ConsentLink { mailbox: String },
    /// Renew every saved sign-in not renewed for a few days; notify the desktop when one needs a new sign-in.
    /// Exit code 0: all fine; 1: a mailbox needs a sign-in or could not be renewed; 2: usage or settings.
    Keepalive {
        #[arg(long)]
        json: bool,
        /// Do not wait for a click on a notification's "Re-authenticate now" (otherwise up to 5 minutes).
        #[arg(long)]
        no_wait: bool,
        /// Set up a daily systemd user timer that runs `mailconnect keepalive` (Linux).
        #[arg(long, conflicts_with = "uninstall")]
        install: bool,
        /// Remove that timer.
        #[arg(long)]
        uninstall: bool,
    },
}

/// A problem with how mailconnect was called or configured: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs `command`; errors that are [`UsageError`]s exit with 2, others with 1.
pub fn run(
    command: Command,
    config_file: ConfigFile,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    // Explaining pasted text needs no settings: it works on a support desk's machine too.
    if let Command::Explain { text, json } = command {
        return crate::cli_explain::explain(text, json);
    }
    let config = config_file
        .load()
        .map_err(|error| UsageError(error.to_string()))?;
    let context = Context {
        config_file,
        config,
    };
    match command {
        Command::Login {
            mailbox, browser, ..
        } => runtime.block_on(context.login(&mailbox, browser)),
        Command::Verify {
            mailboxes,
            all,
            group,
            json,
            send_test_message,
            concurrency,
            pending,
        } => {
            if let ([mailbox], false, None, false) = (mailboxes.as_slice(), all, &group, pending) {
                return runtime.block_on(context.verify(mailbox, json, send_test_message));
            }
            if mailboxes.is_empty() && !all && group.is_none() {
                return Err(
                    UsageError("name a mailbox, or use --all or --group NAME".to_owned()).into(),
                );
            }
            let state = State::load();
            let accounts =
                crate::cli_bulk::select(&context.config, all, group.as_deref(), &mailboxes)?
                    .into_iter()
                    .filter(|account| !pending || state.moved_at(&account.mailbox).is_none())
                    .cloned()
                    .collect();
            runtime.block_on(crate::cli_bulk::verify_many(
                accounts,
                &context.config,
                json,
                concurrency,
            ))
        }
        Command::Import(args) => {
            crate::cli_bulk::import(&context.config_file, &context.config, args)
        }
        Command::Bridge(args) => {
            crate::cli_bridge::run_bridge(args, &context.config_file, &context.config, runtime)
        }
        Command::Device { command } => {
            crate::cli_bridge::run_device(command, &context.config_file, &context.config)
        }
        Command::App { command } => {
            crate::cli_app::run(command, &context.config_file, &context.config)
        }
        Command::Powershell {
            mailboxes,
            group,
            all,
        } => {
            let all = all || (mailboxes.is_empty() && group.is_none());
            let accounts: Vec<Account> =
                crate::cli_bulk::select(&context.config, all, group.as_deref(), &mailboxes)?
                    .into_iter()
                    .cloned()
                    .collect();
            crate::cli_powershell::powershell(&accounts, &context.config.apps)
        }
        Command::DisconnectBasic {
            mailboxes,
            group,
            all,
        } => {
            if mailboxes.is_empty() && !all && group.is_none() {
                return Err(
                    UsageError("name a mailbox, or use --all or --group NAME".to_owned()).into(),
                );
            }
            let accounts =
                crate::cli_bulk::select(&context.config, all, group.as_deref(), &mailboxes)?
                    .into_iter()
                    .cloned()
                    .collect();
            runtime.block_on(crate::cli_bulk::disconnect_basic(accounts))
        }
        Command::Token {
            mailbox,
            sasl,
            refresh,
        } => runtime.block_on(context.token(&mailbox, sasl, refresh)),
        Command::Status { json } => context.status(json),
        Command::Forget {
            mailbox,
            basic_only,
        } => runtime.block_on(context.forget(&mailbox, basic_only)),
        Command::Report { mailbox } => context.report(&mailbox),
        Command::Explain { .. } => unreachable!("explained above, without settings"),
        Command::ConsentLink { mailbox } => {
            crate::cli_explain::consent_link(&context.account_or_preset(&mailbox)?)
        }
        Command::Keepalive { install: true, .. } => crate::cli_timer::install(&context.config_file),
        Command::Keepalive {
            uninstall: true, ..
        } => crate::cli_timer::uninstall(),
        Command::Keepalive { json, no_wait, .. } => {
            runtime.block_on(context.keepalive(json, !no_wait))
        }
    }
}

#[path = "cli_keepalive.rs"]
mod keepalive_command;

struct Context {
    config_file: ConfigFile,
    config: Config,
}

impl Context {
    fn account(&self, mailbox: &str) -> Result<Account, UsageError> {
        self.config.account(mailbox).cloned().ok_or_else(|| {
            UsageError(format!(
                "{mailbox} is not set up in {}; run the wizard, or `{}` with a preset file",
                self.config_file.path().display(),
                crate::words::command("login", &[mailbox])
            ))
        })
    }

    /// The account, or a new one from the preset file when it holds exactly one preset.
    fn account_or_preset(&self, mailbox: &str) -> anyhow::Result<Account> {
        if let Ok(account) = self.account(mailbox) {
            return Ok(account);
        }
        let presets = match &self.config.preset_file {
            Some(path) => load_preset_file(path).map_err(|error| UsageError(error.to_string()))?,
            None => Vec::new(),
        };
        let [preset] = presets.as_slice() else {
            return Err(self.account(mailbox).unwrap_err().into());
        };
        let account = Account::from_preset(mailbox, preset);
        if let Some(problem) = account.problems().first() {
            return Err(UsageError(problem.message.clone()).into());
        }
        Ok(account)
    }

    fn trust(&self) -> anyhow::Result<Trust> {
        Ok(Trust::new(self.config.extra_ca_file.as_deref())
            .map_err(|error| UsageError(error.to_string()))?)
    }

    fn client(&self, account: &Account) -> anyhow::Result<SignInClient> {
        Ok(SignInClient::for_account(
            account,
            &self.trust()?,
            &self.config.timeouts,
        )?)
    }

    async fn login(&self, mailbox: &str, browser: bool) -> anyhow::Result<ExitCode> {
        let account = self.account_or_preset(mailbox)?;
        if account.app_only {
            return Err(UsageError(format!(
                "{mailbox} is reached by the organisation's app, so no one signs in for it; `mailconnect app show` \
                 shows the app's certificate or secret"
            ))
            .into());
        }
        let client = self.client(&account)?;
        // A locked or missing keyring is found now, not after the person has signed in.
        let store = TokenStore::open()?;
        let probe = account.token_owner().to_owned();
        store.run(move |store| store.check_writable(&probe)).await?;
        let tokens = if browser {
            let options = SignInOptions {
                login_hint: Some(account.sign_in_account().to_owned()),
                ..SignInOptions::default()
            };
            let sign_in = client.start_browser_sign_in(&options).await?;
            eprintln!(
                "Opening your browser to sign in. If it does not open, visit:\n{}",
                sign_in.authorize_url
            );
            if let Err(error) = webbrowser::open(sign_in.authorize_url.as_str()) {
                tracing::info!(%error, "no browser could be opened");
            }
            sign_in.finish(&client).await?
        } else {
            let prompt = client.start_device_code().await?;
            eprintln!(
                "To sign in, open {} and enter the code {} (it expires in {}).",
                prompt.verification_uri,
                prompt.user_code,
                crate::words::duration(prompt.expires_in)
            );
            client.poll_device_code(&prompt, |_| {}).await?
        };
        tokens.ensure_account(account.sign_in_account())?;
        let refresh_token = tokens
            .refresh_token
            .clone()
            .ok_or(crate::auth::SignInError::NoRefreshToken)?;
        let stored = StoredTokens {
            access_token: tokens.access_token.clone(),
            refresh_token,
            access_token_expires_at: tokens.expires_at,
            signed_in_as: tokens.account.as_ref().map(|who| who.username.clone()),
            saved_at: SystemTime::now(),
        };
        let key = account.token_owner().to_owned();
        // A new sign-in replaces whatever is stored, a damaged sign-in included, under the mailbox's lock.
        store
            .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
                store.save_sign_in(&key, &stored)
            })
            .await?;
        let mut config = self.config.clone();
        config.upsert_account(account.clone());
        self.config_file
            .save(&config)
            .map_err(|error| UsageError(error.to_string()))?;
        let who = tokens
            .account
            .map_or_else(|| account.sign_in_account().to_owned(), |who| who.username);
        println!(
            "Signed in as {who}. The sign-in for {} is saved in the keyring.",
            account.mailbox
        );
        Ok(ExitCode::SUCCESS)
    }

    async fn verify(
        &self,
        mailbox: &str,
        json: bool,
        send_test_message: bool,
    ) -> anyhow::Result<ExitCode> {
        let account = self.account(mailbox)?;
        let store = TokenStore::open()?;
        let mut context = CheckContext::new(self.trust()?, self.config.timeouts);
        context.send_test_message = send_test_message;
        let mut checked = crate::mailbox_check::check_mailbox(&account, &store, &context, || {
            self.client(&account)
        })
        .await?;
        if let Some(warning) = &checked.warning {
            eprintln!("mailconnect: warning: {warning}");
        }
        if let Some(state_file) = crate::state::StateFile::default_location()
            && let Err(error) = checked.record(&account.mailbox, &state_file)
        {
            tracing::warn!(%error, "the verification could not be recorded");
        }
        if let Some(Err(error)) = checked.renewal.take() {
            // The renewal failing too is worth saying, but the checks' own results are the report.
            eprintln!(
                "mailconnect: the sign-in could not be renewed either: {}",
                describe_error(&error.into())
            );
        }
        let (imap, smtp) = (checked.imap, checked.smtp);
        let mut out = std::io::stdout().lock();
        if json {
            let value = serde_json::json!({
                "mailbox": account.mailbox,
                "imap": report_json(&imap, &account.mailbox),
                "smtp": report_json(&smtp, &account.mailbox),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        } else {
            for report in [&imap, &smtp] {
                write_report_lines(&mut out, report, &account.mailbox)?;
            }
        }
        let passed = imap.verdict.passed() && smtp.verdict.passed();
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    async fn token(&self, mailbox: &str, sasl: bool, refresh: bool) -> anyhow::Result<ExitCode> {
        let account = self.account(mailbox)?;
        let store = TokenStore::open()?;
        let renew = if refresh { Renew::Now } else { Renew::IfNeeded };
        let token = access_token(&account, &store, renew, || self.client(&account)).await?;
        if let Some(warning) = &token.warning {
            if refresh {
                // Asked to renew, and it could not be: saying so beats printing the old token.
                return Err(UsageError(format!("the token was not renewed: {warning}")).into());
            }
            eprintln!("mailconnect: warning: {warning}");
        }
        {
            let mut out = std::io::stdout().lock();
            if sasl {
                let encoded = xoauth2::initial_response(&account.mailbox, &token.access_token);
                writeln!(out, "{}", encoded.expose_secret())?;
            } else {
                writeln!(out, "{}", token.access_token.expose_secret())?;
            }
            out.flush()?;
        }
        // The token is out; tidying the replaced generation must not keep the mail program waiting long.
        crate::tokens::tidy(&store, account.token_owner(), &token).await;
        Ok(ExitCode::SUCCESS)
    }

    fn status(&self, json: bool) -> anyhow::Result<ExitCode> {
        let store = TokenStore::open()?;
        let state = State::load();
        let rows: Vec<_> = self
            .config
            .accounts
            .iter()
            .map(|account| AccountStatus::read(&store, &state, account))
            .collect();
        let mut out = std::io::stdout().lock();
        if json {
            let value: Vec<_> = rows.iter().map(AccountStatus::to_json).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        if rows.is_empty() {
            writeln!(
                out,
                "No mailboxes are set up yet. Run the wizard or `mailconnect login <mailbox>`."
            )?;
        }
        for row in rows {
            row.write_lines(&mut out)?;
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn forget(&self, mailbox: &str, basic_only: bool) -> anyhow::Result<ExitCode> {
        let store = TokenStore::open()?;
        let key = mailbox.to_owned();
        // Bounded like every keyring call: a keyring that never answers must not hold the mailbox's lock forever.
        let forgotten = store
            .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
                if basic_only {
                    let had_basic_password = store.delete_basic_password(&key)?;
                    Ok(crate::store::Forgotten {
                        items: usize::from(had_basic_password),
                        had_sign_in: false,
                        had_basic_password,
                    })
                } else {
                    store.forget(&key, true)
                }
            })
            .await?;
        let mut removed = Vec::new();
        if forgotten.had_sign_in {
            removed.push("the OAuth sign-in (access and refresh tokens)");
        }
        if forgotten.had_basic_password {
            removed.push("the Basic Auth password");
        }
        if removed.is_empty() {
            println!("Nothing was stored for {mailbox}.");
        } else {
            println!(
                "Removed from the keyring for {mailbox}: {} ({} {}).",
                removed.join(" and "),
                forgotten.items,
                if forgotten.items == 1 {
                    "item"
                } else {
                    "items"
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn report(&self, mailbox: &str) -> anyhow::Result<ExitCode> {
        let account = self.account(mailbox)?;
        let stored = crate::report::StoredSignIn::read(&TokenStore::open(), &account);
        let state = State::load();
        print!(
            "{}",
            crate::report::account_report(&account, stored, &state)
        );
        Ok(ExitCode::SUCCESS)
    }
}

pub use crate::cli_output::{describe_error, describe_last_check, exit_code_for};
use crate::cli_output::{report_json, write_report_lines};
