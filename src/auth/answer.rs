//! What the identity server answers, made safe to use: a bounded body, numbers that may come as strings, lifetimes
//! clamped to a sane range, and tokens that must be non-empty printable text.

use std::time::{Duration, Instant, SystemTime};

use super::SignInError;

/// The largest identity answer read: Microsoft's token answers are a few kilobytes (an id token included).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// An access token lives at least this long and at most this long, whatever the server says: `expires_in` of 0
/// would refresh on every use, and a huge one would overflow a time or never refresh.
pub const TOKEN_LIFETIME_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));
/// A device code lives between ten seconds and an hour (Microsoft: 15 minutes).
pub const DEVICE_CODE_LIFETIME_RANGE: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(3600));
/// Polling waits at least a second between tries (RFC 8628's default is five) and at most a minute.
pub const POLL_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(60));

/// Reads a response body, refusing one larger than [`MAX_ANSWER_BYTES`] before it is all in memory.
pub async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Network(reqwest::Error),
}

impl BodyError {
    pub fn too_large() -> SignInError {
        SignInError::Malformed {
            detail: format!(
                "the identity server's answer is larger than {} KiB",
                MAX_ANSWER_BYTES / 1024
            ),
        }
    }
}

/// Fields some servers send as numeric strings (`"expires_in": "3599"`, as Azure AD v1 and several other OAuth
/// providers do): turned into numbers so that the answer parses. Anything else is left as it is.
const NUMERIC_FIELDS: [&str; 4] = [
    "expires_in",
    "ext_expires_in",
    "interval",
    "refresh_token_expires_in",
];

/// Rewrites a JSON object's numeric-string fields as numbers; other bodies come back unchanged.
pub fn normalise_numbers(body: Vec<u8>) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&body) else {
        return body;
    };
    let mut changed = false;
    for field in NUMERIC_FIELDS {
        if let Some(serde_json::Value::String(text)) = object.get(field)
            && let Ok(number) = text.trim().parse::<u64>()
        {
            object.insert(field.to_owned(), serde_json::Value::from(number));
            changed = true;
        }
    }
    if !changed {
        return body;
    }
    serde_json::to_vec(&serde_json::Value::Object(object)).unwrap_or(body)
}

/// `value` held within `range`.
pub fn clamp(value: Duration, range: (Duration, Duration)) -> Duration {
    value.clamp(range.0, range.1)
}

/// When a token with `lifetime` (clamped) runs out, from now; never overflows.
pub fn expiry_from_now(lifetime: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(clamp(lifetime, TOKEN_LIFETIME_RANGE))
        .unwrap_or(now)
}

/// When something with `lifetime` (clamped to `range`) ends, from `start`; never overflows.
pub fn instant_after(start: Instant, lifetime: Duration, range: (Duration, Duration)) -> Instant {
    start.checked_add(clamp(lifetime, range)).unwrap_or(start)
}

/// A token must be non-empty text without spaces or control characters: it goes on a command line's output, into
/// an XOAUTH2 string and into a mail server's line, where a newline or NUL would break the line or inject another.
pub fn check_token(what: &str, token: &str) -> Result<(), SignInError> {
    if token.is_empty() {
        return Err(SignInError::Malformed {
            detail: format!("the {what} is empty"),
        });
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SignInError::Malformed {
            detail: format!("the {what} contains spaces or control characters"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_become_numbers_and_nothing_else_changes() {
        let body = br#"{"access_token":"a","expires_in":"3599","interval":"5","token_type":"Bearer","scope":"5"}"#;
        let value: serde_json::Value =
            serde_json::from_slice(&normalise_numbers(body.to_vec())).unwrap();
        assert_eq!(value["expires_in"], 3599);
        assert_eq!(value["interval"], 5);
        assert_eq!(value["scope"], "5", "only the listed fields");
        let untouched = br#"{"expires_in": 3599}"#.to_vec();
        assert_eq!(normalise_numbers(untouched.clone()), untouched);
        assert_eq!(normalise_numbers(b"not json".to_vec()), b"not json");
        let not_a_number = br#"{"expires_in":"soon"}"#.to_vec();
        assert_eq!(normalise_numbers(not_a_number.clone()), not_a_number);
    }

    #[test]
    fn lifetimes_are_clamped_and_never_overflow() {
        let huge = Duration::from_secs(u64::MAX);
        let expiry = expiry_from_now(huge);
        let ahead = expiry.duration_since(SystemTime::now()).unwrap();
        assert!(
            ahead <= TOKEN_LIFETIME_RANGE.1
                && ahead > TOKEN_LIFETIME_RANGE.1 - Duration::from_secs(5)
        );
        let zero = expiry_from_now(Duration::ZERO);
        assert!(zero.duration_since(SystemTime::now()).unwrap() > Duration::from_secs(55));
        let start = Instant::now();
        assert_eq!(
            instant_after(start, huge, DEVICE_CODE_LIFETIME_RANGE),
            start + DEVICE_CODE_LIFETIME_RANGE.1
        );
        assert_eq!(
            clamp(Duration::ZERO, POLL_INTERVAL_RANGE),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn empty_or_line_breaking_tokens_are_refused() {
        assert!(check_token("access token", "eyJ0eXAi.abc-_~+/=").is_ok());
        for bad in ["", "abc\ndef", "abc\0", "abc def", "abc\r"] {
            assert!(check_token("access token", bad).is_err(), "{bad:?}");
        }
    }
}
