//! Signing in to Microsoft (or any OAuth provider): device code, browser with PKCE, and refresh with rotation.
//!
//! The `oauth2` crate builds the requests (PKCE, state, authorization URL, code exchange, refresh, device
//! authorization); `reqwest` carries them with our own trust roots and timeouts. Device-code polling is driven here
//! because `oauth2`'s poller fixes the error type to RFC 8628's fields, which would drop Microsoft's AADSTS code and
//! correlation id, and hides each poll from the caller.

mod answer;
pub mod browser;
mod device;
mod error;
mod id_token;

use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, ClientId, DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpRequest, HttpResponse, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use browser::BrowserSignIn;
pub use device::{DeviceCodePrompt, DevicePollEvent};
pub use error::{IdentityError, NetworkStage, SignInError};
pub use id_token::SignedInAccount;

use crate::config::{IdentityEndpoints, check_identity_url};
use crate::tls::Trust;

/// Options for an interactive sign-in.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    /// Pre-fills the account on Microsoft's page.
    pub login_hint: Option<String>,
    /// Always show the account picker ("Use another account").
    pub select_account: bool,
    /// The path of the loopback redirect; it must match the app registration (empty for `http://localhost`).
    pub redirect_path: String,
}

/// Fresh tokens from the identity server. Debug output never shows the tokens.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: SystemTime,
    /// Who signed in, when the id token said so (scope `openid`).
    pub account: Option<SignedInAccount>,
}

impl TokenSet {
    /// Reports a sign-in as someone other than `expected` instead of letting it be saved silently.
    pub fn ensure_account(&self, expected: &str) -> Result<(), SignInError> {
        match &self.account {
            Some(account) if !account.is(expected) => Err(SignInError::UnexpectedAccount {
                expected: expected.to_owned(),
                actual: account.username.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// Extra token-response fields Microsoft sends: the OpenID Connect id token.
#[derive(Clone, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenField([REDACTED])")
    }
}

impl ExtraTokenFields for IdTokenField {}

type MicrosoftTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type OAuthClient = oauth2::Client<
    IdentityError,
    MicrosoftTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A failed HTTP exchange, before any OAuth meaning is given to it.
#[derive(Debug, thiserror::Error)]
enum HttpFailure {
    #[error("{0}")]
    Transport(SignInError),
}

/// The `oauth2` crate's view of [`SignInClient::send`]. A named type (rather than a closure) keeps the request
/// futures `Send`, so sign-in can run on a tokio worker.
struct IdentityHttp<'a> {
    client: &'a SignInClient,
}

impl<'c> oauth2::AsyncHttpClient<'c> for IdentityHttp<'_> {
    type Error = HttpFailure;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.client.send(request))
    }
}

/// Talks to one identity provider for one application registration.
#[derive(Clone)]
pub struct SignInClient {
    oauth: OAuthClient,
    http: reqwest::Client,
    scopes: Vec<String>,
    client_id: String,
    token_url: url::Url,
    request_timeout: Duration,
    browser_timeout: Duration,
}

