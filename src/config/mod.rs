//! Accounts, provider presets, timeouts and the configuration file: what to connect to, never how to prove it.
//!
//! Secrets are never part of these types; they live in the OS keyring (see [`crate::store`]).

mod file;
pub mod loaded;
mod provider;
pub mod validate;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

pub(crate) use file::write_atomically;
pub use file::{ConfigError, ConfigFile, load_preset_file};
pub use provider::{Cloud, IdentityEndpoints, Provider};
pub use validate::{Field, InputError};

/// How a mail connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// TLS from the first byte (IMAP 993).
    ImplicitTls,
    /// Plain text first, then STARTTLS before anything else is sent (SMTP 587).
    StartTls,
    /// No encryption at all: refused for anything but loopback (the built-in sandbox).
    PlainLoopbackOnly,
}

impl Security {
    pub fn label(self) -> &'static str {
        match self {
            Security::ImplicitTls => "SSL/TLS",
            Security::StartTls => "STARTTLS",
            Security::PlainLoopbackOnly => "none (this computer only)",
        }
    }
}

/// One mail server endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// Endpoints given explicitly for the Custom provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEndpoints {
    pub authorize_url: Url,
    pub token_url: Url,
    pub device_code_url: Url,
    pub scopes: Vec<String>,
}

/// What a sign-in depends on: see [`Account::sign_in_basis`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInBasis {
    mailbox: String,
    sign_in_account: String,
    provider: Provider,
    tenant: String,
    client_id: String,
    endpoints: Option<(String, String, String, Vec<String>)>,
}

/// A mailbox and everything needed to sign in for it and reach its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The mailbox being connected (for a shared mailbox, the shared address).
    pub mailbox: String,
    /// Who signs in, when not the mailbox itself: the delegate of a shared mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_account: Option<String>,
    pub provider: Provider,
    pub tenant: String,
    pub client_id: String,
    pub imap: ServerSettings,
    pub smtp: ServerSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_endpoints: Option<CustomEndpoints>,
    /// A named group for moving mailboxes in steps ("Test group").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Reached through this mailbox's saved sign-in instead of its own: a delegated service account with Full
    /// Access (receiving, `user=` this mailbox) and Send As (sending, as this mailbox). No sign-in of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Reached by the organisation's own app (client credentials) instead of anyone's sign-in: `tenant` and
    /// `client_id` are the app's, and its certificate or secret is in the keyring (see [`crate::app_only`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub app_only: bool,
}

impl Account {
    /// An account for `mailbox` with the provider's servers and default tenant; client id from the preset.
    pub fn from_preset(mailbox: &str, preset: &Preset) -> Account {
        let cloud = preset.provider.cloud();
        let default_server = |host: &str, port, security| ServerSettings {
            host: host.to_owned(),
            port,
            security,
        };
        Account {
            mailbox: mailbox.trim().to_owned(),
            sign_in_account: None,
            provider: preset.provider,
            tenant: preset
                .tenant
                .clone()
                .or_else(|| cloud.map(|c| c.default_tenant.to_owned()))
                .unwrap_or_else(|| "organizations".to_owned()),
            client_id: preset.client_id.clone().unwrap_or_default(),
            imap: preset
                .imap
                .clone()
                .or_else(|| cloud.map(|c| c.imap()))
                .unwrap_or_else(|| default_server("", 993, Security::ImplicitTls)),
            smtp: preset
                .smtp
                .clone()
                .or_else(|| cloud.map(|c| c.smtp()))
                .unwrap_or_else(|| default_server("", 587, Security::StartTls)),
            custom_endpoints: preset.custom_endpoints.clone(),
            group: None,
            service_account: None,
            app_only: false,
        }
    }

    /// The account that signs in: the delegate for a shared mailbox, otherwise the mailbox itself.
    pub fn sign_in_account(&self) -> &str {
        self.sign_in_account
            .as_deref()
            .or(self.service_account.as_deref())
            .unwrap_or(&self.mailbox)
    }

    /// The scope an app-only token asks for: the cloud's Exchange Online resource with `/.default`; for a Custom
    /// provider, the resource of its first scope.
    pub fn app_scope(&self) -> Result<String, InputError> {
        if let Some(cloud) = self.provider.cloud() {
            return Ok(cloud.app_scope.to_owned());
        }
        self.custom_endpoints
            .iter()
            .flat_map(|custom| &custom.scopes)
            .find_map(|scope| Url::parse(scope).ok().filter(|url| url.has_host()))
            .map(|url| format!("{}/.default", url.origin().ascii_serialization()))
            .ok_or_else(|| InputError {
                field: Field::Url,
                message: "A Custom provider needs a full scope address (https://...) for app-only access."
                    .to_owned(),
            })
    }

    /// A new sign-in replaces the settings but keeps the mailbox in its group (the wizard does not edit groups).
    pub fn keep_group_of(&mut self, previous: &Account) {
        if self.group.is_none() {
            self.group.clone_from(&previous.group);
        }
    }

    /// Whose saved sign-in (tokens in the keyring) this mailbox uses: its own, or its service account's.
    pub fn token_owner(&self) -> &str {
        self.service_account.as_deref().unwrap_or(&self.mailbox)
    }

