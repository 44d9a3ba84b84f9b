//! SASL XOAUTH2: the initial client response, and the base64 JSON a server sends back before refusing it.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// `base64("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")`, kept secret because it contains the token.
pub fn initial_response(user: &str, access_token: &SecretString) -> SecretString {
    let raw = SecretString::from(format!(
        "user={user}\x01auth=Bearer {}\x01\x01",
        access_token.expose_secret()
    ));
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(raw.expose_secret()))
}

/// The server's error continuation (for example `{"status":"401","schemes":"bearer","scope":"mail"}`), decoded.
/// Anything that is not base64 of UTF-8 is returned as it came.
pub fn decode_error_challenge(challenge: &str) -> String {
    let challenge = challenge.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(challenge)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| challenge.to_owned());
    // Server text: shown in the window, the report and a terminal.
    crate::words::excerpt(&decoded, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_format() {
        let encoded = initial_response(
            "someuser@example.com",
            &SecretString::from("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
        );
        // The example from Google's and Microsoft's XOAUTH2 documentation.
        assert_eq!(
            encoded.expose_secret(),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn decodes_dovecots_error_continuation() {
        assert_eq!(
            decode_error_challenge(
                "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0="
            ),
            r#"{"status":"401","schemes":"bearer","scope":"mail"}"#
        );
        assert_eq!(decode_error_challenge("not base64!"), "not base64!");
    }
}
