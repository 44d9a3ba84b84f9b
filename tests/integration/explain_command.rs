//! `mailconnect explain` and `mailconnect consent-link` as the real binary: pasted text with noise and several codes,
//! from an argument and from standard input, as words and as JSON; the approval link for a configured mailbox.

use std::io::Write;
use std::process::{Command, Stdio};

const PASTED: &str = "[2026-11-23 09:14:02] PracticeMail: SMTP send failed: 535 5.7.139 Authentication unsuccessful, \
    the request did not meet the criteria to be authenticated successfully. Contact your administrator.\n\
    [2026-11-23 09:14:05] token refresh: {\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50173: The provided \
    grant has expired due to it being revoked, a fresh auth token is needed.\\r\\nTrace ID: 0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00\
    \\r\\nCorrelation ID: 7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60\\r\\nTimestamp: 2026-11-23 09:14:05Z\"}\n\
    IMAP: A2 NO AUTHENTICATE failed.\n";

fn mailconnect() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailconnect"));
    // No settings are needed to explain: a config path that does not exist must not matter.
    command.args(["--config", "/nonexistent/mailconnect/config.toml"]);
    command
}

#[test]
fn explain_finds_each_code_in_noisy_text_with_its_fix_and_the_ids() {
    let output = mailconnect().args(["explain", PASTED]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let conditional = text.find("Conditional Access").expect(&text);
    let revoked = text
        .find("password was changed, or an IT admin signed the user out")
        .expect(&text);
    let imap = text.find("IMAP is switched off").expect(&text);
    assert!(
        conditional < revoked && revoked < imap,
        "in the order found: {text}"
    );
    assert!(text.contains("Signing in again does not fix it"), "{text}");
    assert!(
        text.contains("Trace id: 0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00"),
        "{text}"
    );
    assert!(
        text.contains("Correlation id: 7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60"),
        "{text}"
    );
    assert!(
        text.contains("Re-authenticate now") && !text.contains("choose \"Try again\""),
        "steps in words for an error another program showed: {text}"
    );
}

#[test]
fn explain_reads_standard_input_and_speaks_json() {
    let mut child = mailconnect()
        .args(["explain", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASTED.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "smtp-conditional-access",
            "aad-grant-revoked",
            "imap-authenticate-failed"
        ]
    );
    assert_eq!(
        json["correlation_ids"][0],
        "7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60"
    );
    assert_eq!(json["findings"][1]["sign_in_again_helps"], true);

    let nothing = mailconnect()
        .args(["explain", "the printer is out of paper"])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(1), "nothing recognised");
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("No sign-in code"));
}

#[test]
fn consent_link_prints_the_tenants_approval_link_and_the_e_mail() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("config.toml");
    let mut preset =
        mailconnect::config::Preset::for_provider(mailconnect::config::Provider::Microsoft365);
    preset.client_id = Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned());
    preset.tenant = Some("smile-dental.co.uk".to_owned());
    mailconnect::config::ConfigFile::at(&config)
        .save(&mailconnect::config::Config {
            accounts: vec![mailconnect::config::Account::from_preset(
                "reception@smile-dental.co.uk",
                &preset,
            )],
            ..Default::default()
        })
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mailconnect"))
        .arg("--config")
        .arg(&config)
        .args(["consent-link", "reception@smile-dental.co.uk"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let link = text.lines().next().unwrap();
    assert!(
        link.starts_with(
            "https://login.microsoftonline.com/smile-dental.co.uk/v2.0/adminconsent?client_id=9e5f94bc-e8a4-4e73-b8be-63364c29d753&redirect_uri=http%3A%2F%2Flocalhost&scope="
        ),
        "{link}"
    );
    assert!(link.contains("IMAP.AccessAsUser.All") && link.contains("SMTP.Send"));
    assert!(text.contains("Subject: Please approve mailconnect for reception@smile-dental.co.uk"));
    assert!(text.contains("no administrator rights"));
}
