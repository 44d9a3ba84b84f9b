//! A sign-in belongs to one account: what happens to it when the user goes back and changes the first step, and
//! when Save happens. Each scenario here was a bug of the earlier design.

use super::*;

fn back_to_first_step(wizard: &mut Wizard) {
    while wizard.step() != Step::Account {
        assert!(wizard.can_go_back(), "stuck at {:?}", wizard.step());
        let _ = wizard.apply_intent(Intent::Back);
    }
}

fn signed_in_page(wizard: &Wizard) -> &SignInPage {
    match &wizard.page {
        Page::SignIn(page) => page,
        other => panic!("not on step 3: {other:?}"),
    }
}

#[test]
fn another_mailbox_typed_after_signing_in_never_gets_the_first_ones_tokens() {
    let mut wizard = at_sign_in();
    sign_in_as(&mut wizard, MAILBOX);
    assert!(wizard.can_go_next());
    back_to_first_step(&mut wizard);
    wizard.form.mailbox = "frontdesk@practice.com".into();
    through_reminder(&mut wizard);
    let page = signed_in_page(&wizard);
    assert!(
        matches!(page.sign_in, SignIn::Choosing),
        "step 3 must ask for a new sign-in: {:?}",
        page.sign_in
    );
    assert!(!wizard.can_go_next());
    assert!(
        wizard.apply_intent(Intent::Next).is_empty(),
        "no check runs with reception@'s token"
    );
    assert_eq!(wizard.step(), Step::SignIn);
}

