//! The import's reading, checked on the shapes real lists and exports come in.

use super::*;

/// The header of the Active users export (Microsoft 365 admin center, Users > Active users > Export users).
const HEADER: &str = "Block credential,City,Country/Region,Department,DirSyncEnabled,Display name,Fax,First name,\
    Last dirsync time,Last name,Last password change time stamp,License assignment details,Licenses,Mobile Phone,\
    Oath token metadata,Object Id,Office,Password never expires,Phone number,Postal code,Preferred data location,\
    Preferred language,Proxy addresses,Release track,Soft deletion time stamp,State,Street address,\
    Strong password required,Title,Usage location,User principal name,When created";

fn row(upn: &str, display: &str, proxies: &str, blocked: &str, licences: &str) -> String {
    let mut fields = vec![String::new(); 32];
    fields[0] = blocked.to_owned();
    fields[5] = display.to_owned();
    fields[12] = licences.to_owned();
    fields[22] = proxies.to_owned();
    fields[30] = upn.to_owned();
    fields
        .iter()
        .map(|field| {
            if field.contains(',') {
                format!("\"{field}\"")
            } else {
                field.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_admin_center_export_is_read_by_its_own_column_names() {
    let text = [
        format!("\u{feff}{HEADER}"),
        row(
            "reception@smile-dental.co.uk",
            "Reception",
            "SMTP:reception@smile-dental.co.uk+smtp:front@smile-dental.co.uk",
            "False",
            "Microsoft 365 Business Basic",
        ),
        row(
            "dr.lee@smile-dental.co.uk",
            "Dr Lee, Dentist",
            "",
            "True",
            "Unlicensed",
        ),
        "broken,\"unterminated".to_owned(),
        row(
            "billing@smile-dental.co.uk",
            "Billing",
            "SMTP:accounts@smile-dental.co.uk",
            "False",
            "x",
        ),
        row("reception@smile-dental.co.uk", "Again", "", "False", "x"),
        row("guest@gmail.com", "Guest", "", "False", "x"),
        row("not an address", "Bad", "", "False", "x"),
        row("", "No name", "", "False", "x"),
    ]
    .join("\r\n");
    let preview = preview(
        &text,
        &["smile-dental.co.uk".to_owned()],
        &["billing@smile-dental.co.uk".to_owned()],
    );
    let mailboxes: Vec<&str> = preview
        .accepted
        .iter()
        .map(|c| c.mailbox.as_str())
        .collect();
    assert_eq!(
        mailboxes,
        [
            "reception@smile-dental.co.uk",
            "accounts@smile-dental.co.uk"
        ],
        "the primary SMTP address wins over the sign-in name"
    );
    let held = &preview.held_back[0];
    assert_eq!(held.mailbox, "dr.lee@smile-dental.co.uk");
    assert_eq!(held.display_name.as_deref(), Some("Dr Lee, Dentist"));
    assert_eq!(
        (held.line, held.notes.len()),
        (3, 2),
        "blocked and unlicensed are problems with their line"
    );
    assert_eq!(preview.duplicates.len(), 1);
    assert_eq!(preview.duplicates[0].line, 6);
    assert_eq!(preview.outside_organisation[0].text, "guest@gmail.com");
    assert!(
        preview
            .invalid
            .iter()
            .any(|refused| refused.text == "not an address")
    );
    assert!(
        preview
            .invalid
            .iter()
            .any(|refused| refused.reason.contains("no user principal name"))
    );
    assert!(preview.already_set_up.is_empty());
}

#[test]
fn a_pasted_list_takes_any_separator_and_names() {
    let preview = preview(
        "reception@a.com, billing@a.com; \"Dr Lee\" <dr.lee@a.com>\n\nRECEPTION@a.com\tnope\nold@a.com\nfront desk",
        &[],
        &["old@a.com".to_owned()],
    );
    let mailboxes: Vec<&str> = preview
        .accepted
        .iter()
        .map(|c| c.mailbox.as_str())
        .collect();
    assert_eq!(
        mailboxes,
        ["reception@a.com", "billing@a.com", "dr.lee@a.com"]
    );
    assert_eq!(preview.accepted[2].display_name.as_deref(), Some("Dr Lee"));
    assert_eq!(
        preview.duplicates[0].line, 3,
        "the same address in another case"
    );
    assert_eq!(preview.invalid[0].text, "nope");
    assert_eq!(preview.invalid[1].text, "front desk", "one mistake, once");
    assert_eq!(preview.already_set_up[0].mailbox, "old@a.com");
    assert!(
        preview.outside_organisation.is_empty(),
        "no domains known: not checked"
    );
}

#[test]
fn what_a_review_found_is_read_right() {
    // Outlook's "Last, First" names, a semicolon export, junk before the @, and a cut that is said.
    let preview = preview(
        "\"Lee, John\" <john.lee@a.com>; \"Smith, Ann\" <ann.smith@a.com>\n<x@a.com\nmailto:m@a.com\nx\u{2019}+$(evil)+\u{2019}@a.com",
        &[],
        &[],
    );
    let names: Vec<_> = preview
        .accepted
        .iter()
        .map(|c| (c.mailbox.as_str(), c.display_name.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("john.lee@a.com", Some("Lee, John")),
            ("ann.smith@a.com", Some("Smith, Ann"))
        ]
    );
    assert_eq!(preview.invalid.len(), 3, "{:?}", preview.invalid);
    let semicolons = "Display name;User principal name;Licenses
Reception;reception@a.com;Basic
"
    .to_owned();
    assert_eq!(
        super::preview(&semicolons, &[], &[]).accepted[0].mailbox,
        "reception@a.com"
    );
    let many: String = (0..MAX_ROWS + 5).map(|n| format!("u{n}@a.com,")).collect();
    let cut = super::preview(&many, &[], &[]);
    assert!(cut.cut_short);
    assert_eq!(cut.accepted.len(), MAX_ROWS);
    // Excel's "Unicode text" (UTF-16) and Windows-1252 still give their addresses.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("a@b.com".encode_utf16().flat_map(|unit| unit.to_le_bytes()))
        .collect();
    assert_eq!(decode(utf16), "a@b.com");
    assert_eq!(decode(b"Caf\xe9,a@b.com".to_vec()), "Caf\u{e9},a@b.com");
}

/// One export of users, as the admin center and Excel save it in each encoding and separator they use.
fn export_in_every_encoding() -> Vec<(&'static str, Vec<u8>)> {
    let rows = [
        [
            "Display name",
            "User principal name",
            "Block credential",
            "Licenses",
        ],
        [
            "Seán O\u{2019}Brien",
            "sean.obrien@smile-dental.co.uk",
            "False",
            "Microsoft 365 Business Basic",
        ],
        [
            "Zoë Müller",
            "zoe@smile-dental.co.uk",
            "True",
            "Microsoft 365 Business Basic",
        ],
        ["Léa", "lea@smile-dental.co.uk", "False", "Unlicensed"],
    ];
    let joined = |separator: &str| {
        rows.iter()
            .map(|row| row.join(separator))
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let utf16 = |text: &str, little: bool| -> Vec<u8> {
        let mark: [u8; 2] = if little { [0xFF, 0xFE] } else { [0xFE, 0xFF] };
        mark.into_iter()
            .chain(text.encode_utf16().flat_map(move |unit| {
                if little {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                }
            }))
            .collect()
    };
    let windows_1252 = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
    vec![
        ("UTF-8, commas", joined(",").into_bytes()),
        (
            "UTF-8 with its mark (CSV UTF-8)",
            format!("\u{feff}{}", joined(",")).into_bytes(),
        ),
        (
            "Windows-1252, semicolons (CSV on a European Windows)",
            windows_1252(&joined(";")),
        ),
        ("Windows-1252, commas", windows_1252(&joined(","))),
        (
            "UTF-16 little-endian, tabs (Unicode Text)",
            utf16(&joined("\t"), true),
        ),
        ("UTF-16 big-endian, tabs", utf16(&joined("\t"), false)),
    ]
}

/// The class of "an encoding or separator Excel saves in is misread": every one gives the same preview, names
/// included, with the blocked and unlicensed users held back by their line.
#[test]
fn every_encoding_and_separator_excel_saves_reads_the_same() {
    for (what, bytes) in export_in_every_encoding() {
        let text = decode(bytes);
        let preview = preview(&text, &["smile-dental.co.uk".to_owned()], &[]);
        let added: Vec<_> = preview
            .accepted
            .iter()
            .map(|c| (c.mailbox.as_str(), c.display_name.as_deref(), c.line))
            .collect();
        assert_eq!(
            added,
            [(
                "sean.obrien@smile-dental.co.uk",
                Some("Seán O\u{2019}Brien"),
                2
            )],
            "{what}"
        );
        let held: Vec<_> = preview
            .held_back
            .iter()
            .map(|c| {
                (
                    c.mailbox.as_str(),
                    c.display_name.as_deref(),
                    c.line,
                    c.notes.len(),
                )
            })
            .collect();
        assert_eq!(
            held,
            [
                ("zoe@smile-dental.co.uk", Some("Zoë Müller"), 3, 1),
                ("lea@smile-dental.co.uk", Some("Léa"), 4, 1)
            ],
            "{what}"
        );
        assert!(
            preview.refused().is_empty(),
            "{what}: {:?}",
            preview.refused()
        );
        assert_eq!(preview.to_add(false).len(), 1, "{what}");
        assert_eq!(preview.to_add(true).len(), 3, "{what}");
    }
}
