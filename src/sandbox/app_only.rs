//! The sandbox's app registrations: client credentials with a secret or a certificate assertion (RFC 7523),
//! application permissions with admin consent, Exchange's service principal, and app tokens, answered the way
//! Microsoft answers them (the AADSTS codes of `../shared/microsoft.md`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::identity::oauth_error;
use super::{AccessGrant, SANDBOX_TENANT, Sandbox, Shared};

/// An app registered in the sandbox's directory.
#[derive(Debug, Clone, Default)]
pub(super) struct SandboxApp {
    /// Client secrets and the moment each stops working.
    secrets: Vec<(String, SystemTime)>,
    /// Uploaded certificates (DER), found by their `x5t#S256`.
    certificates: HashMap<String, Vec<u8>>,
    /// Application permissions an admin consented to (`IMAP.AccessAsApp`, `SMTP.SendAsApp`).
    roles: Vec<String>,
    /// The object id on the App registrations page.
    pub(super) application_object_id: String,
    /// The object id on the Enterprise applications page: the one `New-ServicePrincipal` needs.
    pub(super) enterprise_object_id: String,
    /// The object id Exchange's `New-ServicePrincipal` was given, if it was run.
    pub(super) exchange_object_id: Option<String>,
    /// JWT ids already used: Microsoft refuses a replayed assertion.
    used_assertions: Vec<String>,
}

/// The ids an admin sees for a registered app.
#[derive(Debug, Clone)]
pub struct AppIds {
    pub application_object_id: String,
    pub enterprise_object_id: String,
}

/// The name Full Access and Send As grants use for an app: Exchange's service principal.
pub fn app_principal(client_id: &str) -> String {
    format!("app:{}", client_id.to_ascii_lowercase())
}

impl Shared {
    /// Whether a token owner is an app whose Exchange service principal was registered with the Enterprise
    /// application's object id (the wrong id makes Exchange refuse every sign-in: `NO AUTHENTICATE failed.`).
    pub(super) fn app_registered_in_exchange(&self, owner: &str) -> bool {
        let Some(client_id) = owner.strip_prefix("app:") else {
            return true;
        };
        self.state().apps.get(client_id).is_some_and(|app| {
            app.exchange_object_id.as_deref() == Some(app.enterprise_object_id.as_str())
        })
    }

    /// Whether the app behind `owner` may send as `mailbox`: SMTP.SendAsApp with Full Access, or the RBAC role
    /// scoped to the mailbox.
    pub(super) fn app_may_send(&self, owner: &str, mailbox: &str) -> bool {
        self.app_registered_in_exchange(owner)
            && ((self.app_has_role(owner, "SMTP.SendAsApp") && self.may_open(owner, mailbox))
                || self
                    .state()
                    .app_smtp_scope
                    .contains(&(owner.to_owned(), mailbox.to_ascii_lowercase())))
    }

    /// Whether an app token carries the application permission `role`.
    pub(super) fn app_has_role(&self, owner: &str, role: &str) -> bool {
        let Some(client_id) = owner.strip_prefix("app:") else {
            return true;
        };
        self.state()
            .apps
            .get(client_id)
            .is_some_and(|app| app.roles.iter().any(|held| held == role))
    }
}

impl Sandbox {
    /// Registers an app (App registrations > New registration) and returns its two object ids.
    pub fn register_app(&self, client_id: &str) -> AppIds {
        let app = SandboxApp {
            application_object_id: super::identity::guid(),
            enterprise_object_id: super::identity::guid(),
            ..SandboxApp::default()
        };
        let ids = AppIds {
            application_object_id: app.application_object_id.clone(),
            enterprise_object_id: app.enterprise_object_id.clone(),
        };
        self.shared
            .state()
            .apps
            .insert(client_id.to_ascii_lowercase(), app);
        ids
    }

    /// Adds a client secret that works until `expires` (Certificates & secrets > New client secret).
    pub fn add_app_secret(&self, client_id: &str, secret: &str, expires: SystemTime) {
        if let Some(app) = self
            .shared
            .state()
            .apps
            .get_mut(&client_id.to_ascii_lowercase())
        {
            app.secrets.push((secret.to_owned(), expires));
        }
    }

    /// Uploads a certificate (Certificates & secrets > Certificates > Upload certificate). Refuses what is not a
    /// PEM certificate, as the admin center does.
    pub fn upload_app_certificate(&self, client_id: &str, pem: &str) -> Result<(), String> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| "not a PEM certificate".to_owned())?;
        let certificate = rustls_pki_types::CertificateDer::from(der.as_slice());
        webpki::EndEntityCert::try_from(&certificate)
            .map_err(|error| format!("not a certificate: {error:?}"))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
        match self
            .shared
            .state()
            .apps
            .get_mut(&client_id.to_ascii_lowercase())
        {
            Some(app) => {
                app.certificates.insert(thumbprint, der);
                Ok(())
            }
            None => Err("no such app".to_owned()),
        }
    }

    /// Grants application permissions with admin consent (API permissions > Office 365 Exchange Online).
    pub fn consent_app_roles(&self, client_id: &str, roles: &[&str]) {
        if let Some(app) = self
            .shared
            .state()
            .apps
            .get_mut(&client_id.to_ascii_lowercase())
        {
            app.roles
                .extend(roles.iter().map(|role| (*role).to_owned()));
        }
    }

    /// RBAC for Applications: `New-ManagementRoleAssignment -Role 'Application SMTP.SendAsApp'` with a scope that
    /// holds `mailbox` (sending only; no Entra permission needed).
    pub fn assign_app_smtp_role(&self, client_id: &str, mailbox: &str) {
        self.shared
            .state()
            .app_smtp_scope
            .insert((app_principal(client_id), mailbox.to_ascii_lowercase()));
    }

    /// Exchange's `New-ServicePrincipal -AppId <client id> -ObjectId <object_id>`.
    pub fn new_service_principal(&self, client_id: &str, object_id: &str) {
        if let Some(app) = self
            .shared
            .state()
            .apps
            .get_mut(&client_id.to_ascii_lowercase())
        {
            app.exchange_object_id = Some(object_id.to_owned());
        }
    }
}

