//! One source's fetcher: the page loop and the attempt loop (SPEC §4).
//!
//! [`Fetcher::run`] walks the source's pages with its [`Paginator`] and
//! hands every item to the channel. Each page gets up to `1 + max_retries`
//! attempts, and each attempt goes through named phases: wait for its turn
//! (backoff or Retry-After, the breaker's cooldown, a token), send,
//! classify the answer, and — when it failed — let the [`RetryPolicy`] and
//! the [`Breaker`] decide. Every wait goes through [`RunControl`], which
//! refuses a wait that would cross the deadline and wakes on Ctrl-C.
//!
//! The fetcher keeps its counters to itself ([`FetchCounts`]), posts only
//! a small [`Live`] view for the progress display, and returns how it
//! ended as a [`SourceOutcome`] through its thread's join handle: the
//! pipeline files it.
//!
//! Log levels: `info` for start and end, `warn` for a page given up, the
//! breaker opening or a source stopping early, `debug` for each retry
//! decision, `trace` for each request. URLs in logs are redacted.

pub mod breaker;
pub mod client;
pub mod outcome;
pub mod page;
pub mod paginate;
pub mod quota;
pub mod rate_limit;
pub mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, trace, warn};

use crate::config::{Config, Policies, SourceConfig};
use crate::control::{lock, RunControl, Stop};
use crate::error::{AttemptError, ErrorKind, RetryCause};
use crate::queue::{Batch, QueueTx, SendError};
use crate::redact::Redactor;
use crate::state::{Position, Start};
use crate::text::shorten;
use breaker::{Breaker, Transition};
use client::{Client, Exchange};
pub use outcome::SourceOutcome;
use outcome::{FetchCounts, Live, LiveBoard, Phase, SourceStatus, WaitCause};
use page::{BodyError, Elements, Page};
use paginate::{Next, Paginator};
use rate_limit::TokenBucket;
use retry::{parse_retry_after, Decision, RetryPolicy};

/// What every fetcher of a run shares.
#[derive(Debug, Clone)]
pub struct Shared<'a> {
    /// Clones share one pool; the run's control can shut it down.
    pub agent: ureq::Agent,
    /// The deadline and the interrupt.
    pub control: &'a RunControl,
    /// Hides the config's secrets in every URL shown.
    pub redactor: Arc<Redactor>,
    /// Where fetchers post their `Live` view for the progress display.
    pub board: Arc<LiveBoard>,
}

/// The longest wait for a quota to reset; a later reset is capped (and
/// logged).
const MAX_QUOTA_WAIT: Duration = Duration::from_secs(3600);

/// The longest `failed_page_errors` entry, in characters.
const ERROR_TEXT_CHARS: usize = 200;

/// How often a fetcher blocked on a full channel looks at the deadline
/// and for an interrupt.
const SEND_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The most items in one batch: a fetcher looks at the deadline and for an
/// interrupt before each batch it hands over, so at least this often.
const MAX_BATCH_ITEMS: usize = 256;

/// A 403 or 429 that says the quota is used up is a wait for the reset,
/// not the client's error: reclassified before it is counted.
fn quota_refusal(error: AttemptError, quota: Option<quota::Quota>) -> AttemptError {
    match error {
        AttemptError::Status(code @ (403 | 429)) if quota.is_some_and(|q| q.exhausted()) => {
            AttemptError::QuotaExhausted(code)
        }
        other => other,
    }
}

/// How a source's page loop ended.
struct Ending {
    status: SourceStatus,
    /// The URL it would have fetched next.
    stopped_at: Option<String>,
    /// The position a later run may resume from.
    resume: Option<Position>,
    /// Why it did not end cleanly, in one line (the summary's
    /// `stop_reason`).
    reason: Option<String>,
}

/// How sending a page's items ended.
enum Sent {
    /// Every item is in the channel: this many.
    All(usize),
    /// The processor is gone (it failed); nothing more can be sent.
    ProcessorGone,
    /// The deadline passed or the run was interrupted part-way; `dropped`
    /// items of the page were not handed over.
    Stopped { stop: Stop, dropped: usize },
}

