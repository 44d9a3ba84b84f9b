//! Plain-language causes and numbered fixes for every sign-in error code and server reply we know of.
//!
//! Each [`Advice`] is written for a practice admin; support staff read out the code and ids shown beside it.

use crate::verify::{FailureKind, Stage};

/// What went wrong in plain words, and the steps that fix it. A step names the window's controls only through
/// markers (`{retry}`, `{sign-in-again}`, `{another-account}`, `{new-code}`, `{report}`), so that the same advice
/// reads right in the window (the button's name in quotes) and in a terminal ("run the same mailconnect command again"):
/// see [`Advice::steps_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    pub cause: &'static str,
    pub steps: &'static [&'static str],
}

pub use crate::controls::Surface;

const ADMIN_CENTER_MAIL_APPS: &str = "In the Microsoft 365 admin center (admin.microsoft.com) open Users > Active users, select \
     the mailbox, open the Mail tab and choose \"Manage email apps\".";

const SIGN_IN_AGAIN: Advice = Advice {
    cause: "The saved sign-in is no longer valid (it expired, was revoked, or the password was changed).",
    steps: &["{sign-in-again} and sign in with the mailbox's Microsoft account."],
};

/// Advice for an `AADSTS` code returned by Microsoft's sign-in service.
pub fn for_aadsts(code: u32) -> Advice {
    match code {
        50020 => Advice {
            cause: "This account does not belong to the organisation the app is set up for (often a personal Microsoft account was used).",
            steps: &[
                "{another-account} and sign in with the practice's work account.",
                "If a personal Outlook.com mailbox is meant, pick the provider \"Outlook.com (personal)\".",
                "If the account should be a guest, ask the admin to invite it to the tenant.",
            ],
        },
        500200 => Advice {
            cause: "A personal Microsoft account was used, but the app only accepts work or school accounts.",
            steps: &[
                "Sign in with a work or school account.",
                "Or ask whoever registered the app to allow personal Microsoft accounts under Authentication > Supported account types.",
            ],
        },
        50076 => Advice {
            cause: "Your organisation requires multi-factor authentication for this sign-in.",
            steps: &[
                "Sign in again and complete the extra check (text message, phone call or the Authenticator app).",
            ],
        },
        50079 => Advice {
            cause: "Your organisation requires you to register for multi-factor authentication first.",
            steps: &[
                "Open https://aka.ms/mysecurityinfo in a browser, sign in and add a phone or the Authenticator app.",
                "Then sign in here again.",
            ],
        },
        50105 => Advice {
            cause: "The administrator has not given this user access to the app.",
            steps: &[
                "Ask the admin to open entra.microsoft.com > Enterprise applications > the app > Users and groups.",
                "Add the user (or their group) and sign in again.",
            ],
        },
        50126 => Advice {
            cause: "The user name or password was wrong.",
            steps: &[
                "Sign in again and check the password (it is the one noted on the \"Your current settings\" step).",
            ],
        },
        50158 => Advice {
            cause: "An extra security check from another provider (third-party MFA) was not completed.",
            steps: &["Sign in again and complete the security check you are shown."],
        },
        53003 | 53000 | 530032 => Advice {
            cause: "A Conditional Access policy of your organisation blocked this sign-in (for example only managed devices or certain locations are allowed).",
            steps: &[
                "Ask the admin to open entra.microsoft.com > Protection > Conditional Access > Sign-in logs and look up the correlation id shown here.",
                "The admin allows this sign-in (device, location or app) in the policy, then sign in again.",
            ],
        },
        530035 => Advice {
            cause: "Microsoft's Security Defaults blocked this sign-in.",
            steps: &[
                "Ask the admin to review the sign-in in entra.microsoft.com > Sign-in logs (use the correlation id shown here).",
                "Complete the multi-factor registration the admin asks for, then sign in again.",
            ],
        },
        65001 => Advice {
            cause: "Permission for this app to use the mailbox has not been granted yet.",
            steps: &[
                "Sign in again and accept the permissions when asked.",
                "If users may not consent in your organisation, an admin grants consent once for everyone (Enterprise applications > the app > Permissions > Grant admin consent).",
            ],
        },
        65004 => Advice {
            cause: "The permission request was declined.",
            steps: &[
                "Sign in again and choose Accept when asked for permission to read and send mail.",
            ],
        },
        90094 | 90095 => Advice {
            cause: "An administrator must approve this app before anyone can use it.",
            steps: &[
                "Ask a Global or Cloud Application Administrator to open entra.microsoft.com > Enterprise applications > the app > Permissions.",
                "They choose \"Grant admin consent\" for IMAP.AccessAsUser.All, SMTP.Send and offline_access.",
                "Then sign in here again.",
            ],
        },
        70000 | 70008 | 700082 | 50173 | 70043 | 54005 | 501481 => match code {
            54005 | 501481 => Advice {
                cause: "The sign-in was interrupted and cannot be completed.",
                steps: &["Start the sign-in again."],
            },
            _ => SIGN_IN_AGAIN,
        },
        70011 => Advice {
            cause: "The app asked for permissions in a form Microsoft does not accept (scopes must be full Outlook URIs, one resource at a time).",
            steps: &[
                "Check the scopes in the preset file: https://outlook.office.com/IMAP.AccessAsUser.All, https://outlook.office.com/SMTP.Send, offline_access.",
                "Do not mix Microsoft Graph scopes with Outlook scopes.",
            ],
        },
        700016 => Advice {
            cause: "Microsoft does not know this application (client) ID in this tenant or cloud.",
            steps: &[
                "Check the application (client) ID and tenant in the account's Advanced settings against the app registration's Overview page.",
                "If the app is registered in another tenant, its \"Supported account types\" must include other organisations.",
                "Each Microsoft cloud (worldwide, GCC High, 21Vianet) needs its own registration.",
            ],
        },
        7000218 => Advice {
            cause: "The app registration is not set up as a public (desktop) client.",
            steps: &[
                "In entra.microsoft.com > App registrations > the app > Authentication, set \"Allow public client flows\" to Yes.",
                "Make sure http://localhost is registered under \"Mobile and desktop applications\", not \"Web\".",
            ],
        },
        700025 => Advice {
            cause: "The app registration expects no secret from a desktop program, but one was sent.",
            steps: &[
                "Remove the client secret from the preset file; desktop sign-in never uses one.",
            ],
        },
        7000215 | 7000222 => Advice {
            cause: "The app's client secret is wrong or has expired.",
            steps: &[
                "In App registrations > the app > Certificates & secrets, create a new secret and update the service configuration.",
            ],
        },
        50011 => Advice {
            cause: "The sign-in return address does not match the app registration.",
            steps: &[
                "In App registrations > the app > Authentication, add http://localhost under \"Mobile and desktop applications\" (the port does not matter, the path does).",
            ],
        },
        9002313 | 900144 => Advice {
            cause: "The sign-in request was incomplete or malformed.",
            steps: &[
                "Start the sign-in again. If it happens again, {report} and send it to support.",
            ],
        },
        90072 => Advice {
            cause: "This guest account cannot complete multi-factor authentication in this organisation.",
            steps: &["Sign in with an account that belongs to the organisation itself."],
        },
        50194 => Advice {
            cause: "The app only accepts accounts from one organisation, so the tenant must be named.",
            steps: &[
                "In the account's Advanced settings, set Tenant to your domain (for example yourpractice.com) or the tenant ID.",
            ],
        },
        9002331 | 9002332 => Advice {
            cause: "The kind of account does not match the sign-in address (personal versus work or school).",
            steps: &[
                "Pick \"Outlook.com (personal)\" for personal mailboxes and \"Microsoft 365\" for work mailboxes, then sign in again.",
            ],
        },
        9001023 => Advice {
            cause: "This kind of sign-in is not allowed on the shared \"common\" or \"consumers\" tenant.",
            steps: &["In the account's Advanced settings, set Tenant to your domain or tenant ID."],
        },
        90002 => Advice {
            cause: "Microsoft cannot find this tenant; often the domain is mistyped or belongs to another Microsoft cloud.",
            steps: &[
                "Check the Tenant in the account's Advanced settings.",
                "Pick the right provider: GCC High and 21Vianet mailboxes sign in elsewhere.",
            ],
        },
        500011 => Advice {
            cause: "The mail service was not found in your tenant; it usually needs admin consent or Exchange Online is missing.",
            steps: &[
                "Ask the admin to grant consent for the app (Enterprise applications > the app > Permissions > Grant admin consent).",
                "Check that the tenant has an Exchange Online subscription.",
            ],
        },
        650052 => Advice {
            cause: "Your organisation has no Exchange Online subscription for this mailbox.",
            steps: &[
                "In the Microsoft 365 admin center open Billing > Licenses and check for a licence that includes Exchange Online.",
                "Assign it to the mailbox under Users > Active users > the user > Licenses and apps.",
            ],
        },
        70016 => Advice {
            cause: "The sign-in has not been completed in the browser yet.",
            steps: &["Finish signing in on the page where you entered the code."],
        },
        70018 => Advice {
            cause: "The code was typed incorrectly.",
            steps: &["Get a new code and type it exactly as shown."],
        },
        70019 => Advice {
            cause: "The code expired before the sign-in was finished (codes last 15 minutes).",
            steps: &["{new-code} and sign in within 15 minutes."],
        },
        _ => Advice {
            cause: "Microsoft's sign-in service refused the sign-in.",
            steps: &[
                "Try signing in again.",
                "If it fails again, read out the code and correlation id to support, or {report}.",
            ],
        },
    }
}