#[test]
fn going_back_without_changing_anything_keeps_the_sign_in() {
    let mut wizard = at_sign_in();
    sign_in_as(&mut wizard, MAILBOX);
    back_to_first_step(&mut wizard);
    // Different case and spaces are the same mailbox; other servers do not change who signed in.
    wizard.form.mailbox = " RECEPTION@practice.com ".into();
    wizard.form.imap_host = "imap.elsewhere.example".into();
    through_reminder(&mut wizard);
    assert!(signed_in_page(&wizard).tokens().is_some());
    assert!(wizard.can_go_next());
    let effects = wizard.apply_intent(Intent::Next);
    let Some(Effect::RunChecks { account, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(account.imap.host, "imap.elsewhere.example");
}

#[test]
fn correcting_the_mailbox_after_a_wrong_account_sign_in_is_not_a_dead_end() {
    let mut wizard = at_sign_in();
    sign_in_as(&mut wizard, "frontdesk@practice.com");
    let page = signed_in_page(&wizard);
    assert!(page.mismatch().is_some());
    assert!(!wizard.can_go_next());
    back_to_first_step(&mut wizard);
    wizard.form.mailbox = "frontdesk@practice.com".into();
    through_reminder(&mut wizard);
    let page = signed_in_page(&wizard);
    assert!(
        page.mismatch().is_none(),
        "no stale 'this mailbox expects' verdict"
    );
    assert!(matches!(page.sign_in, SignIn::Choosing));
    sign_in_as(&mut wizard, "frontdesk@practice.com");
    assert!(wizard.can_go_next());
}

#[test]
fn the_wrong_account_verdict_follows_the_expected_account() {
    // Signed in as the delegate, then the delegate is named on step 1: a new basis, so a new sign-in is asked
    // for; the verdict is never carried over from another expected account.
    let mut wizard = at_sign_in();
    sign_in_as(&mut wizard, "manager@practice.com");
    assert!(signed_in_page(&wizard).mismatch().is_some());
    back_to_first_step(&mut wizard);
    wizard.form.sign_in_account = "manager@practice.com".into();
    through_reminder(&mut wizard);
    assert!(matches!(signed_in_page(&wizard).sign_in, SignIn::Choosing));
    sign_in_as(&mut wizard, "Manager@Practice.com");
    assert!(signed_in_page(&wizard).mismatch().is_none());
    assert!(wizard.can_go_next());
}

#[test]
fn changing_anything_the_sign_in_depends_on_drops_it() {
    type Change = fn(&mut AccountForm);
    let changes: [(&str, Change); 7] = [
        ("mailbox", |form| {
            form.mailbox = "frontdesk@practice.com".into()
        }),
        ("sign-in account", |form| {
            form.sign_in_account = "manager@practice.com".into()
        }),
        ("provider", |form| form.set_provider(Provider::GccHigh)),
        ("tenant", |form| form.tenant = "other-practice.co.uk".into()),
        ("client id", |form| {
            form.client_id = "11111111-2222-3333-4444-555555555555".into()
        }),
        ("endpoints", changes_custom),
        ("scopes", |form| {
            form.scopes = "offline_access mail other".into()
        }),
    ];
    for (name, change) in changes {
        let mut wizard = if name == "scopes" {
            // A custom provider signed in, then only the scopes change.
            let mut form = ready_form();
            changes_custom(&mut form);
            let mut wizard = Wizard::new(Vec::new(), form);
            through_reminder(&mut wizard);
            wizard
        } else {
            at_sign_in()
        };
        sign_in_as(&mut wizard, MAILBOX);
        back_to_first_step(&mut wizard);
        change(&mut wizard.form);
        assert!(
            wizard.form.problems().is_empty(),
            "{name}: {:?}",
            wizard.form.problems()
        );
        through_reminder(&mut wizard);
        assert!(
            matches!(signed_in_page(&wizard).sign_in, SignIn::Choosing),
            "changing the {name} must drop the sign-in"
        );
    }
}

/// A custom provider with its own endpoints and scopes.
fn changes_custom(form: &mut AccountForm) {
    form.set_provider(Provider::Custom);
    form.authorize_url = "https://login.example/authorize".into();
    form.token_url = "https://login.example/token".into();
    form.device_code_url = "https://login.example/device".into();
    form.scopes = "offline_access mail".into();
    form.imap_host = "imap.example".into();
    form.smtp_host = "smtp.example".into();
}

#[test]
fn step_three_always_offers_sign_in_again() {
    for user in [MAILBOX, "someone@else.example"] {
        let mut wizard = at_sign_in();
        sign_in_as(&mut wizard, user);
        let effects = wizard.apply_intent(Intent::SignInAgain);
        assert_eq!(effect_names(&effects), ["cancel sign-in"]);
        assert!(matches!(signed_in_page(&wizard).sign_in, SignIn::Choosing));
        assert!(!wizard.can_go_next());
    }
    // From the check step too: its advice says "sign in again".
    let (mut wizard, attempt) = at_check();
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt,
        report: report(Protocol::Smtp, super::rejected()),
    });
    let _ = wizard.apply_intent(Intent::SignInAgain);
    assert!(matches!(signed_in_page(&wizard).sign_in, SignIn::Choosing));
    let _ = wizard.apply_event(Event::CheckFinished {
        attempt,
        report: report(Protocol::Imap, super::rejected()),
    });
    assert_eq!(
        wizard.step(),
        Step::SignIn,
        "a late check result is dropped"
    );
}

