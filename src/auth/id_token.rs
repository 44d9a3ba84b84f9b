//! Reading who signed in from the OpenID Connect id token.
//!
//! The id token comes straight from the token endpoint over TLS, so (as OpenID Connect Core 3.1.3.7 allows) its
//! signature is not checked; it is only used to name the account, never to grant access.

use base64::Engine;
use serde::Deserialize;

use super::SignInError;

/// The account that completed the sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInAccount {
    /// `preferred_username` (or `email` / `upn`): the address the person typed.
    pub username: String,
    pub display_name: Option<String>,
    pub tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    preferred_username: Option<String>,
    email: Option<String>,
    upn: Option<String>,
    name: Option<String>,
    tid: Option<String>,
}

impl SignedInAccount {
    pub fn from_id_token(id_token: &str) -> Result<SignedInAccount, SignInError> {
        let malformed = |what: &str| SignInError::Malformed {
            detail: format!("the id token {what}"),
        };
        let payload = id_token
            .split('.')
            .nth(1)
            .ok_or_else(|| malformed("is not a JWT"))?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| malformed("is not base64url"))?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| malformed("has unreadable claims"))?;
        let username = claims
            .preferred_username
            .or(claims.email)
            .or(claims.upn)
            .ok_or_else(|| malformed("names no account (preferred_username, email or upn)"))?;
        Ok(SignedInAccount {
            username,
            display_name: claims.name,
            tenant_id: claims.tid,
        })
    }

    /// Whether this is `address` (case-insensitive, as Microsoft treats user names).
    pub fn is(&self, address: &str) -> bool {
        self.username.trim().eq_ignore_ascii_case(address.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!(
            "{}.{}.signature",
            encode(r#"{"alg":"none"}"#),
            encode(claims)
        )
    }

    #[test]
    fn names_the_account_from_preferred_username_or_email() {
        let account = SignedInAccount::from_id_token(&jwt(
            r#"{"preferred_username":"Reception@Practice.com","name":"Front desk","tid":"t"}"#,
        ))
        .unwrap();
        assert!(account.is("reception@practice.com"));
        assert_eq!(account.display_name.as_deref(), Some("Front desk"));
        let by_email = SignedInAccount::from_id_token(&jwt(r#"{"email":"a@b.com"}"#)).unwrap();
        assert_eq!(by_email.username, "a@b.com");
    }

    #[test]
    fn malformed_id_tokens_are_errors_not_panics() {
        for bad in [
            "",
            "abc",
            "a.!!!.c",
            &jwt("not json"),
            &jwt(r#"{"sub":"x"}"#),
        ] {
            assert!(
                matches!(
                    SignedInAccount::from_id_token(bad),
                    Err(SignInError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }
}
