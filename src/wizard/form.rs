//! The account form of the first step: text as typed, validated into an [`Account`] when the user moves on.

use url::Url;

use crate::config::{
    Account, CustomEndpoints, Field, InputError, Preset, Provider, Security, ServerSettings,
    validate,
};

/// What the user typed on the Account step. Ports stay text so a half-typed value is never lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountForm {
    pub preset: Preset,
    pub mailbox: String,
    pub sign_in_account: String,
    pub tenant: String,
    pub client_id: String,
    pub imap_host: String,
    pub imap_port: String,
    pub imap_security: Security,
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_security: Security,
    pub authorize_url: String,
    pub token_url: String,
    pub device_code_url: String,
    pub scopes: String,
    pub show_advanced: bool,
    /// The service account whose sign-in this mailbox goes through, when it was opened from such a mailbox's
    /// "Re-authenticate now": that account signs in, the checks run for this mailbox, and it keeps going through it.
    pub service_account: Option<String>,
    /// The mailbox `service_account` belongs to: typing another address (or a delegate) drops it.
    service_account_of: String,
    /// Show problems of untouched fields too (set when Next was refused).
    pub reveal_problems: bool,
}

impl AccountForm {
    /// An empty form for a new mailbox, prefilled from `preset`.
    pub fn new_for(preset: Preset) -> AccountForm {
        let mut form = AccountForm::from_account(&Account::from_preset("", &preset));
        form.preset = preset;
        form
    }

    pub fn from_account(account: &Account) -> AccountForm {
        let custom = account.custom_endpoints.as_ref();
        AccountForm {
            preset: Preset {
                client_id: Some(account.client_id.clone()),
                tenant: Some(account.tenant.clone()),
                ..Preset::for_provider(account.provider)
            },
            mailbox: account.mailbox.clone(),
            sign_in_account: account.sign_in_account.clone().unwrap_or_default(),
            tenant: account.tenant.clone(),
            client_id: account.client_id.clone(),
            imap_host: account.imap.host.clone(),
            imap_port: account.imap.port.to_string(),
            imap_security: account.imap.security,
            smtp_host: account.smtp.host.clone(),
            smtp_port: account.smtp.port.to_string(),
            smtp_security: account.smtp.security,
            authorize_url: custom
                .map(|c| c.authorize_url.to_string())
                .unwrap_or_default(),
            token_url: custom.map(|c| c.token_url.to_string()).unwrap_or_default(),
            device_code_url: custom
                .map(|c| c.device_code_url.to_string())
                .unwrap_or_default(),
            scopes: custom.map(|c| c.scopes.join(" ")).unwrap_or_default(),
            show_advanced: false,
            service_account: account.service_account.clone(),
            service_account_of: account.mailbox.clone(),
            reveal_problems: false,
        }
    }

    /// The same settings for another mailbox, not yet typed ("Add mailbox" starts from the window's first settings).
    pub fn blank_like(&self) -> AccountForm {
        AccountForm {
            mailbox: String::new(),
            sign_in_account: String::new(),
            service_account: None,
            service_account_of: String::new(),
            ..self.clone()
        }
    }

    /// The service account this mailbox goes through, while the form is still about the mailbox it was opened for
    /// (another address or a delegate typed since means another sign-in: it must not replace the service
    /// account's).
    pub fn reached_through(&self) -> Option<&str> {
        self.service_account.as_deref().filter(|_| {
            self.sign_in_account.trim().is_empty()
                && self
                    .mailbox
                    .trim()
                    .eq_ignore_ascii_case(self.service_account_of.trim())
        })
    }

    /// Switches provider, refilling servers and tenant from its profile but keeping the address.
    pub fn set_provider(&mut self, provider: Provider) {
        let mailbox = self.mailbox.clone();
        let client_id = self.client_id.clone();
        let show_advanced = self.show_advanced;
        *self = AccountForm::new_for(Preset {
            client_id: Some(client_id),
            ..Preset::for_provider(provider)
        });
        self.mailbox = mailbox;
        self.show_advanced = show_advanced || provider == Provider::Custom;
    }

    /// Every problem, each tied to its field; empty when the form can be used.
    pub fn problems(&self) -> Vec<InputError> {
        match self.build() {
            Ok(account) => account.problems(),
            Err(errors) => errors,
        }
    }

    /// The first problem for `field`, for the message under that input.
    pub fn problem_for(&self, field: Field) -> Option<InputError> {
        self.problems()
            .into_iter()
            .find(|problem| problem.field == field)
    }

