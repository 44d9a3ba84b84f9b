//! How the command line says things: a check's result as lines or JSON with its fix, the last verdicts for the
//! report, and an error with its code, ids and fix; and which exit code an error deserves.

use std::io::Write;
use std::process::ExitCode;

use crate::advice::{Advice, Surface};
use crate::cli::UsageError;
use crate::state::LastCheck;
use crate::verify::{CheckReport, Verdict};

pub(crate) fn advice_json(advice: &Advice, mailbox: &str) -> serde_json::Value {
    serde_json::json!({
        "cause": advice.cause,
        "steps": advice.steps_for(Surface::CommandLine, Some(mailbox)),
    })
}

pub(crate) fn report_json(report: &CheckReport, mailbox: &str) -> serde_json::Value {
    match &report.verdict {
        Verdict::Passed { server_reply } => serde_json::json!({
            "passed": true,
            "server": report.server,
            "server_reply": server_reply,
            "elapsed_ms": report.elapsed.as_millis(),
        }),
        Verdict::Failed(failure) => serde_json::json!({
            "passed": false,
            "server": report.server,
            "stage": failure.stage.name(),
            "code": failure.code(report.protocol),
            "detail": failure.detail,
            "server_reply": failure.server_reply,
            "oauth_error": failure.oauth_error,
            "fix": advice_json(&crate::advice::for_check(failure, report.protocol), mailbox),
            "elapsed_ms": report.elapsed.as_millis(),
        }),
    }
}

pub(crate) fn write_report_lines(
    out: &mut impl Write,
    report: &CheckReport,
    mailbox: &str,
) -> std::io::Result<()> {
    let role = report.protocol.role();
    match &report.verdict {
        Verdict::Passed { server_reply } => {
            writeln!(out, "✔ {role} {}: passed ({server_reply})", report.server)
        }
        Verdict::Failed(failure) => {
            writeln!(
                out,
                "✖ {role} {}: failed at the {} stage [{}]",
                report.server,
                failure.stage.name(),
                failure.code(report.protocol)
            )?;
            if let Some(reply) = &failure.server_reply {
                writeln!(out, "    server said: {reply}")?;
            }
            let advice = crate::advice::for_check(failure, report.protocol);
            writeln!(out, "    {}", advice.cause)?;
            for (number, step) in advice
                .steps_for(Surface::CommandLine, Some(mailbox))
                .iter()
                .enumerate()
            {
                writeln!(out, "    {}. {step}", number + 1)?;
            }
            Ok(())
        }
    }
}

/// The last verdicts in words, for the support report.
pub fn describe_last_check(check: &LastCheck) -> String {
    match &check.server_reply {
        Some(reply) => format!("{} (server said: {reply})", check.code),
        None => check.code.clone(),
    }
}

/// The exit code an error from [`run`] deserves.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    if error.chain().any(|cause| cause.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// The error with its fix, for stderr: the message once (a cause already in its text is not repeated), the
/// identity server's code, trace id, correlation id and time when there are some (support asks for them), and the
/// fix in command-line words. Server text is cleaned of control characters: it goes to a terminal.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let said = cause.to_string();
        if !text.contains(&said) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&said);
        }
    }
    let sign_in = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<crate::auth::SignInError>());
    if let Some(sign_in) = sign_in {
        text.push_str(&format!("\n  code: {}", sign_in.code()));
        if let Some(identity) = sign_in.identity() {
            for (label, value) in [
                ("trace id", &identity.trace_id),
                ("correlation id", &identity.correlation_id),
                ("time", &identity.timestamp),
            ] {
                if let Some(value) = value {
                    text.push_str(&format!("\n  {label}: {value}"));
                }
            }
        }
    }
    let advice = error
        .chain()
        .find_map(|cause| {
            cause
                .downcast_ref::<crate::tokens::TokenError>()
                .map(crate::advice::for_token)
        })
        .or_else(|| sign_in.map(crate::advice::for_sign_in))
        .or_else(|| {
            error
                .chain()
                .find_map(|cause| cause.downcast_ref::<crate::store::StoreError>())
                .map(crate::advice::for_store)
        });
    if let Some(advice) = advice {
        text.push_str(&format!("\n{}", advice.cause));
        for (number, step) in advice
            .steps_for(Surface::CommandLine, None)
            .iter()
            .enumerate()
        {
            text.push_str(&format!("\n  {}. {step}", number + 1));
        }
    }
    crate::words::excerpt(&text, 4000)
}
