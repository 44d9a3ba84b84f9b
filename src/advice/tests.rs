//! The catalogue checked as data (unique claims, reachable entries, only real controls named) and as answers
//! (real error texts from Microsoft's documentation and public trackers, and the wrong-way answers we can name).

use std::collections::HashMap;

use super::*;

#[test]
fn no_two_entries_claim_the_same_code_name_reply_or_words() {
    let mut claims: HashMap<String, &str> = HashMap::new();
    let mut ids: HashMap<&str, ()> = HashMap::new();
    for entry in entries() {
        assert!(
            ids.insert(&entry.id, ()).is_none(),
            "two entries are called {}",
            entry.id
        );
        let claimed = entry
            .aadsts
            .iter()
            .map(|code| format!("AADSTS{code}"))
            .chain(entry.enhanced.iter().map(|code| format!("enhanced {code}")))
            .chain(entry.names.iter().map(|name| format!("name {name}")))
            .chain(
                entry
                    .replies
                    .iter()
                    .map(|reply| format!("reply {}", reply.to_lowercase())),
            )
            .chain(
                entry
                    .text
                    .iter()
                    .map(|words| format!("text {}", words.to_lowercase())),
            );
        for claim in claimed {
            if let Some(other) = claims.insert(claim.clone(), &entry.id) {
                panic!("{claim} is claimed by both {other} and {}", entry.id);
            }
        }
    }
}

#[test]
fn every_entry_is_reachable_and_every_refinement_narrows_a_real_entry() {
    let source = include_str!("mod.rs");
    for entry in entries() {
        let claims_something = !(entry.aadsts.is_empty()
            && entry.enhanced.is_empty()
            && entry.names.is_empty()
            && entry.replies.is_empty()
            && entry.text.is_empty());
        let asked_for_by_id = source.contains(&format!("\"{}\"", entry.id));
        assert!(
            claims_something || asked_for_by_id,
            "{} can never be reached",
            entry.id
        );
        if let Some(target) = &entry.refines {
            assert!(
                entries().iter().any(|other| &other.id == target),
                "{} narrows {target}, which does not exist",
                entry.id
            );
            assert!(
                entry.aadsts.is_empty() && entry.enhanced.is_empty() && entry.names.is_empty(),
                "{} narrows another entry by wording; it must not claim codes itself",
                entry.id
            );
            assert!(!entry.text.is_empty(), "{} narrows by no words", entry.id);
        }
        assert!(!entry.steps.is_empty(), "{} has no steps", entry.id);
    }
    // Every id the mapping asks for exists (by_id would otherwise fall back to the generic entry).
    let asked: Vec<&str> = source
        .split("by_id(")
        .skip(1)
        .chain(source.split("=> \"").skip(1))
        .filter_map(|rest| rest.trim_start_matches('"').split('"').next())
        .filter(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-') && id.len() > 3)
        .collect();
    assert!(asked.len() > 20, "the mapping's ids were found: {asked:?}");
    for id in asked {
        assert!(
            entries().iter().any(|entry| entry.id == id),
            "the mapping asks for \"{id}\", which the catalogue lacks"
        );
    }
}

#[test]
fn steps_name_only_controls_that_exist_and_only_through_markers() {
    let markers: Vec<&str> = crate::controls::CONTROLS
        .iter()
        .map(|(marker, ..)| *marker)
        .collect();
    for entry in entries() {
        for step in &entry.steps {
            let mut rest = step.as_str();
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').map(|end| start + end + 1);
                let marker = &rest[start..end.unwrap_or(rest.len())];
                assert!(
                    markers.contains(&marker),
                    "{}: {marker} is not a control",
                    entry.id
                );
                rest = &rest[end.unwrap_or(rest.len())..];
            }
            // "choose \"…\"" is how a marker names this window's controls; other programs' buttons are clicked.
            assert!(
                !step.contains("choose \""),
                "{}: write \"click\" for another program's button",
                entry.id
            );
            for control in [
                "Try again",
                "Sign in again",
                "Use another account",
                "Get a new code",
                "Sign in with a code",
                "Sign in with your browser",
            ] {
                assert!(
                    !step.contains(&format!("\"{control}\"")),
                    "{} names \"{control}\" without its marker",
                    entry.id
                );
            }
        }
    }
}

