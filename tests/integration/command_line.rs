//! The `mailconnect` command line end to end: the real binary against the sandbox, a real Dovecot and a private
//! GNOME Keyring, and real mail clients (msmtp, mbsync) using `mailconnect token`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use base64::Engine;
use mailconnect::config::{Account, Config};
use mailconnect::sandbox::{Fault, Sandbox, SandboxOptions};
use mailconnect::store::TokenStore;
use mailconnect::verify::{self, CheckContext, MailCredentials};
use secrecy::SecretString;

use crate::support::{
    Dovecot, PrivateKeyring, TestCa, quick_sandbox, require_program, test_timeouts, wait_until,
};

pub(crate) const MAILBOX: &str = "reception@smile-dental.example";

/// Everything a command-line test needs; children inherit the private keyring's bus from this process.
pub(crate) struct Setup {
    pub(crate) keyring: PrivateKeyring,
    runtime: tokio::runtime::Runtime,
    pub(crate) sandbox: Sandbox,
    ca: TestCa,
    pub(crate) dovecot: Dovecot,
    pub(crate) home: tempfile::TempDir,
    pub(crate) config_path: PathBuf,
    pub(crate) account: Account,
}

impl Setup {
    pub(crate) fn new() -> Setup {
        Setup::with_sandbox(SandboxOptions::default())
    }

    fn with_sandbox(options: SandboxOptions) -> Setup {
        Setup::build(options, false, false)
    }

    /// The mail servers are the sandbox's responders (which can be told to answer oddly) instead of Dovecot.
    pub(crate) fn on_sandbox_mail() -> Setup {
        Setup::build(SandboxOptions::default(), true, false)
    }

    /// The keyring is there but locked.
    fn with_locked_keyring() -> Setup {
        Setup::build(SandboxOptions::default(), false, true)
    }

