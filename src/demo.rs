//! The offline demo: the built-in sandbox with a ready-made practice mailbox, for rehearsing a support call.

use std::time::Duration;

use secrecy::SecretString;

use crate::config::Timeouts;
use crate::runner::Services;
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::store::StoreAccess;
use crate::tls::{Trust, TrustError};
use crate::wizard::{AccountForm, Wizard};

/// The practice mailbox the demo connects.
pub const DEMO_MAILBOX: &str = "reception@smile-dental.example";
/// The demo keeps its keyring items apart from real mailboxes'.
pub const DEMO_KEYRING_SERVICE: &str = "mailconnect-demo";
/// The made-up Basic Auth password the demo's reminder step shows.
pub const DEMO_BASIC_PASSWORD: &str = "Winter2026!";

/// Everything the demo window needs. Keep the sandbox (and the folder) alive as long as the window.
pub struct Demo {
    pub sandbox: Sandbox,
    pub services: Services,
    pub wizard: Wizard,
    /// The demo's settings, devices and queue: a temporary folder, removed when the demo ends.
    pub folder: DemoFolder,
}

/// A folder removed when dropped, with the demo's sign-ins in the keyring: each demo starts afresh and leaves
/// nothing behind.
pub struct DemoFolder(pub std::path::PathBuf);

impl Drop for DemoFolder {
    fn drop(&mut self) {
        let mut mailboxes = vec![DEMO_MAILBOX.to_owned()];
        if let Ok(config) = crate::config::ConfigFile::at(self.0.join("config.toml")).load() {
            for account in config.accounts {
                mailboxes.extend(account.service_account);
                mailboxes.push(account.mailbox);
            }
        }
        forget_demo_sign_ins(mailboxes);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the demo's sign-ins for `mailboxes` from the keyring (its own service, never the real one's), waiting
/// at most a few seconds: a keyring that does not answer must not keep the demo from closing.
fn forget_demo_sign_ins(mailboxes: Vec<String>) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(store) = crate::store::TokenStore::open_for_service(DEMO_KEYRING_SERVICE) {
            for mailbox in mailboxes {
                let _ = store.forget(&mailbox, true);
            }
            // The bridge's certificate, made for the demo's own bridge.
            let _ = store.delete_named_secret(crate::bridge::tls::ITEM);
        }
        let _ = done.send(());
    });
    let _ = finished.recv_timeout(Duration::from_secs(5));
}

/// A port free on this computer now (the demo's bridge must not take the real one's).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map_or(0, |address| address.port())
}

