//! Bringing many mailboxes in: a pasted list of addresses, or the CSV the Microsoft 365 admin center exports from
//! Users > Active users (its own column names; other columns ignored). Everything is checked before anything is
//! saved: invalid addresses and duplicates are reported with their line, addresses outside the organisation's
//! domains are held back, and a bad row never stops the rest.

use std::collections::HashSet;

/// A mailbox that can be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub mailbox: String,
    pub display_name: Option<String>,
    /// The line it came from (1 is the first line of the text).
    pub line: usize,
    /// What is worth knowing before moving it ("sign-in blocked", "no licence").
    pub notes: Vec<String>,
}

/// A line that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// What an import would do; nothing is saved until the person agrees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPreview {
    pub accepted: Vec<Candidate>,
    /// Already set up in mailconnect: left as they are.
    pub already_set_up: Vec<Candidate>,
    pub duplicates: Vec<Refused>,
    pub invalid: Vec<Refused>,
    /// Addresses whose domain is not one of the organisation's (probably a typing mistake, or another tenant).
    pub outside_organisation: Vec<Refused>,
    /// The text held more than [`MAX_ROWS`] addresses: the rest were not read.
    pub cut_short: bool,
}

/// Bytes as text: UTF-8, UTF-16 with its byte-order mark (Excel's "Unicode text"), or else each byte as the
/// Windows-1252/Latin-1 character it most likely is. Addresses are ASCII in all of them.
pub fn decode(bytes: &[u8]) -> String {
    let utf16 = |little: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|pair| {
                if little {
                    u16::from_le_bytes([pair[0], pair[1]])
                } else {
                    u16::from_be_bytes([pair[0], pair[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        _ => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => bytes.iter().map(|&byte| char::from(byte)).collect(),
        },
    }
}

/// Splits a line at `separators` outside double quotes ("Lee, John" <john@…> stays one item).
fn split_outside_quotes<'a>(line: &'a str, separators: &[char]) -> Vec<&'a str> {
    let mut items = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, c) in line.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && separators.contains(&c) {
            items.push(&line[start..at]);
            start = at + c.len_utf8();
        }
    }
    items.push(&line[start..]);
    items
}

impl ImportPreview {
    /// Every kind of line not taken that has any, with its title, in the order they are shown.
    pub fn refused(&self) -> Vec<(&'static str, &[Refused])> {
        [
            ("Listed twice", self.duplicates.as_slice()),
            ("Not an address", self.invalid.as_slice()),
            (
                "Outside the organisation's domains",
                self.outside_organisation.as_slice(),
            ),
        ]
        .into_iter()
        .filter(|(_, refused)| !refused.is_empty())
        .collect()
    }
}

/// The admin center's column holding the sign-in name, and the ones read beside it.
const UPN_COLUMN: &str = "User principal name";
const DISPLAY_NAME_COLUMN: &str = "Display name";
const PROXY_ADDRESSES_COLUMN: &str = "Proxy addresses";
const BLOCKED_COLUMN: &str = "Block credential";
const LICENCES_COLUMN: &str = "Licenses";

/// Most rows read: an organisation with more mailboxes than this imports in parts.
pub const MAX_ROWS: usize = 20_000;

/// Reads `text` (a list of addresses, one or more a line, or the admin center's CSV) and checks every address
/// against `organisation_domains` (none given: not checked) and the mailboxes `already_set_up`.
pub fn preview(
    text: &str,
    organisation_domains: &[String],
    already_set_up: &[String],
) -> ImportPreview {
    let mut rows = if looks_like_admin_center_csv(text) {
        csv_rows(text)
    } else {
        list_rows(text)
    };
    let cut_short = rows.len() > MAX_ROWS;
    rows.truncate(MAX_ROWS);
    let domains: HashSet<String> = organisation_domains
        .iter()
        .map(|domain| domain.to_ascii_lowercase())
        .collect();
    let existing: HashSet<String> = already_set_up
        .iter()
        .map(|mailbox| mailbox.to_ascii_lowercase())
        .collect();
    let mut seen = HashSet::new();
    let mut preview = ImportPreview {
        cut_short,
        ..ImportPreview::default()
    };
    for row in rows {
        let candidate = match row {
            Ok(candidate) => candidate,
            Err(refused) => {
                preview.invalid.push(refused);
                continue;
            }
        };
        let key = candidate.mailbox.to_ascii_lowercase();
        if let Err(problem) =
            crate::config::validate::mailbox(&candidate.mailbox, crate::config::Field::Mailbox)
        {
            preview.invalid.push(Refused {
                line: candidate.line,
                text: candidate.mailbox,
                reason: problem.message,
            });
            continue;
        }
        if !seen.insert(key.clone()) {
            preview.duplicates.push(Refused {
                line: candidate.line,
                text: candidate.mailbox,
                reason: "listed before".to_owned(),
            });
            continue;
        }
        let domain = key
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_owned())
            .unwrap_or_default();
        if !domains.is_empty() && !domains.contains(&domain) {
            preview.outside_organisation.push(Refused {
                line: candidate.line,
                text: candidate.mailbox,
                reason: format!("{domain} is not one of the organisation's domains"),
            });
            continue;
        }
        if existing.contains(&key) {
            preview.already_set_up.push(candidate);
        } else {
            preview.accepted.push(candidate);
        }
    }
    preview
}

