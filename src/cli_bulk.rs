//! Many mailboxes from the command line: `import` (a pasted list or the admin center's CSV, previewed before it is
//! saved), `verify --all | --group NAME | <mailbox>...` (both checks for each, a few at a time, one JSON line each,
//! a progress line on a terminal) and `disconnect-basic` (removes Basic Auth passwords only where OAuth passed).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;

use crate::auth::SignInClient;
use crate::cli::UsageError;
use crate::config::{Account, Config, ConfigFile};
use crate::import::ImportPreview;
use crate::state::StateFile;
use crate::store::TokenStore;
use crate::tls::Trust;
use crate::verify::{CheckContext, Verdict};

/// Mailboxes checked at once by default: enough to move through a list, few enough for Exchange's limits per
/// address.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Which mailboxes a bulk command is about.
pub fn select<'a>(
    config: &'a Config,
    all: bool,
    group: Option<&str>,
    mailboxes: &[String],
) -> anyhow::Result<Vec<&'a Account>> {
    if all {
        return Ok(config.accounts.iter().collect());
    }
    if let Some(group) = group {
        let chosen: Vec<&Account> = config
            .accounts
            .iter()
            .filter(|account| {
                account
                    .group
                    .as_deref()
                    .is_some_and(|g| g.eq_ignore_ascii_case(group))
            })
            .collect();
        if chosen.is_empty() {
            return Err(UsageError(format!("no mailbox is in the group \"{group}\"")).into());
        }
        return Ok(chosen);
    }
    mailboxes
        .iter()
        .map(|mailbox| {
            config.account(mailbox).ok_or_else(|| {
                UsageError(format!(
                    "{mailbox} is not set up; run `{}` first",
                    crate::words::command("login", &[mailbox])
                ))
                .into()
            })
        })
        .collect()
}

/// `import`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A file of addresses or the admin center's export; - for standard input.
    #[arg(required_unless_present = "from_preset")]
    source: Option<String>,
    /// Take the mailboxes listed in the vendor's preset file instead.
    #[arg(long, conflicts_with = "source")]
    from_preset: bool,
    /// Put them (and any already set up) in this group, e.g. "Test group".
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Reach them through this service account's sign-in (it needs Full Access and Send As on each;
    /// `mailconnect powershell` prints the commands).
    #[arg(long, value_name = "SERVICE ACCOUNT", conflicts_with = "app")]
    via: Option<String>,
    /// Reach them with the organisation's app (set up with `mailconnect app`), by its client id.
    #[arg(long, value_name = "CLIENT ID")]
    app: Option<String>,
    /// Also add the users the export marks as sign-in blocked or unlicensed (listed as problems otherwise).
    #[arg(long)]
    add_blocked_and_unlicensed: bool,
    /// Add them; without it nothing is saved.
    #[arg(long)]
    save: bool,
}

