//! The sandbox's identity server: Microsoft's v2.0 devicecode / authorize / token endpoints, their JSON and error
//! shapes, refresh-token rotation, and a token introspection endpoint for Dovecot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    AccessGrant, AuthorizationGrant, DeviceGrant, DeviceStatus, Fault, PendingBrowserRequest,
    SANDBOX_CLIENT_ID, SANDBOX_TENANT, Shared,
};

type Params = HashMap<String, String>;

pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/authorize/decide", get(decide))
        .route(
            "/devicelogin",
            get(device_login_page).post(device_login_submit),
        )
        .route("/introspect", post(introspect))
        .with_state(shared);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "sandbox identity server stopped");
    }
}

pub(super) fn guid() -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An error in Microsoft's exact JSON shape, with fresh trace and correlation ids.
pub(super) fn oauth_error(
    status: StatusCode,
    error: &str,
    aadsts: Option<u32>,
    description: &str,
) -> Response {
    let trace_id = guid();
    let correlation_id = guid();
    let timestamp = humantime_now();
    let full_description = match aadsts {
        Some(code) => format!(
            "AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        None => format!(
            "{description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
    };
    let body = json!({
        "error": error,
        "error_description": full_description,
        "error_codes": aadsts.map(|code| vec![code]).unwrap_or_default(),
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": aadsts.map(|code| format!("https://login.microsoftonline.com/error?code={code}")),
    });
    (status, axum::Json(body)).into_response()
}

fn humantime_now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Checks tenant and client id the way Microsoft does before anything else.
/// Microsoft's answer when tenant or client id is wrong, or `None` when both are fine.
fn check_app(tenant: &str, params: &Params) -> Option<Response> {
    if tenant != SANDBOX_TENANT {
        return Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(90002),
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    if params.get("client_id").map(String::as_str) != Some(SANDBOX_CLIENT_ID) {
        return Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            Some(700016),
            &format!(
                "Application with identifier '{}' was not found in the directory 'Sandbox'.",
                params.get("client_id").map_or("", String::as_str)
            ),
        ));
    }
    if params.contains_key("client_secret") {
        return Some(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            Some(700025),
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        ));
    }
    None
}

async fn device_code(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(params): Form<Params>,
) -> Response {
    if let Some(response) = check_app(&tenant, &params) {
        return response;
    }
    if let Some(market) = params.get("mkt") {
        shared.state().stats.markets.push(market.clone());
    }
    let device_code = shared.random_token("sbx-dc-");
    let letters: String = (0..9)
        .map(|_| {
            char::from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rand::thread_rng().gen_range(0..32)])
        })
        .collect();
    let user_code = letters;
    let verification_uri = shared
        .identity_base
        .join("devicelogin")
        .map(String::from)
        .unwrap_or_default();
    let interval = shared.options.device_poll_interval;
    shared.state().device_grants.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: user_code.clone(),
            issued: Instant::now(),
            status: DeviceStatus::Pending,
            last_poll: None,
            interval,
        },
    );
    axum::Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": shared.options.device_code_lifetime.as_secs(),
        "interval": interval.as_secs(),
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(params): Form<Params>,
) -> Response {
    let grant_type = params.get("grant_type").cloned().unwrap_or_default();
    *shared
        .state()
        .stats
        .token_requests
        .entry(grant_type.clone())
        .or_default() += 1;
    if grant_type == "client_credentials" {
        return super::app_only::client_credentials_token(&shared, &tenant, &params);
    }
    if let Some(response) = check_app(&tenant, &params) {
        return response;
    }
    let is_identity_fault = |fault: &Fault| {
        matches!(
            fault,
            Fault::TokenError { .. }
                | Fault::TokenServiceUnavailable
                | Fault::MalformedTokenAnswer
                | Fault::TokenHang
                | Fault::TokenDelay(_)
        )
    };
    match shared.take_fault(is_identity_fault) {
        Some(Fault::TokenHang) => return std::future::pending().await,
        Some(Fault::TokenDelay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::TokenServiceUnavailable) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>Service Unavailable</body></html>",
            )
                .into_response();
        }
        Some(Fault::MalformedTokenAnswer) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"token_type\": \"Bearer\", \"access_tok",
            )
                .into_response();
        }
        Some(Fault::TokenError {
            error,
            aadsts,
            description,
        }) => {
            return oauth_error(StatusCode::BAD_REQUEST, &error, Some(aadsts), &description);
        }
        _ => {}
    }
    match grant_type.as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => device_token(&shared, &params),
        "authorization_code" => authorization_code_token(&shared, &params),
        "refresh_token" => refresh_token(&shared, &params),
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            Some(70003),
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

