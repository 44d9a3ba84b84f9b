//! Input validation with messages a practice admin can act on.

use std::fmt;

/// Which field of the account form an [`InputError`] belongs to, so a window can show the message beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Mailbox,
    SignInAccount,
    Tenant,
    ClientId,
    Host,
    Port,
    Url,
    Scope,
}

/// A value the user typed that cannot be used, with a sentence saying why and what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: Field,
    pub message: String,
}

impl InputError {
    fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Checks an email address the way a person would expect: one `@`, a name before it and a domain with a dot after it.
pub fn mailbox(address: &str, field: Field) -> Result<(), InputError> {
    let address = address.trim();
    if address.is_empty() {
        return Err(InputError::new(
            field,
            "Enter the email address, for example reception@yourpractice.com.",
        ));
    }
    if address.chars().any(char::is_whitespace) {
        return Err(InputError::new(
            field,
            "An email address cannot contain spaces.",
        ));
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err(InputError::new(
            field,
            format!(
                "\"{}\" is missing the @ sign; an email address looks like name@yourpractice.com.",
                crate::words::excerpt(address, 60)
            ),
        ));
    };
    if local.is_empty() {
        return Err(InputError::new(field, "The part before the @ is empty."));
    }
    // RFC 5322's plain form: letters, digits, dots between them and these signs. Anything else (brackets, quotes
    // of other kinds, control characters) is a copying mistake, and must never reach a command line or a script.
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
    if !local.chars().all(allowed)
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(InputError::new(
            field,
            format!(
                "\"{}\" has characters an email address cannot have before the @.",
                crate::words::excerpt(local, 60)
            ),
        ));
    }
    if domain.contains('@') {
        return Err(InputError::new(
            field,
            "An email address has only one @ sign.",
        ));
    }
    if let Err(reason) = domain_name(domain) {
        return Err(InputError::new(
            field,
            format!("The part after the @ is not a domain name: {reason}."),
        ));
    }
    if !domain.contains('.') {
        return Err(InputError::new(
            field,
            format!("\"{domain}\" has no dot; the part after the @ looks like yourpractice.com."),
        ));
    }
    Ok(())
}

/// Checks a Microsoft tenant: `common`, `organizations`, `consumers`, a GUID, or a verified domain.
pub fn tenant(value: &str) -> Result<(), InputError> {
    let value = value.trim();
    if matches!(value, "common" | "organizations" | "consumers") || is_guid(value) {
        return Ok(());
    }
    if value.is_empty() {
        return Err(InputError::new(
            Field::Tenant,
            "Enter the tenant: \"organizations\" for work or school accounts, \"common\", \"consumers\", the tenant ID or your domain.",
        ));
    }
    if value.contains('.') && domain_name(value).is_ok() {
        return Ok(());
    }
    Err(InputError::new(
        Field::Tenant,
        format!(
            "\"{value}\" is not a tenant. Use \"organizations\", \"common\", \"consumers\", the tenant ID \
             (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47) or a domain like yourpractice.com."
        ),
    ))
}

/// Checks an application (client) ID, which Entra shows as a GUID.
pub fn client_id(value: &str) -> Result<(), InputError> {
    let value = value.trim();
    if is_guid(value) {
        return Ok(());
    }
    if value.is_empty() {
        return Err(InputError::new(
            Field::ClientId,
            "Enter the application (client) ID from the app registration, or load the preset file from your support team.",
        ));
    }
    Err(InputError::new(
        Field::ClientId,
        format!(
            "\"{value}\" is not an application (client) ID; it looks like 00000000-0000-0000-0000-000000000000 \
             and is shown on the app registration's Overview page."
        ),
    ))
}

/// Checks a server host name or IP address.
pub fn host(value: &str) -> Result<(), InputError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(InputError::new(
            Field::Host,
            "Enter the server name, for example outlook.office365.com.",
        ));
    }
    if value.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if value.contains("://") {
        return Err(InputError::new(
            Field::Host,
            format!(
                "Enter only the server name without \"{}\".",
                &value[..value.find("://").unwrap_or(0) + 3]
            ),
        ));
    }
    if value.contains(':') {
        return Err(InputError::new(
            Field::Host,
            "Enter the port in the Port box, not after the server name.",
        ));
    }
    domain_name(value).map_err(|reason| {
        InputError::new(
            Field::Host,
            format!("\"{value}\" is not a server name: {reason}."),
        )
    })
}

/// Parses a port typed as text.
pub fn port(value: &str) -> Result<u16, InputError> {
    match value.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(InputError::new(
            Field::Port,
            format!(
                "\"{}\" is not a port; use a number from 1 to 65535 (IMAP 993, SMTP 587).",
                value.trim()
            ),
        )),
        Ok(port) => Ok(port),
    }
}

/// True for the 8-4-4-4-12 hexadecimal form Entra uses for tenant and application IDs.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

fn domain_name(value: &str) -> Result<(), &'static str> {
    if value.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in value.split('.') {
        if label.is_empty() {
            return Err("it has an empty part between dots");
        }
        if label.len() > 63 {
            return Err("one part is longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("only letters, digits, dots and hyphens are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part cannot start or end with a hyphen");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_accepts_ordinary_addresses_and_explains_bad_ones() {
        assert!(mailbox("reception@smile-dental.co.uk", Field::Mailbox).is_ok());
        for (input, expected_words) in [
            ("", "Enter the email address"),
            ("reception", "missing the @"),
            ("@practice.com", "before the @ is empty"),
            ("a@b@practice.com", "only one @"),
            ("front desk@practice.com", "spaces"),
            ("reception@practice", "has no dot"),
            ("reception@prac_tice.com", "not a domain name"),
        ] {
            let error = mailbox(input, Field::Mailbox).unwrap_err();
            assert!(
                error.message.contains(expected_words),
                "{input:?}: {}",
                error.message
            );
            assert_eq!(error.field, Field::Mailbox);
        }
    }

    #[test]
    fn tenant_accepts_the_four_forms() {
        for ok in [
            "common",
            "organizations",
            "consumers",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "smile-dental.co.uk",
        ] {
            assert!(tenant(ok).is_ok(), "{ok}");
        }
        assert!(
            tenant("my tenant")
                .unwrap_err()
                .message
                .contains("not a tenant")
        );
        assert!(tenant("").is_err());
    }

    #[test]
    fn client_id_must_be_a_guid() {
        assert!(client_id("9e5f94bc-e8a4-4e73-b8be-63364c29d753").is_ok());
        assert!(
            client_id("9e5f94bc-e8a4-4e73-b8be-63364c29d75")
                .unwrap_err()
                .message
                .contains("not an application")
        );
        assert!(client_id("").is_err());
    }

    #[test]
    fn host_and_port_explain_common_mistakes() {
        assert!(host("outlook.office365.com").is_ok());
        assert!(host("127.0.0.1").is_ok());
        assert!(
            host("https://outlook.office365.com")
                .unwrap_err()
                .message
                .contains("without \"https://\"")
        );
        assert!(
            host("smtp.office365.com:587")
                .unwrap_err()
                .message
                .contains("Port box")
        );
        assert_eq!(port(" 993 "), Ok(993));
        assert!(port("0").is_err());
        assert!(port("99999").unwrap_err().message.contains("1 to 65535"));
    }
}
