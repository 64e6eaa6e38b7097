//! One source's fetcher: the page loop and the attempt loop (SPEC §4).
//!
//! [`Fetcher::run`] walks the source's pages with its [`Paginator`] and
//! sends every item into the channel. `Fetcher::fetch_page` makes up to
//! `1 + max_retries` attempts at one page; each attempt starts at the latest
//! of its backoff (or Retry-After), the breaker's cooldown and a free token,
//! and every one of those waits goes through [`RunControl`], which refuses
//! a wait that would cross the deadline and wakes on Ctrl-C.
//!
//! Log levels: `info` for start and end, `warn` for a page given up or the
//! breaker opening, `debug` for each retry decision, `trace` for each
//! request. URLs in logs are redacted.

pub mod breaker;
pub mod client;
pub mod page;
pub mod paginate;
pub mod rate_limit;
pub mod retry;
pub mod url;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use log::{debug, info, trace, warn};
use serde_json::Value;

use crate::aggregate::{Phase, SourceStats, SourceStatus, Stats, WaitCause};
use crate::config::{shown_url, Config, SourceConfig};
use crate::control::{lock, RunControl, Stop};
use crate::error::AttemptError;
use breaker::{Breaker, Transition};
use client::Client;
use paginate::{Next, Paginator};
use rate_limit::TokenBucket;
use retry::{parse_retry_after, Backoff, RetryWait};

/// One raw item on its way to the processor.
#[derive(Debug)]
pub struct Item {
    /// Index of its source in the config.
    pub source: usize,
    /// The array element as received.
    pub value: Value,
}

/// How often a fetcher blocked on a full channel looks at the deadline
/// and for an interrupt.
const SEND_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// A fetcher sending a page looks at the deadline and for an interrupt at
/// least once every this many items (a few hundred nanoseconds of work).
const SEND_CHECK_ITEMS: usize = 256;

/// How sending a page's items ended.
enum Sent {
    /// Every item is in the channel.
    All,
    /// The processor is gone (it failed); nothing more can be sent.
    ProcessorGone,
    /// The deadline passed or the run was interrupted part-way; `dropped`
    /// items of the page were not handed over.
    Stopped { stop: Stop, dropped: usize },
}

/// How one page ended.
enum PageOutcome {
    /// A usable answer: its body (`None` for 204) and items, and the URL
    /// that answered (after redirects).
    Received {
        body: Option<Value>,
        items: Vec<Value>,
        page_url: String,
        link_next: Option<String>,
    },
    /// Given up after its last attempt, or at once when not retryable.
    GivenUp { link_next: Option<String> },
    /// The run is stopping.
    Stopped(Stop),
}

/// Everything one source's thread owns.
pub struct Fetcher<'a> {
    index: usize,
    source: &'a SourceConfig,
    config: &'a Config,
    client: Client,
    bucket: TokenBucket,
    backoff: Backoff,
    breaker: Breaker,
    control: &'a RunControl,
    stats: Arc<Mutex<Stats>>,
    /// Not before this instant: the `Retry-After` of a page given up,
    /// which the server meant for the whole API, not for that page.
    resume_at: Option<(Instant, WaitCause)>,
}

impl<'a> Fetcher<'a> {
    /// Builds source `index`'s fetcher; `seed` makes its jitter repeatable.
    pub fn new(
        index: usize,
        config: &'a Config,
        agent: ureq::Agent,
        control: &'a RunControl,
        stats: Arc<Mutex<Stats>>,
        seed: u64,
    ) -> Self {
        let source = &config.sources[index];
        Self {
            index,
            source,
            config,
            client: Client::new(agent, config, source),
            bucket: TokenBucket::new(config.rate_limit),
            backoff: Backoff::new(config.retry, seed.wrapping_add(index as u64)),
            breaker: Breaker::new(config.breaker),
            resume_at: None,
            control,
            stats,
        }
    }

