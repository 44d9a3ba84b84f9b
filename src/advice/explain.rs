//! `mailconnect explain`: finds every AADSTS code, enhanced status code, IMAP reply and OAuth error name in text
//! copied from any program (a practice program's log, Outlook, a scanner's display, a web page), with the trace
//! and correlation ids and the time around them, and gives each its catalogue entry.

use std::sync::OnceLock;

use regex::Regex;

use super::{Advice, Evidence, entries, find};

/// One thing found in the text, and what it means.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was found, as it reads: `AADSTS50076`, `5.7.139`, `NO AUTHENTICATE failed.`, `invalid_grant`.
    pub code: String,
    pub advice: Advice,
}

/// Everything found in a pasted text.
#[derive(Debug, Clone, Default)]
pub struct Explanation {
    pub findings: Vec<Finding>,
    pub trace_ids: Vec<String>,
    pub correlation_ids: Vec<String>,
    pub timestamps: Vec<String>,
}

/// The most text looked at: a pasted log can be long, but the cost stays bounded.
pub const MAX_TEXT: usize = 256 * 1024;

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a valid built-in pattern"))
}

/// Every AADSTS number in `text`, in order, once each: `AADSTS50076` and JSON's `"error_codes":[50076]`.
pub fn aadsts_codes(text: &str) -> Vec<u32> {
    static PREFIXED: OnceLock<Regex> = OnceLock::new();
    static JSON: OnceLock<Regex> = OnceLock::new();
    let mut codes: Vec<(usize, u32)> = regex(
        &PREFIXED,
        // Microsoft's sign-in pages show "Error Code: 53003" without the prefix.
        r"(?i)(?:\bAADSTS|\berror code:?\s*)(\d{4,9})\b",
    )
    .captures_iter(text)
    .filter_map(|c| Some((c.get(0)?.start(), c[1].parse().ok()?)))
    .collect();
    for list in regex(&JSON, r#""error_codes"\s*:\s*\[([0-9,\s]{1,200})\]"#).captures_iter(text) {
        let start = list.get(0).map_or(0, |m| m.start());
        for number in list[1].split(',').filter_map(|n| n.trim().parse().ok()) {
            codes.push((start, number));
        }
    }
    codes.sort_by_key(|(at, _)| *at);
    let mut seen = Vec::new();
    for (_, code) in codes {
        if !seen.contains(&code) {
            seen.push(code);
        }
    }
    seen
}

/// Every enhanced status code (RFC 3463: class 4 or 5, `5.7.139`) in `text`, in order, once each. Not part of a
/// longer dotted number (an IP address, a version).
pub fn enhanced_codes(text: &str) -> Vec<String> {
    static ENHANCED: OnceLock<Regex> = OnceLock::new();
    let mut found: Vec<String> = Vec::new();
    for m in regex(
        &ENHANCED,
        r"(?:^|[^0-9.])([45]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[^0-9])",
    )
    .captures_iter(text)
    {
        let code = &m[1];
        let end = m.get(1).map_or(0, |g| g.end());
        // "5.7.139.1" would be a longer dotted number: the next character after the code must not be ".digit".
        let rest = &text[end..];
        if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if !found.iter().any(|f| f == code) {
            found.push(code.to_owned());
        }
    }
    found
}

/// The line of `text` around byte `at` (for narrowing a code by the words beside it).
fn line_around(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    &text[start..end]
}

/// Ids in the text: GUIDs after a label naming them (`Trace ID:`, `"correlation_id":"`, `Request Id:`).
fn ids(text: &str, label: &str) -> Vec<String> {
    static GUID: OnceLock<Regex> = OnceLock::new();
    let guid = regex(
        &GUID,
        r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    );
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    for m in guid.find_iter(text) {
        // The label is what comes shortly before the id, on the same line.
        let before_start = m.start().saturating_sub(24);
        let before = lower.get(before_start..m.start()).unwrap_or_default();
        let before = before.rsplit('\n').next().unwrap_or_default();
        if before.contains(label) && !found.iter().any(|f: &String| f == m.as_str()) {
            found.push(m.as_str().to_owned());
        }
    }
    found
}

fn timestamps(text: &str) -> Vec<String> {
    static TIME: OnceLock<Regex> = OnceLock::new();
    let time = regex(
        &TIME,
        r#"(?i)(?:timestamp"?\s*[:=]\s*"?)(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)"#,
    );
    let mut found: Vec<String> = Vec::new();
    for c in time.captures_iter(text) {
        if !found.iter().any(|f| f == &c[1]) {
            found.push(c[1].to_owned());
        }
    }
    found
}

/// Everything `text` says that the catalogue knows, in the order found.
pub fn explain(text: &str) -> Explanation {
    let mut cut = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = &text[..cut];
    let mut findings: Vec<(usize, Finding)> = Vec::new();
    fn add(findings: &mut Vec<(usize, Finding)>, at: usize, code: String, advice: Option<Advice>) {
        if let Some(advice) = advice
            && !findings.iter().any(|(_, f)| f.advice == advice)
        {
            findings.push((at, Finding { code, advice }));
        }
    }
    for code in aadsts_codes(text) {
        let needle = format!("{code}");
        let at = text.find(&needle).unwrap_or(0);
        let evidence = Evidence {
            aadsts: Some(code),
            enhanced: None,
            name: None,
            text: line_around(text, at),
        };
        add(&mut findings, at, format!("AADSTS{code}"), find(&evidence));
    }
    for code in enhanced_codes(text) {
        let at = text.find(&code).unwrap_or(0);
        let evidence = Evidence {
            aadsts: None,
            enhanced: Some(code.clone()),
            name: None,
            text: line_around(text, at),
        };
        add(&mut findings, at, code, find(&evidence));
    }
    let lower = text.to_lowercase();
    for entry in entries() {
        for name in &entry.names {
            static WORD: OnceLock<Regex> = OnceLock::new();
            let words = regex(&WORD, r"[a-z_]+");
            // A name beside an AADSTS number is the same error; the number says more.
            let beside_a_code = |at: usize| {
                let line = line_around(&lower, at);
                line.contains("aadsts") || line.contains("error_codes")
            };
            if let Some(m) = words
                .find_iter(&lower)
                .find(|m| m.as_str() == name && !beside_a_code(m.start()))
            {
                let evidence = Evidence {
                    name: Some(name),
                    text: line_around(text, m.start()),
                    ..Evidence::default()
                };
                add(&mut findings, m.start(), name.clone(), find(&evidence));
            }
        }
        for reply in &entry.replies {
            if let Some(at) = lower.find(&reply.to_lowercase()) {
                let line = line_around(text, at).trim();
                add(
                    &mut findings,
                    at,
                    crate::words::excerpt(line, 120),
                    find(&Evidence::from_text(line)),
                );
            }
        }
    }
    // English wording last, and only for causes no code or name found already.
    if findings.is_empty() {
        for entry in entries().iter().filter(|entry| entry.refines.is_none()) {
            if let Some((at, words)) = entry
                .text
                .iter()
                .find_map(|words| lower.find(&words.to_lowercase()).map(|at| (at, words)))
            {
                add(
                    &mut findings,
                    at,
                    format!("\"{words}\""),
                    Some(Advice::of(entry)),
                );
            }
        }
    }
    findings.sort_by_key(|(at, _)| *at);
    Explanation {
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        trace_ids: ids(text, "trace"),
        correlation_ids: ids(text, "correlation"),
        timestamps: timestamps(text),
    }
}
