//! Sign-in flows against the sandbox identity server: device code, browser with PKCE, refresh, and failures.

use std::time::Duration;

use mailconnect::auth::{NetworkStage, SignInClient, SignInError, SignInOptions};
use mailconnect::config::Timeouts;
use mailconnect::sandbox::{Fault, SandboxOptions};
use secrecy::ExposeSecret;

use crate::support::{
    browser, device_sign_in, platform_trust, quick_sandbox, sign_in_client, sign_in_client_with,
    test_timeouts,
};

const MAILBOX: &str = "reception@smile-dental.example";

#[tokio::test]
async fn device_code_sign_in_returns_tokens_and_names_the_account() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let client = sign_in_client(&account);
    let prompt = client.start_device_code().await.expect("device code");
    assert_eq!(prompt.user_code.len(), 9);
    assert_eq!(prompt.verification_uri, sandbox.device_login_url());
    assert!(
        prompt
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(&prompt.user_code)
    );
    assert!(prompt.remaining() > Duration::from_secs(890));
    assert!(sandbox.approve_device_code(&prompt.user_code, MAILBOX));
    let tokens = client
        .poll_device_code(&prompt, |_| {})
        .await
        .expect("tokens");
    assert!(sandbox.is_valid_access_token(tokens.access_token.expose_secret(), MAILBOX));
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        tokens
            .account
            .as_ref()
            .map(|account| account.username.as_str()),
        Some(MAILBOX)
    );
    tokens
        .ensure_account("Reception@Smile-Dental.example")
        .expect("same account, other case");
}

#[tokio::test]
async fn device_code_polling_honours_the_interval_and_slow_down() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    let prompt = client.start_device_code().await.expect("device code");
    sandbox.inject(Fault::DeviceSlowDown);
    let mut slow_downs = Vec::new();
    let user_code = prompt.user_code.clone();
    let poll = client.poll_device_code(&prompt, |event| {
        if let mailconnect::auth::DevicePollEvent::SlowDown { interval } = event {
            slow_downs.push(interval);
        }
    });
    let approve_later = async {
        tokio::time::sleep(Duration::from_millis(7500)).await;
        sandbox.approve_device_code(&user_code, MAILBOX);
    };
    let (tokens, ()) = tokio::join!(poll, approve_later);
    tokens.expect("tokens after slow_down");
    assert_eq!(slow_downs, vec![Duration::from_secs(6)]);
    let polls = sandbox.stats().device_polls;
    let gaps: Vec<Duration> = polls.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(5900),
        "after slow_down the client waited only {:?}",
        gaps[0]
    );
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_millis(950)),
        "polled faster than the interval: {gaps:?}"
    );
}

#[tokio::test]
async fn declined_and_expired_device_codes_stop_polling_with_their_advice() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));

    let prompt = client.start_device_code().await.expect("device code");
    sandbox.inject(Fault::DeviceDeclined);
    let declined = client
        .poll_device_code(&prompt, |_| {})
        .await
        .expect_err("declined");
    assert_eq!(declined.code(), "authorization_declined");
    assert!(
        mailconnect::advice::for_sign_in(&declined)
            .cause
            .contains("declined")
    );
    assert!(!declined.is_transient());

    let prompt = client.start_device_code().await.expect("device code");
    sandbox.inject(Fault::DeviceExpired);
    let expired = client
        .poll_device_code(&prompt, |_| {})
        .await
        .expect_err("expired");
    assert_eq!(expired.code(), "AADSTS70019");
    assert!(
        mailconnect::advice::for_sign_in(&expired)
            .steps_for(mailconnect::advice::Surface::Window, None)[0]
            .contains("Sign in with a code")
    );
}