    fn update<R>(&self, f: impl FnOnce(&mut SourceStats) -> R) -> R {
        f(&mut lock(&self.stats).sources[self.index])
    }

    /// Fetches every page and sends every item; records how it ended.
    pub fn run(mut self, tx: Sender<Item>) {
        let name = &self.source.name;
        info!(
            "source={name} event=start url={}",
            shown_url(&self.source.url)
        );
        let mut pager = Paginator::new(&self.source.url, &self.source.pagination);
        let mut requested = 0u64;
        let mut failed_in_a_row = 0u32;
        let (status, stopped_at) = loop {
            let url = pager.current().to_string();
            if let Err(stop) = self.control.check() {
                break (self.stop_status(stop), Some(url));
            }
            if requested >= self.config.max_pages {
                warn!(
                    "source={name} event=max_pages pages={requested} next={}",
                    shown_url(&url)
                );
                break (SourceStatus::MaxPages, Some(url));
            }
            requested += 1;
            let next = match self.fetch_page(&url, requested) {
                PageOutcome::Received { body: None, .. } => Next::End,
                PageOutcome::Received {
                    body: Some(body),
                    items,
                    page_url,
                    link_next,
                } => {
                    failed_in_a_row = 0;
                    let next =
                        pager.after_page(&body, items.len(), &page_url, link_next.as_deref());
                    drop(body);
                    match self.send(&tx, items) {
                        Sent::All => next,
                        Sent::ProcessorGone => break (SourceStatus::Error, Some(url)),
                        Sent::Stopped { stop, dropped } => {
                            warn!(
                                "source={name} event=stop reason=page_cut_short dropped={dropped} url={}",
                                shown_url(&url)
                            );
                            break (self.stop_status(stop), Some(url));
                        }
                    }
                }
                PageOutcome::GivenUp { link_next } => {
                    failed_in_a_row += 1;
                    self.update(|s| {
                        s.failed_pages += 1;
                        s.failed_page_urls.push(shown_url(&url));
                    });
                    let next = pager.after_given_up(link_next.as_deref());
                    if failed_in_a_row >= self.config.max_failed_pages_in_a_row {
                        warn!(
                            "source={name} event=stop reason=failed_pages_in_a_row count={failed_in_a_row}"
                        );
                        let resume = match next {
                            Next::Fetch(u) => u,
                            _ => url,
                        };
                        break (SourceStatus::Error, Some(resume));
                    }
                    next
                }
                PageOutcome::Stopped(stop) => break (self.stop_status(stop), Some(url)),
            };
            match next {
                Next::Fetch(_) => {}
                Next::End => break (SourceStatus::Complete, None),
                Next::Loop(target) => {
                    warn!(
                        "source={name} event=stop reason=pagination_loop url={}",
                        shown_url(&target)
                    );
                    self.update(|s| *s.errors.entry("pagination_loop").or_default() += 1);
                    break (SourceStatus::Error, Some(target));
                }
                Next::Stuck => {
                    warn!("source={name} event=stop reason=cannot_step_over_failed_page");
                    break (SourceStatus::Error, Some(url));
                }
                Next::BadPointer(what) => {
                    warn!(
                        "source={name} event=stop reason=unusable_next_pointer pointer=\"{what}\""
                    );
                    break (SourceStatus::Error, Some(url));
                }
            }
        };
        let phase = if status == SourceStatus::Complete {
            Phase::Done
        } else {
            Phase::Failed
        };
        let summary = self.update(|s| {
            s.status = status;
            s.phase = phase;
            s.stopped_at_url = stopped_at.as_deref().map(shown_url);
            format!(
                "requests={} pages={} failed_pages={} retries={}",
                s.requests, s.pages, s.failed_pages, s.retries
            )
        });
        info!(
            "source={name} event=end status={} {summary}",
            status.as_str()
        );
    }

