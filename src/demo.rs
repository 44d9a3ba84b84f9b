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

/// Everything the demo window needs. Keep the sandbox alive as long as the window.
pub struct Demo {
    pub sandbox: Sandbox,
    pub services: Services,
    pub wizard: Wizard,
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
    let services = Services {
        trust: Trust::new(None).map_err(DemoError::Trust)?,
        timeouts: Timeouts::default(),
        store: StoreAccess::Keyring {
            service: DEMO_KEYRING_SERVICE,
        },
        config_file: None,
        state_file: None,
        open_browser: true,
        demo_password: Some(SecretString::from(DEMO_BASIC_PASSWORD)),
    };
    let wizard = Wizard::new(vec![account.clone()], AccountForm::from_account(&account));
    Ok(Demo {
        sandbox,
        services,
        wizard,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("The practice sandbox could not start on this computer: {0}")]
    Sandbox(String),
    #[error(transparent)]
    Trust(TrustError),
}