#[tokio::test]
async fn dropping_the_poll_cancels_it() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    let prompt = client.start_device_code().await.expect("device code");
    let polling = tokio::spawn({
        let client = client.clone();
        let prompt = prompt.clone();
        async move { client.poll_device_code(&prompt, |_| {}).await }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    polling.abort();
    let polls_at_cancel = sandbox.stats().device_polls.len();
    assert!(polls_at_cancel >= 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        sandbox.stats().device_polls.len(),
        polls_at_cancel,
        "polling went on after cancel"
    );
}

#[tokio::test]
async fn microsoft_errors_keep_code_and_ids_and_map_to_advice() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let client = sign_in_client(&account);
    sandbox.inject(Fault::TokenError {
        error: "invalid_grant".into(),
        aadsts: 50076,
        description: "Due to a configuration change made by your administrator, you must use multi-factor authentication.".into(),
    });
    let error = client
        .refresh(tokens.refresh_token.as_ref().expect("refresh token"))
        .await
        .expect_err("MFA required");
    assert_eq!(error.code(), "AADSTS50076");
    assert!(error.correlation_id().is_some_and(|id| id.len() == 36));
    assert!(error.trace_id().is_some());
    assert!(
        mailconnect::advice::for_sign_in(&error)
            .cause
            .contains("multi-factor")
    );
    assert!(error.requires_new_sign_in());

    let mut wrong_app = account.clone();
    wrong_app.client_id = "11111111-2222-3333-4444-555555555555".into();
    let error = sign_in_client(&wrong_app)
        .start_device_code()
        .await
        .expect_err("unknown app");
    assert_eq!(error.code(), "AADSTS700016");
    assert!(
        mailconnect::advice::for_sign_in(&error)
            .cause
            .contains("client) ID")
    );
}

#[tokio::test]
async fn unusable_answers_are_classified_and_never_discard_tokens() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let tokens = device_sign_in(&sandbox, &account, MAILBOX).await;
    let refresh_token = tokens.refresh_token.expect("refresh token");
    let timeouts = Timeouts {
        http: Duration::from_secs(2),
        ..test_timeouts()
    };
    let client = sign_in_client_with(&account, &timeouts);

    sandbox.inject(Fault::TokenServiceUnavailable);
    let unavailable = client.refresh(&refresh_token).await.expect_err("503");
    assert!(
        matches!(unavailable, SignInError::Unavailable { status: 503, .. }),
        "{unavailable:?}"
    );
    assert!(unavailable.is_transient() && !unavailable.requires_new_sign_in());

    sandbox.inject(Fault::MalformedTokenAnswer);
    let malformed = client.refresh(&refresh_token).await.expect_err("not JSON");
    assert!(
        matches!(malformed, SignInError::Malformed { .. }),
        "{malformed:?}"
    );
    assert!(!malformed.requires_new_sign_in());

    sandbox.inject(Fault::TokenHang);
    let started = std::time::Instant::now();
    let hung = client.refresh(&refresh_token).await.expect_err("hang");
    assert!(
        matches!(
            hung,
            SignInError::Network {
                stage: NetworkStage::Timeout,
                ..
            }
        ),
        "{hung:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(hung.is_transient());

    // After all that, the refresh token still works.
    client
        .refresh(&refresh_token)
        .await
        .expect("refresh after transient failures");
}

#[tokio::test]
async fn refresh_rotates_and_a_revoked_grant_asks_for_a_new_sign_in() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let first = device_sign_in(&sandbox, &account, MAILBOX).await;
    let client = sign_in_client(&account);
    let second = client
        .refresh(first.refresh_token.as_ref().unwrap())
        .await
        .expect("refresh");
    assert_ne!(
        second.refresh_token.as_ref().unwrap().expose_secret(),
        first.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert!(sandbox.is_valid_access_token(second.access_token.expose_secret(), MAILBOX));
    assert_eq!(sandbox.stats().refreshes(), 1);

    sandbox.revoke_all();
    let revoked = client
        .refresh(second.refresh_token.as_ref().unwrap())
        .await
        .expect_err("revoked");
    assert_eq!(revoked.code(), "AADSTS50173");
    assert!(revoked.requires_new_sign_in());
    assert!(
        mailconnect::advice::for_sign_in(&revoked)
            .steps_for(mailconnect::advice::Surface::Window, None)[0]
            .contains("Sign in again")
    );
}

