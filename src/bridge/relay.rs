//! Hands queued messages on to the provider with the mailbox's own sign-in: in arrival order per mailbox (so per
//! device), several mailboxes at once, at most [`MESSAGES_PER_MINUTE`] a minute per mailbox (Exchange Online's
//! limit), with backoff after a temporary failure. A permanent refusal stays in the queue as "refused" with the
//! provider's words, for the window and the log; it is never retried by itself.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;

use super::spool::{Envelope, MessageState, Spool};
use super::{BridgeOptions, BridgeServices};
use crate::config::Account;
use crate::tokens::{Renew, TokenError};
use crate::verify::{CheckContext, CheckFailure, FailureKind, MailCredentials, Stage};

/// Exchange Online accepts at most 30 messages a minute from one mailbox.
pub const MESSAGES_PER_MINUTE: usize = 30;
/// The sign-in is renewed when less than this is left: some Microsoft services refuse a token about to end.
const TOKEN_MARGIN: Duration = Duration::from_secs(10 * 60);
/// Mailboxes handed on at the same time.
const MAILBOXES_AT_ONCE: usize = 8;
/// The longest wait between tries of a message.
const LONGEST_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// How often the queue is looked at when nothing wakes the relay.
const IDLE_LOOK: Duration = Duration::from_secs(30);
/// How often a message waiting for a new sign-in looks whether one was saved (a keyring read, no network).
const SIGN_IN_LOOK: Duration = Duration::from_secs(10);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// When each mailbox last handed a message on, for the per-minute limit.
type SendTimes = Arc<Mutex<HashMap<String, VecDeque<Instant>>>>;

/// Messages the provider took whose queue entry could not be removed: never sent again by this run.
type Delivered = Arc<Mutex<std::collections::HashSet<String>>>;

/// Runs until stopped: a round over the queue whenever a message arrives, a wait ends, or every half minute.
pub async fn run(
    spool: Spool,
    options: BridgeOptions,
    services: BridgeServices,
    wakeup: Arc<tokio::sync::Notify>,
) {
    let sent: SendTimes = Arc::default();
    let delivered: Delivered = Arc::default();
    // A start is a natural moment to try again: what waited before a restart goes at once.
    let mut first = true;
    loop {
        let next = round(&spool, &options, &services, &sent, &delivered, first).await;
        first = false;
        let wait = next.unwrap_or(IDLE_LOOK).min(IDLE_LOOK);
        tokio::select! {
            () = wakeup.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass over the queue; returns how soon the next pass is worth doing, when something waits.
async fn round(
    spool: &Spool,
    options: &BridgeOptions,
    services: &BridgeServices,
    sent: &SendTimes,
    delivered: &Delivered,
    ignore_waits: bool,
) -> Option<Duration> {
    let folder = spool.clone();
    let envelopes = tokio::task::spawn_blocking(move || folder.envelopes())
        .await
        .ok()?
        .map_err(|error| tracing::error!(%error, "the queue cannot be read"))
        .ok()?;
    let waiting: Vec<Envelope> = envelopes
        .into_iter()
        .filter(|envelope| envelope.state == MessageState::Waiting)
        .collect();
    if waiting.is_empty() {
        return None;
    }
    let config = match options.config_file.load() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "the settings cannot be read; messages wait");
            return Some(IDLE_LOOK);
        }
    };
    let mut by_mailbox: BTreeMap<String, Vec<Envelope>> = BTreeMap::new();
    for envelope in waiting {
        by_mailbox
            .entry(envelope.mailbox.to_ascii_lowercase())
            .or_default()
            .push(envelope);
    }
    let context = CheckContext::new(services.trust.clone(), config.timeouts);
    let waits: Vec<Option<Duration>> = futures::stream::iter(by_mailbox.into_values())
        .map(|queue| {
            let account = config.account(&queue[0].mailbox).cloned();
            let context = context.clone();
            let first_retry = options.first_retry;
            async move {
                let round = MailboxRound {
                    spool,
                    services,
                    sent,
                    first_retry,
                    ignore_waits,
                    bounce: options.bounce,
                    delivered,
                };
                round.run(account, queue, &context).await
            }
        })
        .buffer_unordered(MAILBOXES_AT_ONCE)
        .collect()
        .await;
    waits.into_iter().flatten().min()
}

/// The device name of the bridge's own bounce messages.
const BOUNCE_DEVICE: &str = "mailconnect-bounce";

/// One mailbox's part of a round.
struct MailboxRound<'a> {
    spool: &'a Spool,
    services: &'a BridgeServices,
    sent: &'a SendTimes,
    first_retry: Duration,
    ignore_waits: bool,
    bounce: bool,
    delivered: &'a Delivered,
}

