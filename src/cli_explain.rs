//! `mailconnect explain` and `mailconnect consent-link`: the troubleshooting catalogue and the IT admin's approval
//! request, for support staff and practice admins at a terminal.

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::advice::{Surface, explain::Explanation};
use crate::config::Account;

/// Explains `text` (or standard input): exit code 0 when something was recognised, 1 when nothing was.
pub fn explain(text: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let text = match text {
        Some(text) => text,
        None => {
            let stdin = std::io::stdin();
            if std::io::IsTerminal::is_terminal(&stdin) {
                eprintln!(
                    "Paste the error message, then press Ctrl-D (on Windows: Ctrl-Z, then Enter)."
                );
            }
            // The whole input is read, but only its end is kept (logs grow at the end): memory stays bounded.
            let keep = crate::advice::explain::MAX_TEXT;
            let mut kept: Vec<u8> = Vec::with_capacity(keep);
            let mut chunk = vec![0u8; 64 * 1024];
            let mut reader = stdin.lock();
            let mut truncated = false;
            loop {
                let read = reader.read(&mut chunk)?;
                if read == 0 {
                    break;
                }
                kept.extend_from_slice(&chunk[..read]);
                if kept.len() > 2 * keep {
                    kept.drain(..kept.len() - keep);
                    truncated = true;
                }
            }
            let text = String::from_utf8_lossy(&kept).into_owned();
            if truncated {
                // A marker that explain() keeps the end only, whatever the length of what is left.
                format!("{}{}", " ".repeat(keep), text)
            } else {
                text
            }
        }
    };
    let explanation = crate::advice::explain(&text);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&explanation_json(&explanation))?
        )?;
    } else {
        write_explanation(&mut out, &explanation)?;
    }
    Ok(if explanation.findings.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn explanation_json(explanation: &Explanation) -> serde_json::Value {
    serde_json::json!({
        "findings": explanation.findings.iter().map(|finding| serde_json::json!({
            "code": finding.code,
            "id": finding.advice.id(),
            "cause": finding.advice.cause,
            "steps": finding.advice.steps_for(Surface::Elsewhere, None),
            "transient": finding.advice.is_transient(),
            "sign_in_again_helps": finding.advice.entry.sign_in_helps,
        })).collect::<Vec<_>>(),
        "trace_ids": explanation.trace_ids,
        "correlation_ids": explanation.correlation_ids,
        "timestamps": explanation.timestamps,
    })
}

fn write_explanation(out: &mut impl Write, explanation: &Explanation) -> std::io::Result<()> {
    out.write_all(
        crate::advice::explain::explanation_text(explanation, Surface::Elsewhere).as_bytes(),
    )
}

/// Prints the approval link and the e-mail for the IT admin.
pub fn consent_link(account: &Account) -> anyhow::Result<ExitCode> {
    let request = crate::consent::consent_request(account)
        .map_err(|problem| crate::cli::UsageError(format!("no approval link: {problem}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", request.url)?;
    writeln!(out)?;
    writeln!(out, "Subject: {}", request.email_subject)?;
    writeln!(out)?;
    write!(out, "{}", request.email_body)?;
    Ok(ExitCode::SUCCESS)
}
