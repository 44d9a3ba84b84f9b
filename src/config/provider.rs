//! Provider profiles: the Microsoft clouds' sign-in hosts, mail servers and scopes, plus a fully explicit Custom one.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Security, ServerSettings};

/// Which service a mailbox lives in. Each Microsoft cloud needs its own app registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Microsoft 365 worldwide, including GCC.
    #[default]
    Microsoft365,
    /// Outlook.com, Hotmail and Live personal accounts.
    OutlookPersonal,
    /// Microsoft 365 GCC High (US government).
    GccHigh,
    /// Microsoft 365 operated by 21Vianet (China).
    #[serde(rename = "china-21vianet")]
    China21Vianet,
    /// Every endpoint, host and scope given explicitly: the sandbox, the tests, any other OAuth mail provider.
    Custom,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Microsoft365,
        Provider::OutlookPersonal,
        Provider::GccHigh,
        Provider::China21Vianet,
        Provider::Custom,
    ];

    /// The name shown in the provider list.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Microsoft365 => "Microsoft 365 (work or school, including GCC)",
            Provider::OutlookPersonal => "Outlook.com (personal)",
            Provider::GccHigh => "Microsoft 365 GCC High",
            Provider::China21Vianet => "Microsoft 365 operated by 21Vianet",
            Provider::Custom => "Custom (other provider)",
        }
    }

    /// The preset's sign-in host, scope resource and mail servers; `None` for Custom, which has no defaults.
    pub fn cloud(self) -> Option<Cloud> {
        let worldwide = Cloud {
            login_host: "login.microsoftonline.com",
            scope_resource: "https://outlook.office.com/",
            app_scope: "https://outlook.office365.com/.default",
            imap_host: "outlook.office365.com",
            smtp_host: "smtp.office365.com",
            default_tenant: "organizations",
        };
        match self {
            Provider::Microsoft365 => Some(worldwide),
            Provider::OutlookPersonal => Some(Cloud {
                smtp_host: "smtp-mail.outlook.com",
                default_tenant: "consumers",
                ..worldwide
            }),
            Provider::GccHigh => Some(Cloud {
                login_host: "login.microsoftonline.us",
                scope_resource: "https://outlook.office365.us/",
                app_scope: "https://outlook.office365.us/.default",
                imap_host: "outlook.office365.us",
                smtp_host: "outlook.office365.us",
                default_tenant: "organizations",
            }),
            Provider::China21Vianet => Some(Cloud {
                login_host: "login.partner.microsoftonline.cn",
                scope_resource: "https://partner.outlook.cn/",
                app_scope: "https://partner.outlook.cn/.default",
                imap_host: "partner.outlook.cn",
                smtp_host: "partner.outlook.cn",
                default_tenant: "organizations",
            }),
            Provider::Custom => None,
        }
    }
}

/// The fixed facts of one Microsoft cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloud {
    pub login_host: &'static str,
    /// Scopes are always full URIs under this resource: a bare `IMAP.AccessAsUser.All` would be read as Graph.
    pub scope_resource: &'static str,
    /// What an app-only (client credentials) token asks for: Exchange Online's resource with `/.default`.
    pub app_scope: &'static str,
    pub imap_host: &'static str,
    pub smtp_host: &'static str,
    pub default_tenant: &'static str,
}

impl Cloud {
    pub fn imap(&self) -> ServerSettings {
        ServerSettings {
            host: self.imap_host.to_owned(),
            port: 993,
            security: Security::ImplicitTls,
        }
    }

    pub fn smtp(&self) -> ServerSettings {
        ServerSettings {
            host: self.smtp_host.to_owned(),
            port: 587,
            security: Security::StartTls,
        }
    }

    /// IMAP and SMTP in one token request (one resource), a refresh token, and the id token naming the account.
    pub fn scopes(&self) -> Vec<String> {
        vec![
            format!("{}IMAP.AccessAsUser.All", self.scope_resource),
            format!("{}SMTP.Send", self.scope_resource),
            "offline_access".to_owned(),
            "openid".to_owned(),
            "profile".to_owned(),
            "email".to_owned(),
        ]
    }

    pub fn endpoints(&self, tenant: &str) -> IdentityEndpoints {
        let base = format!("https://{}/{}/oauth2/v2.0", self.login_host, tenant.trim());
        IdentityEndpoints {
            authorize: parse_known_url(&format!("{base}/authorize")),
            token: parse_known_url(&format!("{base}/token")),
            device_code: parse_known_url(&format!("{base}/devicecode")),
            scopes: self.scopes(),
        }
    }
}

fn parse_known_url(text: &str) -> Url {
    // The tenant was validated to be a GUID, a domain or a keyword, so the URL always parses; a failure is a bug.
    Url::parse(text)
        .unwrap_or_else(|error| panic!("built-in endpoint {text} does not parse: {error}"))
}

/// Where sign-in happens and what is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityEndpoints {
    pub authorize: Url,
    pub token: Url,
    pub device_code: Url,
    pub scopes: Vec<String>,
}