impl MailboxRound<'_> {
    /// Hands on one mailbox's messages in order, stopping at the first that must wait (order is kept).
    async fn run(
        &self,
        account: Option<Account>,
        queue: Vec<Envelope>,
        context: &CheckContext,
    ) -> Option<Duration> {
        let MailboxRound {
            spool,
            services,
            sent,
            ..
        } = *self;
        // A bounce queued in this round goes in the next, a second later.
        let mut bounced = false;
        let renew = Renew::IfLessThan(TOKEN_MARGIN);
        for mut envelope in queue {
            let already_delivered = self
                .delivered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&envelope.id);
            if already_delivered {
                // Taken by the provider before: only its queue entry is left to remove.
                if spool.remove(&envelope.id).await.is_ok() {
                    self.delivered
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&envelope.id);
                }
                continue;
            }
            let now = unix_now();
            if envelope.next_attempt_at > now && !self.ignore_waits {
                return Some(Duration::from_secs(envelope.next_attempt_at - now));
            }
            if let Some(wait) = rate_wait(sent, &envelope.mailbox) {
                return Some(wait);
            }
            if let (Some(waiting_since), Some(account)) = (envelope.waiting_for_sign_in, &account) {
                if sign_in_generation(services, account).await == Some(waiting_since) {
                    return Some(SIGN_IN_LOOK);
                }
                // A new sign-in was saved: try at once.
                envelope.waiting_for_sign_in = None;
            }
            let Some(account) = &account else {
                let error = format!(
                    "{} is not set up in mailconnect any more; add it again, and the message goes",
                    envelope.mailbox
                );
                return postpone(spool, &mut envelope, error, self.first_retry).await;
            };
            let mut outcome = hand_on(spool, services, account, &envelope, context, renew).await;
            if matches!(&outcome, Err(Failure::Server(failure)) if refused_sign_in(failure)) {
                // A token Microsoft ended early: renewed once, and the same message again.
                outcome = hand_on(spool, services, account, &envelope, context, Renew::Now).await;
            }
            match outcome {
                Ok(reply) => {
                    record_send(sent, &envelope.mailbox);
                    tracing::info!(id = %envelope.id, device = %envelope.device, %reply, "a message was handed on");
                    if let Err(error) = spool.remove(&envelope.id).await {
                        tracing::error!(%error, id = %envelope.id, "a delivered message could not be removed from the queue");
                        self.delivered
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(envelope.id.clone());
                        return Some(IDLE_LOOK);
                    }
                }
                Err(Failure::Token(error)) => {
                    let advice = crate::advice::for_token(&error);
                    // The cause in words and a code to read out; the raw error stays in the log.
                    tracing::debug!(%error, "the sign-in for a queued message failed");
                    let words = format!("{} ({})", advice.cause, token_error_code(&error));
                    let needs_sign_in = matches!(
                        crate::keepalive::classify(&error),
                        crate::state::RenewalOutcome::NeedsSignIn { .. }
                    );
                    if needs_sign_in && !account.app_only {
                        // Asking Microsoft again cannot help: wait (without asking) for a new sign-in.
                        envelope.waiting_for_sign_in =
                            Some(sign_in_generation(services, account).await.unwrap_or(0));
                        envelope.attempts += 1;
                        tracing::warn!(id = %envelope.id, device = %envelope.device, error = %words, "a message waits for a new sign-in");
                        envelope.last_error = Some(words);
                        if let Err(error) = spool.write_envelope(&envelope).await {
                            tracing::error!(%error, "the queue cannot be written");
                        }
                        return Some(SIGN_IN_LOOK);
                    }
                    return postpone(spool, &mut envelope, words, self.first_retry).await;
                }
                Err(Failure::Server(failure)) if is_permanent(&failure) => {
                    envelope.state = MessageState::Refused;
                    envelope.attempts += 1;
                    envelope.last_error = Some(failure_words(&failure));
                    tracing::error!(id = %envelope.id, device = %envelope.device, error = %failure_words(&failure), "the provider refused a message for good");
                    if let Err(error) = spool.write_envelope(&envelope).await {
                        tracing::error!(%error, "the refusal could not be recorded");
                    }
                    // A bounce is never bounced: a refusal of one stays a notice.
                    if self.bounce && envelope.device != BOUNCE_DEVICE {
                        let words = failure_words(&failure);
                        match spool.enqueue_bounce(&envelope, &words, BOUNCE_DEVICE).await {
                            Ok(_) => bounced = true,
                            Err(error) => {
                                tracing::error!(%error, "the bounce could not be queued")
                            }
                        }
                    }
                }
                Err(Failure::Server(failure)) => {
                    return postpone(
                        spool,
                        &mut envelope,
                        failure_words(&failure),
                        self.first_retry,
                    )
                    .await;
                }
                Err(Failure::Queue(error)) => {
                    tracing::error!(%error, id = %envelope.id, "a queued message cannot be read");
                    envelope.state = MessageState::Refused;
                    envelope.last_error = Some(format!("the queued copy cannot be read: {error}"));
                    let _ = spool.write_envelope(&envelope).await;
                }
            }
        }
        bounced.then_some(Duration::from_secs(1))
    }
}

