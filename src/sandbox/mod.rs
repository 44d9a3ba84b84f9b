//! The built-in practice sandbox: a Microsoft-shaped identity server and small IMAP and SMTP responders on 127.0.0.1.
//!
//! It powers the offline demo and lets tests inject the failures real Microsoft 365 produces (any AADSTS error,
//! `slow_down`, a declined or expired code, SMTP 5.7.139, a hang). Tokens it issues are accepted by its own mail
//! responders and by a real Dovecot through its introspection endpoint.

mod app_only;
mod identity;
mod mail;

pub use app_only::{AppIds, app_principal};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use rand::distributions::Alphanumeric;
use url::Url;

use crate::config::{Account, CustomEndpoints, Provider, Security, ServerSettings};

/// The client id the sandbox expects; any other is answered with AADSTS700016, as Microsoft would.
pub const SANDBOX_CLIENT_ID: &str = "00000000-0000-4000-8000-00000000c0de";
/// The sandbox's tenant, in the place of a Microsoft tenant in every URL.
pub const SANDBOX_TENANT: &str = "sandbox";
/// The scopes the sandbox hands out tokens for.
pub const SANDBOX_SCOPES: [&str; 5] = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
    "openid",
    "email",
];

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Who signs in when nobody says otherwise (the demo's practice mailbox).
    pub default_user: String,
    /// Length of issued access and refresh tokens (Microsoft's are 1.5-2.5 KB; tests use 4 KB).
    pub token_length: usize,
    pub access_token_lifetime: Duration,
    pub device_code_lifetime: Duration,
    pub device_poll_interval: Duration,
    /// Approve every device code this long after it was issued, as if the user signed in (demo and tests).
    pub auto_approve_device_after: Option<Duration>,
    /// Answer `/authorize` with the redirect at once instead of showing the approval page.
    pub auto_approve_browser: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            default_user: "reception@smile-dental.example".to_owned(),
            token_length: 1800,
            access_token_lifetime: Duration::from_secs(3900),
            device_code_lifetime: Duration::from_secs(900),
            device_poll_interval: Duration::from_secs(5),
            auto_approve_device_after: None,
            auto_approve_browser: false,
        }
    }
}

/// A failure to produce on purpose. Identity faults apply to the next matching request only; mail faults stay until
/// [`Sandbox::clear_faults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next token request fails with this OAuth error and AADSTS code.
    TokenError {
        error: String,
        aadsts: u32,
        description: String,
    },
    /// The next device-code poll answers `slow_down`.
    DeviceSlowDown,
    /// The pending device code is declined by the user.
    DeviceDeclined,
    /// The pending device code expires now.
    DeviceExpired,
    /// The next token request gets a 503 with an HTML body.
    TokenServiceUnavailable,
    /// The next token request gets a 200 whose body is not JSON.
    MalformedTokenAnswer,
    /// The next token request never gets an answer.
    TokenHang,
    /// The next token request is answered normally, but only after this long (a slow network or identity server).
    TokenDelay(Duration),
    /// SMTP answers `AUTH` with this reply (for example 535 5.7.139 ...).
    SmtpAuthReply(String),
    /// SMTP answers `MAIL FROM` with this reply (for example 550 5.7.60 ... send as this sender).
    SmtpMailFromReply(String),
    /// SMTP answers `RCPT TO` for this recipient (any case) with this reply (for example 451 4.2.1 mailbox busy).
    SmtpRcptReply { recipient: String, reply: String },
    /// IMAP answers `AUTHENTICATE` with this tagged reply (for example `NO AUTHENTICATE failed.`).
    ImapAuthReply(String),
    /// The mail responders accept connections and then say nothing.
    MailHang,
}

/// How refresh tokens issued at a sign-in (device code or browser) begin; a renewal's begin otherwise.
pub const SIGN_IN_REFRESH_TOKEN_PREFIX: &str = "sbx-rt-signin-";

/// What the sandbox has seen, for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct SandboxStats {
    /// Token requests answered, by grant type (`refresh_token`, `authorization_code`, device code).
    pub token_requests: HashMap<String, u32>,
    /// When each device-code poll arrived.
    pub device_polls: Vec<Instant>,
    /// Messages accepted by the SMTP responder.
    pub messages_received: u32,
    /// The subject of each message accepted, in order.
    pub subjects: Vec<String>,
    /// Each `MAIL FROM` line accepted, parameters included.
    pub mail_from: Vec<String>,
    /// The `mkt` (language) asked for on device code requests and sign-in pages, in order.
    pub markets: Vec<String>,
}