/// Advice for an OAuth `error` value that carries no AADSTS code (RFC 6749 / RFC 8628).
pub fn for_oauth_error(error: &str) -> Advice {
    match error {
        "authorization_declined" | "access_denied" => Advice {
            cause: "The sign-in was declined in the browser.",
            steps: &["Start the sign-in again and choose Accept or Continue."],
        },
        "expired_token" => for_aadsts(70019),
        "bad_verification_code" => for_aadsts(70018),
        "invalid_grant" => SIGN_IN_AGAIN,
        "invalid_client" | "unauthorized_client" => for_aadsts(7000218),
        "invalid_scope" => for_aadsts(70011),
        "temporarily_unavailable" | "server_error" => Advice {
            cause: "Microsoft's sign-in service is temporarily unavailable.",
            steps: &["Wait a minute and try again. Nothing saved was changed."],
        },
        _ => for_aadsts(0),
    }
}

/// Advice when the identity server could not be reached or answered something unusable.
pub const IDENTITY_UNREACHABLE: Advice = Advice {
    cause: "Microsoft's sign-in service could not be reached or gave an answer that cannot be used.",
    steps: &[
        "Check that this computer is online (open a web page).",
        "If the practice uses a proxy or firewall, allow login.microsoftonline.com.",
        "Try again in a minute; nothing saved was changed.",
    ],
};