/// The stored sign-in's generation for the mailbox (its own or its service account's); `None` when none is stored
/// or the keyring cannot be read.
async fn sign_in_generation(services: &BridgeServices, account: &Account) -> Option<u64> {
    let store = services.store.open().ok()?;
    let owner = account.token_owner().to_owned();
    store
        .run(move |store| store.manifest(&owner))
        .await
        .ok()
        .flatten()
        .map(|manifest| manifest.generation)
}

/// A short code for a sign-in problem, for the queue's "last problem" (the words come from the advice).
fn token_error_code(error: &TokenError) -> String {
    match error {
        TokenError::NotSignedIn { .. } => "not-signed-in".to_owned(),
        TokenError::NoAppCredential { .. } => "app-credential-missing".to_owned(),
        TokenError::Store(error) => error.code().to_owned(),
        TokenError::Refresh(error) => error.code(),
        TokenError::AccountChanged { .. } => "account-changed".to_owned(),
        TokenError::Setup(_) => "settings".to_owned(),
    }
}

enum Failure {
    Token(TokenError),
    Server(CheckFailure),
    Queue(std::io::Error),
}

async fn hand_on(
    spool: &Spool,
    services: &BridgeServices,
    account: &Account,
    envelope: &Envelope,
    context: &CheckContext,
    renew: Renew,
) -> Result<String, Failure> {
    let store = services
        .store
        .open()
        .map_err(|error| Failure::Token(TokenError::Store(error)))?;
    let client = || {
        Ok(crate::auth::SignInClient::for_account(
            account,
            &services.trust,
            &context.timeouts,
        )?)
    };
    let token = crate::tokens::access_token(account, &store, renew, client)
        .await
        .map_err(Failure::Token)?;
    crate::tokens::tidy(&store, account.token_owner(), &token).await;
    let credentials = MailCredentials::for_account(account, token.access_token);
    let file = tokio::fs::File::open(spool.message_path(&envelope.id))
        .await
        .map_err(Failure::Queue)?;
    let reader = tokio::io::BufReader::with_capacity(64 * 1024, file);
    crate::verify::submit(
        &account.smtp,
        &credentials,
        context,
        &envelope.recipients,
        reader,
    )
    .await
    .map_err(Failure::Server)
}

/// Records a temporary failure and when to try again (`first_retry`, then twice as long each time, at most half
/// an hour).
async fn postpone(
    spool: &Spool,
    envelope: &mut Envelope,
    words: String,
    first_retry: Duration,
) -> Option<Duration> {
    envelope.attempts += 1;
    let wait = first_retry
        .saturating_mul(2u32.saturating_pow(envelope.attempts.saturating_sub(1).min(10)))
        .min(LONGEST_BACKOFF);
    envelope.next_attempt_at = unix_now() + wait.as_secs().max(1);
    tracing::warn!(id = %envelope.id, device = %envelope.device, error = %words, retry_in_s = wait.as_secs(), "a message waits");
    envelope.last_error = Some(words);
    if let Err(error) = spool.write_envelope(envelope).await {
        tracing::error!(%error, "the queue cannot be written");
    }
    Some(wait)
}

fn refused_sign_in(failure: &CheckFailure) -> bool {
    failure.stage == Stage::Authenticating && failure.kind == FailureKind::Rejected
}

/// A 5xx reply to the sender, a recipient or the message itself: trying again would get the same answer.
fn is_permanent(failure: &CheckFailure) -> bool {
    matches!(
        failure.stage,
        Stage::Sender | Stage::Recipients | Stage::Message
    ) && failure
        .server_reply
        .as_deref()
        .is_some_and(|reply| reply.starts_with('5'))
}

fn failure_words(failure: &CheckFailure) -> String {
    match &failure.server_reply {
        Some(reply) => format!("{} ({})", failure.detail, reply.replace('\n', " ")),
        None => failure.detail.clone(),
    }
}

/// How long until the mailbox may hand on another message, when it is at the limit.
fn rate_wait(sent: &SendTimes, mailbox: &str) -> Option<Duration> {
    let mut sent = sent.lock().unwrap_or_else(|e| e.into_inner());
    let times = sent.entry(mailbox.to_ascii_lowercase()).or_default();
    while times
        .front()
        .is_some_and(|at| at.elapsed() >= Duration::from_secs(60))
    {
        times.pop_front();
    }
    (times.len() >= MESSAGES_PER_MINUTE).then(|| {
        Duration::from_secs(60)
            .saturating_sub(times.front().map_or(Duration::ZERO, |at| at.elapsed()))
    })
}

fn record_send(sent: &SendTimes, mailbox: &str) {
    sent.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(mailbox.to_ascii_lowercase())
        .or_default()
        .push_back(Instant::now());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thirty_first_message_in_a_minute_waits() {
        let sent: SendTimes = Arc::default();
        for _ in 0..MESSAGES_PER_MINUTE {
            assert!(rate_wait(&sent, "a@b.example").is_none());
            record_send(&sent, "A@b.example");
        }
        let wait = rate_wait(&sent, "a@b.example").expect("at the limit");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        assert!(rate_wait(&sent, "other@b.example").is_none());
    }
}