/// A usable answer to a page request.
struct Answer {
    /// The body with its items found (`None` for 204).
    page: Option<Page>,
    /// The URL that answered (after redirects).
    page_url: String,
    /// The answer's `Link` rel="next" target.
    link_next: Option<String>,
}

/// How one page ended.
enum PageOutcome {
    /// A usable answer.
    Received(Answer),
    /// Given up after its last attempt, or at once when not retryable.
    GivenUp {
        /// The failed answer's `Link` rel="next" target, if any.
        link_next: Option<String>,
        /// What went wrong, for `failed_page_errors`.
        error: String,
    },
    /// The run is stopping.
    Stopped(Stop),
}

/// Everything one source's thread owns.
pub struct Fetcher<'a> {
    index: usize,
    source: &'a SourceConfig,
    /// The source's effective policies (its own keys over the top
    /// level's): every limit the page and attempt loops obey comes from
    /// here, never from the top level.
    config: &'a Policies,
    /// The run's `batch_size`: the most items one batch of a page holds.
    batch_size: usize,
    client: Client,
    bucket: TokenBucket,
    retry: RetryPolicy,
    breaker: Breaker,
    shared: Shared<'a>,
    counts: FetchCounts,
    /// Every page given up, with what went wrong.
    failed_pages: Vec<(String, String)>,
    /// The last failed attempt's error, for the breaker's stop reason.
    last_error: Option<String>,
    /// Not before this instant: the `Retry-After` of a page given up,
    /// which the server meant for the whole API, not for that page.
    resume_at: Option<(Instant, WaitCause)>,
    /// Nothing is sent before this instant: the server said its quota is
    /// used up until then.
    quota_until: Option<Instant>,
    /// The quota wait the deadline refused, in seconds (for the stop
    /// reason).
    quota_refused: Option<u64>,
    /// Where the page loop starts.
    start: Start,
}

impl<'a> Fetcher<'a> {
    /// Builds source `index`'s fetcher; `seed` makes its jitter repeatable.
    pub fn new(index: usize, config: &'a Config, shared: Shared<'a>, seed: u64) -> Self {
        let source = &config.sources[index];
        let policies = &source.policies;
        Self {
            index,
            source,
            config: policies,
            batch_size: config.batch_size,
            client: Client::new(shared.agent.clone(), source, Arc::clone(&shared.redactor)),
            bucket: TokenBucket::new(policies.rate_limit),
            retry: RetryPolicy::new(policies.retry, seed.wrapping_add(index as u64)),
            breaker: Breaker::new(policies.breaker),
            shared,
            counts: FetchCounts::default(),
            failed_pages: Vec::new(),
            last_error: None,
            resume_at: None,
            quota_until: None,
            quota_refused: None,
            start: Start::default(),
        }
    }

