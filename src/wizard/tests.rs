//! Table tests for the wizard's transitions: (state, intent or event) -> next step and effects.

use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::*;
use crate::auth::SignedInAccount;
use crate::config::{Preset, Provider};
use crate::verify::{CheckFailure, FailureKind, Verdict};

pub(super) const MAILBOX: &str = "reception@practice.com";

pub(super) fn ready_form() -> AccountForm {
    let mut form = AccountForm::new_for(Preset {
        client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".into()),
        ..Preset::for_provider(Provider::Microsoft365)
    });
    form.mailbox = MAILBOX.into();
    form
}

pub(super) fn tokens_for(user: &str) -> TokenSet {
    TokenSet {
        access_token: SecretString::from("test-access-token-7f3a"),
        refresh_token: Some(SecretString::from("test-refresh-token-9c1d")),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
        account: Some(SignedInAccount {
            username: user.into(),
            display_name: None,
            tenant_id: None,
        }),
    }
}

pub(super) fn effect_names(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::LoadBasicPassword { .. } => "load password",
            Effect::StartDeviceCode { .. } => "start device code",
            Effect::StartBrowser { .. } => "start browser",
            Effect::CancelSignIn => "cancel sign-in",
            Effect::RunChecks { .. } => "run checks",
            Effect::Save { .. } => "save",
            Effect::Forget { .. } => "forget",
            Effect::LoadPresets { .. } => "load presets",
            Effect::PickPresetFile => "pick preset file",
            Effect::CopyToClipboard(_) => "copy",
            Effect::OpenUrl(_) => "open url",
            Effect::Close => "close",
        })
        .collect()
}