impl SandboxStats {
    pub fn refreshes(&self) -> u32 {
        self.token_requests
            .get("refresh_token")
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DeviceStatus {
    Pending,
    Approved(String),
    Declined,
}

#[derive(Debug, Clone)]
struct DeviceGrant {
    user_code: String,
    issued: Instant,
    status: DeviceStatus,
    last_poll: Option<Instant>,
    interval: Duration,
}

#[derive(Debug, Clone)]
struct AuthorizationGrant {
    redirect_uri: String,
    code_challenge: String,
    user: String,
    redeemed: bool,
}

#[derive(Debug, Clone)]
struct PendingBrowserRequest {
    redirect_uri: String,
    state: String,
    code_challenge: String,
    user: String,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    user: String,
    expires_at: SystemTime,
}

#[derive(Debug, Default)]
struct SandboxState {
    device_grants: HashMap<String, DeviceGrant>,
    authorization_grants: HashMap<String, AuthorizationGrant>,
    browser_requests: HashMap<String, PendingBrowserRequest>,
    access_tokens: HashMap<String, AccessGrant>,
    /// Refresh token -> user. Rotated tokens stay valid, as Microsoft's do until they expire.
    refresh_tokens: HashMap<String, String>,
    faults: Vec<Fault>,
    stats: SandboxStats,
    /// (who, mailbox) pairs: `who` may open `mailbox` (Exchange's Full Access).
    full_access: std::collections::HashSet<(String, String)>,
    /// (who, address) pairs: `who` may send as `address` (Exchange's Send As).
    send_as: std::collections::HashSet<(String, String)>,
    /// Registered apps by client id (lower case).
    apps: HashMap<String, app_only::SandboxApp>,
    /// (app principal, mailbox) pairs in the scope of an 'Application SMTP.SendAsApp' role assignment.
    app_smtp_scope: std::collections::HashSet<(String, String)>,
}

#[derive(Debug)]
struct Shared {
    options: SandboxOptions,
    state: Mutex<SandboxState>,
    identity_base: Url,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, SandboxState> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters to a sandbox.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the first queued fault that `matches`, if any.
    fn take_fault(&self, matches: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut state = self.state();
        let index = state.faults.iter().position(matches)?;
        Some(state.faults.remove(index))
    }

    fn has_fault(&self, matches: impl Fn(&Fault) -> bool) -> Option<Fault> {
        self.state()
            .faults
            .iter()
            .find(|fault| matches(fault))
            .cloned()
    }

    fn random_token(&self, prefix: &str) -> String {
        let length = self.options.token_length.max(prefix.len() + 16);
        let random: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(length - prefix.len())
            .map(char::from)
            .collect();
        format!("{prefix}{random}")
    }

    /// Checks an access token for `user`: what both the mail responders and the introspection endpoint ask.
    /// Whether `who` may open `mailbox`: their own, or with Full Access.
    fn may_open(&self, who: &str, mailbox: &str) -> bool {
        who.eq_ignore_ascii_case(mailbox)
            || self
                .state()
                .full_access
                .contains(&(who.to_ascii_lowercase(), mailbox.to_ascii_lowercase()))
    }

    /// Whether `who` may send as `address`: their own, or with Send As.
    fn may_send_as(&self, who: &str, address: &str) -> bool {
        who.eq_ignore_ascii_case(address)
            || self
                .state()
                .send_as
                .contains(&(who.to_ascii_lowercase(), address.to_ascii_lowercase()))
    }

    fn access_token_user(&self, token: &str) -> Option<String> {
        let state = self.state();
        let grant = state.access_tokens.get(token)?;
        (grant.expires_at > SystemTime::now()).then(|| grant.user.clone())
    }
}

/// A running sandbox. Dropping it stops every server.
pub struct Sandbox {
    shared: Arc<Shared>,
    imap_address: SocketAddr,
    smtp_address: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("identity", &self.shared.identity_base.as_str())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts the identity server and the IMAP and SMTP responders on ephemeral ports of 127.0.0.1.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let identity_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let imap_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let smtp_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let identity_base = Url::parse(&format!("http://{}/", identity_listener.local_addr()?))
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        let shared = Arc::new(Shared {
            options,
            state: Mutex::new(SandboxState::default()),
            identity_base,
        });
        let imap_address = imap_listener.local_addr()?;
        let smtp_address = smtp_listener.local_addr()?;
        let tasks = vec![
            tokio::spawn(identity::serve(identity_listener, shared.clone())),
            tokio::spawn(mail::serve_imap(imap_listener, shared.clone())),
            tokio::spawn(mail::serve_smtp(smtp_listener, shared.clone())),
        ];
        Ok(Sandbox {
            shared,
            imap_address,
            smtp_address,
            tasks,
        })
    }

    fn identity_url(&self, path: &str) -> Url {
        self.shared
            .identity_base
            .join(path)
            .expect("sandbox paths are valid URL paths")
    }

    /// The v2.0 endpoints, in Microsoft's URL shape.
    pub fn custom_endpoints(&self) -> CustomEndpoints {
        CustomEndpoints {
            authorize_url: self.identity_url(&format!("{SANDBOX_TENANT}/oauth2/v2.0/authorize")),
            token_url: self.identity_url(&format!("{SANDBOX_TENANT}/oauth2/v2.0/token")),
            device_code_url: self.identity_url(&format!("{SANDBOX_TENANT}/oauth2/v2.0/devicecode")),
            scopes: SANDBOX_SCOPES
                .iter()
                .map(|scope| (*scope).to_owned())
                .collect(),
        }
    }

    /// Where Dovecot (`introspection_mode = post`) asks whether a token is valid.
    pub fn introspection_url(&self) -> Url {
        self.identity_url("introspect")
    }

    /// The page a user opens to enter a device code.
    pub fn device_login_url(&self) -> Url {
        self.identity_url("devicelogin")
    }

    pub fn imap_server(&self) -> ServerSettings {
        ServerSettings {
            host: "127.0.0.1".to_owned(),
            port: self.imap_address.port(),
            security: Security::PlainLoopbackOnly,
        }
    }

    pub fn smtp_server(&self) -> ServerSettings {
        ServerSettings {
            host: "127.0.0.1".to_owned(),
            port: self.smtp_address.port(),
            security: Security::PlainLoopbackOnly,
        }
    }

    /// A ready-made account for `mailbox` that signs in here and checks the sandbox's own mail responders.
    pub fn account(&self, mailbox: &str) -> Account {
        Account {
            mailbox: mailbox.to_owned(),
            sign_in_account: None,
            provider: Provider::Custom,
            tenant: SANDBOX_TENANT.to_owned(),
            client_id: SANDBOX_CLIENT_ID.to_owned(),
            imap: self.imap_server(),
            smtp: self.smtp_server(),
            custom_endpoints: Some(self.custom_endpoints()),
            group: None,
            service_account: None,
            app_only: false,
        }
    }

    /// Approves the device code `user_code` as `user`, as if they signed in on the verification page.
    pub fn approve_device_code(&self, user_code: &str, user: &str) -> bool {
        let mut state = self.shared.state();
        let Some(grant) = state
            .device_grants
            .values_mut()
            .find(|grant| grant.user_code.eq_ignore_ascii_case(user_code.trim()))
        else {
            return false;
        };
        grant.status = DeviceStatus::Approved(user.to_owned());
        true
    }

    /// Queues a fault (see [`Fault`] for which ones persist).
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    pub fn stats(&self) -> SandboxStats {
        self.shared.state().stats.clone()
    }

    /// Gives `who` Full Access to `mailbox` (Add-MailboxPermission -AccessRights FullAccess).
    pub fn grant_full_access(&self, who: &str, mailbox: &str) {
        self.shared
            .state()
            .full_access
            .insert((who.to_ascii_lowercase(), mailbox.to_ascii_lowercase()));
    }

    /// Lets `who` send as `address` (Add-RecipientPermission -AccessRights SendAs).
    pub fn grant_send_as(&self, who: &str, address: &str) {
        self.shared
            .state()
            .send_as
            .insert((who.to_ascii_lowercase(), address.to_ascii_lowercase()));
    }

    /// Revokes every refresh token and access token, as "revoke sessions" in the admin center does.
    pub fn revoke_all(&self) {
        let mut state = self.shared.state();
        state.refresh_tokens.clear();
        state.access_tokens.clear();
    }

    /// Revokes every access token but keeps refresh tokens working, as Microsoft does when it ends access early
    /// (a password change, a policy): the next check is refused until the token is renewed.
    pub fn revoke_access_tokens(&self) {
        self.shared.state().access_tokens.clear();
    }

    /// Issues an access token for `user` as if they had signed in, for benchmarks that need a thousand signed-in
    /// mailboxes without a thousand sign-ins.
    pub fn mint_access_token(&self, user: &str) -> String {
        let token = self.shared.random_token("sbx-at-");
        self.shared.state().access_tokens.insert(
            token.clone(),
            AccessGrant {
                user: user.to_owned(),
                expires_at: SystemTime::now() + self.shared.options.access_token_lifetime,
            },
        );
        token
    }

    /// Whether `token` is a live access token for `user` (the introspection answer).
    pub fn is_valid_access_token(&self, token: &str, user: &str) -> bool {
        self.shared
            .access_token_user(token)
            .is_some_and(|owner| owner.eq_ignore_ascii_case(user))
    }
}