#[test]
fn nothing_is_stored_before_save_and_save_carries_the_verdicts() {
    let (mut wizard, attempt) = at_check();
    pass_checks(&mut wizard, attempt);
    // Next twice (a double click, or Enter then a click) reaches the last page and stores nothing.
    assert!(wizard.apply_intent(Intent::Next).is_empty());
    assert!(wizard.apply_intent(Intent::Next).is_empty());
    assert!(matches!(wizard.saving(), Some(Saving::NotYet)));
    assert!(wizard.can_go_back() && wizard.can_cancel());
    let effects = wizard.apply_intent(Intent::Save);
    let [
        Effect::Save {
            imap, smtp, tokens, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert!(imap.verdict.passed() && smtp.verdict.passed());
    assert_eq!(tokens.signed_in_as.as_deref(), Some(MAILBOX));
    assert!(
        wizard.apply_intent(Intent::Save).is_empty(),
        "a second Save while saving does nothing"
    );
    assert!(!wizard.can_go_back() && !wizard.can_cancel());
    let _ = wizard.apply_event(Event::Saved {
        attempt: attempt_of(&effects),
        result: Ok(()),
    });
    // Saved: Back and Cancel no longer pretend nothing happened.
    assert!(!wizard.can_go_back() && !wizard.can_cancel());
    assert!(wizard.apply_intent(Intent::Back).is_empty());
    assert!(wizard.apply_intent(Intent::Cancel).is_empty());
    assert_eq!(wizard.step(), Step::Save);
    // Removing it again is offered on the page.
    let effects = wizard.apply_intent(Intent::RemoveSaved);
    assert_eq!(effect_names(&effects), ["forget"]);
    let _ = wizard.apply_event(Event::Forgotten {
        attempt: attempt_of(&effects),
        result: Ok(Forgotten {
            items: 3,
            had_sign_in: true,
            had_basic_password: false,
        }),
    });
    assert!(matches!(wizard.saving(), Some(Saving::Removed(_))));
    assert!(wizard.can_go_back() && wizard.can_cancel());
}

#[test]
fn back_from_the_last_page_shows_the_checks_again_and_forward_needs_no_new_check() {
    let (mut wizard, attempt) = at_check();
    pass_checks(&mut wizard, attempt);
    let _ = wizard.apply_intent(Intent::Next);
    let _ = wizard.apply_intent(Intent::Back);
    assert_eq!(wizard.step(), Step::Check);
    assert!(wizard.can_go_next());
    assert!(wizard.apply_intent(Intent::Next).is_empty());
    assert_eq!(wizard.step(), Step::Save);
}

#[test]
fn a_password_lookup_from_an_earlier_visit_is_dropped() {
    let mut wizard = Wizard::new(Vec::new(), ready_form());
    let first = attempt_of(&wizard.apply_intent(Intent::Next));
    let _ = wizard.apply_intent(Intent::Back);
    wizard.form.mailbox = "frontdesk@practice.com".into();
    let second = attempt_of(&wizard.apply_intent(Intent::Next));
    let _ = wizard.apply_event(Event::BasicPassword {
        attempt: first,
        result: Ok(Some(SecretString::from("reception's password"))),
    });
    let Page::Reminder(page) = &wizard.page else {
        panic!()
    };
    assert!(
        matches!(page.password, StoredPassword::Loading),
        "reception@'s password must not show for frontdesk@"
    );
    let _ = wizard.apply_event(Event::BasicPassword {
        attempt: second,
        result: Ok(None),
    });
    assert!(wizard.can_go_next());
}

#[test]
fn a_dropped_preset_file_is_remembered_at_save_only() {
    let mut wizard = Wizard::new(Vec::new(), ready_form());
    let path = std::path::PathBuf::from("/tmp/presets.toml");
    let effects = wizard.apply_intent(Intent::LoadPresetFile(path.clone()));
    assert_eq!(effect_names(&effects), ["load presets"]);
    let _ = wizard.apply_event(Event::PresetsLoaded {
        path: path.clone(),
        result: Ok(vec![crate::config::Preset {
            client_id: Some("9e5f94bc-e8a4-4e73-b8be-63364c29d753".into()),
            ..crate::config::Preset::for_provider(Provider::Microsoft365)
        }]),
    });
    assert_eq!(wizard.preset_file.as_deref(), Some(path.as_path()));
    through_reminder(&mut wizard);
    sign_in_as(&mut wizard, MAILBOX);
    let effects = wizard.apply_intent(Intent::Next);
    pass_checks(&mut wizard, attempt_of(&effects));
    let _ = wizard.apply_intent(Intent::Next);
    let effects = wizard.apply_intent(Intent::Save);
    let [Effect::Save { preset_file, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(preset_file.as_deref(), Some(path.as_path()));
}