#[test]
fn markers_read_right_in_the_window_and_in_a_terminal() {
    let advice = by_id("connection-timeout-midway");
    assert_eq!(
        advice.steps_for(Surface::Window, None),
        [
            "Choose \"Try again\" in a minute. If it keeps happening, copy the support report for support."
        ]
    );
    assert_eq!(
        advice.steps_for(Surface::CommandLine, Some("a@b.com")),
        [
            "Run the same mailconnect command again in a minute. If it keeps happening, run `mailconnect report a@b.com` for support."
        ]
    );
    assert_eq!(
        by_id("aad-device-code-blocked").steps_for(Surface::CommandLine, Some("a@b.com"))[0],
        "Run `mailconnect login a@b.com --browser`: the sign-in then happens on this computer, which your organisation can recognise."
    );
}

/// Real texts, each with the entry it must land on.
#[test]
fn real_error_texts_land_on_their_entry() {
    let table = include_str!("error_texts.tsv");
    let mut rows = 0;
    let mut wrong = Vec::new();
    for line in table.lines().filter(|line| !line.starts_with('#')).skip(1) {
        let mut columns = line.split('\t');
        let (Some(text), Some(expected)) = (columns.next(), columns.next()) else {
            panic!("a row without two columns: {line}");
        };
        rows += 1;
        let explanation = explain(text);
        let got = explanation
            .findings
            .first()
            .map_or("none", |finding| finding.advice.id());
        if got != expected {
            wrong.push(format!("{expected} expected, {got} found: {text}"));
        }
    }
    assert!(rows >= 150, "the table has {rows} texts");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn never_the_wrong_way() {
    let id_of = |text: &str| {
        explain(text)
            .findings
            .first()
            .map(|finding| finding.advice.id())
    };
    // Signing in again cannot help a disabled, locked or expired-password account.
    for code in [
        50057, 50053, 50055, 50144, 50105, 65001, 90094, 53003, 530035, 7000112,
    ] {
        let advice = find(&Evidence {
            aadsts: Some(code),
            ..Evidence::default()
        })
        .unwrap();
        assert!(
            !advice.entry.sign_in_helps,
            "AADSTS{code} says signing in again helps"
        );
        assert!(
            !advice.steps[0].starts_with("{sign-in-again}"),
            "AADSTS{code} starts with signing in again"
        );
    }
    // 4.7.66 looks temporary (class 4) but is not: nothing passes until the client uses TLS 1.2.
    let old_tls = find(&Evidence::from_text(
        "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.",
    ))
    .unwrap();
    assert_eq!(old_tls.id(), "smtp-old-tls");
    assert!(!old_tls.is_transient());
    // "Temporary, nothing to change" only for entries that are transient.
    for entry in entries() {
        let says_nothing_to_change = entry
            .steps
            .iter()
            .any(|step| step.contains("Nothing needs to change"));
        assert!(
            !says_nothing_to_change || entry.lasting == Lasting::Transient,
            "{} says nothing needs to change but is permanent",
            entry.id
        );
    }
    // A personal-account registration problem is not "allow public client flows".
    assert_eq!(
        id_of(
            "unauthorized_client: The client does not exist or is not enabled for consumers. If you are the application developer, configure a new application through the App Registrations in the Azure Portal"
        ),
        Some("aad-app-not-for-personal-accounts")
    );
    // 53003 from the code sign-in suggests the browser (the organisation blocks code sign-ins); from the browser
    // it suggests nothing; a failed browser suggests the code.
    let blocked = find(&Evidence {
        aadsts: Some(53003),
        text: "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        ..Evidence::default()
    })
    .unwrap();
    assert_eq!(blocked.suggested_method(Some(true)), Some(Method::Browser));
    assert_eq!(blocked.suggested_method(Some(false)), None);
    assert_eq!(
        by_id("aad-device-required").suggested_method(None),
        Some(Method::Browser)
    );
    assert_eq!(
        by_id("listener-failed").suggested_method(Some(false)),
        Some(Method::Code)
    );
    // The refresh classification and the catalogue agree: what needs a new sign-in is permanent.
    for code in [70000, 70008, 700082, 50173, 70043, 50076, 50079, 65001] {
        let advice = find(&Evidence {
            aadsts: Some(code),
            ..Evidence::default()
        })
        .unwrap();
        assert!(!advice.is_transient(), "AADSTS{code}");
    }
}

#[test]
fn the_facts_sheet_codes_all_have_their_own_entry() {
    const FACTS_SHEET_CODES: &[u32] = &[
        50020, 500200, 50076, 50079, 50105, 50126, 50158, 53003, 53000, 530032, 530035, 65001,
        65004, 90094, 90095, 70000, 70008, 700082, 50173, 70043, 70011, 700016, 7000218, 700025,
        7000215, 7000222, 50011, 9002313, 900144, 90072, 50194, 9002331, 9002332, 9001023, 90002,
        500011, 650052, 54005, 501481, 70016, 70018, 70019, 530033, 50097, 900941, 65005, 50057,
        50053, 50055, 7000112, 500113, 900971,
    ];
    for code in FACTS_SHEET_CODES {
        assert!(
            find(&Evidence {
                aadsts: Some(*code),
                ..Evidence::default()
            })
            .is_some(),
            "AADSTS{code} has no entry"
        );
    }
}

#[test]
fn explain_finds_every_code_and_id_in_noisy_text() {
    let pasted = "2026-11-23 09:14:02 [PracticeMail] ERROR send failed: 535 5.7.139 Authentication unsuccessful, \
        SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled\n\
        2026-11-23 09:14:05 [PracticeMail] token refresh: {\"error\":\"invalid_grant\",\"error_description\":\
        \"AADSTS700082: The refresh token has expired due to inactivity.\\r\\nTrace ID: 0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00\
        \\r\\nCorrelation ID: 7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60\\r\\nTimestamp: 2026-11-23 09:14:05Z\",\
        \"error_codes\":[700082],\"timestamp\":\"2026-11-23 09:14:05Z\"}\n\
        imap: A3 NO AUTHENTICATE failed.\nversion 10.5.7.139 build 4.2.1.0";
    let explanation = explain(pasted);
    let ids: Vec<&str> = explanation
        .findings
        .iter()
        .map(|finding| finding.advice.id())
        .collect();
    assert_eq!(
        ids,
        [
            "smtp-auth-disabled",
            "aad-refresh-unused",
            "imap-authenticate-failed"
        ],
        "{:?}",
        explanation.findings
    );
    assert_eq!(
        explanation.trace_ids,
        ["0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00"]
    );
    assert_eq!(
        explanation.correlation_ids,
        ["7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60"]
    );
    assert_eq!(explanation.timestamps, ["2026-11-23 09:14:05Z"]);
    // A dotted version number is not an enhanced status code.
    assert!(explain::enhanced_codes("version 10.5.7.139 build 4.2.1.0").is_empty());
    assert!(explain("all is well").findings.is_empty());
}

#[test]
fn a_reply_in_another_language_lands_on_its_code() {
    let german =
        "535 5.7.139 Authentifizierung fehlgeschlagen, die Anfrage erfüllte nicht die Kriterien.";
    assert_eq!(
        find(&Evidence::from_text(german)).unwrap().id(),
        "smtp-refused-by-policy",
        "the code decides; the English-only narrowing does not misfire"
    );
    let french = "AADSTS50076: En raison d'une modification de configuration, vous devez utiliser l'authentification multifacteur.";
    assert_eq!(
        find(&Evidence::from_text(french)).unwrap().id(),
        "aad-mfa-required"
    );
}

#[test]
fn check_advice_names_only_the_check_pages_controls() {
    // The check page offers "Try again", "Sign in again" and "Copy support report", nothing else.
    for entry in entries().iter().filter(|entry| {
        ["imap-", "smtp-", "pop-", "connection-"]
            .iter()
            .any(|prefix| entry.id.starts_with(prefix))
    }) {
        for step in &entry.steps {
            for marker in ["{another-account}", "{new-code}", "{browser}", "{code}"] {
                assert!(
                    !step.contains(marker),
                    "{} names {marker}, which the check page does not have",
                    entry.id
                );
            }
        }
    }
}

/// What a review of the first version found, kept as tests.
#[test]
fn pasted_text_never_crashes_echoes_secrets_or_misreads_numbers() {
    // Text whose lower-case form is longer than itself (ẞ, the Kelvin sign) once shifted positions and panicked.
    for text in [
        "FEHLER IN DER HAUPTSTRAẞE-FILIALE: Anmeldung fehlgeschlagen („invalid_grant“)",
        "\u{212a}\nüü invalid_grant",
        "İİİİ NO AUTHENTICATE failed. İ",
    ] {
        let explanation = explain(text);
        assert!(!explanation.findings.is_empty(), "{text}");
    }
    // A password or token on the pasted line never comes back.
    let explanation =
        explain("A1 LOGIN reception@smile.co.uk Hunter2Secret! -> A1 NO LOGIN failed.");
    assert_eq!(explanation.findings[0].advice.id(), "imap-login-failed");
    assert!(
        explanation
            .findings
            .iter()
            .all(|finding| !finding.code.contains("Hunter2Secret"))
    );
    // Versions, builds and durations are not status codes.
    for text in [
        "v5.7.3",
        "build 5.7.30-beta",
        "Version 5.7.139, released",
        "retry in 4.4.2s",
    ] {
        assert!(explain::enhanced_codes(text).is_empty(), "{text}");
    }
    // Harmless lines stay harmless.
    for text in [
        "SSL handshake OK, TLS version TLSv1.2. Message sent.",
        "daily sending limit? No, 12 of 10000 used.",
        "MSAL.NET 4.61 acquired a token silently",
    ] {
        assert!(explain(text).findings.is_empty(), "{text}");
    }
}

#[test]
fn the_review_s_wrong_way_answers_are_right_now() {
    let first = |text: &str| {
        explain(text)
            .findings
            .first()
            .map(|finding| finding.advice.id())
    };
    // MSAL (Microsoft's library) in a log is not "MSA" (a personal account).
    assert_eq!(
        first(
            "MSAL.NET: AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
        ),
        Some("aad-not-public-client")
    );
    assert_eq!(
        first(
            "AADSTS700016: Application with identifier 'x' was not found in the directory 'Microsoft Accounts'."
        ),
        Some("aad-app-not-found-for-personal-accounts")
    );
    // The words alone, without their code, still land on the narrow reading.
    assert_eq!(
        first("Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."),
        Some("smtp-auth-disabled")
    );
    // Microsoft's sign-in page in German; its Request Id is the trace id.
    let page = explain(
        "Fehlercode: 53003\nRequest Id: 0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00\nCorrelation Id: 7d1f3e2a-1c4b-4b8e-a0f1-9e2d3c4b5a60",
    );
    assert_eq!(page.findings[0].advice.id(), "aad-conditional-access");
    assert_eq!(page.trace_ids, ["0f6c2c1a-7b4e-4e2b-9c41-2d6f3a8e1b00"]);
    // The newest error in a long log is at its end.
    let log = format!(
        "{}\n09:14 AADSTS50057: The user account is disabled.",
        "noise line\n".repeat(40_000)
    );
    let explanation = explain(&log);
    assert!(explanation.truncated);
    assert_eq!(explanation.findings[0].advice.id(), "aad-user-disabled");
    // A paste of tens of thousands of distinct codes is cut to a bounded number of findings.
    let flood: String = (0..30_000)
        .map(|n| format!("AADSTS{} 5.{}.{} ", 1_000_000 + n, n % 9, n % 999))
        .collect();
    assert!(explain(&flood).findings.len() <= 2 * 64);
}

#[test]
fn every_cause_has_a_few_words_that_fit_a_table_column() {
    for entry in entries() {
        let short = entry.short_cause();
        assert!(
            !short.is_empty() && short.chars().count() <= 48,
            "{}: \"{short}\" does not fit the Alert column",
            entry.id
        );
    }
    assert_eq!(
        entry("smtp-send-as-denied").map(Entry::short_cause),
        Some("no right to send as the mailbox")
    );
}
