//! `mailconnect powershell`: the Exchange Online PowerShell an admin runs so that a service account, or the
//! organisation's own app, may open its mailboxes and send as them, filled with the real ids, and the checks.

use std::io::Write;
use std::process::ExitCode;

use crate::app_only::AppRegistration;
use crate::cli::UsageError;
use crate::config::Account;

/// `text` as a PowerShell single-quoted string. PowerShell takes the typographic single quotes (U+2018 to U+201B)
/// as quotes too, so every one of them is doubled, like the plain one.
fn powershell_quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// Every value the script is filled with (addresses, ids), checked before a line is written: a line break (or any
/// control character) in a hand-edited address would end a comment line and make the rest of it a command.
fn each_fits_on_its_line(accounts: &[Account], apps: &[AppRegistration]) -> Result<(), UsageError> {
    let values = accounts
        .iter()
        .flat_map(|account| {
            [
                Some(account.mailbox.as_str()),
                account.service_account.as_deref(),
                Some(account.client_id.as_str()),
            ]
        })
        .chain(apps.iter().flat_map(|app| {
            [
                Some(app.client_id.as_str()),
                app.enterprise_object_id.as_deref(),
            ]
        }))
        .flatten();
    for value in values {
        if value
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
        {
            return Err(UsageError(format!(
                "{} in the settings holds a line break or control character, which would break the script's lines; \
                 correct it in config.toml",
                crate::words::excerpt(&value.replace(['\u{2028}', '\u{2029}'], " "), 80)
                    .replace('\n', " ")
            )));
        }
    }
    Ok(())
}

