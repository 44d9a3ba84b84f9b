//! The home's model as a person uses it: filter, sort, select, the banner.

use super::*;
use crate::config::{Preset, Provider};

fn row(mailbox: &str, health: Health, smtp_passed: Option<bool>) -> Row {
    Row {
        account: Account::from_preset(mailbox, &Preset::for_provider(Provider::Microsoft365)),
        basic_password: Some(false),
        health,
        last_checked_at: Some(1),
        imap: None,
        smtp: smtp_passed.map(|passed| LastCheck {
            passed,
            code: if passed {
                "passed"
            } else {
                "SMTP-authentication-rejected"
            }
            .to_owned(),
            server_reply: None,
            cause: None,
        }),
        selected: false,
        checking: false,
        failed_at: None,
        moved_at: None,
    }
}

fn home() -> Home {
    Home::new(vec![
        row("reception@practice.com", Health::Connected, Some(true)),
        row(
            "frontdesk@practice.com",
            Health::NeedsSignIn {
                code: "AADSTS700082".into(),
            },
            None,
        ),
        row("billing@practice.com", Health::Connected, Some(false)),
        row(
            "dr.lee@practice.com",
            Health::NeedsSignIn {
                code: "invalid_grant".into(),
            },
            None,
        ),
    ])
}

fn mailboxes(home: &Home) -> Vec<&str> {
    home.visible()
        .into_iter()
        .map(|index| home.rows[index].account.mailbox.as_str())
        .collect()
}

#[test]
fn rows_filter_sort_and_select_as_a_person_expects() {
    let mut home = home();
    assert_eq!(
        mailboxes(&home),
        [
            "billing@practice.com",
            "dr.lee@practice.com",
            "frontdesk@practice.com",
            "reception@practice.com"
        ]
    );
    home.sort_by(Column::Alert);
    assert_eq!(
        &mailboxes(&home)[..3],
        [
            "billing@practice.com",
            "dr.lee@practice.com",
            "frontdesk@practice.com"
        ],
        "rows with an alert first"
    );
    home.sort_by(Column::Mailbox);
    home.sort_by(Column::Mailbox);
    assert_eq!(
        mailboxes(&home)[0],
        "reception@practice.com",
        "the same column again reverses"
    );

    home.filter = "NEEDS SIGN".into();
    assert_eq!(
        mailboxes(&home).len(),
        2,
        "the filter reads the OAuth words too"
    );
    home.filter = "90 DAYS".into();
    assert_eq!(
        mailboxes(&home),
        ["frontdesk@practice.com"],
        "and the alert"
    );
    home.filter = "NEEDS SIGN".into();
    home.select_all_shown(true);
    assert!(home.all_shown_selected());
    home.filter.clear();
    assert!(
        !home.all_shown_selected(),
        "the hidden rows were not ticked"
    );
    assert_eq!(home.selected().len(), 2);
}

#[test]
fn the_banner_names_who_needs_a_sign_in_until_it_is_fixed() {
    let mut home = home();
    home.rows[3].failed_at = Some(1_795_435_200); // 23 Nov 2026, noon UTC
    let banner = home.banner().expect("a banner");
    assert_eq!(
        banner.words,
        "The sign-in for dr.lee@practice.com stopped working on 23 Nov, as did 1 other mailbox."
    );
    assert_eq!(banner.mailbox, "dr.lee@practice.com");
    for row in &mut home.rows {
        row.health = Health::Connected;
    }
    assert_eq!(home.banner(), None);
    assert_eq!(home.rows[2].alert().as_deref(), Some("sending failed"));
    assert_eq!(
        home.rows[2].alert_detail().as_deref(),
        Some("sending failed (SMTP-authentication-rejected)")
    );
}

#[test]
fn addresses_sort_by_name_before_the_at_and_new_mailboxes_follow_the_usual_service_account() {
    let mut home = Home::new(
        [
            "hygiene2@practice.com",
            "hygiene@practice.com",
            "Hygiene.Lead@practice.com",
        ]
        .iter()
        .map(|mailbox| row(mailbox, Health::Connected, None))
        .collect(),
    );
    assert_eq!(
        mailboxes(&home),
        [
            "hygiene@practice.com",
            "hygiene.lead@practice.com",
            "hygiene2@practice.com"
        ]
        .iter()
        .map(|m| if *m == "hygiene.lead@practice.com" {
            "Hygiene.Lead@practice.com"
        } else {
            m
        })
        .collect::<Vec<_>>()
    );
    assert_eq!(home.usual_service_account(), None);
    for row in &mut home.rows[..2] {
        row.account.service_account = Some("it@practice.com".into());
    }
    assert_eq!(
        home.usual_service_account().as_deref(),
        Some("it@practice.com")
    );
}
