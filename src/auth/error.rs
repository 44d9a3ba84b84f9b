//! Sign-in errors: Microsoft's JSON error body kept whole, and every failure classified as transient or permanent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Microsoft's error body: `{error, error_description: "AADSTS70016: ...", error_codes, trace_id, correlation_id, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl IdentityError {
    /// A bare OAuth error (the browser's redirect carries only `error` and `error_description`). Microsoft puts the
    /// trace id, correlation id and time inside the description there; they are taken out for support.
    pub fn from_parts(error: &str, description: Option<&str>) -> IdentityError {
        let labelled = |label: &str| {
            let text = description?;
            let start = text.find(label)? + label.len();
            let value: String = text[start..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | ' '))
                .take(40)
                .collect();
            // A time runs to its "Z"; an id ends at the first space.
            let value = match value.find('Z') {
                Some(end) if label.starts_with("Timestamp") => value[..=end].to_owned(),
                _ => value.split(' ').next().unwrap_or_default().to_owned(),
            };
            (!value.is_empty()).then_some(value)
        };
        IdentityError {
            error: error.to_owned(),
            error_description: description.map(str::to_owned),
            error_codes: Vec::new(),
            timestamp: labelled("Timestamp:"),
            trace_id: labelled("Trace ID:"),
            correlation_id: labelled("Correlation ID:"),
            error_uri: None,
        }
    }

    /// The AADSTS number, from `error_codes` or else from the description's `AADSTSnnnn:` prefix.
    pub fn aadsts(&self) -> Option<u32> {
        self.error_codes.first().copied().or_else(|| {
            let description = self.error_description.as_deref()?;
            let start = description.find("AADSTS")? + "AADSTS".len();
            let digits: String = description[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
    }

    /// `AADSTS70016`, or the OAuth error name when Microsoft gave no number.
    pub fn code(&self) -> String {
        match self.aadsts() {
            Some(number) => format!("AADSTS{number}"),
            // The server's word, as a code can be: it is shown, stored and printed.
            None => self
                .error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                .take(64)
                .collect(),
        }
    }

    /// The first line of Microsoft's description, without the trace and correlation lines it repeats.
    pub fn summary(&self) -> String {
        let description = self.error_description.as_deref().unwrap_or(&self.error);
        let first_line = description.lines().next().unwrap_or_default().trim();
        let summary = match first_line.split_once(": ") {
            Some((code, rest)) if code.starts_with("AADSTS") => rest,
            _ => first_line,
        };
        crate::words::excerpt(summary, 500)
    }

    /// Whether a stored refresh token is dead and a new interactive sign-in is required.
    pub fn requires_new_sign_in(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_grant" | "interaction_required" | "consent_required"
        ) || matches!(
            self.aadsts(),
            Some(70000 | 70008 | 700082 | 50173 | 70043 | 50076 | 50079 | 65001)
        )
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self.error.as_str(),
            "temporarily_unavailable" | "server_error"
        )
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.summary())
    }
}

impl oauth2::ErrorResponse for IdentityError {}

/// What broke below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkStage {
    Dns,
    Connect,
    Tls,
    Timeout,
    Other,
}

/// Why a sign-in, a token exchange or a refresh did not produce tokens.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInError {
    /// Microsoft answered with an OAuth error; its code and ids are kept for support.
    #[error("Microsoft refused the sign-in ({0})")]
    Rejected(Box<IdentityError>),
    /// 408, 429 or a 5xx: try again later; nothing stored is touched.
    #[error("Microsoft's sign-in service is unavailable right now (HTTP {status})")]
    Unavailable {
        status: u16,
        identity: Option<Box<IdentityError>>,
    },
    #[error("The sign-in service could not be reached ({detail})")]
    Network { stage: NetworkStage, detail: String },
    #[error("The sign-in service gave an answer that cannot be used: {detail}")]
    Malformed { detail: String },
    #[error(
        "The address {url} is not allowed: sign-in must use https:// (plain http only to this computer)"
    )]
    InsecureEndpoint { url: String },
    #[error("The browser did not come back within {}", crate::words::count(*minutes, "minute", "minutes"))]
    BrowserTimedOut { minutes: u64 },
    #[error("The code expired before the sign-in was finished")]
    DeviceCodeExpired,
    #[error("The sign-in page could not be prepared on this computer: {detail}")]
    Listener { detail: String },
    #[error("Signed in as {actual}, but this mailbox expects {expected}")]
    UnexpectedAccount { expected: String, actual: String },
    #[error(
        "Microsoft did not return a refresh token; check that offline_access is among the scopes"
    )]
    NoRefreshToken,
}

impl SignInError {
    /// Network trouble, 408/429/5xx and "temporarily unavailable": a stored token must be kept.
    pub fn is_transient(&self) -> bool {
        match self {
            SignInError::Unavailable { .. } | SignInError::Network { .. } => true,
            SignInError::Rejected(identity) => identity.is_transient(),
            _ => false,
        }
    }

