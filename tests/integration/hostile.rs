//! Hostile and odd servers on 127.0.0.1, written here: endless lines, huge literals and bodies, odd numbers and
//! fields from an identity server. Each answer is refused or accepted as it should be, within its stage's time and
//! with the process's peak memory under 100 MB (each test is its own process under nextest).

use std::time::{Duration, Instant};

use mailconnect::auth::SignInError;
use mailconnect::config::{Account, CustomEndpoints, Security, ServerSettings};
use mailconnect::verify::{self, CheckContext, FailureKind, MailCredentials, Verdict};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{platform_trust, sign_in_client, test_timeouts};

const PEAK_LIMIT_KIB: u64 = 100 * 1024;

/// The process's peak resident memory so far.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A server on 127.0.0.1 that greets every connection with `opening`, then sends `filler` until the client hangs
/// up (or `limit` bytes went out).
async fn flooding_server(opening: &'static [u8], filler: u8, limit: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if socket.write_all(opening).await.is_err() {
                    return;
                }
                let chunk = vec![filler; 64 * 1024];
                let mut sent = 0;
                while sent < limit && socket.write_all(&chunk).await.is_ok() {
                    sent += chunk.len();
                }
            });
        }
    });
    port
}

fn loopback(port: u16) -> ServerSettings {
    ServerSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::PlainLoopbackOnly,
    }
}

fn credentials() -> MailCredentials {
    MailCredentials::for_account(&account_at(1), SecretString::from("token".to_owned()))
}

fn failure_of(verdict: &Verdict) -> &verify::CheckFailure {
    match verdict {
        Verdict::Failed(failure) => failure,
        Verdict::Passed { .. } => panic!("a hostile server passed the check"),
    }
}

#[test]
fn an_smtp_greeting_of_gigabytes_without_a_newline_is_refused_with_bounded_memory() {
    runtime().block_on(async {
        let port = flooding_server(b"220", b'A', 3 << 30).await;
        let context = CheckContext::new(platform_trust(), test_timeouts());
        let started = Instant::now();
        let report = verify::check_smtp(&loopback(port), &credentials(), &context).await;
        let failure = failure_of(&report.verdict);
        assert_eq!(failure.kind, FailureKind::Protocol, "{failure:?}");
        assert!(
            failure.detail.contains("far too long"),
            "{}",
            failure.detail
        );
        assert!(started.elapsed() < test_timeouts().reply);
    });
    assert!(
        peak_rss_kib() < PEAK_LIMIT_KIB,
        "peak {} KiB",
        peak_rss_kib()
    );
}

#[test]
fn an_imap_greeting_with_a_huge_literal_stops_at_a_megabyte_within_the_stage_time() {
    runtime().block_on(async {
        // A real literal (announced at the end of a data line): the parser would set aside room for it.
        let port = flooding_server(b"* 1 FETCH (BODY[] {536870912}\r\n", b'x', 600 << 20).await;
        let context = CheckContext::new(platform_trust(), test_timeouts());
        let started = Instant::now();
        let report = verify::check_imap(&loopback(port), &credentials(), &context).await;
        let failure = failure_of(&report.verdict);
        assert_eq!(failure.kind, FailureKind::Protocol, "{failure:?}");
        assert!(
            failure.detail.contains("more than 1 MiB"),
            "{}",
            failure.detail
        );
        assert!(
            failure.detail.len() < 500,
            "the error carries the server's bytes"
        );
        assert!(
            started.elapsed() < test_timeouts().reply,
            "took {:?}",
            started.elapsed()
        );
    });
    assert!(
        peak_rss_kib() < PEAK_LIMIT_KIB,
        "peak {} KiB",
        peak_rss_kib()
    );
}

#[test]
fn a_plain_text_flood_after_the_greeting_stops_at_a_megabyte() {
    runtime().block_on(async {
        let port = flooding_server(b"* OK {536870912}\r\n", b'x', 600 << 20).await;
        let context = CheckContext::new(platform_trust(), test_timeouts());
        let report = verify::check_imap(&loopback(port), &credentials(), &context).await;
        let failure = failure_of(&report.verdict);
        assert_eq!(failure.kind, FailureKind::Protocol, "{failure:?}");
    });
    assert!(
        peak_rss_kib() < PEAK_LIMIT_KIB,
        "peak {} KiB",
        peak_rss_kib()
    );
}

#[test]
fn an_imap_greeting_that_is_not_ok_or_preauth_is_refused_with_clean_words() {
    runtime().block_on(async {
        let port = flooding_server(b"* NO \x1b[31mgo away\x1b[0m\r\n", b'\n', 0).await;
        let context = CheckContext::new(platform_trust(), test_timeouts());
        let report = verify::check_imap(&loopback(port), &credentials(), &context).await;
        let failure = failure_of(&report.verdict);
        assert_eq!(failure.stage, verify::Stage::Greeting);
        let reply = failure.server_reply.as_deref().unwrap_or_default();
        assert!(reply.contains("go away"), "{reply}");
        assert!(
            !reply.contains('\x1b'),
            "escape sequences reach the screen: {reply:?}"
        );
    });
}