    /// The account the form describes. Call only when [`AccountForm::problems`] is empty.
    pub fn to_account(&self) -> Account {
        self.build()
            .unwrap_or_else(|_| Account::from_preset(self.mailbox.trim(), &self.preset))
    }

    fn build(&self) -> Result<Account, Vec<InputError>> {
        let mut errors = Vec::new();
        let mut port = |text: &str| {
            validate::port(text).unwrap_or_else(|error| {
                errors.push(error);
                0
            })
        };
        let imap_port = port(&self.imap_port);
        let smtp_port = port(&self.smtp_port);
        let custom_endpoints = if self.preset.provider == Provider::Custom {
            let mut url = |text: &str, what: &str| {
                Url::parse(text.trim()).map_err(|_| {
                    errors.push(InputError {
                        field: Field::Url,
                        message: format!("Enter the {what} URL, starting with https://."),
                    })
                })
            };
            match (
                url(&self.authorize_url, "authorize"),
                url(&self.token_url, "token"),
                url(&self.device_code_url, "device code"),
            ) {
                (Ok(authorize_url), Ok(token_url), Ok(device_code_url)) => Some(CustomEndpoints {
                    authorize_url,
                    token_url,
                    device_code_url,
                    scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
                }),
                _ => None,
            }
        } else {
            None
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let delegate = self.sign_in_account.trim();
        Ok(Account {
            mailbox: self.mailbox.trim().to_owned(),
            sign_in_account: (!delegate.is_empty()
                && !delegate.eq_ignore_ascii_case(self.mailbox.trim()))
            .then(|| delegate.to_owned()),
            provider: self.preset.provider,
            tenant: self.tenant.trim().to_owned(),
            client_id: self.client_id.trim().to_owned(),
            imap: ServerSettings {
                host: self.imap_host.trim().to_owned(),
                port: imap_port,
                security: self.imap_security,
            },
            smtp: ServerSettings {
                host: self.smtp_host.trim().to_owned(),
                port: smtp_port,
                security: self.smtp_security,
            },
            custom_endpoints,
            group: None,
            service_account: self.reached_through().map(str::to_owned),
            app_only: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_half_typed_ports_and_reports_them() {
        let mut form = AccountForm::new_for(Preset {
            client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".into()),
            ..Preset::for_provider(Provider::Microsoft365)
        });
        form.mailbox = "reception@practice.com".into();
        assert!(form.problems().is_empty(), "{:?}", form.problems());
        form.smtp_port = "58x".into();
        assert_eq!(
            form.problem_for(Field::Port).unwrap().message,
            "\"58x\" is not a port; use a number from 1 to 65535 (IMAP 993, SMTP 587)."
        );
        assert_eq!(form.smtp_port, "58x");
    }

    #[test]
    fn switching_provider_keeps_the_address_and_refills_servers() {
        let mut form = AccountForm::new_for(Preset::for_provider(Provider::Microsoft365));
        form.mailbox = "someone@outlook.com".into();
        form.set_provider(Provider::OutlookPersonal);
        assert_eq!(form.mailbox, "someone@outlook.com");
        assert_eq!(form.smtp_host, "smtp-mail.outlook.com");
        assert_eq!(form.tenant, "consumers");
    }

    #[test]
    fn the_delegate_is_kept_only_when_it_differs() {
        let mut form = AccountForm::new_for(Preset::for_provider(Provider::Microsoft365));
        form.mailbox = "shared@practice.com".into();
        form.sign_in_account = "Shared@practice.com".into();
        assert_eq!(form.to_account().sign_in_account, None);
        form.sign_in_account = "admin@practice.com".into();
        assert_eq!(
            form.to_account().sign_in_account.as_deref(),
            Some("admin@practice.com")
        );
    }

    #[test]
    fn the_service_account_goes_with_the_mailbox_it_was_opened_for_only() {
        let account = Account {
            service_account: Some("it@practice.com".into()),
            ..Account::from_preset(
                "billing@practice.com",
                &Preset {
                    client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".into()),
                    ..Preset::for_provider(Provider::Microsoft365)
                },
            )
        };
        let mut form = AccountForm::from_account(&account);
        assert_eq!(
            form.to_account().service_account.as_deref(),
            Some("it@practice.com")
        );
        form.mailbox = "frontdesk@practice.com".into();
        assert_eq!(form.to_account().service_account, None, "another address");
        form.mailbox = "Billing@practice.com".into();
        form.sign_in_account = "manager@practice.com".into();
        assert_eq!(form.to_account().service_account, None, "a delegate");
        form.sign_in_account.clear();
        assert!(form.to_account().service_account.is_some());
    }
}