fn looks_like_admin_center_csv(text: &str) -> bool {
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or_default();
    first.contains(UPN_COLUMN)
}

/// One address per item; items separated by new lines, commas, semicolons or spaces ("Name <address>" too).
fn list_rows(text: &str) -> Vec<Result<Candidate, Refused>> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if rows.len() > MAX_ROWS {
            break;
        }
        for item in split_outside_quotes(line, &[',', ';', '\t']) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            // "Reception <reception@practice.com>"
            let (display_name, address) = match (item.find('<'), item.rfind('>')) {
                (Some(open), Some(close)) if open < close => (
                    Some(item[..open].trim().trim_matches('"').to_owned())
                        .filter(|name| !name.is_empty()),
                    item[open + 1..close].trim(),
                ),
                _ => (None, item),
            };
            // Several addresses separated by spaces are several; words without addresses ("front desk") are one
            // mistake, reported once.
            let addresses: Vec<&str> = if address.matches('@').count() > 1 {
                address.split_whitespace().collect()
            } else {
                vec![address]
            };
            for address in addresses {
                rows.push(Ok(Candidate {
                    mailbox: address.trim_matches(['"', '\'']).to_owned(),
                    display_name: display_name.clone(),
                    line: index + 1,
                    notes: Vec::new(),
                }));
            }
        }
    }
    rows
}

/// The export, read line by line: a broken line (a stray quote) is reported on its own and the lines after it are
/// still read. The admin center writes no line breaks inside fields.
fn csv_rows(text: &str) -> Vec<Result<Candidate, Refused>> {
    let text = text.trim_start_matches('\u{feff}');
    // Excel saves with semicolons where the comma is the decimal sign: the header says which.
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let parse = |line: &str| {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
    };
    let mut lines = text.lines().enumerate();
    let Some(headers) = lines.next().and_then(|(_, line)| parse(line)) else {
        return Vec::new();
    };
    let column = |name: &str| headers.iter().position(|header| header.trim() == name);
    let upn = column(UPN_COLUMN);
    let display_name = column(DISPLAY_NAME_COLUMN);
    let proxies = column(PROXY_ADDRESSES_COLUMN);
    let blocked = column(BLOCKED_COLUMN);
    let licences = column(LICENCES_COLUMN);
    let mut rows = Vec::new();
    for (index, text_line) in lines.take(MAX_ROWS + 1) {
        let line = index + 1;
        if text_line.trim().is_empty() {
            continue;
        }
        let Some(record) = parse(text_line) else {
            rows.push(Err(Refused {
                line,
                text: crate::words::excerpt(text_line, 200),
                reason: "the row cannot be read".to_owned(),
            }));
            continue;
        };
        let field = |index: Option<usize>| {
            index
                .and_then(|index| record.get(index))
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        // The primary address ("SMTP:" in capitals) when the export has it; the sign-in name otherwise.
        let primary = field(proxies).and_then(|all| {
            all.split('+')
                .find_map(|address| address.trim().strip_prefix("SMTP:").map(str::to_owned))
        });
        let Some(mailbox) = primary.or_else(|| field(upn).map(str::to_owned)) else {
            rows.push(Err(Refused {
                line,
                text: crate::words::excerpt(text_line, 200),
                reason: "no user principal name in this row".to_owned(),
            }));
            continue;
        };
        let mut notes = Vec::new();
        if field(blocked).is_some_and(|value| value.eq_ignore_ascii_case("true")) {
            notes.push("sign-in blocked in Microsoft 365".to_owned());
        }
        if field(licences).is_some_and(|value| value.eq_ignore_ascii_case("unlicensed")) {
            notes.push("no licence: cannot send or receive until one is assigned".to_owned());
        }
        rows.push(Ok(Candidate {
            mailbox,
            display_name: field(display_name).map(str::to_owned),
            line,
            notes,
        }));
    }
    rows
}

#[cfg(test)]
mod tests {
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
                "dr.lee@smile-dental.co.uk",
                "accounts@smile-dental.co.uk"
            ],
            "the primary SMTP address wins over the sign-in name"
        );
        assert_eq!(
            preview.accepted[1].display_name.as_deref(),
            Some("Dr Lee, Dentist")
        );
        assert_eq!(
            preview.accepted[1].notes.len(),
            2,
            "blocked and unlicensed are said"
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
        assert_eq!(decode(&utf16), "a@b.com");
        assert_eq!(decode(b"Caf\xe9,a@b.com"), "Caf\u{e9},a@b.com");
    }
}
