//! Many mailboxes from the command line, end to end with the real binary, keyring, sandbox and Dovecot: the admin
//! center's CSV imported into a test group (previewed first), the group verified as JSON lines, and Basic Auth
//! disconnected only where both OAuth checks passed.

use mailconnect::config::ConfigFile;
use mailconnect::store::TokenStore;
use secrecy::SecretString;

use crate::command_line::{MAILBOX, Setup, stderr, stdout};

const EXPORT_HEADER: &str = "Block credential,City,Country/Region,Department,DirSyncEnabled,Display name,Fax,First name,\
    Last dirsync time,Last name,Last password change time stamp,License assignment details,Licenses,Mobile Phone,\
    Oath token metadata,Object Id,Office,Password never expires,Phone number,Postal code,Preferred data location,\
    Preferred language,Proxy addresses,Release track,Soft deletion time stamp,State,Street address,\
    Strong password required,Title,Usage location,User principal name,When created";

/// A row of the export with the sign-in name and display name filled in (31 commas, 32 fields).
fn export_row(upn: &str, display_name: &str) -> String {
    let mut fields = vec![""; 32];
    fields[0] = "False";
    fields[5] = display_name;
    fields[12] = "Microsoft 365 Business Basic";
    fields[30] = upn;
    fields.join(",")
}