pub(super) fn attempt_of(effects: &[Effect]) -> u64 {
    effects
        .iter()
        .find_map(|effect| match effect {
            Effect::StartDeviceCode { attempt, .. }
            | Effect::StartBrowser { attempt, .. }
            | Effect::RunChecks { attempt, .. }
            | Effect::Save { attempt, .. }
            | Effect::Forget { attempt, .. }
            | Effect::LoadBasicPassword { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .expect("an effect with an attempt")
}

/// Next from the first step, with the password lookup answered (none stored).
pub(super) fn through_reminder(wizard: &mut Wizard) {
    let effects = wizard.apply_intent(Intent::Next);
    assert_eq!(
        wizard.step(),
        Step::Reminder,
        "{:?}",
        wizard.form.problems()
    );
    let _ = wizard.apply_event(Event::BasicPassword {
        attempt: attempt_of(&effects),
        result: Ok(None),
    });
    let _ = wizard.apply_intent(Intent::Next);
    assert_eq!(wizard.step(), Step::SignIn);
}

/// A wizard on the sign-in step (account chosen, reminder passed).
pub(super) fn at_sign_in() -> Wizard {
    let mut wizard = Wizard::new(Vec::new(), ready_form());
    through_reminder(&mut wizard);
    wizard
}

/// Signs in on step 3 as `user`.
pub(super) fn sign_in_as(wizard: &mut Wizard, user: &str) {
    let attempt = attempt_of(&wizard.apply_intent(Intent::StartSignIn(SignInMethod::DeviceCode)));
    let _ = wizard.apply_event(Event::SignedIn {
        attempt,
        result: Ok(tokens_for(user)),
    });
}

/// Both checks passed on step 4.
pub(super) fn pass_checks(wizard: &mut Wizard, attempt: u64) {
    for protocol in [Protocol::Imap, Protocol::Smtp] {
        let _ = wizard.apply_event(Event::CheckFinished {
            attempt,
            report: report(
                protocol,
                Verdict::Passed {
                    server_reply: "OK".into(),
                },
            ),
        });
    }
}

/// A wizard on the check step with both checks running; returns the checks' attempt.
pub(super) fn at_check() -> (Wizard, u64) {
    let mut wizard = at_sign_in();
    let effects = wizard.apply_intent(Intent::StartSignIn(SignInMethod::DeviceCode));
    let attempt = attempt_of(&effects);
    let _ = wizard.apply_event(Event::SignedIn {
        attempt,
        result: Ok(tokens_for(MAILBOX)),
    });
    let effects = wizard.apply_intent(Intent::Next);
    assert_eq!(effect_names(&effects), ["run checks"]);
    (wizard, attempt_of(&effects))
}

pub(super) fn report(protocol: Protocol, verdict: Verdict) -> CheckReport {
    CheckReport {
        protocol,
        server: "server:1".into(),
        verdict,
        elapsed: Duration::ZERO,
    }
}

fn rejected() -> Verdict {
    Verdict::Failed(CheckFailure {
        stage: Stage::Authenticating,
        kind: FailureKind::Rejected,
        detail: "refused".into(),
        server_reply: Some("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.".into()),
        oauth_error: None,
    })
}

fn imap(wizard: &Wizard) -> &CheckRow {
    wizard.check_row(Protocol::Imap).expect("on the check step")
}

fn smtp(wizard: &Wizard) -> &CheckRow {
    wizard.check_row(Protocol::Smtp).expect("on the check step")
}

#[test]
fn intents_move_between_steps_as_the_table_says() {
    // (what the user did, step before, step after, effects)
    type Case = (
        &'static str,
        fn() -> Wizard,
        Intent,
        Step,
        &'static [&'static str],
    );
    let cases: [Case; 8] = [
        (
            "valid account, Next",
            || Wizard::new(Vec::new(), ready_form()),
            Intent::Next,
            Step::Reminder,
            &["load password"],
        ),
        (
            "invalid account, Next",
            || {
                Wizard::new(
                    Vec::new(),
                    AccountForm::new_for(Preset::for_provider(Provider::Microsoft365)),
                )
            },
            Intent::Next,
            Step::Account,
            &[],
        ),
        (
            "Back on the first step",
            || Wizard::new(Vec::new(), ready_form()),
            Intent::Back,
            Step::Account,
            &[],
        ),
        (
            "Cancel anywhere",
            at_sign_in,
            Intent::Cancel,
            Step::SignIn,
            &["cancel sign-in", "close"],
        ),
        (
            "sign in with a code",
            at_sign_in,
            Intent::StartSignIn(SignInMethod::DeviceCode),
            Step::SignIn,
            &["start device code"],
        ),
        (
            "sign in with the browser",
            at_sign_in,
            Intent::StartSignIn(SignInMethod::Browser),
            Step::SignIn,
            &["start browser"],
        ),
        (
            "Next before signing in",
            at_sign_in,
            Intent::Next,
            Step::SignIn,
            &[],
        ),
        (
            "Back from sign-in",
            at_sign_in,
            Intent::Back,
            Step::Reminder,
            &["cancel sign-in", "load password"],
        ),
    ];
    for (name, start, intent, expected_step, expected_effects) in cases {
        let mut wizard = start();
        let effects = wizard.apply_intent(intent);
        assert_eq!(wizard.step(), expected_step, "{name}");
        assert_eq!(effect_names(&effects), expected_effects, "{name}");
    }
}

#[test]
fn the_reminder_needs_the_tick_box_only_when_a_password_is_stored() {
    let mut wizard = Wizard::new(Vec::new(), ready_form());
    let attempt = attempt_of(&wizard.apply_intent(Intent::Next));
    assert!(!wizard.can_go_next(), "still loading");
    let _ = wizard.apply_event(Event::BasicPassword {
        attempt,
        result: Ok(Some(SecretString::from("Winter2026!"))),
    });
    assert!(!wizard.can_go_next());
    let _ = wizard.apply_intent(Intent::SetNoted(true));
    assert!(wizard.can_go_next());

    let mut nothing_stored = Wizard::new(Vec::new(), ready_form());
    let attempt = attempt_of(&nothing_stored.apply_intent(Intent::Next));
    let _ = nothing_stored.apply_event(Event::BasicPassword {
        attempt,
        result: Ok(None),
    });
    assert!(nothing_stored.can_go_next());
}

#[test]
fn a_result_arriving_after_cancel_is_dropped() {
    let mut wizard = at_sign_in();
    let effects = wizard.apply_intent(Intent::StartSignIn(SignInMethod::DeviceCode));
    let abandoned = attempt_of(&effects);
    assert_eq!(
        effect_names(&wizard.apply_intent(Intent::CancelSignIn)),
        ["cancel sign-in"]
    );
    let _ = wizard.apply_event(Event::DeviceCode {
        attempt: abandoned,
        result: Ok(DeviceCodePrompt::for_tests(
            "ABCD",
            Duration::from_secs(900),
        )),
    });
    let _ = wizard.apply_event(Event::SignedIn {
        attempt: abandoned,
        result: Ok(tokens_for(MAILBOX)),
    });
    assert!(
        matches!(wizard.sign_in(), Some(SignIn::Choosing)),
        "{:?}",
        wizard.sign_in()
    );
    assert!(!wizard.can_go_next());
}

#[test]
fn device_code_shows_then_signs_in_or_expires() {
    let mut wizard = at_sign_in();
    let attempt = attempt_of(&wizard.apply_intent(Intent::StartSignIn(SignInMethod::DeviceCode)));
    let _ = wizard.apply_event(Event::DeviceCode {
        attempt,
        result: Ok(DeviceCodePrompt::for_tests(
            "ABCD",
            Duration::from_secs(900),
        )),
    });
    assert!(matches!(wizard.sign_in(), Some(SignIn::ShowingCode(_))));
    let next = wizard
        .next_tick(std::time::Instant::now())
        .expect("the countdown repaints");
    assert!(
        next > Duration::from_secs(50) && next <= Duration::from_secs(60),
        "once a minute, when the minute shown changes: {next:?}"
    );
    let _ = wizard.apply_event(Event::SignedIn {
        attempt,
        result: Err(SignInError::DeviceCodeExpired),
    });
    assert!(matches!(wizard.sign_in(), Some(SignIn::CodeExpired)));
    assert!(
        wizard.next_tick(std::time::Instant::now()).is_none(),
        "no repainting once the code is gone"
    );

    let attempt = attempt_of(&wizard.apply_intent(Intent::StartSignIn(SignInMethod::DeviceCode)));
    let _ = wizard.apply_event(Event::SignedIn {
        attempt,
        result: Ok(tokens_for("RECEPTION@practice.com")),
    });
    assert!(wizard.can_go_next());
}

#[test]
fn signing_in_as_someone_else_is_reported_and_blocks_next() {
    let mut wizard = at_sign_in();
    let attempt = attempt_of(&wizard.apply_intent(Intent::StartSignIn(SignInMethod::Browser)));
    let _ = wizard.apply_event(Event::SignedIn {
        attempt,
        result: Ok(tokens_for("someone@gmail.example")),
    });
    let Page::SignIn(page) = &wizard.page else {
        panic!("{:?}", wizard.page)
    };
    let message = page.mismatch().expect("a mismatch").to_string();
    assert!(message.contains("someone@gmail.example"));
    assert!(!wizard.can_go_next());
    let effects = wizard.apply_intent(Intent::UseAnotherAccount);
    assert_eq!(effect_names(&effects), ["cancel sign-in", "start browser"]);
    let Effect::StartBrowser { options, .. } = &effects[1] else {
        unreachable!()
    };
    assert!(options.select_account && options.login_hint.is_none());
}

#[test]
fn try_again_reruns_only_the_failed_check() {
    let (mut wizard, attempt) = at_check();
    let _ = wizard.apply_event(Event::CheckProgress {
        attempt,
        protocol: Protocol::Smtp,
        stage: Stage::Authenticating,
    });
    assert!(matches!(
        wizard.check_row(Protocol::Smtp),
        Some(CheckRow::Running(Stage::Authenticating))
    ));
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt,
        report: report(
            Protocol::Imap,
            Verdict::Passed {
                server_reply: "OK".into(),
            },
        ),
    });
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt,
        report: report(Protocol::Smtp, rejected()),
    });
    assert!(imap(&wizard).passed() && smtp(&wizard).failed());
    assert!(!wizard.can_go_next());

    let effects = wizard.apply_intent(Intent::RetryFailedChecks);
    let Effect::RunChecks {
        protocols,
        attempt: retry,
        ..
    } = &effects[0]
    else {
        panic!()
    };
    assert_eq!(protocols, &[Protocol::Smtp]);
    assert!(imap(&wizard).passed());
    // The first run's late progress must not disturb the retry.
    let _ = wizard.apply_event(Event::CheckProgress {
        attempt,
        protocol: Protocol::Smtp,
        stage: Stage::Greeting,
    });
    assert!(matches!(smtp(&wizard), CheckRow::Running(Stage::Resolving)));
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt: *retry,
        report: report(
            Protocol::Smtp,
            Verdict::Passed {
                server_reply: "235".into(),
            },
        ),
    });
    assert!(wizard.can_go_next());
}