/// `powershell`: the commands an Exchange admin runs so that each mailbox's service account (or the organisation's
/// app) may open it and send as it, and the check that they took.
pub fn powershell(accounts: &[Account], apps: &[AppRegistration]) -> anyhow::Result<ExitCode> {
    let text = powershell_text(accounts, apps)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The same PowerShell as text, for the window's "Copy PowerShell for these" (one text for both, so the two can
/// never differ).
pub fn powershell_text(accounts: &[Account], apps: &[AppRegistration]) -> anyhow::Result<String> {
    let delegated: Vec<&Account> = accounts
        .iter()
        .filter(|account| account.service_account.is_some())
        .collect();
    let app_only: Vec<&Account> = accounts.iter().filter(|account| account.app_only).collect();
    each_fits_on_its_line(accounts, apps)?;
    if delegated.is_empty() && app_only.is_empty() {
        return Err(UsageError(
            "none of these mailboxes is reached through a service account or the organisation's app (import them \
             with --via or --app)"
                .to_owned(),
        )
        .into());
    }
    let mut out = Vec::new();
    writeln!(
        out,
        "# Run in Exchange Online PowerShell as an Exchange administrator."
    )?;
    writeln!(
        out,
        "# Changes can take up to two hours to apply; until then the check says \"not connected\"."
    )?;
    writeln!(
        out,
        "Install-Module ExchangeOnlineManagement -Scope CurrentUser"
    )?;
    // Interactive: the admin signs in as themselves (-Organization is for certificate sign-in).
    writeln!(out, "Connect-ExchangeOnline")?;
    if !delegated.is_empty() {
        write_delegated(&mut out, &delegated)?;
    }
    let mut client_ids: Vec<String> = app_only
        .iter()
        .map(|account| account.client_id.to_ascii_lowercase())
        .collect();
    client_ids.sort();
    client_ids.dedup();
    for client_id in client_ids {
        let mailboxes: Vec<&str> = app_only
            .iter()
            .filter(|account| account.client_id.eq_ignore_ascii_case(&client_id))
            .map(|account| account.mailbox.as_str())
            .collect();
        let registration = apps
            .iter()
            .find(|app| app.client_id.eq_ignore_ascii_case(&client_id));
        write_app_only(&mut out, &client_id, registration, &mailboxes)?;
    }
    Ok(String::from_utf8(out)?)
}

fn write_delegated(out: &mut impl Write, delegated: &[&Account]) -> std::io::Result<()> {
    let quote = powershell_quoted;
    for account in delegated {
        let service = account.service_account.as_deref().unwrap_or_default();
        let mailbox = &account.mailbox;
        // Addresses come from the settings; quoted for PowerShell (a ' doubles).
        writeln!(out, "\n# {mailbox}")?;
        writeln!(
            out,
            "Add-MailboxPermission -Identity {} -User {} -AccessRights FullAccess -InheritanceType All -AutoMapping $false",
            quote(mailbox),
            quote(service)
        )?;
        writeln!(
            out,
            "Add-RecipientPermission -Identity {} -Trustee {} -AccessRights SendAs -Confirm:$false",
            quote(mailbox),
            quote(service)
        )?;
    }
    writeln!(out, "\n# Check:")?;
    for account in delegated {
        let service = account.service_account.as_deref().unwrap_or_default();
        writeln!(
            out,
            "Get-MailboxPermission -Identity {} -User {}; Get-RecipientPermission -Identity {} -Trustee {}",
            quote(&account.mailbox),
            quote(service),
            quote(&account.mailbox),
            quote(service)
        )?;
    }
    Ok(())
}

/// The app-only path: Exchange's service principal for the app (with the Enterprise application's object id),
/// Full Access for receiving and sending, the RBAC for Applications alternative for sending, and the checks.
fn write_app_only(
    out: &mut impl Write,
    client_id: &str,
    registration: Option<&AppRegistration>,
    mailboxes: &[&str],
) -> std::io::Result<()> {
    let quote = powershell_quoted;
    let object_id = registration
        .and_then(|app| app.enterprise_object_id.clone())
        .map(|id| quote(&id));
    writeln!(out, "\n# The organisation's app {client_id}")?;
    writeln!(
        out,
        "# First, in the Entra admin center: App registrations > the app > API permissions > Add a permission > \
         APIs my organization uses > Office 365 Exchange Online > Application permissions: IMAP.AccessAsApp and \
         SMTP.SendAsApp; then Grant admin consent."
    )?;
    writeln!(
        out,
        "# The object id is the one on Enterprise applications > the app, NOT the one on App registrations: the \
         wrong one makes every sign-in fail with \"AUTHENTICATE failed\"."
    )?;
    writeln!(out, "$appId = {}", quote(client_id))?;
    match &object_id {
        Some(id) => writeln!(out, "$objectId = {id}")?,
        None => writeln!(
            out,
            "$objectId = '<Object ID from Enterprise applications > the app>'  # or: mailconnect app certificate … --enterprise-object-id <id>"
        )?,
    }
    writeln!(
        out,
        "New-ServicePrincipal -AppId $appId -ObjectId $objectId -DisplayName 'mailconnect'"
    )?;
    writeln!(
        out,
        "Get-ServicePrincipal -Identity $objectId | Format-List"
    )?;
    writeln!(
        out,
        "\n# Receiving and sending (IMAP and SMTP): Full Access on each mailbox."
    )?;
    for mailbox in mailboxes {
        writeln!(
            out,
            "Add-MailboxPermission -Identity {} -User $objectId -AccessRights FullAccess -InheritanceType All -AutoMapping $false",
            quote(mailbox)
        )?;
    }
    writeln!(
        out,
        "\n# Only when the app sends as an address other than the mailbox it signs in as (Send As):"
    )?;
    for mailbox in mailboxes {
        writeln!(
            out,
            "# Add-RecipientPermission -Identity {} -Trustee $objectId -AccessRights SendAs -Confirm:$false",
            quote(mailbox)
        )?;
    }
    writeln!(out, "\n# Check (each should list FullAccess):")?;
    for mailbox in mailboxes {
        writeln!(
            out,
            "Get-MailboxPermission -Identity {} -User $objectId",
            quote(mailbox)
        )?;
    }
    // Named after the app, and only made when missing: printing this again after more mailboxes were imported
    // adds them to the same scope.
    let short = client_id.get(..8).unwrap_or(client_id);
    let group = quote(&format!("mailconnect {short}"));
    let assignment = quote(&format!("mailconnect SMTP {short}"));
    writeln!(
        out,
        "\n# Or, for sending only: RBAC for Applications (no SMTP.SendAsApp permission in Entra; receiving still needs \
         the Full Access above). Remove the # to use it; it is safe to run again."
    )?;
    writeln!(
        out,
        "# $group = Get-DistributionGroup -Identity {group} -ErrorAction SilentlyContinue"
    )?;
    writeln!(
        out,
        "# if (-not $group) {{ $group = New-DistributionGroup -Name {group} -Type Security }}"
    )?;
    for mailbox in mailboxes {
        writeln!(
            out,
            "# Add-DistributionGroupMember -Identity $group.Identity -Member {} -ErrorAction SilentlyContinue",
            quote(mailbox)
        )?;
    }
    writeln!(
        out,
        "# if (-not (Get-ManagementScope -Identity {group} -ErrorAction SilentlyContinue)) {{ New-ManagementScope -Name {group} -RecipientRestrictionFilter \"MemberOfGroup -eq '$($group.DistinguishedName)'\" }}"
    )?;
    writeln!(
        out,
        "# if (-not (Get-ManagementRoleAssignment -Identity {assignment} -ErrorAction SilentlyContinue)) {{ New-ManagementRoleAssignment -Name {assignment} -Role 'Application SMTP.SendAsApp' -App $appId -CustomResourceScope {group} }}"
    )?;
    writeln!(out, "# Check the RBAC path (InScope should say True):")?;
    for mailbox in mailboxes {
        writeln!(
            out,
            "# Test-ServicePrincipalAuthorization -Identity $objectId -Resource {}",
            quote(mailbox)
        )?;
    }
    if object_id.is_none() {
        eprintln!(
            "The Enterprise application's object id is not known yet: replace the placeholder, or give it with \
             `mailconnect app certificate … --enterprise-object-id <id>` and print this again."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The class of "a value breaks a comment line": a line break of any kind (LF, CR, NEL, the Unicode line and
    /// paragraph separators) or another control character, in any value the script is filled with, stops the script
    /// before a line is written.
    #[test]
    fn no_value_with_a_line_break_reaches_the_script() {
        let plain = crate::config::Account {
            mailbox: "front.desk@smile-dental.example".to_owned(),
            service_account: Some("service@smile-dental.example".to_owned()),
            ..crate::config::Account::from_preset(
                "front.desk@smile-dental.example",
                &crate::config::Preset::for_provider(crate::config::Provider::Microsoft365),
            )
        };
        assert!(super::each_fits_on_its_line(std::slice::from_ref(&plain), &[]).is_ok());
        for breaker in [
            "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}", "\u{1b}", "\u{0}",
        ] {
            let sneaky = format!("x@a.example{breaker}Remove-Mailbox boss@a.example");
            let accounts = [
                crate::config::Account {
                    mailbox: sneaky.clone(),
                    ..plain.clone()
                },
                crate::config::Account {
                    service_account: Some(sneaky.clone()),
                    ..plain.clone()
                },
            ];
            for account in &accounts {
                let refused =
                    super::each_fits_on_its_line(std::slice::from_ref(account), &[]).unwrap_err();
                assert!(!refused.0.contains(breaker), "{breaker:?}");
            }
            let app = crate::app_only::AppRegistration {
                client_id: "5b1e3c2a-7d4f-4e8a-9c61-0f2b3a4d5e6f".to_owned(),
                tenant: "a.example".to_owned(),
                enterprise_object_id: Some(sneaky),
            };
            assert!(super::each_fits_on_its_line(&[], &[app]).is_err());
        }
    }

    #[test]
    fn every_kind_of_single_quote_is_doubled_for_powershell() {
        assert_eq!(
            super::powershell_quoted("o'brien@x.com"),
            "'o''brien@x.com'"
        );
        assert_eq!(
            super::powershell_quoted("x\u{2019}+$(evil)+\u{2018}@x.com"),
            "'x\u{2019}\u{2019}+$(evil)+\u{2018}\u{2018}@x.com'"
        );
    }
}