/// `grant_type=client_credentials`: an app token for the `.default` scope, for a secret or a certificate assertion.
pub(super) fn client_credentials_token(
    shared: &Shared,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Response {
    let refuse = |status, error: &str, code, description: &str| {
        oauth_error(status, error, Some(code), description)
    };
    if ["common", "organizations", "consumers"].contains(&tenant.to_ascii_lowercase().as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        );
    }
    if tenant != SANDBOX_TENANT {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let client_id = params
        .get("client_id")
        .map(|id| id.to_ascii_lowercase())
        .unwrap_or_default();
    let scope = params.get("scope").map_or("", String::as_str);
    if !scope.ends_with("/.default") || scope.contains(' ') {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    let mut state = shared.state();
    let Some(app) = state.apps.get_mut(&client_id) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory 'Sandbox'."
            ),
        );
    };
    let now = SystemTime::now();
    if let Some(secret) = params.get("client_secret") {
        match app.secrets.iter().find(|(known, _)| known == secret) {
            None => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
            Some((_, expires)) if *expires <= now => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000222,
                    "The provided client secret keys are expired. Visit the Azure portal to create new keys for your app.",
                );
            }
            Some(_) => {}
        }
    } else if let Some(assertion) = params.get("client_assertion") {
        if params.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        let token_url = shared
            .identity_base
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .map(|url| url.to_string())
            .unwrap_or_default();
        if let Err((code, description)) = check_assertion(app, assertion, &client_id, &token_url) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                &description,
            );
        }
    } else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let roles = app.roles.clone();
    drop(state);
    let access_token = shared.random_token("sbx-app-");
    let lifetime = shared.options.access_token_lifetime;
    shared.state().access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            user: app_principal(&client_id),
            expires_at: now + lifetime,
        },
    );
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
        "roles": roles,
    }))
    .into_response()
}

/// Checks a client assertion as Entra does: a known certificate by `x5t#S256`, an RS256 signature by it, `aud` the
/// token endpoint, `iss` = `sub` = the client id, within its time, not used before.
fn check_assertion(
    app: &mut SandboxApp,
    assertion: &str,
    client_id: &str,
    token_url: &str,
) -> Result<(), (u32, String)> {
    let malformed = || {
        (
            50027,
            "Invalid JWT token. Token format not valid.".to_owned(),
        )
    };
    let mut pieces = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(malformed());
    };
    let decode = |piece: &str| -> Result<serde_json::Value, (u32, String)> {
        let bytes = URL_SAFE_NO_PAD.decode(piece).map_err(|_| malformed())?;
        serde_json::from_slice(&bytes).map_err(|_| malformed())
    };
    let header_json = decode(header)?;
    let claims_json = decode(claims)?;
    let thumbprint = header_json["x5t#S256"].as_str().unwrap_or_default();
    let Some(der) = app.certificates.get(thumbprint) else {
        return Err((
            700027,
            format!(
                "Client assertion failed signature validation. Key was not found: x5t#S256 '{thumbprint}'."
            ),
        ));
    };
    if header_json["alg"] != "RS256" {
        return Err((
            700027,
            "Client assertion failed signature validation.".to_owned(),
        ));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
    let certificate = rustls_pki_types::CertificateDer::from(der.as_slice());
    let verified = webpki::EndEntityCert::try_from(&certificate).is_ok_and(|certificate| {
        certificate
            .verify_signature(
                webpki::ring::RSA_PKCS1_2048_8192_SHA256,
                format!("{header}.{claims}").as_bytes(),
                &signature,
            )
            .is_ok()
    });
    if !verified {
        return Err((
            700027,
            "Client assertion failed signature validation.".to_owned(),
        ));
    }
    if claims_json["aud"] != token_url {
        return Err((
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer: it must be {token_url}."
            ),
        ));
    }
    if claims_json["iss"] != client_id || claims_json["sub"] != client_id {
        return Err((
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter."
                .to_owned(),
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let exp = claims_json["exp"].as_u64().unwrap_or(0);
    let nbf = claims_json["nbf"].as_u64().unwrap_or(0);
    if exp <= now || nbf > now + 300 {
        return Err((
            700024,
            "Client assertion is not within its valid time range.".to_owned(),
        ));
    }
    let jti = claims_json["jti"].as_str().unwrap_or_default().to_owned();
    if jti.is_empty() || app.used_assertions.contains(&jti) {
        return Err((
            700027,
            "Client assertion contains a jti that was already used.".to_owned(),
        ));
    }
    app.used_assertions.push(jti);
    Ok(())
}