    /// Sends a page's items in order. A full channel blocks, but never past
    /// the deadline or an interrupt, which are looked at before every wait
    /// for room and every [`SEND_CHECK_ITEMS`] items (however fast the
    /// processor drains, a huge page must not keep the run going). The
    /// page's URL is then where the source stopped, so a later run can
    /// fetch it again.
    fn send(&self, tx: &Sender<Item>, items: Vec<Value>) -> Sent {
        let total = items.len();
        for (sent, value) in items.into_iter().enumerate() {
            let mut item = Item {
                source: self.index,
                value,
            };
            let cut_short = || {
                let stop = self.control.check().err()?;
                let dropped = total - sent;
                Some(Sent::Stopped { stop, dropped })
            };
            if sent % SEND_CHECK_ITEMS == SEND_CHECK_ITEMS - 1 {
                if let Some(cut) = cut_short() {
                    return cut;
                }
            }
            loop {
                let full = match tx.try_send(item) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => back,
                    Err(TrySendError::Disconnected(_)) => return self.processor_gone(),
                };
                if let Some(cut) = cut_short() {
                    return cut;
                }
                item = match tx.send_timeout(full, SEND_CHECK_INTERVAL) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) => back,
                    Err(SendTimeoutError::Disconnected(_)) => return self.processor_gone(),
                };
            }
        }
        Sent::All
    }

    fn processor_gone(&self) -> Sent {
        warn!(
            "source={} event=stop reason=processor_gone",
            self.source.name
        );
        Sent::ProcessorGone
    }

    fn stop_status(&self, stop: Stop) -> SourceStatus {
        match stop {
            Stop::Interrupted => SourceStatus::Interrupted,
            Stop::Deadline if self.breaker.blocked_until().is_some() => SourceStatus::BreakerOpen,
            Stop::Deadline => SourceStatus::Deadline,
        }
    }

    /// Makes up to `1 + max_retries` attempts at `url` (page `page_no`).
    fn fetch_page(&mut self, url: &str, page_no: u64) -> PageOutcome {
        let name = self.source.name.clone();
        let shown = shown_url(url);
        // A pause a server asked for on the page given up before holds for
        // this one too.
        let mut retry_wait = self.resume_at.take();
        let mut retry_cause = String::new();
        for attempt in 1..=self.config.retry.max_retries + 1 {
            if let Err(stop) = self.wait_for_turn(retry_wait) {
                if stop == Stop::Deadline {
                    warn!("source={name} page={page_no} event=stop reason=deadline_before_attempt attempt={attempt}");
                }
                return PageOutcome::Stopped(stop);
            }
            if let Some(Transition::Probing) = self.breaker.before_attempt(Instant::now()) {
                info!("source={name} page={page_no} event=breaker_half_open attempt={attempt}");
            }
            let time_left = match self.control.time_left() {
                Ok(t) => t,
                Err(stop) => return PageOutcome::Stopped(stop),
            };
            self.update(|s| {
                s.requests += 1;
                s.phase = Phase::Fetching;
                if attempt > 1 {
                    s.retries += 1;
                    *s.retries_by_cause.entry(retry_cause.clone()).or_default() += 1;
                }
            });
            trace!("source={name} page={page_no} attempt={attempt} event=request url={shown}");
            let exchange = self
                .client
                .get(url, time_left, || self.take_token().is_ok());
            if let Err(stop) = self.control.check() {
                // Cut by the deadline or an interrupt: not the server's fault.
                if exchange.body.is_err() {
                    return PageOutcome::Stopped(stop);
                }
            }
            self.update(|s| {
                if let Some(status) = exchange.status {
                    *s.responses.entry(status).or_default() += 1;
                }
                if let Some(latency) = exchange.latency {
                    s.latencies_ms
                        .push(latency.as_millis().min(u32::MAX as u128) as u32);
                }
            });
            let link_next = exchange.link_next;
            let page_url = exchange.final_url;
            let error = match exchange.body {
                Ok(None) => return self.received(None, Vec::new(), page_url, link_next),
                Ok(Some(mut body)) => {
                    match page::take_items(&mut body, self.source.items_path.as_ref()) {
                        Some(items) => {
                            return self.received(Some(body), items, page_url, link_next)
                        }
                        None => AttemptError::NoItems,
                    }
                }
                Err(e) => e,
            };
            if let Some(kind) = error.error_kind() {
                self.update(|s| *s.errors.entry(kind).or_default() += 1);
            }
            if !error.is_retryable() {
                if let Some(Transition::Closed) = self.breaker.on_non_retryable() {
                    info!("source={name} event=breaker_closed");
                }
                warn!("source={name} page={page_no} event=give_up attempt={attempt} error=\"{error}\" url={shown}");
                return PageOutcome::GivenUp { link_next };
            }
            if let Some(Transition::Opened) = self.breaker.on_retryable(Instant::now()) {
                self.update(|s| s.breaker_opens += 1);
                warn!(
                    "source={name} page={page_no} event=breaker_open cooldown_ms={}",
                    self.config.breaker.cooldown.as_millis()
                );
            }
            let retry_after = exchange
                .retry_after
                .as_deref()
                .filter(|_| error.honours_retry_after())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            if attempt > self.config.retry.max_retries {
                if let Some(pause) = retry_after {
                    self.resume_at = Some((self.control.after(pause), WaitCause::RetryAfter));
                }
                warn!("source={name} page={page_no} event=give_up attempt={attempt} error=\"{error}\" url={shown}");
                return PageOutcome::GivenUp { link_next };
            }
            let backoff = self.backoff.delay(attempt);
            let wait = RetryWait::new(backoff, retry_after);
            let cause = if wait.from_retry_after {
                WaitCause::RetryAfter
            } else {
                WaitCause::Backoff
            };
            debug!(
                "source={name} page={page_no} event=retry status={} attempt={attempt} error=\"{error}\" wait_ms={} cause={}",
                exchange.status.map_or("-".to_string(), |s| s.to_string()),
                wait.wait.as_millis(),
                if wait.from_retry_after { "retry_after" } else { "backoff" },
            );
            retry_wait = Some((self.control.after(wait.wait), cause));
            retry_cause = error.retry_cause();
        }
        unreachable!("the last attempt always returns")
    }

    fn received(
        &mut self,
        body: Option<Value>,
        items: Vec<Value>,
        page_url: String,
        link_next: Option<String>,
    ) -> PageOutcome {
        if let Some(Transition::Closed) = self.breaker.on_success() {
            info!("source={} event=breaker_closed", self.source.name);
        }
        self.update(|s| s.pages += 1);
        PageOutcome::Received {
            body,
            items,
            page_url,
            link_next,
        }
    }

    /// Waits out the backoff (or Retry-After), then the breaker's cooldown,
    /// then takes a token; each wait is counted under its cause.
    fn wait_for_turn(&mut self, retry_wait: Option<(Instant, WaitCause)>) -> Result<(), Stop> {
        if let Some((until, cause)) = retry_wait {
            self.wait_until(until, cause, Phase::BackingOff)?;
        }
        if let Some(until) = self.breaker.blocked_until() {
            self.wait_until(until, WaitCause::Breaker, Phase::BreakerOpen)?;
        }
        self.take_token()
    }

    /// Takes a token (every request does, redirect hops included), counting
    /// the wait.
    fn take_token(&self) -> Result<(), Stop> {
        let waited = self.bucket.take(self.control)?;
        self.update(|s| s.add_wait(WaitCause::RateLimit, waited));
        Ok(())
    }

    fn wait_until(&self, until: Instant, cause: WaitCause, phase: Phase) -> Result<(), Stop> {
        let start = Instant::now();
        if until <= start {
            return Ok(());
        }
        self.update(|s| s.phase = phase);
        let result = self.control.wait_until(until);
        self.update(|s| s.add_wait(cause, start.elapsed()));
        result
    }
}
