//! `mailconnect explain`: finds every AADSTS code, enhanced status code, IMAP reply and OAuth error name in text
//! copied from any program (a practice program's log, Outlook, a scanner's display, a web page), with the trace
//! and correlation ids and the time around them, and gives each its catalogue entry.

use std::sync::OnceLock;

use regex::Regex;

use super::{Advice, Evidence, Surface, entries, find};

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
    /// The text was longer than [`MAX_TEXT`]: only its end was read.
    pub truncated: bool,
}

/// The most text looked at: a pasted log can be long, but the cost stays bounded.
pub const MAX_TEXT: usize = 256 * 1024;

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a valid built-in pattern"))
}

/// Every AADSTS number in `text`, in order, once each: `AADSTS50076` and JSON's `"error_codes":[50076]`.
pub fn aadsts_codes(text: &str) -> Vec<u32> {
    aadsts_codes_at(text)
        .into_iter()
        .map(|(_, code)| code)
        .collect()
}

/// The most distinct codes of each kind looked at: a pasted log names a handful; a hostile paste cannot make
/// the work grow without bound.
const MAX_CODES: usize = 64;

/// [`aadsts_codes`] with where each first appears.
fn aadsts_codes_at(text: &str) -> Vec<(usize, u32)> {
    static PREFIXED: OnceLock<Regex> = OnceLock::new();
    static JSON: OnceLock<Regex> = OnceLock::new();
    let mut codes: Vec<(usize, u32)> = regex(
        &PREFIXED,
        // Microsoft's sign-in pages show "Error Code: 53003" without the prefix, in the page's language.
        r"(?i)(?:\bAADSTS|\b(?:error code|fehlercode|code d['’]erreur|foutcode|c[oó]digo de error|codice di errore|c[oó]digo do erro):?\s*)(\d{4,9})\b",
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
    let mut seen: Vec<(usize, u32)> = Vec::new();
    for (at, code) in codes {
        if seen.len() == MAX_CODES {
            break;
        }
        if !seen.iter().any(|(_, seen)| *seen == code) {
            seen.push((at, code));
        }
    }
    seen
}

/// Every enhanced status code (RFC 3463: class 4 or 5, `5.7.139`) in `text`, in order, once each.
pub fn enhanced_codes(text: &str) -> Vec<String> {
    enhanced_codes_at(text)
        .into_iter()
        .map(|(_, code)| code)
        .collect()
}

/// [`enhanced_codes`] with where each first appears. Not a part of a longer dotted number (an IP address, a
/// version), not a version ("v5.7.3", "version 5.7.139", "5.7.30-beta") and not a duration ("4.4.2s").
fn enhanced_codes_at(text: &str) -> Vec<(usize, String)> {
    static ENHANCED: OnceLock<Regex> = OnceLock::new();
    let mut found: Vec<(usize, String)> = Vec::new();
    for m in regex(
        &ENHANCED,
        r"(?:^|[^0-9.])([45]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[^0-9])",
    )
    .captures_iter(text)
    {
        let Some(code) = m.get(1) else { continue };
        let rest = &text[code.end()..];
        let longer_number =
            rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit());
        let glued_after =
            rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_');
        let before = text[..code.start()].trim_end_matches(' ');
        let tail: String = before
            .chars()
            .rev()
            .take(8)
            .collect::<String>()
            .chars()
            .rev()
            .collect();
        let tail = tail.to_ascii_lowercase();
        let a_version =
            before.ends_with(['v', 'V']) || tail.ends_with("version") || tail.ends_with("build");
        if longer_number || glued_after || a_version {
            continue;
        }
        if found.len() == MAX_CODES {
            break;
        }
        if !found.iter().any(|(_, seen)| seen == code.as_str()) {
            found.push((code.start(), code.as_str().to_owned()));
        }
    }
    found
}

/// The words around byte `at` (for narrowing a code by them): its line, at most 400 bytes either side, so that a
/// log without line breaks costs no more than one with them.
fn line_around(text: &str, at: usize) -> &str {
    const REACH: usize = 400;
    let mut low = at.saturating_sub(REACH);
    while !text.is_char_boundary(low) {
        low += 1;
    }
    let mut high = (at + REACH).min(text.len());
    while !text.is_char_boundary(high) {
        high -= 1;
    }
    let start = text[low..at].rfind('\n').map_or(low, |i| low + i + 1);
    let end = text[at..high].find('\n').map_or(high, |i| at + i);
    &text[start..end]
}