    /// Everything a sign-in for this account depends on. Two accounts with equal bases accept the same tokens;
    /// any difference (mailbox, who signs in, provider, tenant, client id, endpoints, scopes) means a sign-in made
    /// for one must not be used for the other.
    pub fn sign_in_basis(&self) -> SignInBasis {
        let fold = |text: &str| text.trim().to_lowercase();
        SignInBasis {
            mailbox: fold(&self.mailbox),
            sign_in_account: fold(self.sign_in_account()),
            provider: self.provider,
            tenant: fold(&self.tenant),
            client_id: fold(&self.client_id),
            endpoints: self.endpoints().ok().map(|endpoints| {
                (
                    endpoints.authorize.to_string(),
                    endpoints.token.to_string(),
                    endpoints.device_code.to_string(),
                    endpoints.scopes,
                )
            }),
        }
    }

    /// The identity endpoints and scopes for this account's provider and tenant.
    pub fn endpoints(&self) -> Result<IdentityEndpoints, InputError> {
        match (self.provider.cloud(), &self.custom_endpoints) {
            (Some(cloud), _) => Ok(cloud.endpoints(&self.tenant)),
            (None, Some(custom)) => Ok(IdentityEndpoints {
                authorize: custom.authorize_url.clone(),
                token: custom.token_url.clone(),
                device_code: custom.device_code_url.clone(),
                scopes: custom.scopes.clone(),
            }),
            (None, None) => Err(InputError {
                field: Field::Url,
                message: "A Custom provider needs its authorize, token and device code URLs."
                    .to_owned(),
            }),
        }
    }

    /// Every problem with the account's fields, each with the field it belongs to; empty when usable.
    pub fn problems(&self) -> Vec<InputError> {
        let mut problems = Vec::new();
        let mut check = |result: Result<(), InputError>| {
            if let Err(error) = result {
                problems.push(error);
            }
        };
        check(validate::mailbox(&self.mailbox, Field::Mailbox));
        if let Some(delegate) = &self.sign_in_account {
            check(validate::mailbox(delegate, Field::SignInAccount));
        }
        if self.provider != Provider::Custom {
            check(validate::tenant(&self.tenant));
        }
        if self.app_only {
            if self.provider != Provider::Custom {
                check(crate::app_only::tenant(&self.tenant));
            }
            if self.provider == Provider::OutlookPersonal {
                check(Err(InputError {
                    field: Field::Mailbox,
                    message:
                        "Personal Outlook.com mailboxes cannot be reached by an organisation's app."
                            .to_owned(),
                }));
            }
            if self.service_account.is_some() || self.sign_in_account.is_some() {
                check(Err(InputError {
                    field: Field::SignInAccount,
                    message:
                        "A mailbox reached by the organisation's app has no one signing in for it."
                            .to_owned(),
                }));
            }
        }
        check(validate::client_id(&self.client_id));
        for server in [&self.imap, &self.smtp] {
            check(validate::host(&server.host));
            if server.port == 0 {
                check(validate::port("0").map(drop));
            }
            if server.security == Security::PlainLoopbackOnly && !is_loopback_host(&server.host) {
                check(Err(InputError {
                    field: Field::Host,
                    message: format!(
                        "{} is not this computer; connections without encryption are only allowed to 127.0.0.1 or localhost.",
                        server.host
                    ),
                }));
            }
        }
        if let Some(custom) = &self.custom_endpoints {
            for url in [
                &custom.authorize_url,
                &custom.token_url,
                &custom.device_code_url,
            ] {
                check(check_identity_url(url));
            }
            if custom.scopes.is_empty() {
                check(Err(InputError {
                    field: Field::Scope,
                    message: "Enter at least one scope.".to_owned(),
                }));
            }
        }
        if let Err(error) = self.endpoints() {
            problems.push(error);
        }
        problems
    }
}

/// Identity endpoints must use HTTPS unless they are on this computer.
pub fn check_identity_url(url: &Url) -> Result<(), InputError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        _ => Err(InputError {
            field: Field::Url,
            message: format!(
                "{url} must start with https:// (plain http is only allowed to this computer)."
            ),
        }),
    }
}

/// True for names and addresses that can only mean this computer.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A named starting point for new accounts, shipped by a vendor or support team in a preset file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    pub name: String,
    pub provider: Provider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap: Option<ServerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<ServerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_endpoints: Option<CustomEndpoints>,
    /// The practice's mailboxes, when the vendor lists them: `mailconnect import --from-preset` and "Use the
    /// preset file's list" bring them in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mailboxes: Vec<String>,
}

impl Preset {
    /// The bare provider profile, with no client id: the user or a preset file supplies it.
    pub fn for_provider(provider: Provider) -> Preset {
        Preset {
            name: provider.display_name().to_owned(),
            provider,
            tenant: None,
            client_id: None,
            imap: None,
            smtp: None,
            custom_endpoints: None,
            mailboxes: Vec::new(),
        }
    }
}