/// Advice for the final reply of a rejected SMTP `AUTH`.
pub fn for_smtp_reply(reply: &str) -> Advice {
    let lower = reply.to_ascii_lowercase();
    if lower.contains("smtpclientauthentication is disabled")
        || lower.contains("smtp_auth_disabled")
    {
        return Advice {
            cause: "Sending mail from programs (Authenticated SMTP) is switched off for your organisation or this mailbox.",
            steps: &[
                ADMIN_CENTER_MAIL_APPS,
                "Tick \"Authenticated SMTP\" and save (it can take up to an hour to apply).",
                "If it is switched off for the whole organisation, an admin runs this in Exchange Online PowerShell: \
                 Set-TransportConfig -SmtpClientAuthenticationDisabled $false",
                "Then {retry}.",
            ],
        };
    }
    if lower.contains("security defaults") {
        return Advice {
            cause: "Microsoft's Security Defaults locked this user for programs that send mail.",
            steps: &[
                "Ask the admin to check the user in entra.microsoft.com > Sign-in logs.",
                "Complete the multi-factor registration the admin asks for, then {retry}.",
            ],
        };
    }
    if lower.contains("did not meet the criteria") {
        return Advice {
            cause: "A Conditional Access policy of your organisation blocked sending from this program.",
            steps: &[
                "Ask the admin to review the Conditional Access policies for SMTP and this user, then {retry}.",
            ],
        };
    }
    if lower.contains("5.7.30")
        || lower.contains("basic authentication is disabled")
        || lower.contains("basic authentication is not supported")
    {
        return Advice {
            cause: "The server refused a password (Basic Auth); only OAuth sign-in is accepted now.",
            steps: &[
                "Finish this wizard so the program signs in with OAuth instead of the password.",
            ],
        };
    }
    if lower.contains("5.7.60") {
        return Advice {
            cause: "The signed-in account may not send as this address.",
            steps: &[
                "In the Exchange admin center open Recipients > Mailboxes > the mailbox > Delegation.",
                "Give the signed-in account \"Send as\" permission, wait up to an hour, then {retry}.",
            ],
        };
    }
    if lower.contains("5.7.57") {
        return Advice {
            cause: "The server did not accept the sign-in before mail was sent.",
            steps: &["{retry}. If it persists, sign in again."],
        };
    }
    if lower.contains("account locked") || lower.contains("credentials were incorrect") {
        return Advice {
            cause: "Microsoft refused the account: it is locked or its credentials are wrong.",
            steps: &[
                "Check that the user can sign in to outlook.office.com.",
                "Then sign in here again.",
            ],
        };
    }
    if lower.starts_with("454") || lower.starts_with('4') {
        return TEMPORARY_SERVER_FAILURE;
    }
    Advice {
        cause: "The mail server did not accept the sign-in for sending. Usually the mailbox has no licence, Authenticated \
                SMTP is off for it, or the sign-in was for a different account.",
        steps: &[
            "In the Microsoft 365 admin center open Users > Active users and check that the mailbox has a licence \
             (a shared mailbox sends through a licensed user who signs in).",
            ADMIN_CENTER_MAIL_APPS,
            "Make sure \"Authenticated SMTP\" is ticked.",
            "Sign in again with the mailbox's own account, then {retry}.",
        ],
    }
}