impl std::fmt::Debug for SignInClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInClient")
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SignInClient {
    /// A client for `endpoints`; plain `http` endpoints are refused unless they are on this computer.
    /// The client for `account`'s sign-in address and app.
    pub fn for_account(
        account: &crate::config::Account,
        trust: &Trust,
        timeouts: &crate::config::Timeouts,
    ) -> Result<SignInClient, SignInError> {
        let endpoints = account
            .endpoints()
            .map_err(|error| SignInError::Malformed {
                detail: error.message,
            })?;
        SignInClient::new(&endpoints, &account.client_id, trust, timeouts)
    }

    pub fn new(
        endpoints: &IdentityEndpoints,
        client_id: &str,
        trust: &Trust,
        timeouts: &crate::config::Timeouts,
    ) -> Result<SignInClient, SignInError> {
        for url in [
            &endpoints.authorize,
            &endpoints.token,
            &endpoints.device_code,
        ] {
            check_identity_url(url).map_err(|_| SignInError::InsecureEndpoint {
                url: url.to_string(),
            })?;
        }
        let mut http = reqwest::Client::builder();
        // A proxy set for the internet (HTTP_PROXY) must never see a request to this computer: the sandbox and a
        // local identity server get the refresh token.
        if [
            &endpoints.authorize,
            &endpoints.token,
            &endpoints.device_code,
        ]
        .iter()
        .any(|url| url.host_str().is_some_and(crate::config::is_loopback_host))
        {
            http = http.no_proxy();
        }
        let http = http
            .use_preconfigured_tls((*trust.client_config()).clone())
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.http)
            // The token endpoint never redirects; following one could send a code somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mailconnect/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| SignInError::Listener {
                detail: error.to_string(),
            })?;
        let oauth = oauth2::Client::new(ClientId::new(client_id.trim().to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorize.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(
                endpoints.device_code.clone(),
            ));
        Ok(SignInClient {
            oauth,
            http,
            scopes: endpoints.scopes.clone(),
            client_id: client_id.trim().to_owned(),
            token_url: endpoints.token.clone(),
            request_timeout: timeouts.http,
            browser_timeout: timeouts.browser_sign_in,
        })
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().map(|scope| Scope::new(scope.clone()))
    }

    /// Redeems a refresh token. The answer carries a new refresh token which the caller must store first.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, SignInError> {
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .oauth
            .exchange_refresh_token(&refresh_token)
            .add_scopes(self.scopes())
            .request_async(&IdentityHttp { client: self })
            .await
            .map_err(from_oauth_error)?;
        tokens_from_response(response)
    }

    /// Asks for an app-only token (client credentials) for `scope`, proven with a secret or a signed assertion.
    /// The answer has no refresh token: a new token is asked for the same way.
    pub async fn client_credentials(
        &self,
        scope: &str,
        proof: crate::app_only::ClientProof,
    ) -> Result<TokenSet, SignInError> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("scope", scope),
        ];
        match &proof {
            crate::app_only::ClientProof::Secret(secret) => {
                form.push(("client_secret", secret.expose_secret()));
            }
            crate::app_only::ClientProof::Assertion(assertion) => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", assertion.expose_secret()));
            }
        }
        let response = self.post_token_form(&form).await?;
        tokens_from_response(response)
    }

    /// Sends one request to the identity server and turns transport trouble and 408/429/5xx into errors.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let url = request.uri().to_string();
        let parsed = url::Url::parse(&url).map_err(|_| {
            HttpFailure::Transport(SignInError::InsecureEndpoint { url: url.clone() })
        })?;
        check_identity_url(&parsed).map_err(|_| {
            HttpFailure::Transport(SignInError::InsecureEndpoint { url: url.clone() })
        })?;
        let (parts, body) = request.into_parts();
        let mut builder = self
            .http
            .request(parts.method, parsed)
            .body(body)
            .timeout(self.request_timeout);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        tracing::debug!(endpoint = %url, "identity request");
        let response = builder
            .send()
            .await
            .map_err(|error| HttpFailure::Transport(network_error(&error)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = answer::read_bounded(response).await.map_err(|error| {
            HttpFailure::Transport(match error {
                answer::BodyError::TooLarge => answer::BodyError::too_large(),
                answer::BodyError::Network(error) => network_error(&error),
            })
        })?;
        tracing::debug!(endpoint = %url, status = status.as_u16(), "identity response");
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Err(HttpFailure::Transport(SignInError::Unavailable {
                status: status.as_u16(),
                identity: serde_json::from_slice(&body).ok().map(Box::new),
            }));
        }
        let body = if status.is_success() {
            answer::normalise_numbers(body)
        } else {
            body
        };
        let mut http_response = HttpResponse::new(body);
        *http_response.status_mut() = status;
        *http_response.headers_mut() = headers;
        Ok(http_response)
    }

    /// POSTs a form to the token endpoint and interprets the answer as tokens or an OAuth error.
    async fn post_token_form(
        &self,
        form: &[(&str, &str)],
    ) -> Result<MicrosoftTokenResponse, SignInError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.token_url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body.into_bytes())
            .map_err(|error| SignInError::Malformed {
                detail: error.to_string(),
            })?;
        let response = self
            .send(request)
            .await
            .map_err(|HttpFailure::Transport(error)| error)?;
        if response.status().is_success() {
            serde_json::from_slice(response.body())
                .map_err(|error| describe_json_error("token answer", &error))
        } else {
            Err(identity_error_from_body(
                response.status().as_u16(),
                response.body(),
            ))
        }
    }
}