/// How long each network stage may take before it is reported as hanging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    #[serde(with = "seconds")]
    pub dns: Duration,
    #[serde(with = "seconds")]
    pub connect: Duration,
    #[serde(with = "seconds")]
    pub tls: Duration,
    /// Waiting for the server's greeting, and for each reply after it.
    #[serde(with = "seconds")]
    pub reply: Duration,
    /// One HTTP request to the identity server.
    #[serde(with = "seconds")]
    pub http: Duration,
    /// Waiting for the browser to come back to the loopback redirect.
    #[serde(with = "seconds")]
    pub browser_sign_in: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            dns: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            reply: Duration::from_secs(20),
            http: Duration::from_secs(30),
            browser_sign_in: Duration::from_secs(600),
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

/// Everything saved between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A PEM file of extra certificate authorities to trust besides the platform's (for a private mail server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_ca_file: Option<PathBuf>,
    /// The preset file from the vendor or support team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset_file: Option<PathBuf>,
    /// The window's bridge also takes mail from devices on this computer's local networks, not only from
    /// programs on this computer ("Devices on this network can send").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bridge_on_network: bool,
    pub timeouts: Timeouts,
    #[serde(rename = "account")]
    pub accounts: Vec<Account>,
    /// The organisation's own app registrations for app-only access.
    #[serde(rename = "app", skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::app_only::AppRegistration>,
}

impl Config {
    pub fn account(&self, mailbox: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|account| account.mailbox.eq_ignore_ascii_case(mailbox.trim()))
    }

    /// Removes the account for `mailbox`; whether there was one.
    pub fn remove_account(&mut self, mailbox: &str) -> bool {
        let before = self.accounts.len();
        self.accounts
            .retain(|account| !account.mailbox.eq_ignore_ascii_case(mailbox.trim()));
        self.accounts.len() != before
    }

    /// Adds the account, or replaces the one with the same mailbox. What the wizard does not edit (the group) is
    /// kept from the account it replaces.
    pub fn upsert_account(&mut self, mut account: Account) {
        match self
            .accounts
            .iter_mut()
            .find(|existing| existing.mailbox.eq_ignore_ascii_case(&account.mailbox))
        {
            Some(existing) => {
                account.keep_group_of(existing);
                *existing = account
            }
            None => self.accounts.push(account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset_with_client() -> Preset {
        Preset {
            client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned()),
            ..Preset::for_provider(Provider::Microsoft365)
        }
    }

    #[test]
    fn presets_fill_servers_scopes_and_endpoints_from_the_facts_sheet() {
        let account = Account::from_preset("reception@practice.com", &preset_with_client());
        assert_eq!(
            account.imap,
            ServerSettings {
                host: "outlook.office365.com".into(),
                port: 993,
                security: Security::ImplicitTls
            }
        );
        assert_eq!(
            account.smtp,
            ServerSettings {
                host: "smtp.office365.com".into(),
                port: 587,
                security: Security::StartTls
            }
        );
        let endpoints = account.endpoints().unwrap();
        assert_eq!(
            endpoints.token.as_str(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
        );
        assert!(
            endpoints
                .scopes
                .contains(&"https://outlook.office.com/IMAP.AccessAsUser.All".to_owned())
        );
        assert!(endpoints.scopes.contains(&"offline_access".to_owned()));
        assert!(account.problems().is_empty(), "{:?}", account.problems());

        let personal = Account::from_preset(
            "someone@outlook.com",
            &Preset::for_provider(Provider::OutlookPersonal),
        );
        assert_eq!(personal.smtp.host, "smtp-mail.outlook.com");
        assert_eq!(personal.tenant, "consumers");

        let gcc_high = Provider::GccHigh.cloud().unwrap().endpoints("contoso.us");
        assert_eq!(
            gcc_high.device_code.as_str(),
            "https://login.microsoftonline.us/contoso.us/oauth2/v2.0/devicecode"
        );
        assert!(gcc_high.scopes[0].starts_with("https://outlook.office365.us/"));
        let china = Provider::China21Vianet.cloud().unwrap();
        assert_eq!(china.imap_host, "partner.outlook.cn");
    }

    #[test]
    fn problems_name_each_bad_field() {
        let mut account =
            Account::from_preset("reception", &Preset::for_provider(Provider::Microsoft365));
        account.smtp.host = "smtp.office365.com:587".into();
        account.imap.security = Security::PlainLoopbackOnly;
        let fields: Vec<Field> = account.problems().iter().map(|p| p.field).collect();
        assert!(fields.contains(&Field::Mailbox));
        assert!(fields.contains(&Field::ClientId));
        assert_eq!(
            fields.iter().filter(|f| **f == Field::Host).count(),
            2,
            "{fields:?}"
        );
    }

    #[test]
    fn plain_http_identity_endpoints_only_on_loopback() {
        assert!(check_identity_url(&Url::parse("http://127.0.0.1:8080/token").unwrap()).is_ok());
        assert!(check_identity_url(&Url::parse("http://localhost/token").unwrap()).is_ok());
        assert!(
            check_identity_url(&Url::parse("http://login.example.com/token").unwrap()).is_err()
        );
        assert!(
            check_identity_url(&Url::parse("https://login.example.com/token").unwrap()).is_ok()
        );
    }
}