#[test]
fn a_failed_save_can_be_retried_without_signing_in_again() {
    let (mut wizard, attempt) = at_check();
    pass_checks(&mut wizard, attempt);
    assert!(
        wizard.apply_intent(Intent::Next).is_empty(),
        "Next only shows what Save will store"
    );
    assert_eq!(wizard.step(), Step::Save);
    let effects = wizard.apply_intent(Intent::Save);
    assert_eq!(effect_names(&effects), ["save"]);
    let first = attempt_of(&effects);
    let _ = wizard.apply_event(Event::Saved {
        attempt: first,
        result: Err(StoreError::Locked {
            detail: "locked".into(),
        }),
    });
    assert!(matches!(
        wizard.saving(),
        Some(Saving::Failed(StoreError::Locked { .. }))
    ));
    assert!(
        wizard.apply_intent(Intent::Finish).is_empty(),
        "cannot finish before saving"
    );
    let effects = wizard.apply_intent(Intent::Save);
    assert_eq!(effect_names(&effects), ["save"]);
    let _ = wizard.apply_event(Event::Saved {
        attempt: attempt_of(&effects),
        result: Ok(()),
    });
    assert_eq!(
        effect_names(&wizard.apply_intent(Intent::Finish)),
        ["close"]
    );
}

#[test]
fn copying_the_support_report_says_so() {
    let (mut wizard, attempt) = at_check();
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt,
        report: report(Protocol::Smtp, rejected()),
    });
    let effects = wizard.apply_intent(Intent::CopySupportReport);
    let Effect::CopyToClipboard(text) = &effects[0] else {
        panic!("{effects:?}")
    };
    let text = secrecy::ExposeSecret::expose_secret(text);
    assert!(
        text.contains("SMTP (sending): FAILED at the authentication stage"),
        "{text}"
    );
    assert!(text.contains("5.7.139"));
    assert!(text.contains("Mailbox:         reception@practice.com"));
    assert!(
        !text.contains("test-access-token-7f3a") && !text.contains("test-refresh-token-9c1d"),
        "no token in the report:\n{text}"
    );
    assert!(wizard.notice.is_some());
}

#[test]
fn a_preset_from_the_support_team_fills_the_form_and_keeps_the_address() {
    let mut wizard = Wizard::new(
        Vec::new(),
        AccountForm::new_for(Preset::for_provider(Provider::Microsoft365)),
    );
    wizard.presets = vec![Preset {
        name: "Smile Dental".into(),
        tenant: Some("smile-dental.co.uk".into()),
        client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".into()),
        ..Preset::for_provider(Provider::Microsoft365)
    }];
    wizard.form.mailbox = MAILBOX.into();
    assert!(!wizard.can_go_next(), "no client id yet");
    assert!(wizard.apply_intent(Intent::ChoosePreset(0)).is_empty());
    assert_eq!(wizard.form.mailbox, MAILBOX);
    assert_eq!(wizard.form.tenant, "smile-dental.co.uk");
    assert!(wizard.can_go_next());
    let _ = wizard.apply_intent(Intent::ChoosePreset(7));
    assert_eq!(
        wizard.form.tenant, "smile-dental.co.uk",
        "an unknown preset changes nothing"
    );
}

#[path = "tests_sign_in.rs"]
mod sign_in;
