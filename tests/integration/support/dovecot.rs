//! A real Dovecot 2.3 for one test: IMAP over implicit TLS and submission with STARTTLS, XOAUTH2 validated by
//! token introspection against the sandbox's identity server.

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailconnect::config::{Security, ServerSettings};

use super::sink::SmtpSink;
use super::{TestCa, free_port, require_program, wait_until};

pub struct Dovecot {
    process: Child,
    pub dir: tempfile::TempDir,
    pub imaps_port: u16,
    /// Plain IMAP that must be upgraded with STARTTLS (`ssl = required` refuses login before it).
    pub imap_starttls_port: u16,
    pub submission_port: u16,
    /// Where submission relays accepted messages.
    pub relay: SmtpSink,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; kill would leave login processes behind.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.id().to_string())
            .status();
        if !wait_until(Duration::from_secs(3), || {
            matches!(self.process.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }
}

impl Dovecot {
    /// Starts Dovecot with the CA's server certificate, asking `introspection_url` about every token.
    pub fn start(ca: &TestCa, introspection_url: &url::Url) -> Dovecot {
        let binary = require_program("dovecot");
        let dir = tempfile::tempdir().expect("temporary directory");
        // Mail processes run as an unprivileged user, which must be able to reach the mail homes.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let (mail_uid, mail_gid, service_users) = if is_root() {
            (65534, 65534, String::new())
        } else {
            let user = std::env::var("USER").unwrap_or_else(|_| "nobody".to_owned());
            let uid = unsafe_free_uid();
            (
                uid.0,
                uid.1,
                format!(
                    "default_internal_user = {user}\ndefault_internal_group = {user}\ndefault_login_user = {user}\n"
                ),
            )
        };
        let chroot = if is_root() { "" } else { "  chroot =\n" };
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("mail homes");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777))
            .expect("chmod homes");
        let imaps_port = free_port();
        let imap_starttls_port = free_port();
        let submission_port = free_port();
        let oauth2_file = dir.path().join("oauth2.conf.ext");
        std::fs::write(
            &oauth2_file,
            format!(
                "introspection_mode = post\nintrospection_url = {introspection_url}\nusername_attribute = username\n\
                 active_attribute = active\nactive_value = true\n"
            ),
        )
        .expect("oauth2 config");
        let relay = SmtpSink::start();
        let base_dir = dir.path().join("run");
        let config = format!(
            r#"base_dir = {base}
state_dir = {state}
log_path = {log}
protocols = imap submission
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
auth_mechanisms = xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
default_process_limit = 1000
default_client_limit = 4000
{service_users}passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth2}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={home}/%Lu
}}
mail_location = maildir:~/Maildir
hostname = localhost
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
submission_relay_trusted = yes
service imap-login {{
  inet_listener imap {{
    port = {imap_starttls_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
  # Many logins at once (the bulk benchmark): a few long-lived login processes instead of one per connection.
  service_count = 0
  process_min_avail = 2
{chroot}}}
service submission-login {{
  inet_listener submission {{
    port = {submission_port}
  }}
  service_count = 0
  process_min_avail = 2
{chroot}}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot}}}
"#,
            base = base_dir.display(),
            state = dir.path().join("state").display(),
            log = dir.path().join("dovecot.log").display(),
            cert = ca.cert_file.display(),
            key = ca.key_file.display(),
            oauth2 = oauth2_file.display(),
            home = home.display(),
            relay_port = relay.port,
        );
        let config_file = dir.path().join("dovecot.conf");
        std::fs::write(&config_file, config).expect("dovecot config");
        let process = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dovecot");
        let dovecot = Dovecot {
            process,
            dir,
            imaps_port,
            imap_starttls_port,
            submission_port,
            relay,
        };
        let listening = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", imaps_port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", submission_port)).is_ok()
        });
        assert!(
            listening,
            "dovecot did not start listening; its log:\n{}",
            dovecot.log()
        );
        dovecot
    }

    /// Waits up to five seconds for the relay to have received `count` messages.
    pub fn relayed(&self, count: u32) -> bool {
        wait_until(Duration::from_secs(5), || {
            self.relay
                .messages
                .load(std::sync::atomic::Ordering::SeqCst)
                == count
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// IMAP over implicit TLS, reached by `host` (which the certificate may or may not name).
    pub fn imap(&self, host: &str) -> ServerSettings {
        ServerSettings {
            host: host.to_owned(),
            port: self.imaps_port,
            security: Security::ImplicitTls,
        }
    }

    /// Submission with STARTTLS.
    pub fn smtp(&self, host: &str) -> ServerSettings {
        ServerSettings {
            host: host.to_owned(),
            port: self.submission_port,
            security: Security::StartTls,
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// The current user's uid and gid, for a Dovecot that cannot switch users.
fn unsafe_free_uid() -> (u32, u32) {
    let read = |flag: &str| {
        Command::new("id")
            .arg(flag)
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(1000)
    };
    (read("-u"), read("-g"))
}