    /// The stored refresh token is dead: only a new interactive sign-in helps.
    pub fn requires_new_sign_in(&self) -> bool {
        match self {
            SignInError::Rejected(identity) => identity.requires_new_sign_in(),
            SignInError::NoRefreshToken => true,
            _ => false,
        }
    }

    pub fn identity(&self) -> Option<&IdentityError> {
        match self {
            SignInError::Rejected(identity) => Some(identity),
            SignInError::Unavailable { identity, .. } => identity.as_deref(),
            _ => None,
        }
    }

    /// The code support staff read out: `AADSTS50076`, `HTTP 503`, or a short name of the local failure.
    pub fn code(&self) -> String {
        match self {
            SignInError::Rejected(identity) => identity.code(),
            SignInError::Unavailable { status, identity } => identity
                .as_deref()
                .map_or_else(|| format!("HTTP {status}"), IdentityError::code),
            SignInError::Network { stage, .. } => {
                format!("network-{}", format!("{stage:?}").to_lowercase())
            }
            SignInError::Malformed { .. } => "malformed-answer".to_owned(),
            SignInError::InsecureEndpoint { .. } => "insecure-endpoint".to_owned(),
            SignInError::BrowserTimedOut { .. } => "browser-timeout".to_owned(),
            SignInError::DeviceCodeExpired => "AADSTS70019".to_owned(),
            SignInError::Listener { .. } => "loopback-listener".to_owned(),
            SignInError::UnexpectedAccount { .. } => "unexpected-account".to_owned(),
            SignInError::NoRefreshToken => "no-refresh-token".to_owned(),
        }
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.identity()?.correlation_id.as_deref()
    }

    pub fn trace_id(&self) -> Option<&str> {
        self.identity()?.trace_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declined_sign_in_gets_the_declined_advice_whatever_number_comes_with_it() {
        // 50058 ("no session") would otherwise speak of being signed out.
        let identity = IdentityError::from_parts(
            "authorization_declined",
            Some("AADSTS50058: A silent sign-in request was sent but no user is signed in."),
        );
        assert_eq!(identity.code(), "AADSTS50058", "the number is still shown");
        assert!(
            crate::advice::for_identity(&identity)
                .cause
                .contains("declined"),
            "{:?}",
            crate::advice::for_identity(&identity)
        );
    }

    const PENDING: &str = r#"{"error":"authorization_pending","error_description":"AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[70016],"timestamp":"2026-11-22 10:00:00Z","trace_id":"0000aaaa-11bb-cccc-dd22-eeeeee333333","correlation_id":"aaaa0000-bb11-2222-33cc-444444dddddd","error_uri":"https://login.microsoftonline.com/error?code=70016"}"#;

    #[test]
    fn parses_microsofts_error_json_and_keeps_ids() {
        let error: IdentityError = serde_json::from_str(PENDING).unwrap();
        assert_eq!(error.aadsts(), Some(70016));
        assert_eq!(error.code(), "AADSTS70016");
        assert_eq!(
            error.summary(),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling."
        );
        assert_eq!(
            error.correlation_id.as_deref(),
            Some("aaaa0000-bb11-2222-33cc-444444dddddd")
        );
        assert_eq!(
            error.trace_id.as_deref(),
            Some("0000aaaa-11bb-cccc-dd22-eeeeee333333")
        );
    }

    #[test]
    fn code_falls_back_to_the_description_then_the_error_name() {
        let from_redirect = IdentityError::from_parts(
            "access_denied",
            Some("AADSTS65004: User declined to consent."),
        );
        assert_eq!(from_redirect.code(), "AADSTS65004");
        assert!(
            crate::advice::for_identity(&from_redirect)
                .cause
                .contains("declined")
        );
        let bare = IdentityError::from_parts("slow_down", None);
        assert_eq!(bare.code(), "slow_down");
    }

    #[test]
    fn classifies_transient_and_permanent() {
        let revoked = SignInError::Rejected(Box::new(IdentityError {
            error_codes: vec![50173],
            ..IdentityError::from_parts(
                "invalid_grant",
                Some("AADSTS50173: The provided grant has expired due to it being revoked"),
            )
        }));
        assert!(revoked.requires_new_sign_in());
        assert!(!revoked.is_transient());
        let busy = SignInError::Unavailable {
            status: 503,
            identity: None,
        };
        assert!(busy.is_transient());
        assert!(!busy.requires_new_sign_in());
        assert_eq!(busy.code(), "HTTP 503");
        let offline = SignInError::Network {
            stage: NetworkStage::Dns,
            detail: "no such host".into(),
        };
        assert!(offline.is_transient());
        assert_eq!(offline.code(), "network-dns");
    }
}