/// An error body that is not Microsoft's JSON still becomes a readable error.
fn identity_error_from_body(status: u16, body: &[u8]) -> SignInError {
    match serde_json::from_slice::<IdentityError>(body) {
        Ok(identity) => SignInError::Rejected(Box::new(identity)),
        Err(_) => SignInError::Malformed {
            detail: format!(
                "HTTP {status} with a body that is not an OAuth error ({} bytes)",
                body.len()
            ),
        },
    }
}

/// Describes a JSON problem by position only: serde's own text can quote values, and a value may be a token.
fn describe_json_error(what: &str, error: &serde_json::Error) -> SignInError {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "could not be read",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "is missing a field or has one of the wrong type",
        serde_json::error::Category::Eof => "was cut short",
    };
    SignInError::Malformed {
        detail: format!(
            "the {what} {kind} (line {}, column {})",
            error.line(),
            error.column()
        ),
    }
}

fn network_error(error: &reqwest::Error) -> SignInError {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&current.to_string());
        source = current.source();
    }
    let lower = chain.to_lowercase();
    let stage = if error.is_timeout() {
        NetworkStage::Timeout
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        NetworkStage::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        NetworkStage::Tls
    } else if error.is_connect() {
        NetworkStage::Connect
    } else {
        NetworkStage::Other
    };
    // reqwest puts the URL (never a secret here: the token endpoint has no query) in its text; keep the chain short.
    SignInError::Network {
        stage,
        detail: chain.chars().take(300).collect(),
    }
}

fn from_oauth_error(error: RequestTokenError<HttpFailure, IdentityError>) -> SignInError {
    match error {
        RequestTokenError::ServerResponse(identity) => SignInError::Rejected(Box::new(identity)),
        RequestTokenError::Request(HttpFailure::Transport(error)) => error,
        RequestTokenError::Parse(error, _body) => SignInError::Malformed {
            detail: format!("the answer could not be read at {}", error.path()),
        },
        RequestTokenError::Other(detail) => SignInError::Malformed { detail },
    }
}

fn tokens_from_response(response: MicrosoftTokenResponse) -> Result<TokenSet, SignInError> {
    // Never assume an hour: Microsoft hands out 60-90 minutes. Without an answer, assume little.
    let lifetime = response.expires_in().unwrap_or(Duration::from_secs(600));
    let account = match &response.extra_fields().id_token {
        Some(id_token) => Some(SignedInAccount::from_id_token(id_token)?),
        None => None,
    };
    answer::check_token("access token", response.access_token().secret())?;
    if let Some(refresh_token) = response.refresh_token() {
        answer::check_token("refresh token", refresh_token.secret())?;
    }
    Ok(TokenSet {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response
            .refresh_token()
            .map(|token| SecretString::from(token.secret().to_owned())),
        expires_at: answer::expiry_from_now(lifetime),
        account,
    })
}

/// The user's language for Microsoft's sign-in pages and the device code's message (`mkt=de-DE`), from the
/// environment's locale (`LC_ALL`, `LC_MESSAGES`, `LANG`); `None` for the C locale or anything unreadable.
pub fn market() -> Option<String> {
    market_from(
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))?
            .as_str(),
    )
}

fn market_from(locale: &str) -> Option<String> {
    let name = locale.split(['.', '@']).next()?;
    let (language, region) = match name.split_once(['_', '-']) {
        Some((language, region)) => (language, Some(region)),
        None => (name, None),
    };
    let language_ok =
        (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_lowercase());
    let region_ok = region
        .is_none_or(|region| region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase()));
    if !language_ok || !region_ok {
        return None;
    }
    Some(match region {
        Some(region) => format!("{language}-{region}"),
        None => language.to_owned(),
    })
}

#[cfg(test)]
mod market_tests {
    #[test]
    fn the_locale_becomes_a_market_and_nonsense_is_left_out() {
        assert_eq!(super::market_from("de_DE.UTF-8").as_deref(), Some("de-DE"));
        assert_eq!(super::market_from("fr_CA@euro").as_deref(), Some("fr-CA"));
        assert_eq!(super::market_from("nl").as_deref(), Some("nl"));
        assert_eq!(super::market_from("C.UTF-8"), None);
        assert_eq!(super::market_from("POSIX"), None);
        assert_eq!(super::market_from("en_US&x=1"), None);
    }
}