/// Advice for the final reply of a rejected IMAP `AUTHENTICATE` or mailbox command.
pub fn for_imap_reply(reply: &str) -> Advice {
    let lower = reply.to_ascii_lowercase();
    if lower.contains("not connected") {
        return Advice {
            cause: "The sign-in worked, but the signed-in account has no access to this mailbox.",
            steps: &[
                "Check that you signed in as the mailbox itself, or as a user with Full Access to it.",
                "For a shared mailbox the admin grants Full Access in the Exchange admin center > Recipients > Mailboxes > the mailbox > Delegation.",
                "Then {retry}.",
            ],
        };
    }
    if lower.contains("[unavailable]") {
        return TEMPORARY_SERVER_FAILURE;
    }
    Advice {
        cause: "The mail server did not accept the sign-in for receiving mail. Usually IMAP is switched off for the \
                mailbox, it has no licence, or the sign-in was for a different account.",
        steps: &[
            ADMIN_CENTER_MAIL_APPS,
            "Make sure \"IMAP\" is ticked (PowerShell: Set-CASMailbox -Identity <mailbox> -ImapEnabled $true).",
            "Under Users > Active users check that the mailbox has a licence.",
            "For Outlook.com personal mailboxes, switch on IMAP in Outlook.com > Settings > Mail > Forwarding and IMAP.",
            "Then {retry}.",
        ],
    }
}