/// Plays the browser: follows the authorization URL's redirects to the loopback listener.
async fn browse(url: &url::Url) -> reqwest::Response {
    browser(true)
        .get(url.as_str())
        .send()
        .await
        .expect("browser request")
}

#[tokio::test]
async fn browser_sign_in_with_pkce_lands_on_the_loopback_page() {
    let sandbox = quick_sandbox(SandboxOptions {
        auto_approve_browser: true,
        ..SandboxOptions::default()
    })
    .await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    let options = SignInOptions {
        login_hint: Some(MAILBOX.into()),
        select_account: true,
        ..SignInOptions::default()
    };
    let sign_in = client
        .start_browser_sign_in(&options)
        .await
        .expect("listener");
    let query: std::collections::HashMap<_, _> =
        sign_in.authorize_url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(
        query.get("prompt").map(String::as_str),
        Some("select_account")
    );
    assert_eq!(query.get("login_hint").map(String::as_str), Some(MAILBOX));
    assert!(sign_in.redirect_uri().starts_with("http://localhost:"));
    let port = sign_in
        .redirect_uri()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();

    // A stray request (the browser's favicon) is ignored.
    let favicon = browser(true)
        .get(format!("http://127.0.0.1:{port}/favicon.ico"))
        .send()
        .await
        .expect("favicon request");
    assert_eq!(favicon.status(), 404);

    let landing = browse(&sign_in.authorize_url).await;
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains("You can close this tab")
    );
    let tokens = sign_in.finish(&client).await.expect("tokens");
    assert!(sandbox.is_valid_access_token(tokens.access_token.expose_secret(), MAILBOX));
    assert_eq!(
        sandbox.stats().token_requests.get("authorization_code"),
        Some(&1)
    );
}

#[tokio::test]
async fn answers_with_another_state_are_ignored_and_the_real_one_still_signs_in() {
    let sandbox = quick_sandbox(SandboxOptions {
        auto_approve_browser: true,
        ..SandboxOptions::default()
    })
    .await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    let no_redirects = browser(false);
    let answer = no_redirects
        .get(sign_in.authorize_url.as_str())
        .send()
        .await
        .expect("authorize");
    let real = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let with_state = |pairs: &[(&str, &str)]| {
        let mut url = real.clone();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    };
    let code = real
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    // Another local program tries a forged code, then a made-up Microsoft error, then an error with no state.
    let made_up = "AADSTS65004: your licence expired, call 0800 000 000";
    for forged in [
        with_state(&[("code", &code), ("state", "forged")]),
        with_state(&[
            ("error", "access_denied"),
            ("error_description", made_up),
            ("state", "forged"),
        ]),
        with_state(&[("error", "access_denied"), ("error_description", made_up)]),
    ] {
        let landing = no_redirects
            .get(forged.as_str())
            .send()
            .await
            .expect("landing");
        assert_eq!(landing.status(), 400);
        assert!(
            landing
                .text()
                .await
                .unwrap()
                .contains("not part of your sign-in")
        );
    }
    // The real redirect still lands and signs in.
    let landing = no_redirects
        .get(real.as_str())
        .send()
        .await
        .expect("landing");
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains("You can close this tab")
    );
    let tokens = sign_in
        .finish(&client)
        .await
        .expect("the real answer signs in");
    assert!(sandbox.is_valid_access_token(tokens.access_token.expose_secret(), MAILBOX));
    assert_eq!(
        sandbox.stats().token_requests.get("authorization_code"),
        Some(&1),
        "only the real code reached the token endpoint"
    );
}

