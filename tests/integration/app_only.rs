//! App-only access (client credentials) end to end: the real binary makes a certificate (private key into the
//! real keyring), the sandbox checks the signed assertion against the uploaded certificate, mailboxes imported onto
//! the app pass both checks where Exchange's permission is there and say "not yet granted" where it is not, the
//! PowerShell carries the real ids, and a client secret read from standard input works the same way. Secrets are
//! looked for in every output.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use base64::Engine;
use mailconnect::app_only::{AppSecret, certificate};
use mailconnect::config::{Account, ConfigFile};
use mailconnect::mailbox_check::check_mailbox;
use mailconnect::sandbox::{SandboxOptions, app_principal};
use mailconnect::store::TokenStore;
use mailconnect::verify::CheckContext;
use secrecy::ExposeSecret;

use crate::command_line::{MAILBOX, Setup, stderr, stdout};
use crate::support::{quick_sandbox, test_timeouts};

const APP: &str = "5b1e3c2a-7d4f-4e8a-9c61-0f2b3a4d5e6f";
const TENANT: &str = "smile-dental.example";
const ON_APP: [&str; 3] = [
    "front.desk@smile-dental.example",
    "dr.patel@smile-dental.example",
    "not.yet@smile-dental.example",
];

fn day_in(days: i64) -> String {
    (chrono::Local::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Registers the app in the sandbox as an admin would: consent for both application permissions, Exchange's
/// service principal with the Enterprise application's object id, Full Access on all but the last mailbox.
fn register_app(setup: &Setup) -> mailconnect::sandbox::AppIds {
    let ids = setup.sandbox.register_app(APP);
    setup
        .sandbox
        .consent_app_roles(APP, &["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
    setup
        .sandbox
        .new_service_principal(APP, &ids.enterprise_object_id);
    for mailbox in &ON_APP[..2] {
        setup
            .sandbox
            .grant_full_access(&app_principal(APP), mailbox);
    }
    ids
}

fn import_onto_app(setup: &Setup) {
    let list = setup.home_path().join("list.txt");
    std::fs::write(&list, ON_APP.join("\n")).unwrap();
    let imported = setup.run(&[
        "import",
        list.to_str().unwrap(),
        "--app",
        APP,
        "--group",
        "App group",
        "--save",
    ]);
    assert!(imported.status.success(), "{}", stderr(&imported));
}

fn verify_group(setup: &Setup) -> Vec<serde_json::Value> {
    let verified = setup.run(&["verify", "--group", "App group", "--json"]);
    stdout(&verified)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn line_for<'a>(lines: &'a [serde_json::Value], mailbox: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|line| line["mailbox"] == mailbox)
        .unwrap_or_else(|| panic!("no line for {mailbox}: {lines:?}"))
}

#[test]
fn an_app_with_a_certificate_reaches_its_mailboxes_and_the_powershell_names_the_real_ids() {
    let setup = Setup::on_sandbox_mail();
    let ids = register_app(&setup);
    let certificate_file = setup.home_path().join("mailconnect.cer");
    let made = setup.run(&[
        "app",
        "certificate",
        "--client-id",
        APP,
        "--tenant",
        TENANT,
        "--enterprise-object-id",
        &ids.enterprise_object_id,
        "--out",
        certificate_file.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(
        stderr(&made).contains("Upload certificate"),
        "{}",
        stderr(&made)
    );
    // The thumbprint as the admin center lists it: SHA-1, 40 hex digits.
    let thumbprint = stderr(&made)
        .lines()
        .find_map(|line| {
            line.strip_prefix("Thumbprint (shown there after the upload): ")
                .map(str::to_owned)
        })
        .unwrap();
    assert_eq!(thumbprint.len(), 40, "{thumbprint}");
    assert!(thumbprint.chars().all(|c| c.is_ascii_hexdigit()));
    let pem = std::fs::read_to_string(&certificate_file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    setup.sandbox.upload_app_certificate(APP, &pem).unwrap();
    import_onto_app(&setup);

    let lines = verify_group(&setup);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for mailbox in &ON_APP[..2] {
        assert_eq!(line_for(&lines, mailbox)["passed"], true, "{lines:?}");
    }
    // Authenticated but no Full Access yet: "not yet granted", not a bad token.
    let not_yet = line_for(&lines, ON_APP[2]);
    assert_eq!(not_yet["passed"], false);
    assert_eq!(
        not_yet["imap"]["cause_id"], "imap-not-connected",
        "{not_yet}"
    );
    let stats = setup.sandbox.stats();
    assert_eq!(
        stats.token_requests.get("client_credentials").copied(),
        Some(1),
        "one app token for the whole group, even with a mailbox that refused it (just got: not asked again): {stats:?}"
    );

    // Granted later (as after the two hours): the next run passes.
    setup
        .sandbox
        .grant_full_access(&app_principal(APP), ON_APP[2]);
    let again = verify_group(&setup);
    assert_eq!(line_for(&again, ON_APP[2])["passed"], true, "{again:?}");

    let script = setup.run(&["powershell", "--group", "App group"]);
    assert!(script.status.success(), "{}", stderr(&script));
    let script = stdout(&script);
    for expected in [
        format!("$appId = '{APP}'"),
        format!("$objectId = '{}'", ids.enterprise_object_id),
        "New-ServicePrincipal -AppId $appId -ObjectId $objectId".to_owned(),
        format!(
            "Add-MailboxPermission -Identity '{}' -User $objectId -AccessRights FullAccess",
            ON_APP[2]
        ),
        "Add-RecipientPermission".to_owned(),
        "New-ManagementScope".to_owned(),
        "-Role 'Application SMTP.SendAsApp' -App $appId".to_owned(),
        format!(
            "# Test-ServicePrincipalAuthorization -Identity $objectId -Resource '{}'",
            ON_APP[0]
        ),
        format!(
            "Get-MailboxPermission -Identity '{}' -User $objectId",
            ON_APP[1]
        ),
        format!(
            "Add-DistributionGroupMember -Identity $group.Identity -Member '{}'",
            ON_APP[2]
        ),
        "up to two hours".to_owned(),
        "Connect-ExchangeOnline".to_owned(),
    ] {
        assert!(
            script.contains(&expected),
            "{expected} missing from:\n{script}"
        );
    }
    assert!(
        !script.contains(&ids.application_object_id),
        "the App registrations object id is the documented trap"
    );

    // As the README shows it: `app show --client-id ID`.
    let shown = setup.run(&["app", "show", "--client-id", APP]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown_text = stdout(&shown);
    assert!(
        shown_text.contains("certificate, works until"),
        "{shown_text}"
    );
    assert!(shown_text.contains(&thumbprint), "{shown_text}");
    assert!(
        shown_text.contains("mailboxes:  3 mailboxes"),
        "{shown_text}"
    );
    let status = setup.run(&["status", "--json"]);
    assert!(
        stdout(&status).contains("\"app_only\": true"),
        "{}",
        stdout(&status)
    );
    let report = stdout(&setup.run(&["report", ON_APP[0]]));
    assert!(
        report.contains("Reached by:      the organisation's app"),
        "{report}"
    );
    assert!(
        report.contains(&format!("certificate thumbprint: {thumbprint}")),
        "{report}"
    );
    let login = setup.run(&["login", ON_APP[0]]);
    assert_eq!(
        login.status.code(),
        Some(2),
        "no one signs in for an app mailbox"
    );

    // `token` hands other programs an app token the mail server accepts.
    let token = setup.run(&["token", ON_APP[0]]);
    assert!(token.status.success(), "{}", stderr(&token));
    let token_text = stdout(&token);
    assert!(
        setup
            .sandbox
            .is_valid_access_token(token_text.trim(), &app_principal(APP))
    );

    // The private key is in the keyring and nowhere else: not in any output, the settings or the certificate.
    let store = TokenStore::open().unwrap();
    let Some(AppSecret::PrivateKey { key, .. }) = store
        .load_app_credential(APP, mailconnect::store::AppCredentialSlot::Current)
        .unwrap()
    else {
        panic!("the private key is stored");
    };
    let key_base64 = base64::engine::general_purpose::STANDARD.encode(key.expose_secret());
    let needle = &key_base64[100..160];
    let config_text = std::fs::read_to_string(setup.config_path()).unwrap();
    for (what, text) in [
        (
            "certificate output",
            format!("{}{}", stdout(&made), stderr(&made)),
        ),
        ("config", config_text.clone()),
        ("certificate file", pem.clone()),
        ("script", script.clone()),
        ("show", shown_text),
        ("status", stdout(&status)),
        ("token stderr", stderr(&token)),
        ("report", report.clone()),
    ] {
        assert!(
            !text.contains(needle),
            "the private key leaked into the {what}"
        );
    }
    assert!(!config_text.contains("PRIVATE KEY"));
    let config = ConfigFile::at(setup.config_path()).load().unwrap();
    assert_eq!(config.apps.len(), 1);
    assert!(
        config
            .accounts
            .iter()
            .filter(|a| a.app_only)
            .all(|a| a.client_id == APP)
    );
    assert!(config.account(MAILBOX).is_some_and(|a| !a.app_only));
}

#[test]
fn a_client_secret_comes_from_standard_input_warns_before_it_ends_and_a_wrong_one_is_explained() {
    const SECRET: &str = "Qx8~kP2.vLr_9sT3nW-4yZ0aBcDeFgHiJkLmN";
    let setup = Setup::on_sandbox_mail();
    register_app(&setup);
    setup
        .sandbox
        .grant_full_access(&app_principal(APP), ON_APP[2]);
    setup.sandbox.add_app_secret(
        APP,
        SECRET,
        SystemTime::now() + Duration::from_secs(20 * 86_400),
    );
    let give_secret = |text: &str| {
        let mut child = setup
            .command(&[
                "app",
                "secret",
                "--client-id",
                APP,
                "--tenant",
                TENANT,
                "--expires",
                &day_in(20),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // The usual mistake: the secret's ID instead of its Value.
    let mistaken = give_secret("0d9f6e2c-1b3a-4c5d-8e7f-a1b2c3d4e5f6\n");
    assert_eq!(mistaken.status.code(), Some(2));
    assert!(
        stderr(&mistaken).contains("not its Value"),
        "{}",
        stderr(&mistaken)
    );
    let given = give_secret(&format!("{SECRET}\n"));
    assert!(given.status.success(), "{}", stderr(&given));
    import_onto_app(&setup);
    let lines = verify_group(&setup);
    assert!(lines.iter().all(|line| line["passed"] == true), "{lines:?}");
    let shown = setup.run(&["app", "show"]);
    assert!(
        stdout(&shown).contains("client secret, works until")
            && stdout(&shown).contains("days left"),
        "the warning comes 30 days before: {}",
        stdout(&shown)
    );

    // A mistyped new secret waits beside the working one, which keeps every mailbox going.
    let wrong = give_secret("Zz9~notTheRightSecretValue.123456789\n");
    assert!(wrong.status.success());
    assert!(
        stderr(&wrong).contains("keeps working"),
        "{}",
        stderr(&wrong)
    );
    let lines = verify_group(&setup);
    assert!(
        lines.iter().all(|line| line["passed"] == true),
        "the working secret was kept: {lines:?}"
    );
    let waiting = stdout(&setup.run(&["app", "show"]));
    assert!(
        waiting.contains("new client secret, waiting until Microsoft accepts it"),
        "{waiting}"
    );
    // Once the working secret is gone from the app registration, the new one's refusal is explained as such.
    register_app(&setup);
    setup
        .sandbox
        .grant_full_access(&app_principal(APP), ON_APP[2]);
    let lines = verify_group(&setup);
    let line = line_for(&lines, ON_APP[0]);
    assert_eq!(line["cause_id"], "aad-client-secret-bad", "{line}");
    assert!(
        line["error"].as_str().unwrap().contains("7000215"),
        "{line}"
    );

    for output in [&given, &shown, &wrong] {
        let text = format!("{}{}", stdout(output), stderr(output));
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
    }
    let config_text = std::fs::read_to_string(setup.config_path()).unwrap();
    assert!(!config_text.contains(SECRET) && !config_text.contains("notTheRight"));
}

/// The sandbox answers the app-only mistakes the way Microsoft does, and the advice names them: a certificate
/// never uploaded (700027), Exchange's service principal made with the App registrations object id
/// (`AUTHENTICATE failed`), and the shared endpoints refused for an app.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_app_only_mistakes_get_their_own_answers() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let ids = sandbox.register_app(APP);
    sandbox.consent_app_roles(APP, &["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
    // The trap: the object id from App registrations.
    sandbox.new_service_principal(APP, &ids.application_object_id);
    sandbox.grant_full_access(&app_principal(APP), ON_APP[0]);
    let account = Account {
        mailbox: ON_APP[0].to_owned(),
        client_id: APP.to_owned(),
        app_only: true,
        ..sandbox.account(ON_APP[0])
    };
    assert!(account.problems().is_empty(), "{:?}", account.problems());
    let (store, _items) = TokenStore::in_memory();
    let made = certificate::generate(APP, chrono::Utc::now().date_naive()).unwrap();
    let first_thumbprint = made.thumbprint_sha1_hex.clone();
    assert!(
        !format!("{made:?}").contains("private"),
        "Debug shows no key"
    );
    store
        .save_app_credential(
            APP,
            mailconnect::store::AppCredentialSlot::Current,
            &AppSecret::PrivateKey {
                key: made.private_key,
                thumbprint_sha256: made.thumbprint_sha256.clone(),
                thumbprint_sha1_hex: Some(made.thumbprint_sha1_hex.clone()),
            },
            made.expires,
        )
        .unwrap();
    let context = CheckContext::new(mailconnect::tls::Trust::new(None).unwrap(), test_timeouts());
    let client = || {
        Ok(mailconnect::auth::SignInClient::for_account(
            &account,
            &context.trust,
            &context.timeouts,
        )?)
    };

    // Not uploaded yet: Microsoft cannot find the key.
    let refused = check_mailbox(&account, &store, &context, client)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("700027"), "{refused}");
    assert_eq!(
        mailconnect::advice::for_token(&refused).id(),
        "aad-client-assertion-bad"
    );

    // Uploaded, but Exchange knows the app by the wrong object id: every sign-in fails.
    sandbox
        .upload_app_certificate(APP, &made.certificate_pem)
        .unwrap();
    let checked = check_mailbox(&account, &store, &context, client)
        .await
        .unwrap();
    let failure = checked.imap.verdict.failure().expect("IMAP refused");
    assert_eq!(
        mailconnect::advice::for_check(failure, mailconnect::verify::Protocol::Imap).id(),
        "imap-authenticate-failed"
    );
    // Fixed with the Enterprise application's object id.
    sandbox.new_service_principal(APP, &ids.enterprise_object_id);
    let checked = check_mailbox(&account, &store, &context, client)
        .await
        .unwrap();
    assert!(
        checked.passed(),
        "{:?} {:?}",
        checked.imap.verdict,
        checked.smtp.verdict
    );

    // A new certificate while this one is in use: it waits beside it, the current one keeps working until the new
    // one is uploaded, and the first token it gets makes it current.
    let renewed = certificate::generate(APP, chrono::Utc::now().date_naive()).unwrap();
    store
        .save_app_credential(
            APP,
            mailconnect::store::AppCredentialSlot::Pending,
            &AppSecret::PrivateKey {
                key: renewed.private_key,
                thumbprint_sha256: renewed.thumbprint_sha256.clone(),
                thumbprint_sha1_hex: Some(renewed.thumbprint_sha1_hex.clone()),
            },
            renewed.expires,
        )
        .unwrap();
    let current_thumbprint = || {
        store
            .app_credential_info(APP, mailconnect::store::AppCredentialSlot::Current)
            .unwrap()
            .unwrap()
            .thumbprint_sha1_hex
    };
    mailconnect::app_only::forget_cached_tokens().await;
    let checked = check_mailbox(&account, &store, &context, client)
        .await
        .unwrap();
    assert!(
        checked.passed(),
        "not uploaded yet: the current certificate still works"
    );
    assert_eq!(current_thumbprint(), Some(first_thumbprint.clone()));
    sandbox
        .upload_app_certificate(APP, &renewed.certificate_pem)
        .unwrap();
    mailconnect::app_only::forget_cached_tokens().await;
    let checked = check_mailbox(&account, &store, &context, client)
        .await
        .unwrap();
    assert!(checked.passed());
    assert_eq!(
        current_thumbprint(),
        Some(renewed.thumbprint_sha1_hex.clone()),
        "uploaded: the new certificate is current"
    );
    assert!(
        store
            .app_credential_info(APP, mailconnect::store::AppCredentialSlot::Pending)
            .unwrap()
            .is_none()
    );

    // An app signs in to one organisation.
    for shared in ["common", "organizations", "Consumers"] {
        let on_shared = Account {
            provider: mailconnect::config::Provider::Microsoft365,
            tenant: shared.to_owned(),
            ..account.clone()
        };
        assert!(
            on_shared
                .problems()
                .iter()
                .any(|problem| problem.message.contains("tenant id or domain")),
            "{shared}"
        );
    }
    assert_eq!(
        Account {
            provider: mailconnect::config::Provider::GccHigh,
            ..account.clone()
        }
        .app_scope()
        .unwrap(),
        "https://outlook.office365.us/.default"
    );
}

/// The class of "a new credential replaced the working one": for every kind in use and every kind added (a
/// certificate after a secret, a secret after a certificate, and each after its own kind), the new one waits beside
/// the working one while Microsoft refuses it (a certificate not uploaded, a mistyped secret), the mailboxes keep
/// getting tokens with the working one, and the first token the new one gets makes it current. Both refused: the
/// new one's refusal is reported, since that is the one the admin must fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_credential_of_any_kind_waits_beside_the_working_one_until_microsoft_accepts_it() {
    use mailconnect::app_only::CredentialKind;
    use mailconnect::store::AppCredentialSlot as Slot;
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let context = CheckContext::new(mailconnect::tls::Trust::new(None).unwrap(), test_timeouts());
    let kinds = [CredentialKind::Certificate, CredentialKind::Secret];
    for (case, (in_use, added)) in kinds
        .iter()
        .flat_map(|in_use| kinds.iter().map(move |added| (*in_use, *added)))
        .enumerate()
    {
        let client_id = format!("5b1e3c2a-7d4f-4e8a-9c61-0f2b3a4d5e{case:02}");
        sandbox.register_app(&client_id);
        sandbox.consent_app_roles(&client_id, &["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
        let account = Account {
            mailbox: ON_APP[0].to_owned(),
            client_id: client_id.clone(),
            app_only: true,
            ..sandbox.account(ON_APP[0])
        };
        let (store, _items) = TokenStore::in_memory();
        // Makes a credential of `kind`; `known` says whether Microsoft accepts it (uploaded, or a secret as made).
        let make = |kind: CredentialKind, known: bool, label: &str| -> AppSecret {
            match kind {
                CredentialKind::Certificate => {
                    let made =
                        certificate::generate(&client_id, chrono::Utc::now().date_naive()).unwrap();
                    if known {
                        sandbox
                            .upload_app_certificate(&client_id, &made.certificate_pem)
                            .unwrap();
                    }
                    AppSecret::PrivateKey {
                        key: made.private_key,
                        thumbprint_sha256: made.thumbprint_sha256,
                        thumbprint_sha1_hex: Some(made.thumbprint_sha1_hex),
                    }
                }
                CredentialKind::Secret => {
                    let secret = format!("Qx8~{label}.vLr_9sT3nW-4yZ0aBcDe{case}");
                    if known {
                        sandbox.add_app_secret(
                            &client_id,
                            &secret,
                            SystemTime::now() + Duration::from_secs(400 * 86_400),
                        );
                    }
                    AppSecret::ClientSecret(secret.into())
                }
            }
        };
        let expires = |days: i64| chrono::Utc::now().date_naive() + chrono::Duration::days(days);
        let working = make(in_use, true, "working");
        assert_eq!(
            store
                .add_app_credential(&client_id, &working, expires(300))
                .unwrap(),
            Slot::Current,
            "the first credential is the one in use"
        );
        let token = || async {
            mailconnect::app_only::forget_cached_tokens().await;
            mailconnect::app_only::access_token(
                &account,
                &store,
                mailconnect::tokens::Renew::IfNeeded,
                || {
                    Ok(mailconnect::auth::SignInClient::for_account(
                        &account,
                        &context.trust,
                        &context.timeouts,
                    )?)
                },
            )
            .await
        };
        let info = |slot| store.app_credential_info(&client_id, slot).unwrap();
        let what = format!("{in_use:?} in use, {added:?} added");

        // Refused by Microsoft: waits, and the working one keeps answering.
        let refused = make(added, false, "mistyped");
        assert_eq!(
            store
                .add_app_credential(&client_id, &refused, expires(200))
                .unwrap(),
            Slot::Pending,
            "{what}"
        );
        let got = token()
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        assert!(
            sandbox.is_valid_access_token(
                got.access_token.expose_secret(),
                &app_principal(&client_id)
            ),
            "{what}"
        );
        assert_eq!(info(Slot::Current).unwrap().expires, expires(300), "{what}");
        assert_eq!(
            info(Slot::Pending).unwrap().kind,
            added,
            "{what}: still waiting"
        );

        // Both refused (the working one removed from the app registration): the new one's refusal is said.
        sandbox.register_app(&client_id);
        sandbox.consent_app_roles(&client_id, &["IMAP.AccessAsApp", "SMTP.SendAsApp"]);
        let error = token().await.unwrap_err().to_string();
        let expected = match added {
            CredentialKind::Certificate => "700027",
            CredentialKind::Secret => "7000215",
        };
        assert!(error.contains(expected), "{what}: {error}");
        assert_eq!(
            info(Slot::Current).unwrap().expires,
            expires(300),
            "{what}: nothing lost"
        );

        // Accepted: the new one takes over, the waiting copy goes.
        let accepted = make(added, true, "right");
        store
            .add_app_credential(&client_id, &accepted, expires(100))
            .unwrap();
        token()
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        let current = info(Slot::Current).unwrap();
        assert_eq!(
            (current.kind, current.expires),
            (added, expires(100)),
            "{what}"
        );
        assert!(info(Slot::Pending).is_none(), "{what}");
    }
}