/// Advice for a check that failed before or around the sign-in for a reason other than the server's verdict.
pub fn for_connection_failure(kind: FailureKind, stage: Stage) -> Advice {
    match kind {
        FailureKind::Dns => Advice {
            cause: "The mail server's name could not be found.",
            steps: &[
                "Check the server name in the account's Advanced settings (Microsoft 365: outlook.office365.com for IMAP, smtp.office365.com for SMTP).",
                "Check that this computer is online (open a web page).",
            ],
        },
        FailureKind::Refused | FailureKind::Unreachable => Advice {
            cause: "The mail server could not be reached on that port.",
            steps: &[
                "Check the port: IMAP uses 993 (SSL/TLS) and SMTP uses 587 (STARTTLS); Microsoft does not support 465.",
                "Ask whoever manages the practice's firewall or antivirus to allow outgoing connections on these ports.",
            ],
        },
        FailureKind::Timeout => match stage {
            Stage::Resolving | Stage::Connecting | Stage::Tls => Advice {
                cause: "The mail server did not answer in time; something between this computer and the server is holding the connection.",
                steps: &[
                    "Check that this computer is online.",
                    "A firewall or antivirus may be blocking ports 993 and 587; ask whoever manages it.",
                    "{retry}.",
                ],
            },
            _ => Advice {
                cause: "The mail server stopped answering in the middle of the check.",
                steps: &["{retry} in a minute. If it keeps happening, {report} for support."],
            },
        },
        FailureKind::Certificate => Advice {
            cause: "The server's identity could not be confirmed, so the connection was stopped to keep the sign-in safe.",
            steps: &[
                "Check the server name exactly (for Microsoft 365: outlook.office365.com and smtp.office365.com).",
                "Check this computer's date and time.",
                "Antivirus \"email scanning\" features can intercept secure connections; ask whoever manages it to exclude this program.",
            ],
        },
        FailureKind::Tls => Advice {
            cause: "A secure connection to the mail server could not be set up.",
            steps: &[
                "Check the security setting: IMAP on 993 uses SSL/TLS, SMTP on 587 uses STARTTLS.",
                "Antivirus or a firewall may be interfering; ask whoever manages it.",
            ],
        },
        FailureKind::Closed | FailureKind::Protocol => Advice {
            cause: "The mail server ended the conversation unexpectedly.",
            steps: &[
                "Check the server name, port and security in the account's Advanced settings.",
                "{retry}. If it keeps happening, {report} for support.",
            ],
        },
        FailureKind::Unsupported => Advice {
            cause: "This server does not offer what the check needs (OAuth sign-in, or a secure connection on this port).",
            steps: &[
                "Check the server name: Microsoft 365 mailboxes use outlook.office365.com and smtp.office365.com.",
                "Check the port and security setting (IMAP 993 SSL/TLS, SMTP 587 STARTTLS).",
            ],
        },
        FailureKind::Insecure => Advice {
            cause: "The settings ask for a connection without encryption to another computer, which would expose the sign-in.",
            steps: &[
                "Set the security to SSL/TLS (IMAP) or STARTTLS (SMTP) in the account's Advanced settings.",
            ],
        },
        FailureKind::Temporary => TEMPORARY_SERVER_FAILURE,
        FailureKind::Rejected => Advice {
            cause: "The mail server refused the request.",
            steps: &["{retry}. If it keeps happening, {report} for support."],
        },
    }
}