#[test]
fn a_test_group_is_imported_verified_and_disconnected_from_basic_only_where_oauth_passed() {
    let setup = Setup::new();
    setup.login();
    let store = TokenStore::open().unwrap();
    for mailbox in [MAILBOX, "billing@smile-dental.example"] {
        store
            .save_basic_password(mailbox, &SecretString::from("Winter2026!practice"))
            .unwrap();
    }
    let csv = setup.home_path().join("users.csv");
    std::fs::write(
        &csv,
        [
            format!("\u{feff}{EXPORT_HEADER}"),
            export_row(MAILBOX, "Reception"),
            export_row("billing@smile-dental.example", "Billing"),
            export_row("dr.lee@smile-dental.example", "Dr Lee"),
            export_row("Billing@smile-dental.example", "Billing again"),
            export_row("someone@gmail.com", "Outside"),
            "a,broken,\"row".to_owned(),
        ]
        .join("\r\n"),
    )
    .unwrap();
    let csv = csv.to_str().unwrap();

    // First a preview: nothing is saved.
    let before = std::fs::read_to_string(setup.config_path()).unwrap();
    let preview = setup.run(&["import", csv, "--group", "Test group"]);
    assert!(preview.status.success(), "{}", stderr(&preview));
    let text = stdout(&preview);
    assert!(text.contains("To add (2)"), "{text}");
    assert!(text.contains("Already set up (1)"), "{text}");
    assert!(
        text.contains("Listed twice (1)") && text.contains("line 5"),
        "{text}"
    );
    assert!(
        text.contains("Outside the organisation's domains (1)"),
        "{text}"
    );
    assert!(
        text.contains("line 7"),
        "the broken row is named by its line: {text}"
    );
    assert!(text.contains("Nothing was saved"), "{text}");
    assert_eq!(
        std::fs::read_to_string(setup.config_path()).unwrap(),
        before
    );

    let saved = setup.run(&["import", csv, "--group", "Test group", "--save"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    assert!(stdout(&saved).contains("Added 2 mailboxes to the group \"Test group\""));
    let config = ConfigFile::at(setup.config_path()).load().unwrap();
    assert_eq!(config.accounts.len(), 3);
    assert!(
        config
            .accounts
            .iter()
            .all(|account| account.group.as_deref() == Some("Test group")),
        "the mailbox already set up joins the group too"
    );

    // The group, checked: the signed-in mailbox passes; the others have no sign-in yet.
    let verified = setup.run(&["verify", "--group", "Test group", "--json"]);
    assert_eq!(verified.status.code(), Some(1), "{}", stderr(&verified));
    let lines: Vec<serde_json::Value> = stdout(&verified)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", stdout(&verified));
    for line in &lines {
        if line["mailbox"] == MAILBOX {
            assert_eq!(line["passed"], true, "{line}");
        } else {
            assert_eq!(line["passed"], false);
            assert_eq!(line["cause_id"], "not-signed-in", "{line}");
        }
    }
    let report = setup.run(&["report", MAILBOX]);
    assert!(
        stdout(&report).contains("moved to OAuth (both checks passed): 20"),
        "{}",
        stdout(&report)
    );

    // Basic Auth goes only where OAuth passed; the rest are "not yet".
    let disconnected = setup.run(&["disconnect-basic", "--group", "Test group"]);
    assert_eq!(
        disconnected.status.code(),
        Some(1),
        "some are not yet: {}",
        stderr(&disconnected)
    );
    let text = stdout(&disconnected);
    assert!(
        text.contains(&format!("{MAILBOX}: Basic Auth password removed")),
        "{text}"
    );
    assert!(
        text.contains("Not yet") && text.contains("billing@smile-dental.example"),
        "{text}"
    );
    assert!(store.load_basic_password(MAILBOX).unwrap().is_none());
    assert!(
        store
            .load_basic_password("billing@smile-dental.example")
            .unwrap()
            .is_some(),
        "not moved yet: its password stays"
    );
    let report = setup.run(&["report", MAILBOX]);
    assert!(
        stdout(&report).contains("Basic Auth disconnected: 20"),
        "{}",
        stdout(&report)
    );

    // Running it again changes nothing and says so.
    let again = setup.run(&["disconnect-basic", MAILBOX]);
    assert!(stdout(&again).contains("no Basic Auth password was stored"));
}

#[test]
fn mailboxes_reached_through_a_service_account_need_full_access_and_send_as() {
    // The sandbox's mail responders answer as Exchange does: a token for the service account opens another
    // mailbox only with Full Access, and sends as it only with Send As.
    let setup = Setup::on_sandbox_mail();
    setup.login();
    let service = MAILBOX;
    let list = setup.home_path().join("staff.txt");
    std::fs::write(
        &list,
        "billing@smile-dental.example\ndr.lee@smile-dental.example\n",
    )
    .unwrap();
    let list = list.to_str().unwrap();

    let unknown = setup.run(&[
        "import",
        list,
        "--via",
        "nobody@smile-dental.example",
        "--save",
    ]);
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "the service account must be set up first"
    );

    let saved = setup.run(&[
        "import", list, "--via", service, "--group", "Staff", "--save",
    ]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let config = ConfigFile::at(setup.config_path()).load().unwrap();
    let billing = config.account("billing@smile-dental.example").unwrap();
    assert_eq!(billing.service_account.as_deref(), Some(service));

    // Not granted yet: signed in, but not connected (IMAP) and not allowed to send as (SMTP).
    let before = setup.run(&["verify", "--group", "Staff", "--json"]);
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));
    for line in stdout(&before).lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["imap"]["cause_id"], "imap-not-connected", "{line}");
        assert_eq!(line["smtp"]["cause_id"], "smtp-send-as-denied", "{line}");
    }

    // The PowerShell the admin runs names the real mailboxes and the service account.
    let script = setup.run(&["powershell", "--group", "Staff"]);
    assert!(script.status.success(), "{}", stderr(&script));
    let script = stdout(&script);
    assert!(script.contains(&format!(
        "Add-MailboxPermission -Identity 'billing@smile-dental.example' -User '{service}' -AccessRights FullAccess"
    )));
    assert!(script.contains(&format!(
        "Add-RecipientPermission -Identity 'dr.lee@smile-dental.example' -Trustee '{service}' -AccessRights SendAs"
    )));

    // Granted for one of them: it passes with the service account's one sign-in; the other still waits.
    setup
        .sandbox
        .grant_full_access(service, "billing@smile-dental.example");
    setup
        .sandbox
        .grant_send_as(service, "billing@smile-dental.example");
    let after = setup.run(&["verify", "--group", "Staff", "--json"]);
    let results: Vec<serde_json::Value> = stdout(&after)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let passed = |mailbox: &str| {
        results
            .iter()
            .find(|line| line["mailbox"] == mailbox)
            .map(|line| line["passed"] == true)
    };
    assert_eq!(
        passed("billing@smile-dental.example"),
        Some(true),
        "{results:?}"
    );
    assert_eq!(passed("dr.lee@smile-dental.example"), Some(false));
    // One sign-in serves them all: nothing was stored for the delegated mailboxes themselves.
    let store = TokenStore::open().unwrap();
    assert!(
        store
            .manifest("billing@smile-dental.example")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_bulk_run_killed_midway_leaves_consistent_records_and_continues_where_it_stopped() {
    let setup = Setup::on_sandbox_mail();
    setup.login();
    let service = MAILBOX;
    let others: Vec<String> = (1..=6)
        .map(|n| format!("staff{n}@smile-dental.example"))
        .collect();
    let list = setup.home_path().join("staff.txt");
    std::fs::write(&list, others.join("\n")).unwrap();
    let saved = setup.run(&["import", list.to_str().unwrap(), "--via", service, "--save"]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    for mailbox in &others {
        setup.sandbox.grant_full_access(service, mailbox);
        setup.sandbox.grant_send_as(service, mailbox);
    }

    // One at a time; once the first result is out, the mail servers stop answering and the run is killed.
    let mut run = setup
        .command(&["verify", "--all", "--json", "--concurrency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(run.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    setup.sandbox.inject(mailconnect::sandbox::Fault::MailHang);
    std::thread::sleep(std::time::Duration::from_millis(300));
    run.kill().unwrap();
    run.wait().unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["passed"], true, "{first}");

    // The records are whole, and name as moved only what passed.
    let state_path = setup.home_path().join("data/mailconnect/state.json");
    let state: mailconnect::state::State =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).expect("a whole state file");
    let moved = state.moved.len();
    assert!((1..=7).contains(&moved), "{moved} moved");
    assert!(state.moved_at(first["mailbox"].as_str().unwrap()).is_some());

    // Again, with --pending: only the rest are checked.
    setup.sandbox.clear_faults();
    let rest = setup.run(&["verify", "--all", "--pending", "--json"]);
    assert!(rest.status.success(), "{}", stderr(&rest));
    let checked: Vec<serde_json::Value> = stdout(&rest)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(checked.len(), 7 - moved, "{}", stdout(&rest));
    assert!(checked.iter().all(|line| line["passed"] == true));
    assert!(
        checked
            .iter()
            .all(|line| line["mailbox"] != first["mailbox"]),
        "what passed before is not checked again"
    );
    let nothing_left = setup.run(&["verify", "--all", "--pending", "--json"]);
    assert!(stdout(&nothing_left).trim().is_empty());
}

#[test]
fn the_mailboxes_listed_in_the_vendors_preset_file_are_imported() {
    let setup = crate::command_line::Setup::on_sandbox_mail();
    let preset_file = setup.home_path().join("practice.toml");
    let account = &setup.account;
    let mut preset = mailconnect::config::Preset::for_provider(account.provider);
    preset.name = "Smile Dental".to_owned();
    preset.custom_endpoints = account.custom_endpoints.clone();
    preset.imap = Some(account.imap.clone());
    preset.smtp = Some(account.smtp.clone());
    preset.client_id = Some(account.client_id.clone());
    preset.mailboxes = vec![
        "dr.lee@smile-dental.example".to_owned(),
        "Billing@smile-dental.example".to_owned(),
        "not an address".to_owned(),
    ];
    #[derive(serde::Serialize)]
    struct PresetFile {
        preset: Vec<mailconnect::config::Preset>,
    }
    std::fs::write(
        &preset_file,
        toml::to_string(&PresetFile {
            preset: vec![preset],
        })
        .unwrap(),
    )
    .unwrap();
    let mut config = ConfigFile::at(setup.config_path()).load().unwrap();
    config.preset_file = Some(preset_file);
    ConfigFile::at(setup.config_path()).save(&config).unwrap();

    let preview = setup.run(&["import", "--from-preset"]);
    assert!(preview.status.success(), "{}", stderr(&preview));
    let text = stdout(&preview);
    assert!(text.contains("To add (2)"), "{text}");
    assert!(
        text.contains("not an address"),
        "the bad entry is named: {text}"
    );
    let saved = setup.run(&[
        "import",
        "--from-preset",
        "--group",
        "From the vendor",
        "--save",
    ]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    let config = ConfigFile::at(setup.config_path()).load().unwrap();
    assert!(config.account("dr.lee@smile-dental.example").is_some());
    assert!(config.account("billing@smile-dental.example").is_some());
    let both = setup.run(&["import", "list.txt", "--from-preset"]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "a file and the preset file at once is refused"
    );
}

/// `mailconnect import` on its own: settings with one mailbox, a private HOME, nothing else (a preview touches no
/// keyring and no network).
struct ImportOnly {
    folder: tempfile::TempDir,
}

impl ImportOnly {
    fn new() -> ImportOnly {
        let folder = tempfile::tempdir().unwrap();
        let preset = mailconnect::config::Preset {
            client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned()),
            ..mailconnect::config::Preset::for_provider(mailconnect::config::Provider::Microsoft365)
        };
        let config = mailconnect::config::Config {
            accounts: vec![mailconnect::config::Account::from_preset(MAILBOX, &preset)],
            ..mailconnect::config::Config::default()
        };
        ConfigFile::at(folder.path().join("config.toml"))
            .save(&config)
            .unwrap();
        ImportOnly { folder }
    }

    fn import(&self, bytes: &[u8], arguments: &[&str]) -> std::process::Output {
        let list = self.folder.path().join("list");
        std::fs::write(&list, bytes).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_mailconnect"))
            .arg("--config")
            .arg(self.folder.path().join("config.toml"))
            .arg("import")
            .arg(&list)
            .args(arguments)
            .env("HOME", self.folder.path())
            .env("XDG_DATA_HOME", self.folder.path().join("data"))
            .env("XDG_CACHE_HOME", self.folder.path().join("cache"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

/// The admin center's export with a user whose sign-in is blocked and one with no licence: problems with their
/// line, not under "To add"; `--save` leaves them out, `--add-blocked-and-unlicensed --save` adds them.
#[test]
fn blocked_and_unlicensed_users_are_problems_added_only_when_asked() {
    let setup = ImportOnly::new();
    let mut blocked = export_row("blocked@smile-dental.example", "Blocked");
    blocked.replace_range(0..5, "True");
    let unlicensed = export_row("nolicence@smile-dental.example", "No licence")
        .replace("Microsoft 365 Business Basic", "Unlicensed");
    let csv = [
        EXPORT_HEADER.to_owned(),
        export_row("fine@smile-dental.example", "Fine"),
        blocked,
        unlicensed,
    ]
    .join("\r\n");
    let preview = setup.import(csv.as_bytes(), &[]);
    let text = stdout(&preview);
    assert!(
        text.contains("To add (1):\n  fine@smile-dental.example"),
        "{text}"
    );
    assert!(
        text.contains("Sign-in blocked or no licence (2), not added unless asked for with --add-blocked-and-unlicensed"),
        "{text}"
    );
    assert!(
        text.contains("line 3: blocked@smile-dental.example"),
        "{text}"
    );
    assert!(
        text.contains("line 4: nolicence@smile-dental.example"),
        "{text}"
    );
    let saved = setup.import(csv.as_bytes(), &["--save"]);
    assert!(
        stdout(&saved).contains("Added 1 mailbox."),
        "{}",
        stdout(&saved)
    );
    let config_path = setup.folder.path().join("config.toml");
    let config = ConfigFile::at(&config_path).load().unwrap();
    assert!(config.account("blocked@smile-dental.example").is_none());
    let asked = setup.import(csv.as_bytes(), &["--add-blocked-and-unlicensed", "--save"]);
    assert!(
        stdout(&asked).contains("Added 2 mailboxes."),
        "{}",
        stdout(&asked)
    );
    let config = ConfigFile::at(&config_path).load().unwrap();
    assert!(config.account("blocked@smile-dental.example").is_some());
    assert!(config.account("nolicence@smile-dental.example").is_some());
}

/// The class of "what a list holds reaches the terminal or the memory unbounded": escape sequences in every field
/// of an export (names, addresses, broken rows) print as spaces; a byte-order mark before a pasted list is not
/// part of its first address; and a one-line list of 64 MiB is read within a bounded amount of memory.
#[cfg(unix)]
#[test]
fn an_import_prints_no_escapes_ignores_a_mark_and_reads_a_huge_line_within_bounds() {
    let setup = ImportOnly::new();
    let escapes = [
        "\u{1b}]0;owned\u{7}",
        "\u{1b}[2J",
        "\u{9b}31m",
        "\u{8}\u{8}",
        "\r",
    ];
    let mut csv = vec![EXPORT_HEADER.to_owned()];
    for (n, escape) in escapes.iter().enumerate() {
        csv.push(export_row(
            &format!("user{n}@smile-dental.example"),
            &format!("Name{escape}{n}"),
        ));
        csv.push(export_row(
            &format!("bad{escape}{n}@smile-dental.example"),
            "Bad",
        ));
        csv.push(format!("\"broken{escape}{n}"));
    }
    let list =
        "\u{feff}first@smile-dental.example\nsecond\u{1b}[1m@smile-dental.example\n".to_owned();
    for (what, bytes) in [("export", csv.join("\r\n")), ("list", list)] {
        let output = setup.import(bytes.as_bytes(), &[]);
        assert!(output.status.success(), "{what}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{what}: {text:?}"
        );
        if what == "list" {
            assert!(
                text.contains("To add (1):\n  first@smile-dental.example\n"),
                "the mark is not part of the address: {text}"
            );
        } else {
            assert!(
                text.contains("  user0@smile-dental.example (Name"),
                "{text}"
            );
        }
    }

    // 64 MiB on one line (just under the limit): read, cut at the row limit, in bounded memory.
    let mut huge = String::with_capacity(64 * 1024 * 1024);
    let mut n = 0u64;
    while huge.len() < 64 * 1024 * 1024 - 64 {
        huge.push_str(&format!("u{n}@smile-dental.example,"));
        n += 1;
    }
    let output = setup.import(huge.as_bytes(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Only the first 20000 addresses were read"),
        "{}",
        &stdout(&output)[..500.min(stdout(&output).len())]
    );
    // SAFETY: getrusage only fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(
        peak_mib < 200,
        "the import's peak memory was {peak_mib} MiB for a 64 MiB line"
    );
}