#[tokio::test]
async fn an_error_with_the_right_state_ends_the_sign_in_with_its_words() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    let state = sign_in
        .authorize_url
        .query_pairs()
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let redirect = url::Url::parse_with_params(
        sign_in.redirect_uri(),
        &[
            ("error", "access_denied"),
            (
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            ),
            ("state", state.as_str()),
        ],
    )
    .unwrap();
    browser(false)
        .get(redirect.as_str())
        .send()
        .await
        .expect("landing");
    let error = sign_in.finish(&client).await.expect_err("declined");
    assert_eq!(error.code(), "AADSTS65004");
}

/// Plays the person on the sandbox's approval page: opens it and submits `answer` (its form's query).
async fn answer_approval_page(authorize_url: &url::Url, answer: &str) {
    let page = browse(authorize_url).await.text().await.unwrap();
    let request_id = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a request id");
    browse(
        &authorize_url
            .join(&format!("authorize/decide?request={request_id}&{answer}"))
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn browser_decline_and_another_account_are_reported() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));

    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    answer_approval_page(&sign_in.authorize_url, "decision=decline").await;
    let declined = sign_in.finish(&client).await.expect_err("declined");
    assert_eq!(declined.code(), "AADSTS65004");

    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    answer_approval_page(
        &sign_in.authorize_url,
        "decision=approve&user=someone.else%40gmail.example",
    )
    .await;
    let tokens = sign_in
        .finish(&client)
        .await
        .expect("tokens for the other account");
    let mismatch = tokens.ensure_account(MAILBOX).expect_err("other account");
    assert_eq!(
        mismatch.to_string(),
        format!("Signed in as someone.else@gmail.example, but this mailbox expects {MAILBOX}")
    );
    assert!(
        mailconnect::advice::for_sign_in(&mismatch)
            .steps_for(mailconnect::advice::Surface::Window, None)[0]
            .contains("Use another account")
    );
}

#[tokio::test]
async fn browser_sign_in_times_out_and_cancels_cleanly() {
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let account = sandbox.account(MAILBOX);
    let timeouts = Timeouts {
        browser_sign_in: Duration::from_secs(1),
        ..test_timeouts()
    };
    let client = sign_in_client_with(&account, &timeouts);
    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    let error = sign_in.finish(&client).await.expect_err("nobody came back");
    assert!(
        matches!(error, SignInError::BrowserTimedOut { .. }),
        "{error:?}"
    );

    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("listener");
    let port = sign_in
        .redirect_uri()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    drop(sign_in);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .is_err(),
        "listener still open after cancel"
    );
}

#[tokio::test]
async fn plain_http_identity_endpoints_elsewhere_are_refused() {
    let mut endpoints = mailconnect::config::Provider::Microsoft365
        .cloud()
        .unwrap()
        .endpoints("organizations");
    endpoints.token = url::Url::parse("http://login.example.com/token").unwrap();
    let error = SignInClient::new(
        &endpoints,
        "9e5f94bc-e8a4-4e73-b8be-63364c29d753",
        &platform_trust(),
        &test_timeouts(),
    )
    .expect_err("insecure");
    assert!(matches!(error, SignInError::InsecureEndpoint { .. }));
}

#[tokio::test]
async fn the_sign_in_pages_are_asked_for_the_users_language() {
    // nextest runs each test in its own process: the locale set here is this test's alone.
    unsafe {
        std::env::set_var("LC_ALL", "de_DE.UTF-8");
    }
    let sandbox = quick_sandbox(SandboxOptions::default()).await;
    let client = sign_in_client(&sandbox.account(MAILBOX));
    client.start_device_code().await.expect("device code");
    let sign_in = client
        .start_browser_sign_in(&SignInOptions::default())
        .await
        .expect("browser sign-in");
    let page = browser(false)
        .get(sign_in.authorize_url.as_str())
        .send()
        .await
        .expect("the sign-in page");
    assert!(page.status().is_success() || page.status().is_redirection());
    assert!(sign_in.authorize_url.as_str().contains("mkt=de-DE"));
    assert_eq!(sandbox.stats().markets, ["de-DE", "de-DE"]);
}