/// A server that says "try later".
pub const TEMPORARY_SERVER_FAILURE: Advice = Advice {
    cause: "The mail server had a temporary problem checking the sign-in.",
    steps: &["Wait a minute and {retry}. Nothing needs to change on your side."],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_window_controls_only_through_markers() {
        // Every file that writes advice: a control named in plain text would read wrong in a terminal.
        for (file, source) in [
            ("troubleshoot.rs", include_str!("troubleshoot.rs")),
            ("store/error.rs", include_str!("store/error.rs")),
            ("auth/error.rs", include_str!("auth/error.rs")),
        ] {
            let advice_text = source.split("#[cfg(test)]").next().unwrap_or(source);
            for control in [
                "Try again",
                "Sign in again",
                "Use another account",
                "Get a new code",
            ] {
                assert!(
                    !advice_text.contains(&format!("\\\"{control}\\\"")),
                    "{file} names \"{control}\" without its marker"
                );
            }
        }
    }

    #[test]
    fn markers_read_right_in_the_window_and_in_a_terminal() {
        let advice = Advice {
            cause: "x",
            steps: &[
                "{retry} in a minute. If it keeps happening, {report} for support.",
                "Then {sign-in-again}.",
            ],
        };
        assert_eq!(
            advice.steps_for(Surface::Window, None),
            [
                "Choose \"Try again\" in a minute. If it keeps happening, copy the support report for support.",
                "Then choose \"Sign in again\".",
            ]
        );
        assert_eq!(
            advice.steps_for(Surface::CommandLine, Some("a@b.com")),
            [
                "Run the same mailconnect command again in a minute. If it keeps happening, run `mailconnect report a@b.com` for support.",
                "Then sign in again with `mailconnect login a@b.com`.",
            ]
        );
    }

    const FACTS_SHEET_CODES: &[u32] = &[
        50020, 500200, 50076, 50079, 50105, 50126, 50158, 53003, 53000, 530032, 530035, 65001,
        65004, 90094, 90095, 70000, 70008, 700082, 50173, 70043, 70011, 700016, 7000218, 700025,
        7000215, 7000222, 50011, 9002313, 900144, 90072, 50194, 9002331, 9002332, 9001023, 90002,
        500011, 650052, 54005, 501481, 70016, 70018, 70019,
    ];

    #[test]
    fn every_code_in_the_facts_sheet_has_specific_advice() {
        let fallback = for_aadsts(0);
        for code in FACTS_SHEET_CODES {
            let advice = for_aadsts(*code);
            assert_ne!(
                advice, fallback,
                "AADSTS{code} falls back to the generic text"
            );
            assert!(!advice.steps.is_empty());
        }
    }

    #[test]
    fn exchange_smtp_replies_map_to_their_fix() {
        let disabled = for_smtp_reply(
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
        );
        assert!(
            disabled
                .steps
                .iter()
                .any(|s| s.contains("Authenticated SMTP"))
        );
        assert!(
            disabled
                .steps
                .iter()
                .any(|s| s.contains("Manage email apps"))
        );
        let cases = [
            (
                "5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.",
                "Security Defaults",
            ),
            (
                "5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.",
                "Conditional Access",
            ),
            (
                "550 5.7.30 Basic authentication is not supported for Client Submission.",
                "Basic Auth",
            ),
            (
                "5.7.139 Authentication unsuccessful, basic authentication is disabled.",
                "Basic Auth",
            ),
            (
                "5.7.60 Client does not have permissions to send as this sender",
                "send as",
            ),
            (
                "5.7.139 Authentication unsuccessful, the user credentials were incorrect.",
                "locked or its credentials",
            ),
            ("535 5.7.3 Authentication unsuccessful [DM5PR]", "licence"),
            ("454 4.7.0 Temporary authentication failure", "temporary"),
        ];
        for (reply, expected) in cases {
            assert!(
                for_smtp_reply(reply).cause.contains(expected),
                "{reply}: {}",
                for_smtp_reply(reply).cause
            );
        }
    }

    #[test]
    fn exchange_imap_replies_map_to_their_fix() {
        assert!(
            for_imap_reply("NO AUTHENTICATE failed.")
                .steps
                .iter()
                .any(|s| s.contains("IMAP"))
        );
        assert!(
            for_imap_reply("BAD User is authenticated but not connected.")
                .cause
                .contains("no access")
        );
        assert_eq!(
            for_imap_reply("NO [UNAVAILABLE] Temporary authentication failure"),
            TEMPORARY_SERVER_FAILURE
        );
    }
}