    fn build(options: SandboxOptions, sandbox_mail: bool, locked: bool) -> Setup {
        let home = tempfile::tempdir().unwrap();
        // This process writes to the keyring too (to expire a token, say): it takes the same lock files and keeps
        // the same history as the children.
        // SAFETY: one test per process (nextest), and no other thread runs yet.
        unsafe {
            std::env::set_var("XDG_CACHE_HOME", home.path().join("cache"));
            std::env::set_var("XDG_DATA_HOME", home.path().join("data"));
        }
        let keyring = if locked {
            PrivateKeyring::start_locked_for_this_process()
        } else {
            PrivateKeyring::start_for_this_process("test keyring password")
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime.block_on(quick_sandbox(options));
        let ca = TestCa::new(&["localhost"]);
        let dovecot = Dovecot::start(&ca, &sandbox.introspection_url());
        let account = if sandbox_mail {
            sandbox.account(MAILBOX)
        } else {
            Account {
                imap: dovecot.imap("localhost"),
                smtp: dovecot.smtp("localhost"),
                ..sandbox.account(MAILBOX)
            }
        };
        let config = Config {
            extra_ca_file: Some(ca.ca_file.clone()),
            timeouts: test_timeouts(),
            accounts: vec![account.clone()],
            ..Config::default()
        };
        let config_path = home.path().join("config.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        Setup {
            keyring,
            runtime,
            sandbox,
            ca,
            dovecot,
            home,
            config_path,
            account,
        }
    }

    pub(crate) fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mailconnect"));
        command
            .arg("--config")
            .arg(&self.config_path)
            .args(arguments)
            .env("HOME", self.home.path())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null());
        command
    }

    pub(crate) fn home_path(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub(crate) fn run(&self, arguments: &[&str]) -> Output {
        self.command(arguments).output().expect("run mailconnect")
    }

    /// `mailconnect login`, approving the printed code in the sandbox.
    pub(crate) fn login(&self) -> Output {
        let mut child = self
            .command(&["login", MAILBOX])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut printed = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            printed.push_str(&line);
            if let Some(code) = line.split("enter the code ").nth(1) {
                let code = code.split_whitespace().next().unwrap();
                assert!(self.sandbox.approve_device_code(code, MAILBOX));
                break;
            }
            line.clear();
        }
        assert!(
            printed.contains("/devicelogin"),
            "the URL is printed: {printed}"
        );
        // Keep reading: at TRACE level the rest of the log is more than a pipe holds, and a child blocked on a
        // full pipe never exits.
        let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let output = child.wait_with_output().unwrap();
        let _ = drain.join();
        assert!(
            output.status.success(),
            "login failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        output
    }

    /// Marks the stored access token as expiring now, so the next `token` must refresh.
    fn expire_access_token(&self) {
        self.set_access_token_expiry(SystemTime::now());
    }

    /// Makes the stored sign-in look `days` old (as if last renewed then).
    pub(crate) fn age_sign_in(&self, days: u64) {
        let store = TokenStore::open().unwrap();
        let mut tokens = store.load_tokens(MAILBOX).unwrap().expect("signed in");
        tokens.saved_at = SystemTime::now() - Duration::from_secs(days * 86_400);
        store.save_sign_in(MAILBOX, &tokens).unwrap();
    }

    pub(crate) fn set_access_token_expiry(&self, at: SystemTime) {
        let store = TokenStore::open().unwrap();
        let mut tokens = store.load_tokens(MAILBOX).unwrap().expect("signed in");
        tokens.access_token_expires_at = at;
        store.save_sign_in(MAILBOX, &tokens).unwrap();
    }

    /// Waits until the sandbox has seen more than `before` refreshes (one is under way).
    fn wait_for_refresh_after(&self, before: u32) {
        assert!(
            wait_until(Duration::from_secs(10), || self.sandbox.stats().refreshes()
                > before),
            "the refresh never started"
        );
    }

    pub(crate) fn imap_accepts(&self, token: &str) -> bool {
        let context = CheckContext::new(self.ca.trust(), test_timeouts());
        let credentials =
            MailCredentials::for_account(&self.account, SecretString::from(token.to_owned()));
        self.runtime
            .block_on(verify::check_imap(
                &self.account.imap,
                &credentials,
                &context,
            ))
            .verdict
            .passed()
    }
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_command_end_to_end() {
    let setup = Setup::new();
    let login = setup.login();
    assert!(stdout(&login).contains(&format!("Signed in as {MAILBOX}")));

    let token = setup.run(&["token", MAILBOX]);
    assert!(token.status.success(), "{}", stderr(&token));
    let printed = stdout(&token);
    let access_token = printed.trim_end();
    assert_eq!(
        printed.lines().count(),
        1,
        "the token and nothing else on stdout"
    );
    assert!(setup.sandbox.is_valid_access_token(access_token, MAILBOX));
    assert!(setup.imap_accepts(access_token));

    let sasl = setup.run(&["token", MAILBOX, "--sasl"]);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(stdout(&sasl).trim_end())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("user={MAILBOX}\x01auth=Bearer {access_token}\x01\x01")
    );

    let verified = setup.run(&["verify", MAILBOX]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        stdout(&verified),
        stderr(&verified)
    );
    assert!(
        stdout(&verified).contains("✔ IMAP (receiving)")
            && stdout(&verified).contains("✔ SMTP (sending)")
    );

    let json = setup.run(&["verify", MAILBOX, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["imap"]["passed"], true);
    assert_eq!(value["smtp"]["passed"], true);

    let status = setup.run(&["status"]);
    let text = stdout(&status);
    assert!(
        text.contains(MAILBOX) && text.contains("sign-in:           OAuth"),
        "{text}"
    );
    assert!(text.contains("IMAP passed, SMTP passed"), "{text}");
    let status_json: serde_json::Value =
        serde_json::from_slice(&setup.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status_json[0]["oauth"], true);
    assert_eq!(status_json[0]["last_verification"]["smtp"]["passed"], true);

    let report = setup.run(&["report", MAILBOX]);
    assert!(
        stdout(&report).contains("Last verification")
            && stdout(&report).contains("signed in as: reception@")
    );

    // A token the server no longer accepts: the check fails, exit code 1, with the server's words.
    setup.sandbox.revoke_all();
    let failed = setup.run(&["verify", MAILBOX]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        stdout(&failed).contains("✖ IMAP (receiving)")
            && stdout(&failed).contains("server said: NO"),
        "{}",
        stdout(&failed)
    );

    // Usage and configuration errors exit with 2.
    let unknown = setup.run(&["token", "nobody@elsewhere.example"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("is not set up"),
        "{}",
        stderr(&unknown)
    );
    assert!(stdout(&unknown).is_empty());

    let store = TokenStore::open().unwrap();
    store
        .save_basic_password(MAILBOX, &SecretString::from("Winter2026!practice"))
        .unwrap();
    let basic_only = setup.run(&["forget", MAILBOX, "--basic-only"]);
    assert!(stdout(&basic_only).contains("the Basic Auth password"));
    assert!(
        store.load_tokens(MAILBOX).unwrap().is_some(),
        "--basic-only keeps the OAuth sign-in"
    );
    let forget = setup.run(&["forget", MAILBOX]);
    assert!(stdout(&forget).contains("the OAuth sign-in"));
    assert!(store.load_tokens(MAILBOX).unwrap().is_none());
    let after = setup.run(&["token", MAILBOX]);
    assert_eq!(after.status.code(), Some(1));
    assert!(
        stderr(&after).contains("not signed in"),
        "{}",
        stderr(&after)
    );

    // Every output above, with TRACE logging on, holds no token.
    for output in [&login, &verified, &json, &status, &report, &failed, &forget] {
        for text in [stdout(output), stderr(output)] {
            assert!(
                !text.contains(access_token),
                "a command printed the token where it should not"
            );
            assert!(!text.contains("Winter2026!practice"));
        }
    }
}

#[test]
fn sixteen_processes_cause_one_refresh_and_all_get_a_working_token() {
    let setup = Setup::new();
    setup.login();
    setup.expire_access_token();
    let refreshes_before = setup.sandbox.stats().refreshes();
    let children: Vec<_> = (0..16)
        .map(|_| {
            setup
                .command(&["token", MAILBOX])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Every child's pipes are read at once: at TRACE level a child writes more than a pipe holds, and one blocked
    // on a full pipe while holding the mailbox's lock would hold up all the others.
    let readers: Vec<_> = children
        .into_iter()
        .map(|child| std::thread::spawn(move || child.wait_with_output().unwrap()))
        .collect();
    let outputs: Vec<Output> = readers
        .into_iter()
        .map(|reader| reader.join().unwrap())
        .collect();
    for output in &outputs {
        assert!(output.status.success(), "{}", stderr(output));
    }
    assert_eq!(
        setup.sandbox.stats().refreshes() - refreshes_before,
        1,
        "the identity server saw more than one refresh"
    );
    let tokens: std::collections::BTreeSet<String> = outputs
        .iter()
        .map(|output| stdout(output).trim_end().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "everyone got the refreshed token");
    for output in &outputs {
        assert!(
            setup.imap_accepts(stdout(output).trim_end()),
            "Dovecot refused a token"
        );
    }
}

#[test]
fn a_process_killed_during_a_refresh_leaves_a_working_refresh_token() {
    let setup = Setup::new();
    setup.login();
    setup.expire_access_token();
    setup.sandbox.inject(Fault::TokenHang);
    let before = setup.sandbox.stats().refreshes();
    let mut child = setup
        .command(&["token", MAILBOX])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    setup.wait_for_refresh_after(before);
    child.kill().unwrap();
    child.wait().unwrap();
    let again = setup.run(&["token", MAILBOX]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(setup.imap_accepts(stdout(&again).trim_end()));
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn msmtp_sends_through_dovecot_with_the_readme_snippet() {
    let setup = Setup::new();
    setup.login();
    let msmtprc = setup.home.path().join("msmtprc");
    let binary = env!("CARGO_BIN_EXE_mailconnect");
    write_file(
        &msmtprc,
        &format!(
            "defaults\ntls on\ntls_trust_file {ca}\n\naccount practice\nhost localhost\nport {port}\ntls_starttls on\n\
             auth xoauth2\nuser {MAILBOX}\nfrom {MAILBOX}\npasswordeval \"{binary} --config {config} token {MAILBOX}\"\n",
            ca = setup.ca.ca_file.display(),
            port = setup.dovecot.submission_port,
            config = setup.config_path.display(),
        ),
    );
    std::fs::set_permissions(
        &msmtprc,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut msmtp = Command::new(require_program("msmtp"))
        .args(["-C"])
        .arg(&msmtprc)
        .args(["-a", "practice", "frontdesk@smile-dental.example"])
        .env("HOME", setup.home.path())
        .env("XDG_CACHE_HOME", setup.home.path().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut msmtp.stdin.take().unwrap(),
        format!("From: {MAILBOX}\r\nTo: frontdesk@smile-dental.example\r\nSubject: scan\r\n\r\nScanned document.\r\n").as_bytes(),
    )
    .unwrap();
    let output = msmtp.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "msmtp: {}\n{}",
        stderr(&output),
        setup.dovecot.log()
    );
    assert!(
        setup.dovecot.relayed(1),
        "the message did not reach Dovecot's relay"
    );
}

#[test]
fn mbsync_syncs_the_mailbox_with_the_readme_snippet() {
    let setup = Setup::new();
    setup.login();
    let mail = setup.home.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let mbsyncrc = setup.home.path().join("mbsyncrc");
    write_file(
        &mbsyncrc,
        &format!(
            "IMAPAccount practice\nHost localhost\nPort {port}\nUser {MAILBOX}\n\
             PassCmd \"{binary} --config {config} token {MAILBOX}\"\nAuthMechs XOAUTH2\nSSLType IMAPS\nCertificateFile {ca}\n\n\
             IMAPStore practice-remote\nAccount practice\n\n\
             MaildirStore practice-local\nPath {mail}/\nInbox {mail}/INBOX\n\n\
             Channel practice\nFar :practice-remote:\nNear :practice-local:\nPatterns INBOX\nCreate Near\nSyncState *\n",
            port = setup.dovecot.imaps_port,
            binary = env!("CARGO_BIN_EXE_mailconnect"),
            config = setup.config_path.display(),
            ca = setup.ca.ca_file.display(),
            mail = mail.display(),
        ),
    );
    let output = Command::new(require_program("mbsync"))
        .arg("-c")
        .arg(&mbsyncrc)
        .arg("practice")
        .env("HOME", setup.home.path())
        .env("XDG_CACHE_HOME", setup.home.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mbsync: {}{}\n{}",
        stdout(&output),
        stderr(&output),
        setup.dovecot.log()
    );
    assert!(
        mail.join("INBOX").join("cur").is_dir(),
        "the inbox was synced to a Maildir"
    );
}

#[test]
fn login_with_the_browser_prints_the_link_and_saves_the_sign_in() {
    let setup = Setup::with_sandbox(SandboxOptions {
        auto_approve_browser: true,
        ..SandboxOptions::default()
    });
    let mut child = setup
        .command(&["login", MAILBOX, "--browser"])
        .env_remove("DISPLAY")
        .env("BROWSER", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut link = None;
    while stderr_lines.read_line(&mut line).unwrap() > 0 {
        if line.starts_with("http://127.0.0.1") {
            link = Some(line.trim().to_owned());
            break;
        }
        line.clear();
    }
    let link = link.expect("the sign-in link is printed");
    // Play the browser: the sandbox approves and redirects to the CLI's loopback listener.
    let page = setup.runtime.block_on(async {
        crate::support::browser(true)
            .get(&link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(page.contains("You can close this tab"), "{page}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(stdout(&output).contains(&format!("Signed in as {MAILBOX}")));
    assert!(
        TokenStore::open()
            .unwrap()
            .load_tokens(MAILBOX)
            .unwrap()
            .is_some()
    );
    assert!(link.contains("code_challenge_method=S256") && link.contains("login_hint="));
}

#[test]
fn neomutt_sends_through_dovecot_with_the_readme_snippet() {
    // neomutt puts the XOAUTH2 initial response on the AUTH line whatever its length; Dovecot refuses lines over
    // 512 octets ("500 5.5.2 Line too long", as RFC 4954 allows), Exchange accepts them. A 280-character token keeps
    // the line short enough, so this tests the snippet and not that disagreement.
    let setup = Setup::with_sandbox(SandboxOptions {
        token_length: 280,
        ..SandboxOptions::default()
    });
    setup.login();
    let binary = env!("CARGO_BIN_EXE_mailconnect");
    let config = setup.config_path.display();
    let rc = setup.home.path().join("neomuttrc");
    write_file(
        &rc,
        &format!(
            "set from = \"{MAILBOX}\"\nset use_from = yes\nset ssl_starttls = yes\nset ssl_force_tls = yes\n\
             set certificate_file = \"{home}/certificates\"\n\
             set smtp_url = \"smtp://{MAILBOX}@localhost:{port}/\"\nset smtp_authenticators = \"xoauth2\"\n\
             set smtp_oauth_refresh_command = \"{binary} --config {config} token {MAILBOX}\"\n\
             set record = \"\"\nset postpone = no\n",
            home = setup.home.path().display(),
            port = setup.dovecot.submission_port,
        ),
    );
    // neomutt trusts certificates from its certificate file; the test CA goes there.
    std::fs::copy(&setup.ca.ca_file, setup.home.path().join("certificates")).unwrap();
    let mut neomutt = Command::new(require_program("neomutt"))
        .arg("-n")
        .arg("-F")
        .arg(&rc)
        .args(["-s", "scan", "frontdesk@smile-dental.example"])
        .env("HOME", setup.home.path())
        .env("XDG_CACHE_HOME", setup.home.path().join("cache"))
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut neomutt.stdin.take().unwrap(), b"Scanned document.\n").unwrap();
    let output = neomutt.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "neomutt: {}{}\n{}",
        stdout(&output),
        stderr(&output),
        setup.dovecot.log()
    );
    assert!(
        setup.dovecot.relayed(1),
        "the message did not reach Dovecot's relay"
    );
}

/// The refresh token stored for the mailbox now.
fn stored_refresh_token(setup: &Setup) -> String {
    let _ = setup;
    let tokens = TokenStore::open()
        .unwrap()
        .load_tokens(MAILBOX)
        .unwrap()
        .expect("signed in");
    secrecy::ExposeSecret::expose_secret(&tokens.refresh_token).to_owned()
}

#[test]
fn login_while_another_process_refreshes_ends_with_the_new_sign_in() {
    let setup = Setup::new();
    setup.login();
    setup.expire_access_token();
    setup
        .sandbox
        .inject(Fault::TokenDelay(Duration::from_secs(3)));
    let before = setup.sandbox.stats().refreshes();
    let token = setup
        .command(&["token", MAILBOX])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read its pipes meanwhile (see the sixteen-process test).
    let token = std::thread::spawn(move || token.wait_with_output().unwrap());
    setup.wait_for_refresh_after(before);
    // The practice admin signs in again while `token` waits for Microsoft.
    setup.login();
    let token = token.join().unwrap();
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(
        stored_refresh_token(&setup)
            .starts_with(mailconnect::sandbox::SIGN_IN_REFRESH_TOKEN_PREFIX),
        "the renewal of the old sign-in replaced the new sign-in"
    );
    let again = setup.run(&["token", MAILBOX]);
    assert!(setup.imap_accepts(stdout(&again).trim_end()));
}

#[test]
fn forget_after_fifty_processes_killed_mid_refresh_leaves_no_item() {
    // Access tokens that always need renewing, so every `token` refreshes.
    let setup = Setup::with_sandbox(SandboxOptions {
        access_token_lifetime: Duration::from_secs(60),
        ..SandboxOptions::default()
    });
    setup.login();
    for round in 0..50u64 {
        let mut child = setup
            .command(&["token", MAILBOX])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over start-up, the keyring reads, the refresh and the write.
        std::thread::sleep(Duration::from_millis(10 + (round * 37) % 140));
        // SIGKILL: no destructor, no clean-up, like a power cut.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let survivor = setup.run(&["token", MAILBOX]);
    assert!(survivor.status.success(), "{}", stderr(&survivor));
    assert!(setup.imap_accepts(stdout(&survivor).trim_end()));
    let before = setup.keyring.item_names();
    let forget = setup.run(&["forget", MAILBOX]);
    assert!(forget.status.success(), "{}", stderr(&forget));
    let said = stdout(&forget);
    assert!(
        said.contains(&format!("({} items)", before.len())),
        "forget reports every item it removed ({before:?}): {said}"
    );
    assert_eq!(
        setup.keyring.item_names(),
        Vec::<String>::new(),
        "secret-tool search still finds items after forget"
    );
}

#[test]
fn a_damaged_manifest_is_reported_per_account_and_repaired_by_login() {
    let setup = Setup::new();
    setup.login();
    // A second account with nothing stored shows that one damaged sign-in does not hide the others.
    let mut config: Config =
        toml::from_str(&std::fs::read_to_string(&setup.config_path).unwrap()).unwrap();
    config.accounts.push(Account {
        mailbox: "frontdesk@smile-dental.example".into(),
        ..setup.account.clone()
    });
    std::fs::write(&setup.config_path, toml::to_string(&config).unwrap()).unwrap();
    let damaged = setup.keyring.secret_tool_with_input(
        &[
            "store",
            "--label=damaged",
            "service",
            "mailconnect",
            "username",
            &format!("{MAILBOX}:tokens"),
        ],
        "{\"generation\": 3, \"access_token_par",
    );
    assert!(damaged.status.success());

    let status = setup.run(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let said = stdout(&status);
    assert!(said.contains("damaged: sign in again"), "{said}");
    assert!(said.contains("frontdesk@smile-dental.example"), "{said}");
    let json = setup.run(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["sign_in_error"], "keyring-damaged");
    assert_eq!(rows[1]["oauth"], false);

    let token = setup.run(&["token", MAILBOX]);
    assert_eq!(token.status.code(), Some(1));
    assert!(
        stderr(&token).contains("Sign in again"),
        "{}",
        stderr(&token)
    );

    setup.login();
    let token = setup.run(&["token", MAILBOX]);
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(setup.imap_accepts(stdout(&token).trim_end()));
}

#[test]
fn a_rejected_refresh_prints_its_ids_once_with_advice_in_command_words() {
    let setup = Setup::new();
    setup.login();
    setup.expire_access_token();
    setup.sandbox.inject(Fault::TokenError {
        error: "invalid_grant".into(),
        aadsts: 70008,
        description: "The provided authorization code or refresh token has expired due to inactivity.".into(),
    });
    let token = setup.run(&["token", MAILBOX]);
    assert_eq!(token.status.code(), Some(1));
    let said = stderr(&token);
    let message = "has expired due to inactivity";
    assert_eq!(said.matches(message).count(), 1, "said twice: {said}");
    assert!(said.contains("code: AADSTS70008"), "{said}");
    assert!(said.contains("trace id: "), "{said}");
    assert!(said.contains("correlation id: "), "{said}");
    assert!(
        said.contains("mailconnect login"),
        "the fix names the command: {said}"
    );
    assert!(
        !said.contains("Choose \""),
        "a window's button in a terminal: {said}"
    );
}

#[test]
fn a_passing_refresh_failure_hands_out_the_stored_token_with_a_warning() {
    let setup = Setup::new();
    setup.login();
    // Three minutes left: inside the renewal margin, but still a working token.
    setup.set_access_token_expiry(SystemTime::now() + Duration::from_secs(180));
    let stored = TokenStore::open()
        .unwrap()
        .load_tokens(MAILBOX)
        .unwrap()
        .unwrap();
    setup.sandbox.inject(Fault::TokenServiceUnavailable);
    let token = setup.run(&["token", MAILBOX]);
    assert!(token.status.success(), "{}", stderr(&token));
    assert_eq!(
        stdout(&token).trim_end(),
        secrecy::ExposeSecret::expose_secret(&stored.access_token)
    );
    assert!(stderr(&token).contains("warning: the sign-in could not be renewed just now"));
    assert!(setup.imap_accepts(stdout(&token).trim_end()));
}

#[test]
fn token_refresh_renews_now_and_verify_renews_once_when_a_cached_token_is_refused() {
    let setup = Setup::on_sandbox_mail();
    setup.login();
    let before = setup.sandbox.stats().refreshes();
    let forced = setup.run(&["token", MAILBOX, "--refresh"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(setup.sandbox.stats().refreshes(), before + 1);

    // Microsoft ends the access token early; the stored one still has an hour on paper.
    setup.sandbox.revoke_access_tokens();
    let verify = setup.run(&["verify", MAILBOX]);
    assert!(
        verify.status.success(),
        "a revoked cached token must be renewed before a red cross: {}",
        stdout(&verify)
    );
    assert_eq!(setup.sandbox.stats().refreshes(), before + 2);
}

#[test]
fn server_text_reaches_the_terminal_without_escape_sequences() {
    let setup = Setup::on_sandbox_mail();
    setup.login();
    setup.sandbox.inject(Fault::ImapAuthReply(
        "NO [AUTHENTICATIONFAILED] \u{1b}]0;owned\u{7}\u{1b}[2J AUTHENTICATE failed.".into(),
    ));
    let verify = setup.run(&["verify", MAILBOX]);
    assert_eq!(verify.status.code(), Some(1));
    let said = stdout(&verify);
    assert!(said.contains("AUTHENTICATE failed"), "{said}");
    assert!(
        !said.contains('\u{1b}') && !said.contains('\u{7}'),
        "{said:?}"
    );
}

#[test]
fn login_finds_a_locked_keyring_before_anyone_signs_in() {
    let setup = Setup::with_locked_keyring();
    let login = setup.run(&["login", MAILBOX]);
    assert_eq!(login.status.code(), Some(1));
    let said = stderr(&login);
    assert!(!said.contains("enter the code"), "a code was shown: {said}");
    assert!(said.contains("locked"), "{said}");
    assert!(!said.contains("Choose \""), "{said}");
}
