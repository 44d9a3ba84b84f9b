//! Browser sign-in: authorization code with PKCE (S256), answered on a one-shot loopback listener.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl};
use tokio::sync::mpsc;

use super::{
    IdentityError, IdentityHttp, SignInClient, SignInError, SignInOptions, TokenSet,
    from_oauth_error, tokens_from_response,
};

/// A browser sign-in in progress: open [`BrowserSignIn::authorize_url`] (or let the user copy it), then
/// [`BrowserSignIn::finish`]. Dropping it closes the listener.
pub struct BrowserSignIn {
    pub authorize_url: url::Url,
    redirect: RedirectUrl,
    verifier: PkceCodeVerifier,
    answers: mpsc::Receiver<Result<AuthorizationCode, SignInError>>,
    listener_task: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl std::fmt::Debug for BrowserSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSignIn")
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

impl Drop for BrowserSignIn {
    fn drop(&mut self) {
        self.listener_task.abort();
    }
}

#[derive(Clone)]
struct ListenerState {
    expected_state: String,
    answers: mpsc::Sender<Result<AuthorizationCode, SignInError>>,
}

impl SignInClient {
    /// Starts listening on 127.0.0.1 (an ephemeral port) and builds the authorization URL for it.
    pub async fn start_browser_sign_in(
        &self,
        options: &SignInOptions,
    ) -> Result<BrowserSignIn, SignInError> {
        let listener_error = |error: std::io::Error| SignInError::Listener {
            detail: error.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(listener_error)?;
        let port = listener.local_addr().map_err(listener_error)?.port();
        let path = match options.redirect_path.trim_matches('/') {
            "" => String::new(),
            path => format!("/{path}"),
        };
        // The port is ignored when Entra matches loopback redirects; the path must equal the registration's.
        let redirect =
            RedirectUrl::new(format!("http://localhost:{port}{path}")).map_err(|error| {
                SignInError::Listener {
                    detail: error.to_string(),
                }
            })?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect.clone()));
        if options.select_account {
            request = request.add_extra_param("prompt", "select_account");
        }
        if let Some(hint) = &options.login_hint {
            request = request.add_extra_param("login_hint", hint.clone());
        }
        if let Some(market) = super::market() {
            request = request.add_extra_param("mkt", market);
        }
        let (authorize_url, state) = request.url();

        let (sender, answers) = mpsc::channel(1);
        let route = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        let app = axum::Router::new()
            .route(&route, axum::routing::get(redirect_landing))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(ListenerState {
                expected_state: state.secret().clone(),
                answers: sender,
            });
        let listener_task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::debug!(%error, "loopback listener stopped");
            }
        });
        Ok(BrowserSignIn {
            authorize_url,
            redirect,
            verifier,
            answers,
            listener_task,
            timeout: self.browser_timeout,
        })
    }
}

impl BrowserSignIn {
    /// The redirect address registered with the provider for this attempt.
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// Waits for the browser to come back, then redeems the code with the PKCE verifier.
    pub async fn finish(mut self, client: &SignInClient) -> Result<TokenSet, SignInError> {
        let answer = tokio::time::timeout(self.timeout, self.answers.recv())
            .await
            .map_err(|_| SignInError::BrowserTimedOut {
                minutes: self.timeout.as_secs().div_ceil(60),
            })?
            .ok_or_else(|| SignInError::Listener {
                detail: "the listener stopped".to_owned(),
            })?;
        self.listener_task.abort();
        let code = answer?;
        let verifier = PkceCodeVerifier::new(self.verifier.secret().clone());
        let response = client
            .oauth
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .set_redirect_uri(Cow::Borrowed(&self.redirect))
            .request_async(&IdentityHttp { client })
            .await
            .map_err(from_oauth_error)?;
        tokens_from_response(response)
    }
}

/// The page the browser lands on. Requests without `code` or `error` (a favicon, a prefetch) are ignored.
async fn redirect_landing(
    State(listener): State<ListenerState>,
    Query(query): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    // Only an answer carrying this sign-in's `state` is Microsoft's redirect. Anything else, errors included, came
    // from another program on this computer or a stale tab: it must neither end the sign-in nor put made-up text
    // in front of the user, so it is ignored and the listener keeps waiting for the real answer.
    let state_matches = query
        .get("state")
        .is_some_and(|state| same_secret(state.as_bytes(), listener.expected_state.as_bytes()));
    if !state_matches {
        if query.contains_key("code") || query.contains_key("error") {
            tracing::info!(
                "an answer with another state reached the loopback listener and was ignored"
            );
        }
        return (
            StatusCode::BAD_REQUEST,
            Html(landing_page(
                "This page is not part of your sign-in",
                "mailconnect ignored it. If you are signing in, finish in the tab that Microsoft's page opened.",
            )),
        );
    }
    let result = if let Some(error) = query.get("error") {
        Err(SignInError::Rejected(Box::new(IdentityError::from_parts(
            error,
            query.get("error_description").map(String::as_str),
        ))))
    } else if let Some(code) = query.get("code") {
        Ok(AuthorizationCode::new(code.clone()))
    } else {
        return (StatusCode::NOT_FOUND, Html(String::new()));
    };
    let page = match &result {
        Ok(_) => landing_page(
            "You are signed in",
            "You can close this tab and go back to the Email Connection Wizard.",
        ),
        Err(error) => landing_page(
            "The sign-in did not finish",
            &format!(
                "{error}. Close this tab and go back to the Email Connection Wizard, which shows what to do next."
            ),
        ),
    };
    if listener.answers.try_send(result).is_err() {
        tracing::debug!("a second answer reached the loopback listener and was ignored");
    }
    (StatusCode::OK, Html(page))
}

/// Compares two secrets in time that does not depend on where they differ (the `state` guards the redirect).
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn landing_page(title: &str, text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;line-height:1.5}}</style></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>",
        title = escape(title),
        text = escape(text)
    )
}

/// Whether this computer can show a web browser for the sign-in: always on Windows and macOS; elsewhere, a
/// graphical session (X11 or Wayland) or a `BROWSER` setting. A server reached over SSH has none.
pub fn this_computer_has_one() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}
