//! "Ask your IT admin": the tenant's admin-consent link for exactly the app's scopes, in the account's cloud, and a
//! ready e-mail a practice admin can send to whoever manages Microsoft 365 for the practice.

use url::Url;

use crate::config::Account;

/// What the practice admin hands to the IT admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    /// `https://{login}/{tenant}/v2.0/adminconsent?client_id=…&redirect_uri=…&scope=…`
    pub url: String,
    /// The organisation the link is for (the tenant, or the mailbox's domain when the settings name none).
    pub tenant: String,
    pub email_subject: String,
    pub email_body: String,
}

impl ConsentRequest {
    /// A `mailto:` link with the subject and body filled in (no address: the practice admin picks the IT admin).
    pub fn mailto(&self) -> String {
        let mut url = Url::parse("mailto:").expect("a mailto URL");
        url.query_pairs_mut()
            .append_pair("subject", &self.email_subject)
            .append_pair("body", &self.email_body);
        // mailto wants %20 for spaces, not +.
        url.to_string().replace('+', "%20")
    }
}

/// Where admin consent is given, from the account's own sign-in address (so GCC High and 21Vianet get theirs).
pub fn consent_request(account: &Account) -> Result<ConsentRequest, String> {
    if account.provider == crate::config::Provider::OutlookPersonal {
        return Err("a personal Outlook.com account has no IT admin to approve apps".to_owned());
    }
    if !crate::config::validate::is_guid(account.client_id.trim()) {
        return Err("the account has no application (client) ID to approve".to_owned());
    }
    let endpoints = account.endpoints().map_err(|error| error.message)?;
    let authorize = &endpoints.authorize;
    let host = authorize
        .host_str()
        .ok_or_else(|| "the sign-in address has no host".to_owned())?;
    // A shared tenant name cannot take admin consent for one organisation: the mailbox's domain names it.
    let tenant = match account.tenant.trim() {
        "" | "common" | "organizations" | "consumers" => account
            .mailbox
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_owned())
            .ok_or_else(|| "the mailbox has no domain".to_owned())?,
        tenant => tenant.to_owned(),
    };
    let mut url = Url::parse(&format!("{}://{host}/", authorize.scheme()))
        .map_err(|error| error.to_string())?;
    if let Some(port) = authorize.port() {
        let _ = url.set_port(Some(port));
    }
    url.path_segments_mut()
        .map_err(|_| "the sign-in address cannot take a path".to_owned())?
        .extend([tenant.as_str(), "v2.0", "adminconsent"]);
    url.query_pairs_mut()
        .append_pair("client_id", &account.client_id)
        .append_pair("redirect_uri", "http://localhost")
        .append_pair("scope", &endpoints.scopes.join(" "));
    let url = url.to_string();
    let email_body = format!(
        "Hello,\n\n\
         We are moving the mailbox {mailbox} to Microsoft's modern sign-in (OAuth), because Microsoft is switching \
         off password sign-in for sending mail. Microsoft asks an administrator of our organisation to approve the \
         app first.\n\n\
         The app is mailconnect (application ID {client_id}). It acts only as the person who signs in to it, \
         and asks for:\n\
         - reading and changing that person's mail over IMAP (IMAP.AccessAsUser.All); this includes mailboxes \
         the person already has Full Access to,\n\
         - sending mail as that person over SMTP (SMTP.Send),\n\
         - staying signed in without asking again (offline_access),\n\
         - knowing who signed in (openid, profile, email).\n\
         It gets no administrator rights. Your approval applies to everyone in the organisation who signs in to \
         mailconnect; each person still signs in with their own account.\n\n\
         To approve it, please open this link while signed in as a Global Administrator or Cloud Application \
         Administrator, check the permissions listed and choose Accept:\n\n{url}\n\n\
         After accepting, the browser may show a page that cannot be reached: that is expected.\n\
         Please tell me when it is done, so I can finish the set-up.\n\nThank you.\n",
        mailbox = account.mailbox,
        client_id = account.client_id,
    );
    Ok(ConsentRequest {
        url,
        tenant,
        email_subject: format!("Please approve mailconnect for {}", account.mailbox),
        email_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, Provider};

    fn account(provider: Provider, tenant: &str) -> Account {
        let mut preset = Preset::for_provider(provider);
        preset.client_id = Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".to_owned());
        preset.tenant = Some(tenant.to_owned());
        Account::from_preset("reception@smile-dental.co.uk", &preset)
    }

    #[test]
    fn the_link_names_the_tenant_the_cloud_and_exactly_the_scopes() {
        let request =
            consent_request(&account(Provider::Microsoft365, "smile-dental.co.uk")).unwrap();
        let url = Url::parse(&request.url).unwrap();
        assert_eq!(url.host_str(), Some("login.microsoftonline.com"));
        assert_eq!(url.path(), "/smile-dental.co.uk/v2.0/adminconsent");
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "9e5f94bc-e8a4-4e73-b8be-63364c29d753");
        assert_eq!(query["redirect_uri"], "http://localhost");
        assert_eq!(
            query["scope"],
            account(Provider::Microsoft365, "x")
                .endpoints()
                .unwrap()
                .scopes
                .join(" "),
            "exactly the app's scopes"
        );
        assert!(request.email_body.contains(&request.url));
        assert!(
            request
                .mailto()
                .starts_with("mailto:?subject=Please%20approve")
        );
    }

    #[test]
    fn no_link_without_an_app_id_or_for_a_personal_account() {
        let mut no_id = account(Provider::Microsoft365, "smile-dental.co.uk");
        no_id.client_id.clear();
        assert!(consent_request(&no_id).is_err());
        assert!(consent_request(&account(Provider::OutlookPersonal, "consumers")).is_err());
    }

    #[test]
    fn a_shared_tenant_name_becomes_the_mailboxs_domain_and_gcc_high_signs_in_at_its_own_host() {
        let request = consent_request(&account(Provider::Microsoft365, "organizations")).unwrap();
        assert!(
            request
                .url
                .contains("/smile-dental.co.uk/v2.0/adminconsent")
        );
        assert_eq!(request.tenant, "smile-dental.co.uk");
        let high = consent_request(&account(Provider::GccHigh, "contoso.us")).unwrap();
        assert!(
            high.url
                .starts_with("https://login.microsoftonline.us/contoso.us/v2.0/adminconsent"),
            "{}",
            high.url
        );
    }
}