/// Ids in the text: GUIDs after a label naming them (`Trace ID:`, `"correlation_id":"`, `Request Id:`).
fn ids(text: &str, label: &str) -> Vec<String> {
    static GUID: OnceLock<Regex> = OnceLock::new();
    let guid = regex(
        &GUID,
        r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    );
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    for m in guid.find_iter(text).take(MAX_CODES) {
        // The label is what comes shortly before the id, on the same line.
        let before_start = m.start().saturating_sub(24);
        let before = lower.get(before_start..m.start()).unwrap_or_default();
        let before = before.replace("request id", "trace id");
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

/// Everything `text` says that the catalogue knows, in the order found. Of a longer text only the last
/// [`MAX_TEXT`] bytes are read: logs grow at the end, so that is where the newest error is.
pub fn explain(text: &str) -> Explanation {
    let mut cut = text.len().saturating_sub(MAX_TEXT);
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let truncated = cut > 0;
    let text = &text[cut..];
    let mut findings: Vec<(usize, Finding)> = Vec::new();
    fn add(findings: &mut Vec<(usize, Finding)>, at: usize, code: String, advice: Option<Advice>) {
        if let Some(advice) = advice
            && !findings.iter().any(|(_, f)| f.advice == advice)
        {
            findings.push((at, Finding { code, advice }));
        }
    }
    for (at, code) in aadsts_codes_at(text) {
        let evidence = Evidence {
            aadsts: Some(code),
            enhanced: None,
            name: None,
            text: line_around(text, at),
        };
        add(&mut findings, at, format!("AADSTS{code}"), find(&evidence));
    }
    for (at, code) in enhanced_codes_at(text) {
        let evidence = Evidence {
            aadsts: None,
            enhanced: Some(code.clone()),
            name: None,
            text: line_around(text, at),
        };
        add(&mut findings, at, code, find(&evidence));
    }
    let folded = text.to_ascii_lowercase();
    static WORD: OnceLock<Regex> = OnceLock::new();
    let words: Vec<(usize, &str)> = regex(&WORD, r"[a-z_]+")
        .find_iter(&folded)
        .map(|m| (m.start(), m.as_str()))
        .collect();
    for entry in entries() {
        for name in &entry.names {
            // A name beside an AADSTS number is the same error; the number says more.
            let beside_a_code = |at: usize| {
                let line = line_around(&folded, at);
                line.contains("aadsts") || line.contains("error_codes")
            };
            if let Some((at, _)) = words
                .iter()
                .find(|(at, word)| *word == name && !beside_a_code(*at))
            {
                let evidence = Evidence {
                    name: Some(name),
                    text: line_around(text, *at),
                    ..Evidence::default()
                };
                add(&mut findings, *at, name.clone(), find(&evidence));
            }
        }
        for reply in &entry.replies {
            if let Some(at) = folded.find(&reply.to_ascii_lowercase()) {
                // The reply's own words, never the whole line: a pasted log line can hold a password or a token.
                add(
                    &mut findings,
                    at,
                    reply.clone(),
                    find(&Evidence::from_text(line_around(text, at))),
                );
            }
        }
    }
    // English wording last, and only when no code or name was found.
    if findings.is_empty() {
        for entry in entries() {
            if let Some((at, words)) = entry.text.iter().find_map(|words| {
                folded
                    .find(&words.to_ascii_lowercase())
                    .map(|at| (at, words))
            }) {
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
        truncated,
    }
}

/// The explanation as text, as `mailconnect explain` prints it and the window's Copy copies it, with the steps as
/// `surface` says them.
pub fn explanation_text(explanation: &Explanation, surface: Surface) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if explanation.truncated {
        let _ = writeln!(
            &mut out,
            "(A long text: only its last {} KiB were read, where the newest errors are.)\n",
            crate::advice::explain::MAX_TEXT / 1024
        );
    }
    if explanation.findings.is_empty() {
        let _ = writeln!(
            &mut out,
            "No sign-in code, server reply or error name that mailconnect knows was found in this text."
        );
    }
    for finding in &explanation.findings {
        let _ = writeln!(&mut out, "{}", crate::words::excerpt(&finding.code, 200));
        let _ = writeln!(&mut out, "  {}", finding.advice.cause);
        let lasting = if finding.advice.is_transient() {
            "  Temporary: trying again later can work without changing anything."
        } else if finding.advice.entry.sign_in_helps {
            "  Signing in again can fix it."
        } else {
            "  Signing in again does not fix it: follow the steps."
        };
        let _ = writeln!(&mut out, "{lasting}");
        for (number, step) in finding.advice.steps_for(surface, None).iter().enumerate() {
            let _ = writeln!(&mut out, "  {}. {step}", number + 1);
        }
        let _ = writeln!(out);
    }
    for (label, values) in [
        ("Trace id", &explanation.trace_ids),
        ("Correlation id", &explanation.correlation_ids),
        ("Time", &explanation.timestamps),
    ] {
        for value in values {
            let _ = writeln!(&mut out, "{label}: {value}");
        }
    }
    out
}
