//! Fixtures for the integration tests: a test CA, a real Dovecot, a private GNOME Keyring, and log capture.

pub mod dovecot;
pub mod keyring;
pub mod logs;
pub mod proxy;
pub mod sink;
pub mod xvfb;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailconnect::auth::{SignInClient, TokenSet};
use mailconnect::config::{Account, Timeouts};
use mailconnect::sandbox::{Sandbox, SandboxOptions};
use mailconnect::tls::Trust;

pub use dovecot::Dovecot;
pub use keyring::PrivateKeyring;

/// A certificate authority made for one test, and a server certificate it signed.
pub struct TestCa {
    /// Holds the files below for as long as the CA lives.
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    /// A CA and a server certificate valid for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestCa {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mailconnect test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let server_key = rcgen::KeyPair::generate().expect("server key");
        let mut server_params = rcgen::CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("server params");
        server_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let ca_file = dir.path().join("ca.pem");
        let cert_file = dir.path().join("server.crt");
        let key_file = dir.path().join("server.key");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");
        std::fs::write(&cert_file, server_cert.pem()).expect("write certificate");
        std::fs::write(&key_file, server_key.serialize_pem()).expect("write key");
        TestCa {
            _dir: dir,
            ca_file,
            cert_file,
            key_file,
        }
    }

    pub fn trust(&self) -> Trust {
        Trust::new(Some(&self.ca_file)).expect("trust the test CA")
    }
}

/// Short timeouts so a hang fails a test in seconds, not minutes.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        dns: Duration::from_secs(5),
        connect: Duration::from_secs(5),
        tls: Duration::from_secs(5),
        reply: Duration::from_secs(5),
        http: Duration::from_secs(5),
        browser_sign_in: Duration::from_secs(10),
    }
}

/// A sandbox that approves device codes at the first poll and polls every second.
pub async fn quick_sandbox(options: SandboxOptions) -> Sandbox {
    Sandbox::start(SandboxOptions {
        device_poll_interval: Duration::from_secs(1),
        ..options
    })
    .await
    .expect("start the sandbox")
}

pub fn sign_in_client(account: &Account) -> SignInClient {
    sign_in_client_with(account, &test_timeouts())
}

/// A sign-in client for `account` with other timeouts than the tests' usual ones.
pub fn sign_in_client_with(account: &Account, timeouts: &Timeouts) -> SignInClient {
    SignInClient::new(
        &account.endpoints().expect("endpoints"),
        &account.client_id,
        &platform_trust(),
        timeouts,
    )
    .expect("sign-in client")
}

pub fn platform_trust() -> Trust {
    Trust::new(None).expect("platform roots")
}

/// Signs in to the sandbox with the device code flow, approving the code as `user` once it is shown.
pub async fn device_sign_in(sandbox: &Sandbox, account: &Account, user: &str) -> TokenSet {
    let client = sign_in_client(account);
    let prompt = client.start_device_code().await.expect("device code");
    assert!(sandbox.approve_device_code(&prompt.user_code, user));
    client
        .poll_device_code(&prompt, |_| {})
        .await
        .expect("tokens")
}

/// An HTTP client standing in for the user's browser; `follow_redirects` as a browser does, or not.
pub fn browser(follow_redirects: bool) -> reqwest::Client {
    let policy = if follow_redirects {
        reqwest::redirect::Policy::limited(5)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .use_preconfigured_tls((*platform_trust().client_config()).clone())
        .redirect(policy)
        .build()
        .expect("browser client")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Whether a program is on PATH; the test runner installs them all, so a missing one is a setup error.
pub fn require_program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
        .or_else(|| {
            ["/usr/sbin", "/usr/bin", "/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} is not installed; run tests/run.sh, which installs the test peers")
        })
}

/// The private address this computer has inside [`inside_a_private_network`].
pub const PRIVATE_ADDRESS: &str = "10.77.0.1";

/// Runs the calling test again inside a network namespace of its own in which this computer has the private
/// address [`PRIVATE_ADDRESS`] on 10.77.0.0/24 besides 127.0.0.1 (put on the namespace's own loopback interface:
/// the kernel here has no dummy interfaces), so a device "elsewhere on the network" can be played without touching
/// the machine's real network. A connection to that address comes from that address, not from 127.0.0.1. Returns `true` inside (run the test's
/// body), `false` outside once the run inside passed. `test` is the test's full name as nextest gives it.
pub fn inside_a_private_network(test: &str) -> bool {
    const INSIDE: &str = "MAILCONNECT_TEST_IN_PRIVATE_NETWORK";
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let program = std::env::current_exe().expect("the test binary");
    let script = format!(
        "set -e; ip link set lo up; ip addr add {PRIVATE_ADDRESS}/24 dev lo; \
         exec \"$0\" --exact {test} --nocapture"
    );
    let status = std::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .arg(&program)
        .env(INSIDE, "1")
        .status()
        .expect("unshare (util-linux) runs");
    assert!(
        status.success(),
        "the test inside its own network failed: {status}"
    );
    false
}
