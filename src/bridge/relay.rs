//! Hands queued messages on to the provider with the mailbox's own sign-in: in arrival order per device, several
//! mailboxes at once, at most [`MESSAGES_PER_MINUTE`] a minute per mailbox (Exchange Online's limit), with backoff
//! after a temporary failure. What a failure holds back follows its [`Verdict`]: a sign-in problem or a busy
//! provider holds the mailbox; a message the provider cannot take now holds only the later messages of its own
//! device. No message waits longer than its age limit: then it is refused with the reason (and bounced where
//! bounces are on). A refusal stays in the queue as "refused" with the provider's words, for the window and the
//! log, until the admin retries or drops it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;

use super::spool::{Envelope, MessageId, MessageState, Spool};
use super::verdict::{self, Verdict};
use super::{BridgeOptions, BridgeServices};
use crate::config::Account;
use crate::tokens::{Renew, TokenError};
use crate::verify::{CheckContext, CheckFailure, MailCredentials};

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
/// How often the admin's requests (retry, drop) are looked for between rounds.
const REQUEST_LOOK: Duration = Duration::from_secs(1);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// When each mailbox last handed a message on, for the per-minute limit.
type SendTimes = Arc<Mutex<HashMap<String, VecDeque<Instant>>>>;

/// Messages the provider took whose queue entry could not be removed: never sent again by this run.
type Delivered = Arc<Mutex<HashSet<MessageId>>>;

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
        let until = Instant::now() + wait;
        // Between rounds, a look each second for the admin's requests, so a retry or a drop is done at once.
        loop {
            let left = until.saturating_duration_since(Instant::now());
            tokio::select! {
                () = wakeup.notified() => break,
                () = tokio::time::sleep(left.min(REQUEST_LOOK)) => {}
            }
            if left <= REQUEST_LOOK || spool.has_requests() {
                break;
            }
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
    let envelopes = tokio::task::spawn_blocking(move || {
        for (id, request) in folder.carry_out_requests() {
            tracing::info!(%id, ?request, "the admin asked for a queued message");
        }
        folder.envelopes()
    })
    .await
    .ok()?
    .map_err(|error| tracing::error!(%error, "the queue cannot be read"))
    .ok()?;
    let now = unix_now();
    let mut waiting: Vec<Envelope> = Vec::new();
    let mut bounced = false;
    for mut envelope in envelopes {
        if envelope.state != MessageState::Waiting {
            continue;
        }
        // Whatever it waits for (a busy provider, a sign-in, its device's earlier message), not past its age.
        if now.saturating_sub(envelope.age_from()) >= options.limits.max_age.as_secs() {
            let words = format!(
                "not sent within {}, so it will not be sent; the last problem was: {}",
                crate::words::duration(options.limits.max_age),
                envelope.last_error.as_deref().unwrap_or("none recorded")
            );
            bounced |= refuse(spool, &mut envelope, words, options.bounce).await;
            continue;
        }
        waiting.push(envelope);
    }
    if waiting.is_empty() {
        return bounced.then_some(Duration::from_secs(1));
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
    waits
        .into_iter()
        .flatten()
        .chain(bounced.then_some(Duration::from_secs(1)))
        .min()
}

/// Refuses a message for good with `words` (in the queue, the log, the window), and queues its bounce when bounces
/// are on (a bounce is never bounced). Whether a bounce was queued.
async fn refuse(spool: &Spool, envelope: &mut Envelope, words: String, bounce: bool) -> bool {
    envelope.state = MessageState::Refused;
    tracing::error!(id = %envelope.id, device = %envelope.device, error = %words, "a message was refused for good");
    envelope.last_error = Some(words.clone());
    if let Err(error) = spool.write_envelope(envelope).await {
        tracing::error!(%error, "the refusal could not be recorded");
    }
    if !bounce || envelope.device == BOUNCE_DEVICE {
        return false;
    }
    match spool.enqueue_bounce(envelope, &words, BOUNCE_DEVICE).await {
        Ok(_) => true,
        Err(error) => {
            tracing::error!(%error, "the bounce could not be queued");
            false
        }
    }
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
    /// Hands on one mailbox's messages in order per device. A message that must wait holds back the later messages
    /// of its device only; a wait for the whole mailbox (the rate limit, its sign-in, a busy provider) ends the
    /// mailbox's round. Returns how soon something is worth another look.
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
        // Devices whose earliest message waits: their later messages keep their place behind it.
        let mut held: HashSet<String> = HashSet::new();
        let mut soonest: Option<Duration> = None;
        let renew = Renew::IfLessThan(TOKEN_MARGIN);
        for mut envelope in queue {
            let device = envelope.device.to_ascii_lowercase();
            if held.contains(&device) {
                continue;
            }
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
                held.insert(device);
                soonest = sooner(soonest, Duration::from_secs(envelope.next_attempt_at - now));
                continue;
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
            if matches!(&outcome, Err(Failure::Server(failure)) if verdict::of_failure(failure) == Verdict::SignIn)
            {
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
                Err(Failure::Server(failure)) => {
                    let verdict = verdict::of_failure(&failure);
                    let words = failure_words(verdict, &failure);
                    match verdict {
                        Verdict::Refused => {
                            envelope.attempts += 1;
                            bounced |= refuse(spool, &mut envelope, words, self.bounce).await;
                        }
                        Verdict::ThisMessageLater => {
                            if let Some(wait) =
                                postpone(spool, &mut envelope, words, self.first_retry).await
                            {
                                soonest = sooner(soonest, wait);
                            }
                            held.insert(device);
                        }
                        Verdict::SignIn | Verdict::ServerBusy => {
                            return postpone(spool, &mut envelope, words, self.first_retry)
                                .await
                                .map(|wait| sooner(soonest, wait).unwrap_or(wait));
                        }
                    }
                }
                Err(Failure::Queue(error)) => {
                    tracing::error!(%error, id = %envelope.id, "a queued message cannot be read");
                    envelope.state = MessageState::Refused;
                    envelope.last_error = Some(format!("the queued copy cannot be read: {error}"));
                    let _ = spool.write_envelope(&envelope).await;
                }
            }
        }
        if bounced {
            soonest = sooner(soonest, Duration::from_secs(1));
        }
        soonest
    }
}

fn sooner(soonest: Option<Duration>, wait: Duration) -> Option<Duration> {
    Some(soonest.map_or(wait, |soonest| soonest.min(wait)))
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

/// The verdict's words, then the provider's own (or what went wrong on the way).
fn failure_words(verdict: Verdict, failure: &CheckFailure) -> String {
    match &failure.server_reply {
        Some(reply) => format!("{}: {}", verdict.words(), reply.replace('\n', " ")),
        None => format!("{}: {}", verdict.words(), failure.detail),
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