/// `import`: previews the addresses in the source; `--save` adds them.
pub fn import(
    config_file: &ConfigFile,
    config: &Config,
    args: ImportArgs,
) -> anyhow::Result<ExitCode> {
    let ImportArgs {
        source,
        from_preset,
        group,
        via,
        app,
        add_blocked_and_unlicensed,
        save,
    } = args;
    let app = match app {
        None => None,
        Some(client_id) => Some(
            config
                .apps
                .iter()
                .find(|app| app.client_id.eq_ignore_ascii_case(client_id.trim()))
                .cloned()
                .ok_or_else(|| {
                    UsageError(format!(
                        "the app {client_id} is not set up; set it up first: mailconnect app certificate --client-id {client_id} --tenant <tenant>"
                    ))
                })?,
        ),
    };
    // The service account as it is stored; it must be set up, and reached through its own sign-in.
    let via = match via {
        None => None,
        Some(via) => match config.account(&via) {
            None => {
                return Err(UsageError(format!(
                    "the service account {via} is not set up; sign it in first: {}",
                    crate::words::command("login", &[&via])
                ))
                .into());
            }
            Some(account) if account.service_account.is_some() => {
                return Err(UsageError(format!(
                    "{via} is itself reached through {}; name that service account instead",
                    account.token_owner()
                ))
                .into());
            }
            Some(account) => Some(account.mailbox.clone()),
        },
    };
    let group = match group.map(|group| group.trim().to_owned()) {
        Some(group) if group.is_empty() => {
            return Err(UsageError("the group needs a name".to_owned()).into());
        }
        group => group,
    };
    let text = match source {
        Some(source) if !from_preset => read_import_file(&source)?,
        _ => preset_mailboxes(config)?.join("\n"),
    };
    let template = template_account(config)?;
    let domains = organisation_domains(config, &template);
    let existing: Vec<String> = config.accounts.iter().map(|a| a.mailbox.clone()).collect();
    let preview = crate::import::preview(&text, &domains, &existing);
    let mut out = std::io::stdout().lock();
    write_preview(&mut out, &preview, &domains, add_blocked_and_unlicensed)?;
    let to_add = preview.to_add(add_blocked_and_unlicensed);
    if !save {
        writeln!(
            out,
            "\nNothing was saved. Run again with --save to add the {} listed to add.",
            crate::words::count(to_add.len() as u64, "mailbox", "mailboxes")
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if to_add.is_empty() && group.is_none() {
        writeln!(out, "\nNothing to add; the settings were left as they are.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut updated = config.clone();
    for &candidate in &to_add {
        let mut account = Account {
            mailbox: candidate.mailbox.clone(),
            group: group.clone(),
            service_account: via.clone(),
            app_only: app.is_some(),
            ..template.clone()
        };
        account.sign_in_account = None;
        if let Some(app) = &app {
            account.client_id = app.client_id.clone();
            account.tenant = app.tenant.clone();
        }
        updated.upsert_account(account);
    }
    if let Some(group) = &group {
        for candidate in &preview.already_set_up {
            if let Some(account) = updated
                .accounts
                .iter_mut()
                .find(|account| account.mailbox.eq_ignore_ascii_case(&candidate.mailbox))
            {
                account.group = Some(group.clone());
            }
        }
    }
    config_file.save(&updated)?;
    writeln!(
        out,
        "\nAdded {}{}.",
        crate::words::count(to_add.len() as u64, "mailbox", "mailboxes"),
        group
            .map(|group| format!(" to the group \"{group}\""))
            .unwrap_or_default()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a list or export whole (up to a size no export of users reaches), then decodes it: a file saved by Excel
/// in another encoding keeps its addresses and names.
fn read_import_file(source: &str) -> anyhow::Result<String> {
    let read = if source == "-" {
        crate::import::read(std::io::stdin().lock())
    } else {
        std::fs::File::open(source).and_then(crate::import::read)
    };
    Ok(read.map_err(|error| UsageError(format!("{source} cannot be read: {error}")))?)
}

/// The mailboxes every preset in the vendor's preset file lists.
fn preset_mailboxes(config: &Config) -> anyhow::Result<Vec<String>> {
    let path = config.preset_file.as_ref().ok_or_else(|| {
        UsageError("no preset file is set up (preset_file in the settings)".to_owned())
    })?;
    let presets =
        crate::config::load_preset_file(path).map_err(|error| UsageError(error.to_string()))?;
    let mailboxes: Vec<String> = presets
        .into_iter()
        .flat_map(|preset| preset.mailboxes)
        .collect();
    if mailboxes.is_empty() {
        return Err(UsageError(format!(
            "the preset file {} lists no mailboxes (a `mailboxes = [...]` line in a preset)",
            path.display()
        ))
        .into());
    }
    Ok(mailboxes)
}

/// The settings new mailboxes get: the preset file's first preset, else the first mailbox set up.
fn template_account(config: &Config) -> anyhow::Result<Account> {
    if let Some(path) = &config.preset_file
        && let Some(preset) = crate::config::load_preset_file(path)?.first()
    {
        return Ok(Account::from_preset("template@invalid.invalid", preset));
    }
    config.accounts.first().cloned().ok_or_else(|| {
        UsageError(
            "set up one mailbox first (the wizard or `mailconnect login`), or give a preset file: new mailboxes take \
             its settings"
                .to_owned(),
        )
        .into()
    })
}

/// The organisation's domains as far as mailconnect knows them: those of the mailboxes set up, and a tenant
/// given as a domain.
fn organisation_domains(config: &Config, template: &Account) -> Vec<String> {
    let mut domains: Vec<String> = config
        .accounts
        .iter()
        .filter_map(|account| {
            account
                .mailbox
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
        })
        .collect();
    if template.tenant.contains('.') {
        domains.push(template.tenant.to_ascii_lowercase());
    }
    domains.sort();
    domains.dedup();
    domains
}

fn write_preview(
    out: &mut impl Write,
    preview: &ImportPreview,
    domains: &[String],
    add_held_back: bool,
) -> std::io::Result<()> {
    let line = |candidate: &crate::import::Candidate| {
        let name = candidate
            .display_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        format!("{}{name}", candidate.mailbox)
    };
    let to_add = preview.to_add(add_held_back);
    writeln!(out, "To add ({}):", to_add.len())?;
    for &candidate in &to_add {
        let notes = if candidate.notes.is_empty() {
            String::new()
        } else {
            format!(" — line {}: {}", candidate.line, candidate.notes.join("; "))
        };
        writeln!(out, "  {}{notes}", line(candidate))?;
    }
    if !preview.held_back.is_empty() && !add_held_back {
        writeln!(
            out,
            "{} ({}), not added unless asked for with --add-blocked-and-unlicensed:",
            crate::import::HELD_BACK_TITLE,
            preview.held_back.len()
        )?;
        for candidate in &preview.held_back {
            writeln!(
                out,
                "  line {}: {} ({})",
                candidate.line,
                line(candidate),
                candidate.notes.join("; ")
            )?;
        }
    }
    if !preview.already_set_up.is_empty() {
        writeln!(out, "Already set up ({}):", preview.already_set_up.len())?;
        for candidate in &preview.already_set_up {
            writeln!(out, "  {}", candidate.mailbox)?;
        }
    }
    for (title, refused) in preview.refused() {
        writeln!(out, "{title} ({}), not added:", refused.len())?;
        for refused in refused {
            writeln!(
                out,
                "  line {}: {} ({})",
                refused.line,
                crate::words::excerpt(&refused.text, 120),
                refused.reason
            )?;
        }
    }
    if domains.is_empty() {
        writeln!(
            out,
            "(No organisation domain is known yet, so domains were not checked.)"
        )?;
    }
    if preview.cut_short {
        writeln!(
            out,
            "Only the first {} addresses were read; import the rest in another file.",
            crate::import::MAX_ROWS
        )?;
    }
    Ok(())
}

/// `verify` for many mailboxes: `concurrency` at a time, one line (or JSON line) per mailbox as it finishes.
pub async fn verify_many(
    accounts: Vec<Account>,
    config: &Config,
    json: bool,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let trust = Trust::new(config.extra_ca_file.as_deref())
        .map_err(|error| UsageError(error.to_string()))?;
    let store = TokenStore::open()?;
    let state_file = StateFile::default_location();
    let context = Arc::new(CheckContext::new(trust.clone(), config.timeouts));
    let total = accounts.len();
    let show_progress = std::io::stderr().is_terminal();
    let timeouts = config.timeouts;
    let mut results = futures::stream::iter(accounts.into_iter().map(|account| {
        let store = store.clone();
        let context = context.clone();
        let trust = trust.clone();
        let state_file = state_file.clone();
        async move {
            let client = || -> anyhow::Result<SignInClient> {
                Ok(SignInClient::for_account(&account, &trust, &timeouts)?)
            };
            let checked =
                crate::mailbox_check::check_mailbox(&account, &store, &context, client).await;
            if let (Ok(checked), Some(state_file)) = (&checked, &state_file) {
                // A blocking file write, but a small one; it keeps the record in step with the printed line.
                if let Err(error) = checked.record(&account.mailbox, state_file) {
                    tracing::warn!(%error, "the checks could not be recorded");
                }
            }
            (account, checked)
        }
    }))
    .buffer_unordered(concurrency.max(1));
    let (mut done, mut failed) = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    while let Some((account, checked)) = results.next().await {
        done += 1;
        let line = match &checked {
            Ok(checked) if checked.passed() => serde_json::json!({
                "mailbox": account.mailbox, "passed": true,
            }),
            Ok(checked) => {
                failed += 1;
                let failure = |verdict: &Verdict, protocol| {
                    verdict.failure().map(|failure| {
                        let advice = crate::advice::for_check(failure, protocol);
                        serde_json::json!({
                            "stage": failure.stage.name(),
                            "code": failure.code(protocol),
                            "server_reply": failure.server_reply,
                            "cause_id": advice.id(),
                            "cause": advice.cause,
                        })
                    })
                };
                serde_json::json!({
                    "mailbox": account.mailbox, "passed": false,
                    "imap": failure(&checked.imap.verdict, crate::verify::Protocol::Imap),
                    "smtp": failure(&checked.smtp.verdict, crate::verify::Protocol::Smtp),
                })
            }
            Err(error) => {
                failed += 1;
                let advice = crate::advice::for_token(error);
                serde_json::json!({
                    "mailbox": account.mailbox, "passed": false,
                    "error": error.to_string(), "cause_id": advice.id(), "cause": advice.cause,
                })
            }
        };
        if show_progress {
            // The progress line is rewritten in place on stderr; the results stay on stdout.
            eprint!("\r\x1b[2K");
        }
        if json {
            writeln!(out, "{line}")?;
        } else if line["passed"] == true {
            writeln!(out, "✔ {}: receiving and sending work", account.mailbox)?;
        } else {
            let cause = ["imap", "smtp"]
                .iter()
                .filter_map(|protocol| line[protocol]["cause"].as_str())
                .chain(line["cause"].as_str())
                .collect::<Vec<_>>()
                .join(" / ");
            writeln!(out, "✖ {}: {cause}", account.mailbox)?;
        }
        out.flush()?;
        if show_progress {
            eprint!("Checked {done} of {total} ({failed} failed)…");
        }
    }
    if show_progress {
        eprintln!();
    }
    if !json {
        writeln!(out, "{} of {total} passed.", total - failed)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `disconnect-basic`: removes the stored Basic Auth password of each mailbox that has moved to OAuth (both checks
/// passed), records it, and lists the others as "not yet". Each mailbox is one step: a run cut short leaves every
/// mailbox either done or not, and running again finishes the rest. Exit 0: every one named is disconnected; 1:
/// some are not yet (as `verify`'s 1: some failed).
pub async fn disconnect_basic(accounts: Vec<Account>) -> anyhow::Result<ExitCode> {
    let store = TokenStore::open()?;
    let state_file = StateFile::default_location().ok_or_else(|| {
        UsageError("this computer has no data folder for mailconnect's records".to_owned())
    })?;
    let state = state_file.load();
    let mut out = std::io::stdout().lock();
    let mut not_yet = Vec::new();
    for account in accounts {
        if state.moved_at(&account.mailbox).is_none() {
            not_yet.push(account.mailbox);
            continue;
        }
        let mailbox = account.mailbox.clone();
        let had = store
            .run_within(crate::store::LOCKED_WORK_WITHIN, move |store| {
                store.delete_basic_password(&mailbox)
            })
            .await?;
        let file = state_file.clone();
        let mailbox = account.mailbox.clone();
        tokio::task::spawn_blocking(move || file.record_basic_disconnected(&mailbox)).await??;
        writeln!(
            out,
            "{}: {}",
            account.mailbox,
            if had {
                "Basic Auth password removed"
            } else {
                "no Basic Auth password was stored"
            }
        )?;
    }
    if !not_yet.is_empty() {
        writeln!(
            out,
            "Not yet (both OAuth checks have not passed; run `mailconnect verify` first):"
        )?;
        for mailbox in &not_yet {
            writeln!(out, "  {mailbox}")?;
        }
    }
    Ok(if not_yet.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
