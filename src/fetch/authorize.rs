//! A fetcher's side of OAuth2 (SPEC §11): before an attempt, a token to
//! send — fetched by this fetcher when its turn says so, through the
//! source's token bucket, within the deadline, retried with the source's
//! backoff when the endpoint's answer may pass on a retry.
//!
//! The token itself is shared ([`TokenSource`]); what a source sends with
//! it is read by its header hook at send time, so a refreshed token is
//! used from the next request on.

use log::{info, warn};

use super::auth::{read_answer, Refusal, TokenSource, Turn};
use super::client::Exchange;
use super::retry::Decision;
use super::Fetcher;
use crate::control::Stop;
use crate::error::AttemptError;
use crate::fetch::outcome::{Phase, WaitCause};

/// Why a request cannot be sent with a token.
pub enum NoToken {
    /// The run is stopping.
    Stopped(Stop),
    /// The token endpoint refused for good: why.
    Refused(String),
}

impl Fetcher<'_> {
    /// The token generation to send the next attempt with (`None` for a
    /// source without OAuth2), fetching a token first when this fetcher's
    /// turn says so.
    pub(super) fn authorize(&mut self, page_no: u64) -> Result<Option<u64>, NoToken> {
        let Some(tokens) = self.tokens.clone() else {
            return Ok(None);
        };
        loop {
            self.shared.control.check().map_err(NoToken::Stopped)?;
            match tokens.turn(std::time::Instant::now()) {
                Turn::Use(token) => return Ok(Some(token.generation)),
                Turn::Failed(why) => return Err(NoToken::Refused(why)),
                Turn::Wait => tokens.wait(),
                Turn::Fetch { refresh, forced } => {
                    self.fetch_token(&tokens, page_no, refresh, forced)
                        .map_err(NoToken::Stopped)?;
                }
            }
        }
    }

    /// Fetches a token for `tokens` and publishes what came of it: a
    /// token, a final refusal, or (when the run stops, or retries are
    /// used up on retryable answers) nothing, so that the next turn tries
    /// again or fails.
    fn fetch_token(
        &mut self,
        tokens: &TokenSource,
        page_no: u64,
        refresh: bool,
        forced: bool,
    ) -> Result<(), Stop> {
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let got = self.token_attempt(tokens);
            let now = std::time::Instant::now();
            let why = match got {
                Err(stop) => {
                    tokens.publish(Err(Refusal::Retryable("the run stopped".into())), now);
                    return Err(stop);
                }
                Ok(Ok(answer)) => {
                    self.counts.auth.refreshes += u64::from(refresh);
                    self.counts.auth.forced_refreshes += u64::from(forced);
                    // Only a refresh token the config gave can go stale.
                    let rotated = answer.refresh_token.is_some()
                        && tokens.settings().grant == crate::config::Grant::RefreshToken;
                    if rotated && !self.rotation_warned {
                        self.rotation_warned = true;
                        self.counts.auth.rotated = true;
                        warn!(
                            source = self.name(), event = "refresh_token_rotated",
                            note = "the token endpoint rotated the refresh token: it is used for the rest of this run, and the configured one may no longer be valid"; ""
                        );
                    }
                    self.counts.auth.lifetime = answer.expires_in;
                    match answer.expires_in {
                        Some(life) => info!(
                            source = self.name(), page = page_no, event = "token",
                            refresh = refresh, forced = forced,
                            lifetime_ms = life.as_millis().min(u64::MAX.into()) as u64; ""
                        ),
                        // No `expires_in`: used until a server refuses it.
                        None => info!(
                            source = self.name(), page = page_no, event = "token",
                            refresh = refresh, forced = forced, lifetime = "until a 401"; ""
                        ),
                    }
                    // Hidden wherever a server echoes them, from now on.
                    self.shared.redactor.learn(&answer.access_token);
                    if let Some(rotated) = &answer.refresh_token {
                        self.shared.redactor.learn(rotated);
                    }
                    tokens.publish(Ok(answer), now);
                    return Ok(());
                }
                Ok(Err(Refusal::Final(why))) => {
                    warn!(source = self.name(), event = "token_refused", why = why.as_str(); "");
                    tokens.publish(Err(Refusal::Final(why)), now);
                    return Ok(());
                }
                Ok(Err(Refusal::Retryable(why))) => why,
            };
            // The source's own retry policy, as for a page.
            let as_page = AttemptError::Transport(why.clone());
            match self.retry.decide(&as_page, attempt, None) {
                Decision::Retry { wait, .. } => {
                    let until = self.shared.control.after(wait);
                    let phase = Phase::Backoff {
                        retry: attempt,
                        of: self.config.retry.max_retries,
                    };
                    if let Err(stop) = self.wait_until(until, WaitCause::Backoff, phase) {
                        tokens.publish(Err(Refusal::Retryable(why)), now);
                        return Err(stop);
                    }
                }
                Decision::GiveUp => {
                    let why = format!("{why}, {attempt} times");
                    tokens.publish(Err(Refusal::Final(why)), now);
                    return Ok(());
                }
            }
        }
    }

    /// One token request: a token of the source's bucket, then the
    /// request, within the time left.
    fn token_attempt(
        &mut self,
        tokens: &TokenSource,
    ) -> Result<Result<super::auth::Answer, Refusal>, Stop> {
        self.take_token()?;
        let time_left = self.shared.control.time_left()?;
        let Some(client) = &self.token_client else {
            return Ok(Err(Refusal::Final("no token client".into())));
        };
        self.counts.auth.token_requests += 1;
        self.post(Phase::Fetching);
        let (gate, control) = (&self.gate, self.shared.control);
        let exchange = client.send(&tokens.request(), time_left, || gate.take(control).is_ok());
        control.check()?;
        Ok(answer_of(exchange))
    }
}

/// What a token endpoint's exchange says.
fn answer_of(exchange: Exchange) -> Result<super::auth::Answer, Refusal> {
    match (exchange.status, exchange.body) {
        (Some(status), Ok(Some(text))) => read_answer(status, Some(&text)),
        (Some(status), Ok(None)) => read_answer(status, None),
        (Some(status), Err(AttemptError::Status(_))) => {
            read_answer(status, exchange.error_body.as_deref())
        }
        (_, Err(e)) if e.is_retryable() => {
            Err(Refusal::Retryable(format!("the token endpoint: {e}")))
        }
        (_, Err(e)) => Err(Refusal::Final(format!("the token endpoint: {e}"))),
        (None, Ok(_)) => Err(Refusal::Retryable(
            "the token endpoint gave no answer".into(),
        )),
    }
}