fn device_token(shared: &Shared, params: &Params) -> Response {
    let now = Instant::now();
    shared.state().stats.device_polls.push(now);
    let device_code = params.get("device_code").cloned().unwrap_or_default();
    let forced = shared.take_fault(|fault| {
        matches!(
            fault,
            Fault::DeviceSlowDown | Fault::DeviceDeclined | Fault::DeviceExpired
        )
    });
    let mut state = shared.state();
    let Some(grant) = state.device_grants.get_mut(&device_code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "bad_verification_code",
            Some(70018),
            "Invalid verification code.",
        );
    };
    let previous_poll = grant.last_poll.replace(now);
    match forced {
        Some(Fault::DeviceSlowDown) => {
            grant.interval += Duration::from_secs(5);
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "slow_down",
                None,
                "Polling too frequently; slow down.",
            );
        }
        Some(Fault::DeviceDeclined) => grant.status = DeviceStatus::Declined,
        Some(Fault::DeviceExpired) => {
            grant.issued = now - shared.options.device_code_lifetime - Duration::from_secs(1)
        }
        _ => {}
    }
    // RFC 8628 3.5: a client polling faster than the interval is told to slow down (20% grace for timer jitter).
    if let Some(previous) = previous_poll
        && now.duration_since(previous) < grant.interval.mul_f32(0.8)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "slow_down",
            None,
            "Polling too frequently; slow down.",
        );
    }
    if grant.issued.elapsed() > shared.options.device_code_lifetime {
        state.device_grants.remove(&device_code);
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "expired_token",
            Some(70019),
            "Verification code expired.",
        );
    }
    if grant.status == DeviceStatus::Pending
        && shared
            .options
            .auto_approve_device_after
            .is_some_and(|after| grant.issued.elapsed() >= after)
    {
        grant.status = DeviceStatus::Approved(shared.options.default_user.clone());
    }
    match grant.status.clone() {
        DeviceStatus::Pending => oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            Some(70016),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        DeviceStatus::Declined => {
            state.device_grants.remove(&device_code);
            oauth_error(
                StatusCode::BAD_REQUEST,
                "authorization_declined",
                None,
                "The end user denied the authorization request.",
            )
        }
        DeviceStatus::Approved(user) => {
            state.device_grants.remove(&device_code);
            drop(state);
            issue_tokens(shared, &user, Issued::SignIn)
        }
    }
}

fn authorization_code_token(shared: &Shared, params: &Params) -> Response {
    let code = params.get("code").cloned().unwrap_or_default();
    let mut state = shared.state();
    let Some(grant) = state.authorization_grants.get_mut(&code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some(70000),
            "The provided authorization code is invalid.",
        );
    };
    if grant.redeemed {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some(54005),
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    }
    grant.redeemed = true;
    if params.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some(500112),
            "The reply address does not match the reply address used when the code was requested.",
        );
    }
    let verifier = params.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.code_challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some(501481),
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    let user = grant.user.clone();
    drop(state);
    issue_tokens(shared, &user, Issued::SignIn)
}

fn refresh_token(shared: &Shared, params: &Params) -> Response {
    let presented = params.get("refresh_token").cloned().unwrap_or_default();
    let user = shared.state().refresh_tokens.get(&presented).cloned();
    match user {
        Some(user) => issue_tokens(shared, &user, Issued::Renewal),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some(50173),
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
        ),
    }
}

/// Why tokens are issued: tests tell a sign-in's refresh token from a renewal's by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Issued {
    SignIn,
    Renewal,
}

fn issue_tokens(shared: &Shared, user: &str, issued: Issued) -> Response {
    let access_token = shared.random_token("sbx-at-");
    let refresh_token = shared.random_token(match issued {
        Issued::SignIn => super::SIGN_IN_REFRESH_TOKEN_PREFIX,
        Issued::Renewal => "sbx-rt-renewed-",
    });
    let lifetime = shared.options.access_token_lifetime;
    {
        let mut state = shared.state();
        state.access_tokens.insert(
            access_token.clone(),
            AccessGrant {
                user: user.to_owned(),
                expires_at: SystemTime::now() + lifetime,
            },
        );
        state
            .refresh_tokens
            .insert(refresh_token.clone(), user.to_owned());
    }
    let encode = |value: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let id_token = format!(
        "{}.{}.",
        encode(json!({"typ": "JWT", "alg": "none"})),
        encode(json!({
            "aud": SANDBOX_CLIENT_ID,
            "iss": shared.identity_base.as_str(),
            "preferred_username": user,
            "email": user,
            "name": "Sandbox user",
            "tid": "00000000-0000-4000-8000-0000000000aa",
        }))
    );
    axum::Json(json!({
        "token_type": "Bearer",
        "scope": super::SANDBOX_SCOPES.join(" "),
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token,
    }))
    .into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(response) = check_app(&tenant, &params) {
        return response;
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    let loopback = url::Url::parse(&redirect_uri).is_ok_and(|url| {
        url.scheme() == "http" && url.host_str().is_some_and(crate::config::is_loopback_host)
    });
    if !loopback {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in error",
            &format!(
                "AADSTS50011: The redirect URI '{redirect_uri}' does not match the redirect URIs configured for the application."
            ),
        );
    }
    if params.get("code_challenge_method").map(String::as_str) != Some("S256")
        || !params.contains_key("code_challenge")
    {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in error",
            "AADSTS501491: Invalid size of Code_Challenge parameter.",
        );
    }
    if let Some(market) = params.get("mkt") {
        shared.state().stats.markets.push(market.clone());
    }
    let request = PendingBrowserRequest {
        redirect_uri,
        state: params.get("state").cloned().unwrap_or_default(),
        code_challenge: params.get("code_challenge").cloned().unwrap_or_default(),
        user: params
            .get("login_hint")
            .cloned()
            .unwrap_or_else(|| shared.options.default_user.clone()),
    };
    if shared.options.auto_approve_browser {
        return approve(&shared, request, None);
    }
    let id = guid();
    let user = request.user.clone();
    shared.state().browser_requests.insert(id.clone(), request);
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sandbox sign-in</title>{STYLE}</head><body>\
         <h1>mailconnect sandbox sign-in</h1><p>This practice page stands in for Microsoft's sign-in. Nothing leaves this computer.</p>\
         <form action=\"authorize/decide\" method=\"get\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <label>Sign in as <input name=\"user\" value=\"{user}\" size=\"34\"></label>\
         <p><button name=\"decision\" value=\"approve\">Accept</button> <button name=\"decision\" value=\"decline\">Decline</button></p></form></body></html>",
        user = escape(&user),
    ))
    .into_response()
}