    /// Starts at `start` instead of the source's first page.
    pub fn starting_at(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    fn name(&self) -> &str {
        &self.source.name
    }

    fn shown(&self, url: &str) -> String {
        self.shared.redactor.shown_url(url)
    }

    /// Posts what the source is doing for the progress display.
    fn post(&self, phase: Phase) {
        self.post_until(phase, None);
    }

    /// [`post`](Self::post), for a wait that ends at `until`.
    fn post_until(&self, phase: Phase, until: Option<Instant>) {
        lock(&self.shared.board)[self.index] = Live {
            phase,
            until,
            pages: self.counts.pages,
            requests: self.counts.requests,
        };
    }

    /// Fetches every page and sends every item; says how it ended.
    pub fn run(mut self, tx: QueueTx) -> SourceOutcome {
        let shown = self.shown(&self.source.url);
        info!(source = self.name(), event = "start", url = shown; "");
        let url = self
            .start
            .url
            .clone()
            .unwrap_or_else(|| self.source.url.clone());
        let mut pager = Paginator::new(&url, &self.source.pagination);
        if let Some(position) = self.start.position.take() {
            if !pager.resume(&position) {
                let saved = position.to_json().to_string();
                warn!(source = self.name(), event = "resume_refused", position = saved; "");
            }
        }
        let Ending {
            status,
            stopped_at,
            resume,
            reason,
        } = self.walk(&mut pager, &tx);
        if let Some(reason) = &reason {
            info!(source = self.name(), event = "stop_reason", reason = reason.as_str(); "");
        }
        self.post(status.final_phase());
        let c = &self.counts;
        info!(
            source = self.name(), event = "end", status = status.as_str(),
            requests = c.requests, pages = c.pages, failed_pages = c.failed_pages,
            retries = c.retries; ""
        );
        SourceOutcome {
            status,
            stopped_at,
            resume,
            stop_reason: reason,
            failed_pages: self.failed_pages,
            counts: self.counts,
        }
    }

    /// The page loop: fetch, hand over, step, until the source ends.
    fn walk(&mut self, pager: &mut Paginator, tx: &QueueTx) -> Ending {
        let mut requested = 0u64;
        let mut failed_in_a_row = 0u32;
        // Where the run of failed pages began: a later run resumes there.
        let mut first_failed: Option<Position> = None;
        loop {
            let url = pager.current().to_string();
            let here = pager.position();
            let stopped = |status, reason: String| Ending {
                status,
                stopped_at: Some(url.clone()),
                resume: here.clone(),
                reason: Some(reason),
            };
            if let Err(stop) = self.shared.control.check() {
                let (status, reason) = self.stop_words(stop, requested + 1);
                return stopped(status, reason);
            }
            if requested >= self.config.max_pages {
                let next = self.shown(&url);
                warn!(source = self.name(), event = "max_pages", pages = requested, next = next; "");
                let reason = format!(
                    "max_pages ({requested}) requested without reaching the end of the data"
                );
                return stopped(SourceStatus::MaxPages, reason);
            }
            requested += 1;
            let next = match self.fetch_page(&url, requested) {
                PageOutcome::Received(Answer { page: None, .. }) => Next::End,
                PageOutcome::Received(Answer {
                    page: Some(page),
                    page_url,
                    link_next,
                }) => {
                    failed_in_a_row = 0;
                    if self.counts.items_at.is_none() {
                        self.counts.items_at = Some(page.found_at.to_string());
                    }
                    let n = match self.hand_over(tx, &page, &url) {
                        Sent::All(n) => n,
                        Sent::ProcessorGone => {
                            let reason = "the processor failed (see the summary's error)";
                            return stopped(SourceStatus::Error, reason.to_string());
                        }
                        Sent::Stopped { stop, dropped } => {
                            let (status, words) = self.stop_words(stop, requested);
                            let reason = format!(
                                "{words} (page {requested} cut short: {dropped} of its items not handed over)"
                            );
                            return stopped(status, reason);
                        }
                    };
                    self.counts.announce(pager.announced_total(&page));
                    pager.after_page(&page, n, &page_url, link_next.as_deref())
                }
                PageOutcome::GivenUp { link_next, error } => {
                    if failed_in_a_row == 0 {
                        first_failed = here.clone();
                    }
                    failed_in_a_row += 1;
                    self.counts.failed_pages += 1;
                    self.failed_pages.push((url.clone(), error.clone()));
                    let next = pager.after_given_up(link_next.as_deref());
                    if failed_in_a_row >= self.config.max_failed_pages_in_a_row {
                        warn!(
                            source = self.name(), event = "stop",
                            reason = "failed_pages_in_a_row", count = failed_in_a_row; ""
                        );
                        let stopped_at = match next {
                            Next::Fetch(u) => u,
                            _ => url,
                        };
                        return Ending {
                            status: SourceStatus::Error,
                            stopped_at: Some(stopped_at),
                            resume: first_failed,
                            reason: Some(format!(
                                "{failed_in_a_row} pages given up in a row (the last: {error})"
                            )),
                        };
                    }
                    next
                }
                PageOutcome::Stopped(stop) => {
                    let (status, reason) = self.stop_words(stop, requested);
                    return stopped(status, reason);
                }
            };
            if let Some(ending) = self.step(next, &url, here, requested) {
                return ending;
            }
        }
    }

    /// Where the paginator said to go: on (`None`), or how the source ends.
    fn step(
        &mut self,
        next: Next,
        url: &str,
        here: Option<Position>,
        page_no: u64,
    ) -> Option<Ending> {
        let name = self.source.name.as_str();
        let error = |reason: String, stopped_at: String, resume: Option<Position>| Ending {
            status: SourceStatus::Error,
            stopped_at: Some(stopped_at),
            resume,
            reason: Some(reason),
        };
        match next {
            Next::Fetch(_) => None,
            Next::End => Some(Ending {
                status: SourceStatus::Complete,
                stopped_at: None,
                resume: None,
                reason: match self.counts.failed_pages {
                    0 => None,
                    1 => Some(
                        "reached the end, but 1 page was given up (see failed_page_errors)"
                            .to_string(),
                    ),
                    n => Some(format!(
                        "reached the end, but {n} pages were given up (see failed_page_errors)"
                    )),
                },
            }),
            Next::Loop(target) => {
                let shown = self.shown(&target);
                warn!(source = name, event = "stop", reason = "pagination_loop", url = shown; "");
                self.counts.add_error(ErrorKind::PaginationLoop);
                // A loop has no position worth resuming at: start over.
                let reason = format!(
                    "pagination loop: page {page_no} points back to {shown}, already fetched"
                );
                Some(error(reason, target, None))
            }
            Next::Repeated { page, of } => {
                self.counts.add_error(ErrorKind::PaginationLoop);
                let unit = match self.source.pagination {
                    crate::config::Pagination::Offset { .. } => "offset",
                    _ => "page",
                };
                let reason = format!(
                    "pagination loop: {unit} {page} repeats {unit} {of} byte for byte (the server may ignore the position parameter)"
                );
                warn!(source = name, event = "stop", reason = "pagination_loop", detail = reason.as_str(); "");
                Some(error(reason, url.to_string(), None))
            }
            Next::Stuck => {
                warn!(source = name, event = "stop", reason = "cannot_step_over_failed_page"; "");
                let reason =
                    format!("page {page_no} was given up and this pagination cannot step over it");
                Some(error(reason, url.to_string(), here))
            }
            Next::BadUrl(target) => {
                let pointer = format!("next URL {}", self.shown(&target));
                warn!(source = name, event = "stop", reason = "unusable_next_pointer", pointer = pointer; "");
                let reason = format!(
                    "unusable next pointer: {pointer} is not an http(s) URL ingest may request"
                );
                Some(error(reason, url.to_string(), here))
            }
            Next::BadPointer(what) => {
                warn!(source = name, event = "stop", reason = "unusable_next_pointer", pointer = what; "");
                let reason = format!("unusable next pointer at {what}, not a cursor or URL");
                Some(error(reason, url.to_string(), here))
            }
        }
    }

    /// Hands a page's items over, saying in the log when it could not
    /// (the page's URL is then where the source stopped, so a later run
    /// can fetch it again).
    fn hand_over(&self, tx: &QueueTx, page: &Page, url: &str) -> Sent {
        let sent = self.send(tx, page, url);
        match &sent {
            Sent::All(_) => {}
            Sent::ProcessorGone => {
                warn!(source = self.name(), event = "stop", reason = "processor_gone"; "");
            }
            Sent::Stopped { dropped, .. } => {
                let shown = self.shown(url);
                warn!(
                    source = self.name(), event = "stop", reason = "page_cut_short",
                    dropped = *dropped, url = shown; ""
                );
            }
        }
        sent
    }

    /// `kind: detail` of a page given up, with the status and the start of
    /// the body the server answered with (a 422 says what it objected to),
    /// secrets hidden, at most 200 characters.
    fn described(&self, error: &AttemptError, body: Option<&str>) -> String {
        let mut text = match error {
            AttemptError::Status(code) => {
                let kind = error.error_kind().map_or("server_error", ErrorKind::as_str);
                format!("{kind}: status {code}")
            }
            other => other.to_string(),
        };
        if let Some(body) = body.map(str::trim).filter(|b| !b.is_empty()) {
            text.push_str(": ");
            text.push_str(&self.shared.redactor.redact_text(body));
        }
        shorten(&text, ERROR_TEXT_CHARS).into_owned()
    }

    /// The status and the words of a source stopped by `stop` before page
    /// `page_no` was done.
    fn stop_words(&self, stop: Stop, page_no: u64) -> (SourceStatus, String) {
        let status = self.stop_status(stop);
        let words = match status {
            SourceStatus::Interrupted => format!("interrupted (Ctrl-C or SIGTERM) before page {page_no} was done"),
            SourceStatus::BreakerOpen => format!(
                "deadline while the breaker was open, before page {page_no} (the server kept failing: {})",
                self.last_error.as_deref().unwrap_or("retryable errors")
            ),
            _ => match self.quota_refused {
                Some(secs) => format!(
                    "deadline while waiting {secs} s for the quota to reset, before page {page_no}"
                ),
                None => format!("deadline reached before page {page_no} was done"),
            },
        };
        (status, words)
    }

    /// Sends a page's items in order, in batches of spans of its body. A
    /// full queue blocks, but never past the deadline or an interrupt,
    /// which are looked at before every batch and every wait for room
    /// (however fast the processor drains, a huge page must not keep the
    /// run going).
    fn send(&self, tx: &QueueTx, page: &Page, url: &str) -> Sent {
        let control = self.shared.control;
        let page_url: Option<Arc<str>> = self.source.keep_rejected.then(|| self.shown(url).into());
        let size = self.batch_size.min(tx.capacity()).clamp(1, MAX_BATCH_ITEMS);
        // Items are found as they are handed over: one pass over the array.
        let mut spans = page.items();
        // The page has just arrived: its body is read and checked.
        let received = SystemTime::now();
        let mut sent = 0;
        loop {
            let items: Vec<_> = spans.by_ref().take(size).collect();
            let n = items.len();
            if n == 0 {
                break;
            }
            // Counted only when cut: what this batch and the rest held.
            let cut_short = |spans: &mut Elements<'_>| {
                let stop = control.check().err()?;
                Some(Sent::Stopped {
                    stop,
                    dropped: n + spans.clone().count(),
                })
            };
            if let Some(cut) = cut_short(&mut spans) {
                return cut;
            }
            let mut batch = Batch {
                source: self.index,
                body: Arc::clone(&page.text),
                items,
                page_url: page_url.clone(),
                received,
                ended: None,
            };
            loop {
                batch = match tx.send_timeout(batch, SEND_CHECK_INTERVAL) {
                    Ok(()) => break,
                    Err(SendError::Timeout(back)) => back,
                    Err(SendError::Disconnected) => return Sent::ProcessorGone,
                };
                if let Some(cut) = cut_short(&mut spans) {
                    return cut;
                }
            }
            sent += n;
        }
        Sent::All(sent)
    }

