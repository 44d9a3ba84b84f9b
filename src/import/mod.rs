//! Bringing many mailboxes in: a pasted list of addresses, or the CSV the Microsoft 365 admin center exports from
//! Users > Active users (its own column names; other columns ignored). Everything is checked before anything is
//! saved: invalid addresses and duplicates are reported with their line, addresses outside the organisation's
//! domains are held back, users whose sign-in is blocked or who have no licence are held back unless asked for,
//! and a bad row never stops the rest. Every text kept from the input is cleaned of control characters here, so
//! no terminal escape from a file reaches a screen, and the reading is bounded whatever the input's shape.

use std::collections::HashSet;

/// A mailbox that can be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub mailbox: String,
    pub display_name: Option<String>,
    /// The line it came from (1 is the first line of the text).
    pub line: usize,
    /// Why it is held back ("sign-in blocked in Microsoft 365", "no licence ..."); empty for one that can be added.
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
    /// Users the admin center marks as not able to use their mailbox (sign-in blocked, no licence): problems with
    /// their line, added only when asked for ([`ImportPreview::to_add`]).
    pub held_back: Vec<Candidate>,
    /// Already set up in mailconnect: left as they are.
    pub already_set_up: Vec<Candidate>,
    pub duplicates: Vec<Refused>,
    pub invalid: Vec<Refused>,
    /// Addresses whose domain is not one of the organisation's (probably a typing mistake, or another tenant).
    pub outside_organisation: Vec<Refused>,
    /// The text held more than [`MAX_ROWS`] addresses: the rest were not read.
    pub cut_short: bool,
}

/// The most read from a file or standard input: far more than any export of users.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a list or export (at most [`MAX_BYTES`]) and decodes it: the one reading for the command line and the
/// window's "Open exported file…".
pub fn read(source: impl std::io::Read) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    source.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::other(
            "it is larger than 64 MiB; import it in parts",
        ));
    }
    Ok(decode(bytes))
}

/// Bytes as text, in the encodings the admin center and Excel save in: UTF-8 (with or without its byte-order mark),
/// UTF-16 with its byte-order mark (Excel's "Unicode Text"), or else Windows-1252 (Excel's "CSV" on a Western
/// Windows, where "O’Brien" has the byte 0x92). Valid UTF-8 is taken as it is, without a copy.
pub fn decode(bytes: Vec<u8>) -> String {
    match encoding_rs::Encoding::for_bom(&bytes) {
        Some((encoding, bom_length)) if encoding == encoding_rs::UTF_8 => {
            match String::from_utf8(bytes) {
                Ok(mut text) => {
                    text.drain(..bom_length);
                    text
                }
                Err(error) => String::from_utf8_lossy(&error.as_bytes()[bom_length..]).into_owned(),
            }
        }
        Some((encoding, bom_length)) => encoding
            .decode_without_bom_handling(&bytes[bom_length..])
            .0
            .into_owned(),
        None => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(error.as_bytes())
                .0
                .into_owned(),
        },
    }
}

/// Text from the input as it may be shown: control characters (terminal escapes among them) become spaces, and
/// the length is bounded.
fn shown(text: &str) -> String {
    crate::words::excerpt(text, 200).replace('\n', " ")
}

/// The items of a line separated by `separators` outside double quotes ("Lee, John" <john@…> stays one item),
/// one at a time, so a huge line is never split whole.
struct OutsideQuotes<'a> {
    rest: Option<&'a str>,
    separators: &'a [char],
}

impl<'a> OutsideQuotes<'a> {
    fn new(line: &'a str, separators: &'a [char]) -> Self {
        OutsideQuotes {
            rest: Some(line),
            separators,
        }
    }
}

impl<'a> Iterator for OutsideQuotes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let mut quoted = false;
        for (at, c) in rest.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if !quoted && self.separators.contains(&c) {
                self.rest = Some(&rest[at + c.len_utf8()..]);
                return Some(&rest[..at]);
            }
        }
        self.rest = None;
        Some(rest)
    }
}

impl ImportPreview {
    /// The mailboxes that would be added: those without problems, and those held back when `held_back` is asked
    /// for (`--add-blocked-and-unlicensed`, or the window's tick box). The one list the command line and the
    /// window add from.
    pub fn to_add(&self, held_back: bool) -> Vec<&Candidate> {
        let held = if held_back {
            self.held_back.as_slice()
        } else {
            &[]
        };
        let mut all: Vec<&Candidate> = self.accepted.iter().chain(held).collect();
        all.sort_by_key(|candidate| candidate.line);
        all
    }

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

/// How the window and the command line title the users held back.
pub const HELD_BACK_TITLE: &str = "Sign-in blocked or no licence";

/// Most rows read: an organisation with more mailboxes than this imports in parts.
pub const MAX_ROWS: usize = 20_000;

/// Reads `text` (a list of addresses, one or more a line, or the admin center's CSV) and checks every address
/// against `organisation_domains` (none given: not checked) and the mailboxes `already_set_up`.
pub fn preview(
    text: &str,
    organisation_domains: &[String],
    already_set_up: &[String],
) -> ImportPreview {
    // A byte-order mark pasted along with a list (copied from a file) is not part of the first address.
    let text = text.trim_start_matches('\u{feff}');
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
                text: shown(&candidate.mailbox),
                reason: shown(&problem.message),
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
        } else if !candidate.notes.is_empty() {
            preview.held_back.push(candidate);
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

/// One address per item; items separated by new lines, commas, semicolons, tabs or spaces ("Name <address>" too).
/// Stops at one more than [`MAX_ROWS`] items wherever they are, a one-line list of 64 MiB included.
fn list_rows(text: &str) -> Vec<Result<Candidate, Refused>> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for item in OutsideQuotes::new(line, &[',', ';', '\t']) {
            if rows.len() > MAX_ROWS {
                return rows;
            }
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            // "Reception <reception@practice.com>"
            let (display_name, address) = match (item.find('<'), item.rfind('>')) {
                (Some(open), Some(close)) if open < close => (
                    Some(shown(item[..open].trim().trim_matches('"')))
                        .filter(|name| !name.trim().is_empty()),
                    item[open + 1..close].trim(),
                ),
                _ => (None, item),
            };
            // Several addresses separated by spaces are several; words without addresses ("front desk") are one
            // mistake, reported once.
            let addresses: Vec<&str> = if address.matches('@').count() > 1 {
                address.split_whitespace().take(MAX_ROWS + 1).collect()
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
    // Excel saves with semicolons where the comma is the decimal sign, and its "Unicode Text" with tabs: the
    // header says which.
    let header = text.lines().next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&delimiter| header.matches(char::from(delimiter)).count())
        .unwrap_or(b',');
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
                text: shown(text_line),
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
                text: shown(text_line),
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
            display_name: field(display_name).map(shown),
            line,
            notes,
        }));
    }
    rows
}

#[cfg(test)]
mod tests;