async fn decide(
    State(shared): State<Arc<Shared>>,
    Path(_tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let request_id = params.get("request").cloned().unwrap_or_default();
    let Some(request) = shared.state().browser_requests.remove(&request_id) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in error",
            "This sign-in page has expired. Start the sign-in again.",
        );
    };
    if params.get("decision").map(String::as_str) == Some("decline") {
        let mut target =
            url::Url::parse(&request.redirect_uri).expect("checked when the request was made");
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            )
            .append_pair("state", &request.state);
        return Redirect::to(target.as_str()).into_response();
    }
    approve(
        &shared,
        request,
        params
            .get("user")
            .filter(|user| !user.trim().is_empty())
            .cloned(),
    )
}

fn approve(shared: &Shared, request: PendingBrowserRequest, user: Option<String>) -> Response {
    let code = shared.random_token("sbx-code-");
    let mut target =
        url::Url::parse(&request.redirect_uri).expect("checked when the request was made");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &request.state);
    shared.state().authorization_grants.insert(
        code,
        AuthorizationGrant {
            redirect_uri: request.redirect_uri,
            code_challenge: request.code_challenge,
            user: user.unwrap_or(request.user),
            redeemed: false,
        },
    );
    Redirect::to(target.as_str()).into_response()
}

const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;line-height:1.5}\
    input,button{font-size:1.1em;padding:.3em}</style>";

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;");
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>{STYLE}</head><body><h1>{0}</h1><p>{1}</p></body></html>",
            escape(title),
            escape(text)
        )),
    )
        .into_response()
}

async fn device_login_page(State(shared): State<Arc<Shared>>) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Enter code</title>{STYLE}</head><body>\
         <h1>mailconnect sandbox: enter code</h1><p>Enter the code shown in the Email Connection Wizard.</p>\
         <form method=\"post\"><p><label>Code <input name=\"user_code\" autofocus autocomplete=\"off\"></label></p>\
         <p><label>Sign in as <input name=\"user\" value=\"{}\" size=\"34\"></label></p><p><button>Next</button></p></form></body></html>",
        shared.options.default_user.replace('"', "&quot;")
    ))
    .into_response()
}

async fn device_login_submit(
    State(shared): State<Arc<Shared>>,
    Form(params): Form<Params>,
) -> Response {
    let user_code = params.get("user_code").map_or("", |code| code.trim());
    let user = params
        .get("user")
        .filter(|user| !user.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| shared.options.default_user.clone());
    let mut state = shared.state();
    match state
        .device_grants
        .values_mut()
        .find(|grant| grant.user_code.eq_ignore_ascii_case(user_code))
    {
        Some(grant) => {
            grant.status = DeviceStatus::Approved(user);
            page(
                StatusCode::OK,
                "You are signed in",
                "You can close this page and go back to the Email Connection Wizard.",
            )
        }
        None => page(
            StatusCode::BAD_REQUEST,
            "That code did not work",
            "Check the code and try again (AADSTS70018).",
        ),
    }
}

/// Dovecot's `introspection_mode = post`: `token=<token>` in, a flat JSON object out.
async fn introspect(State(shared): State<Arc<Shared>>, Form(params): Form<Params>) -> Response {
    let token = params.get("token").map_or("", String::as_str);
    match shared.access_token_user(token) {
        Some(user) => axum::Json(
            json!({"active": true, "username": user, "scope": super::SANDBOX_SCOPES.join(" ")}),
        )
        .into_response(),
        None => axum::Json(json!({"active": false})).into_response(),
    }
}