    fn stop_status(&self, stop: Stop) -> SourceStatus {
        match stop {
            Stop::Interrupted => SourceStatus::Interrupted,
            Stop::Deadline if self.breaker.blocked_until().is_some() => SourceStatus::BreakerOpen,
            Stop::Deadline => SourceStatus::Deadline,
        }
    }

    /// The attempt loop of page `page_no` at `url`: wait for a turn, send,
    /// classify, decide — until a usable answer, a page given up, or a stop.
    fn fetch_page(&mut self, url: &str, page_no: u64) -> PageOutcome {
        // A pause a server asked for on the page given up before holds for
        // this one too.
        let mut turn = self.resume_at.take();
        let mut retrying: Option<RetryCause> = None;
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            if let Err(stop) = self.wait_for_turn(turn, page_no, attempt) {
                return PageOutcome::Stopped(stop);
            }
            let exchange = match self.send_attempt(url, page_no, attempt, retrying) {
                Ok(exchange) => exchange,
                Err(stop) => return PageOutcome::Stopped(stop),
            };
            let link_next = exchange.link_next.clone();
            let retry_after = exchange.retry_after.clone();
            let status = exchange.status;
            let error_body = exchange.error_body.clone();
            let quota = exchange.quota;
            self.note_quota(quota, page_no);
            let error = match self.classify(exchange) {
                Ok(page) => return PageOutcome::Received(page),
                Err(error) => error,
            };
            let retry_after = retry_after
                .as_deref()
                .filter(|_| error.honours_retry_after())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            match self.decide(&error, page_no, attempt, retry_after) {
                Decision::Retry { wait, cause } => {
                    debug!(
                        source = self.name(), page = page_no, event = "retry",
                        status = status,
                        attempt = attempt, error:% = error, wait_ms = wait.as_millis() as u64,
                        cause = if cause == WaitCause::RetryAfter { "retry_after" } else { "backoff" }; ""
                    );
                    turn = Some((self.shared.control.after(wait), cause));
                    retrying = Some(error.retry_cause());
                }
                Decision::GiveUp => {
                    if let Some(pause) = retry_after {
                        let until = self.shared.control.after(pause);
                        self.resume_at = Some((until, WaitCause::RetryAfter));
                    }
                    let shown = self.shown(url);
                    let error = self.described(&error, error_body.as_deref());
                    warn!(
                        source = self.name(), page = page_no, event = "give_up",
                        attempt = attempt, error = error.as_str(), url = shown; ""
                    );
                    return PageOutcome::GivenUp { link_next, error };
                }
            }
        }
    }

    /// Phase 1: waits out the backoff (or Retry-After), then the breaker's
    /// cooldown, then takes a token; each wait is counted under its cause.
    fn wait_for_turn(
        &mut self,
        turn: Option<(Instant, WaitCause)>,
        page_no: u64,
        attempt: u32,
    ) -> Result<(), Stop> {
        let waited = (|| {
            if let Some((until, cause)) = turn {
                let phase = match cause {
                    WaitCause::RetryAfter => Phase::RetryAfter,
                    _ => Phase::Backoff {
                        retry: attempt.saturating_sub(1),
                        of: self.config.retry.max_retries,
                    },
                };
                self.wait_until(until, cause, phase)?;
            }
            if let Some(until) = self.breaker.blocked_until() {
                self.wait_until(until, WaitCause::Breaker, Phase::BreakerOpen)?;
            }
            if let Some(until) = self.quota_until.take() {
                let secs = until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
                    .ceil();
                self.quota_refused = Some(secs as u64);
                self.wait_until(until, WaitCause::Quota, Phase::QuotaReset)?;
                self.quota_refused = None;
            }
            self.take_token()
        })();
        if waited == Err(Stop::Deadline) {
            warn!(
                source = self.name(), page = page_no, event = "stop",
                reason = "deadline_before_attempt", attempt = attempt; ""
            );
        }
        waited
    }

    /// Phase 2: sends one attempt within the time left and counts it.
    /// `retrying` is what caused this attempt, when it is a retry.
    fn send_attempt(
        &mut self,
        url: &str,
        page_no: u64,
        attempt: u32,
        retrying: Option<RetryCause>,
    ) -> Result<Exchange, Stop> {
        if let Some(Transition::Probing) = self.breaker.before_attempt(Instant::now()) {
            info!(source = self.name(), page = page_no, event = "breaker_half_open", attempt = attempt; "");
        }
        let time_left = self.shared.control.time_left()?;
        self.counts.requests += 1;
        if let Some(cause) = retrying {
            self.counts.add_retry(cause);
        }
        self.post(Phase::Fetching);
        if log::log_enabled!(log::Level::Trace) {
            let shown = self.shown(url);
            trace!(source = self.name(), page = page_no, attempt = attempt, event = "request", url = shown; "");
        }
        let (client, bucket, control) = (&self.client, &self.bucket, self.shared.control);
        let mut token_waits = Duration::ZERO;
        let exchange = client.get(url, time_left, || match bucket.take(control) {
            Ok(waited) => {
                token_waits += waited;
                true
            }
            Err(_) => false,
        });
        self.counts.add_wait(WaitCause::RateLimit, token_waits);
        if let Err(stop) = control.check() {
            // Cut by the deadline or an interrupt: not the server's fault.
            if exchange.body.is_err() {
                return Err(stop);
            }
        }
        if let Some(status) = exchange.status {
            *self.counts.responses.entry(status).or_default() += 1;
        }
        self.counts.announce(exchange.total_count);
        self.counts.resends += u64::from(exchange.resends);
        if let Some(latency) = exchange.latency {
            let ms = latency.as_millis().min(u32::MAX as u128) as u32;
            self.counts.latencies_ms.push(ms);
        }
        Ok(exchange)
    }

    /// Phase 3: the items of a usable answer, or why there are none.
    fn classify(&mut self, exchange: Exchange) -> Result<Answer, AttemptError> {
        let Exchange {
            body,
            final_url: page_url,
            link_next,
            quota,
            ..
        } = exchange;
        let page = match body {
            Ok(None) => None,
            Ok(Some(text)) => match Page::parse(text, self.source.items_path.as_ref()) {
                Ok(page) => Some(page),
                Err(BodyError::NoItems(found)) => {
                    return Err(self.failed(AttemptError::NoItems(found)))
                }
                Err(BodyError::Malformed(e)) => {
                    return Err(self.failed(AttemptError::MalformedJson(e)))
                }
            },
            Err(e) => return Err(self.failed(quota_refusal(e, quota))),
        };
        let page = Answer {
            page,
            page_url,
            link_next,
        };
        if let Some(Transition::Closed) = self.breaker.on_success() {
            info!(source = self.name(), event = "breaker_closed"; "");
        }
        self.counts.pages += 1;
        Ok(page)
    }

    /// Counts a failed attempt under its error kind.
    fn failed(&mut self, error: AttemptError) -> AttemptError {
        self.last_error = Some(error.to_string());
        if let Some(kind) = error.error_kind() {
            self.counts.add_error(kind);
        }
        error
    }

    /// After an answer: a quota announced as used up holds the source's
    /// next request until the reset (at most an hour, said in the log).
    fn note_quota(&mut self, quota: Option<quota::Quota>, page_no: u64) {
        let Some(quota::Hold { wait, capped_from }) = quota.and_then(|q| q.hold(MAX_QUOTA_WAIT))
        else {
            return;
        };
        if let Some(reset) = capped_from {
            let asked = reset.as_secs();
            warn!(source = self.name(), page = page_no, event = "quota_reset_capped", reset_s = asked, capped_s = MAX_QUOTA_WAIT.as_secs(); "");
        }
        if !wait.is_zero() {
            let wait_ms = wait.as_millis() as u64;
            info!(source = self.name(), page = page_no, event = "quota_wait", wait_ms = wait_ms; "");
            self.quota_until = Some(self.shared.control.after(wait));
        }
    }

    /// Phase 4: tells the breaker, then asks the retry policy.
    fn decide(
        &mut self,
        error: &AttemptError,
        page_no: u64,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Decision {
        // A used-up quota is the server working as announced: no failure.
        if matches!(error, AttemptError::QuotaExhausted(_)) {
        } else if !error.is_retryable() {
            if let Some(Transition::Closed) = self.breaker.on_non_retryable() {
                info!(source = self.name(), event = "breaker_closed"; "");
            }
        } else if let Some(Transition::Opened) = self.breaker.on_retryable(Instant::now()) {
            self.counts.breaker_opens += 1;
            let cooldown_ms = self.config.breaker.cooldown.as_millis() as u64;
            warn!(
                source = self.name(), page = page_no, event = "breaker_open",
                cooldown_ms = cooldown_ms, error:% = error; ""
            );
        }
        self.retry.decide(error, attempt, retry_after)
    }

    /// Takes a token (every request does, redirect hops included), counting
    /// the wait.
    fn take_token(&mut self) -> Result<(), Stop> {
        if self.bucket.try_take().is_ok() {
            return Ok(());
        }
        self.post(Phase::RateLimit);
        let waited = self.bucket.take(self.shared.control)?;
        self.counts.add_wait(WaitCause::RateLimit, waited);
        Ok(())
    }

    fn wait_until(&mut self, until: Instant, cause: WaitCause, phase: Phase) -> Result<(), Stop> {
        let start = Instant::now();
        if until <= start {
            return Ok(());
        }
        self.post_until(phase, Some(until));
        let result = self.shared.control.wait_until(until);
        self.counts.add_wait(cause, start.elapsed());
        result
    }
}
