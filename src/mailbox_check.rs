//! Both checks of a mailbox with its saved sign-in, the one path for `verify` and the window's "Check now":
//! a cached access token refused at sign-in is renewed once and the refused checks run again, so a token Microsoft
//! ended early (a password change, revoked sessions) is never reported as a broken mailbox, and a sign-in that can
//! no longer be renewed is found out and classified.

use secrecy::ExposeSecret;

use crate::auth::SignInClient;
use crate::config::Account;
use crate::state::RenewalOutcome;
use crate::store::TokenStore;
use crate::tokens::{Renew, TokenError, access_token};
use crate::verify::{self, CheckContext, CheckReport, MailCredentials, Verdict};

/// What checking a mailbox found.
#[derive(Debug)]
pub struct MailboxCheck {
    pub imap: CheckReport,
    pub smtp: CheckReport,
    /// A renewal tried because the cached token was refused, and how it went; `None` when none was needed.
    pub renewal: Option<Result<RenewalOutcome, TokenError>>,
    /// A passing problem worth saying (a renewal deferred, the stored token handed out instead).
    pub warning: Option<String>,
}

impl MailboxCheck {
    pub fn passed(&self) -> bool {
        self.imap.verdict.passed() && self.smtp.verdict.passed()
    }

    /// Records both verdicts (and the renewal, if one was tried) in one write, so `status`, the report and the
    /// window agree, and a passing pair marks the mailbox as moved to OAuth.
    pub fn record(
        &self,
        mailbox: &str,
        state_file: &crate::state::StateFile,
    ) -> std::io::Result<()> {
        state_file.record_check(mailbox, &self.imap, &self.smtp, self.renewal_outcome())
    }

    /// The renewal's outcome as it is recorded (a failed renewal classified), when one was tried.
    pub fn renewal_outcome(&self) -> Option<RenewalOutcome> {
        match self.renewal.as_ref()? {
            Ok(outcome) => Some(outcome.clone()),
            Err(error) => Some(crate::keepalive::classify(error)),
        }
    }
}

/// Checks receiving and sending for `account` with its stored sign-in (renewed first when it is ending). Fails
/// only when no token can be had at all (not signed in, keyring locked, renewal refused).
pub async fn check_mailbox(
    account: &Account,
    store: &TokenStore,
    context: &CheckContext,
    client: impl Fn() -> anyhow::Result<SignInClient>,
) -> Result<MailboxCheck, TokenError> {
    let token = access_token(account, store, Renew::IfNeeded, &client).await?;
    crate::tokens::tidy(store, account.token_owner(), &token).await;
    let mut warning = token.warning.clone();
    let checked_with = token.access_token.clone();
    let credentials = MailCredentials::for_account(account, token.access_token);
    let (mut imap, mut smtp) = verify::check_both(account, &credentials, context).await;
    let mut renewal = None;
    if !token.refreshed && (refused(&imap) || refused(&smtp)) {
        let renewed = access_token(account, store, Renew::Now, &client).await;
        renewal = Some(match renewed {
            Err(error) => Err(error),
            // Handed back the refused token (a passing renewal failure): checking again is pointless.
            Ok(renewed) if renewed.access_token.expose_secret() == checked_with.expose_secret() => {
                warning = renewed.warning.clone().or(warning);
                Ok(RenewalOutcome::Temporary {
                    code: "renewal-deferred".to_owned(),
                })
            }
            Ok(renewed) => {
                crate::tokens::tidy(store, account.token_owner(), &renewed).await;
                let credentials = MailCredentials::for_account(account, renewed.access_token);
                if refused(&imap) {
                    imap = verify::check_imap(&account.imap, &credentials, context).await;
                }
                if refused(&smtp) {
                    smtp = verify::check_smtp(&account.smtp, &credentials, context).await;
                }
                Ok(RenewalOutcome::Renewed)
            }
        });
    }
    Ok(MailboxCheck {
        imap,
        smtp,
        renewal,
        warning,
    })
}

/// Whether the server refused the token itself (as opposed to a network or a configuration problem).
fn refused(report: &CheckReport) -> bool {
    matches!(&report.verdict, Verdict::Failed(failure)
        if failure.stage == verify::Stage::Authenticating
            && failure.kind == verify::FailureKind::Rejected)
}