/// A one-route HTTP server on 127.0.0.1 answering every request with `answer` (status line, headers, body).
async fn identity_server(answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = socket.write_all(&answer(&path)).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

fn json_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn account_at(port: u16) -> Account {
    let base = |path: &str| url::Url::parse(&format!("http://127.0.0.1:{port}/{path}")).unwrap();
    Account {
        custom_endpoints: Some(CustomEndpoints {
            authorize_url: base("authorize"),
            token_url: base("token"),
            device_code_url: base("devicecode"),
            scopes: vec!["offline_access".into()],
        }),
        ..Account::from_preset(
            "reception@smile-dental.example",
            &mailconnect::config::Preset {
                client_id: Some("00000000-0000-4000-8000-000000000001".into()),
                ..mailconnect::config::Preset::for_provider(mailconnect::config::Provider::Custom)
            },
        )
    }
}

async fn refresh_against(answer: &'static str) -> Result<mailconnect::auth::TokenSet, SignInError> {
    let port = identity_server(move |_| json_answer(answer)).await;
    sign_in_client(&account_at(port))
        .refresh(&SecretString::from("refresh".to_owned()))
        .await
}

#[test]
fn numbers_as_strings_are_accepted_and_lifetimes_are_clamped() {
    runtime().block_on(async {
        let tokens = refresh_against(
            r#"{"access_token":"at-1","refresh_token":"rt-1","token_type":"Bearer","expires_in":"3599"}"#,
        )
        .await
        .expect("a numeric string is a number");
        let left = tokens.expires_at.duration_since(std::time::SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3599));

        for huge in ["18446744073709551615", "10000000000000"] {
            let body: &'static str = Box::leak(
                format!(r#"{{"access_token":"at-2","token_type":"Bearer","expires_in":{huge}}}"#)
                    .into_boxed_str(),
            );
            let tokens = refresh_against(body).await.expect("clamped, not a crash");
            let left = tokens.expires_at.duration_since(std::time::SystemTime::now()).unwrap();
            assert!(left <= Duration::from_secs(24 * 3600), "{huge}: {left:?}");
        }
    });
}

#[test]
fn empty_or_line_breaking_access_tokens_are_malformed_answers() {
    runtime().block_on(async {
        for body in [
            r#"{"access_token":"","token_type":"Bearer","expires_in":3600}"#,
            r#"{"access_token":"abc\ndef","token_type":"Bearer","expires_in":3600}"#,
            r#"{"access_token":"abc\u0000","token_type":"Bearer","expires_in":3600}"#,
        ] {
            let error = refresh_against(body).await.expect_err(body);
            assert!(
                matches!(error, SignInError::Malformed { .. }),
                "{body}: {error:?}"
            );
        }
    });
}

#[test]
fn a_gigabyte_identity_answer_is_refused_with_bounded_memory() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    // No Content-Length: the body simply goes on.
                    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"access_token\":\"";
                    if socket.write_all(head).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'a'; 64 * 1024];
                    for _ in 0..(1 << 14) {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let error = sign_in_client(&account_at(port))
            .refresh(&SecretString::from("refresh".to_owned()))
            .await
            .expect_err("too large");
        assert!(error.to_string().contains("larger than"), "{error}");
    });
    assert!(
        peak_rss_kib() < PEAK_LIMIT_KIB,
        "peak {} KiB",
        peak_rss_kib()
    );
}

#[test]
fn a_device_code_with_interval_zero_polls_once_a_second_and_stops_at_its_end() {
    runtime().block_on(async {
        let polls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = polls.clone();
        let port = identity_server(move |path| {
            if path.ends_with("devicecode") {
                json_answer(
                    r#"{"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"http://127.0.0.1/devicelogin","expires_in":"5","interval":0}"#,
                )
            } else {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = r#"{"error":"authorization_pending","error_description":"AADSTS70016: pending"}"#;
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
        })
        .await;
        let client = sign_in_client(&account_at(port));
        let prompt = client.start_device_code().await.expect("a prompt");
        assert_eq!(prompt.interval, Duration::from_secs(1), "a floor of one second");
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            client.poll_device_code(&prompt, |_| {}),
        )
        .await
        .expect("polling stops at the code's end");
        assert!(matches!(result, Err(SignInError::DeviceCodeExpired)), "{result:?}");
        let elapsed = started.elapsed();
        let polled = polls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
        assert!(polled <= 11, "{polled} polls in {elapsed:?}");
    });
}

#[test]
fn a_device_code_page_that_is_not_a_web_address_is_refused() {
    runtime().block_on(async {
        for page in ["file:///etc/passwd", "javascript:alert(1)", "http://login.example/devicelogin"] {
            let body: &'static str = Box::leak(
                format!(
                    r#"{{"device_code":"dc","user_code":"ABCD","verification_uri":"{page}","expires_in":900,"interval":5}}"#
                )
                .into_boxed_str(),
            );
            let port = identity_server(move |_| json_answer(body)).await;
            let error = sign_in_client(&account_at(port))
                .start_device_code()
                .await
                .expect_err(page);
            assert!(matches!(error, SignInError::Malformed { .. }), "{page}: {error:?}");
        }
    });
}

#[test]
fn a_proxy_for_the_internet_never_sees_a_request_to_this_computer() {
    // A "proxy" that records whether anyone connected.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_address = format!("http://{}", proxy.local_addr().unwrap());
    // SAFETY: one test per process (nextest), before the runtime's threads start.
    unsafe {
        std::env::set_var("HTTP_PROXY", &proxy_address);
        std::env::set_var("http_proxy", &proxy_address);
        std::env::set_var("ALL_PROXY", &proxy_address);
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    runtime().block_on(async {
        let tokens = refresh_against(
            r#"{"access_token":"at-1","refresh_token":"rt-1","token_type":"Bearer","expires_in":3600}"#,
        )
        .await
        .expect("straight to the identity server on this computer");
        assert_eq!(tokens.access_token.expose_secret(), "at-1");
    });
    assert!(
        proxy.accept().is_err(),
        "the refresh token went through the proxy"
    );
}