/// Starts the sandbox and prepares a wizard for the practice mailbox. The code is approved by itself after a few
/// seconds, as if the practice admin signed in on their phone; the sandbox's page can be used instead.
pub async fn start(auto_approve_after: Option<Duration>) -> Result<Demo, DemoError> {
    let sandbox = Sandbox::start(SandboxOptions {
        default_user: DEMO_MAILBOX.to_owned(),
        device_poll_interval: Duration::from_secs(2),
        auto_approve_device_after: auto_approve_after,
        ..SandboxOptions::default()
    })
    .await
    .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    let account = sandbox.account(DEMO_MAILBOX);
    // Settings, devices and the bridge's queue live in a folder of the demo's own, never the real ones.
    let folder = DemoFolder(std::env::temp_dir().join(format!(
        "mailconnect-demo-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )));
    std::fs::create_dir_all(&folder.0).map_err(|error| DemoError::Sandbox(error.to_string()))?;
    // A demo ended by force (killed, power cut) may have left its sign-in: the new one starts without it.
    forget_demo_sign_ins(vec![DEMO_MAILBOX.to_owned()]);
    let config_file = crate::config::ConfigFile::at(folder.0.join("config.toml"));
    let services = Services {
        trust: Trust::new(None).map_err(DemoError::Trust)?,
        timeouts: Timeouts::default(),
        store: StoreAccess::Keyring {
            service: DEMO_KEYRING_SERVICE,
        },
        config_file: Some(config_file),
        state_file: None,
        open_browser: true,
        demo_password: Some((
            DEMO_MAILBOX.to_owned(),
            SecretString::from(DEMO_BASIC_PASSWORD),
        )),
        demo: true,
        bridge: Some(crate::runner::WindowBridge {
            spool: folder.0.join("spool"),
            port: free_port(),
            tls_port: free_port(),
        }),
    };
    let wizard = Wizard::new(vec![account.clone()], AccountForm::from_account(&account));
    Ok(Demo {
        sandbox,
        services,
        wizard,
        folder,
    })
}

/// Either demo as the window opens it; keep it alive as long as the window.
pub struct Opened {
    pub sandbox: Sandbox,
    pub services: Services,
    pub wizard: Wizard,
    /// The accounts the window opens with: the practice's 20, none for the wizard's demo.
    pub accounts: Vec<crate::config::Account>,
    /// The wizard demo's folder (removed, with its sign-ins, when dropped).
    pub folder: Option<DemoFolder>,
}

/// The practice demo (`practice`) or the wizard's demo, whose code is approved by itself after `approve_after`.
pub async fn open(practice: bool, approve_after: Option<Duration>) -> Result<Opened, DemoError> {
    if practice {
        let practice = start_practice().await?;
        return Ok(Opened {
            sandbox: practice.sandbox,
            services: practice.services,
            wizard: practice.wizard,
            accounts: practice.accounts,
            folder: None,
        });
    }
    let demo = start(approve_after).await?;
    Ok(Opened {
        sandbox: demo.sandbox,
        services: demo.services,
        wizard: demo.wizard,
        accounts: Vec::new(),
        folder: Some(demo.folder),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("The practice sandbox could not start on this computer: {0}")]
    Sandbox(String),
    #[error(transparent)]
    Trust(TrustError),
}

/// The practice's service account in the many-mailboxes demo.
pub const PRACTICE_SERVICE_ACCOUNT: &str = "it@smile-dental.example";

/// The many-mailboxes demo: a practice of 20 mailboxes, 19 reached through one service account already signed in.
/// Full Access and Send As are granted on all but five (so "Check now" shows what a missing right looks like);
/// the first five are the "Test group"; every mailbox still has its old Basic Auth password. Kept in memory only.
pub struct Practice {
    pub sandbox: Sandbox,
    pub services: Services,
    pub wizard: Wizard,
    pub accounts: Vec<crate::config::Account>,
}

pub async fn start_practice() -> Result<Practice, DemoError> {
    let sandbox = Sandbox::start(SandboxOptions {
        default_user: PRACTICE_SERVICE_ACCOUNT.to_owned(),
        device_poll_interval: Duration::from_millis(200),
        ..SandboxOptions::default()
    })
    .await
    .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    let trust = Trust::new(None).map_err(DemoError::Trust)?;
    let timeouts = Timeouts::default();
    let service = sandbox.account(PRACTICE_SERVICE_ACCOUNT);
    // The service account signs in once, as the practice's IT person would.
    let client = crate::auth::SignInClient::for_account(&service, &trust, &timeouts)
        .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    let prompt = client
        .start_device_code()
        .await
        .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    sandbox.approve_device_code(&prompt.user_code, PRACTICE_SERVICE_ACCOUNT);
    let tokens = client
        .poll_device_code(&prompt, |_| {})
        .await
        .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    let (store, _items) = crate::store::TokenStore::in_memory();
    let stored = crate::store::StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens
            .refresh_token
            .clone()
            .ok_or_else(|| DemoError::Sandbox("no refresh token".to_owned()))?,
        access_token_expires_at: tokens.expires_at,
        signed_in_as: Some(PRACTICE_SERVICE_ACCOUNT.to_owned()),
        saved_at: std::time::SystemTime::now(),
    };
    let names = [
        "reception",
        "frontdesk",
        "billing",
        "dr.lee",
        "dr.patel",
        "hygiene",
        "hygiene2",
        "lab",
        "xray",
        "orders",
        "payroll",
        "manager",
        "nurse",
        "nurse2",
        "recall",
        "referrals",
        "scanner",
        "printer",
        "locum",
    ];
    let mut accounts = vec![crate::config::Account {
        group: Some("IT".to_owned()),
        ..service.clone()
    }];
    let save = |mailbox: &str| -> Result<(), crate::store::StoreError> {
        store.save_basic_password(mailbox, &SecretString::from(DEMO_BASIC_PASSWORD))
    };
    store
        .save_sign_in(PRACTICE_SERVICE_ACCOUNT, &stored)
        .map_err(|error| DemoError::Sandbox(error.to_string()))?;
    for (index, name) in names.iter().enumerate() {
        let mailbox = format!("{name}@smile-dental.example");
        if index < names.len() - 5 {
            sandbox.grant_full_access(PRACTICE_SERVICE_ACCOUNT, &mailbox);
            sandbox.grant_send_as(PRACTICE_SERVICE_ACCOUNT, &mailbox);
        }
        save(&mailbox).map_err(|error| DemoError::Sandbox(error.to_string()))?;
        accounts.push(crate::config::Account {
            mailbox,
            service_account: Some(PRACTICE_SERVICE_ACCOUNT.to_owned()),
            group: (index < 5).then(|| "Test group".to_owned()),
            ..service.clone()
        });
    }
    let services = Services {
        trust,
        timeouts,
        store: StoreAccess::Memory(store),
        config_file: None,
        state_file: None,
        open_browser: true,
        demo_password: None,
        demo: true,
        bridge: None,
    };
    let wizard = Wizard::new(accounts.clone(), AccountForm::from_account(&service));
    Ok(Practice {
        sandbox,
        services,
        wizard,
        accounts,
    })
}
