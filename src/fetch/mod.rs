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

pub mod auth;
mod authorize;
pub mod breaker;
pub mod client;
pub mod gate;
pub mod graphql;
pub mod headers;
pub mod outcome;
pub mod page;
pub mod paginate;
pub mod partitions;
pub mod prefetch;
pub mod quota;
pub mod rate_limit;
pub mod request;
pub mod retry;
mod rules;
pub mod stop;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, trace, warn};

use crate::config::Pagination;
use crate::config::{Config, Policies, SourceConfig};
use crate::control::{lock, RunControl, Stop};
use crate::error::{AttemptError, ErrorKind, RetryCause};
use crate::partition::Inherited;
use crate::queue::{Batch, QueueTx, SendError};
use crate::redact::Redactor;
use crate::state::{Position, Start};
use crate::text::shorten;
use auth::{BearerFrom, ClientCredentials, TokenSource, Tokens};
use authorize::NoToken;
use breaker::{Admit, Transition};
use client::{Client, Exchange};
use gate::{Budget, Gate, Gates};
pub use outcome::SourceOutcome;
use outcome::{FetchCounts, Live, LiveBoard, Phase, SourceStatus, WaitCause};
use page::{BodyError, Elements, Page};
use paginate::{Next, Paginator};
use partitions::{HandOver, PartitionRun, Route};
use prefetch::Prefetch;
use request::{ConfiguredHeaders, Request};
use retry::{parse_retry_after, Decision, RetryPolicy};
use rules::Body;
use stop::{StopReason, Waiting};

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
    /// The run's OAuth2 tokens, one per token endpoint and client.
    pub tokens: Arc<Tokens>,
    /// Each source's gate: its bucket (and its group's), breaker and
    /// pauses, shared by its workers.
    pub gates: Arc<Gates>,
}

/// A source's client with `headers` (and what its auth adds), and its
/// token client when it takes OAuth2 tokens.
fn clients(
    shared: &Shared<'_>,
    source: &SourceConfig,
    headers: &[crate::config::Header],
    tokens: Option<&Arc<TokenSource>>,
) -> (Client, Option<Client>) {
    let configured = ConfiguredHeaders::for_source_with(source, headers);
    let client = Client::new(shared.agent.clone(), source, Arc::clone(&shared.redactor));
    match tokens {
        Some(tokens) => {
            let bearer = BearerFrom::new(Box::new(configured), Arc::clone(tokens), &source.url);
            let credentials = ClientCredentials::new(tokens.settings());
            (
                client.clone().with_headers(Arc::new(bearer)),
                Some(client.with_headers(Arc::new(credentials))),
            )
        }
        None => (client.with_headers(Arc::new(configured)), None),
    }
}

/// Counters at zero for `source` (its rules' counters sized).
fn zero_counts(source: &SourceConfig) -> FetchCounts {
    FetchCounts {
        rules: (!source.on_response.is_empty())
            .then(|| outcome::RuleCounts::new(source.on_response.len())),
        ..FetchCounts::default()
    }
}

/// How often a request waiting for its source's first answer looks
/// again.
const FIRST_ANSWER_POLL: Duration = Duration::from_millis(5);

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

/// What a GraphQL answer with `errors` and no items is: a rate limit is a
/// quota to wait out (GitHub answers its limit as a 200), anything else
/// a failed page of kind `graphql`.
fn graphql_failure(errors: graphql::Errors) -> AttemptError {
    match errors.rate_limited {
        true => AttemptError::QuotaExhausted(200),
        false => AttemptError::Graphql(errors.first),
    }
}

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
    /// Why it did not end cleanly (`None`: it did); its status too.
    reason: Option<StopReason>,
    /// The request it would have sent next, when it stopped early.
    stopped_at: Option<Request>,
    /// The position a later run may resume from.
    resume: Option<Position>,
}

impl Ending {
    /// Reached the end.
    fn clean() -> Self {
        Ending {
            reason: None,
            stopped_at: None,
            resume: None,
        }
    }

    /// Stopped by `reason` before `request` was done; a later run resumes
    /// at its position.
    fn before(request: &Request, reason: StopReason) -> Self {
        Ending {
            reason: Some(reason),
            stopped_at: Some(request.clone()),
            resume: request.position.clone(),
        }
    }

    fn status(&self) -> SourceStatus {
        self.reason
            .as_ref()
            .map_or(SourceStatus::Complete, StopReason::status)
    }
}

/// A run of pages given up one after another.
#[derive(Debug, Default)]
struct FailedRun {
    /// Pages in the run.
    count: u32,
    /// Where the run began: a later run resumes there.
    first: Option<Position>,
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
    /// Whether the answer carried a `Link` header at all.
    link_header: bool,
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
    /// An `on_response` rule said to skip it: given up at once, and no
    /// failure.
    Skipped {
        /// The answer's `Link` rel="next" target, if any.
        link_next: Option<String>,
        /// The rule's index in `on_response`.
        rule: usize,
    },
    /// The run is stopping.
    Stopped(Stop),
    /// No token to send it with: the token endpoint refused, why.
    NoToken(String),
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
    /// The source's bucket, breaker and pauses, shared with its other
    /// workers.
    gate: Arc<Gate>,
    retry: RetryPolicy,
    shared: Shared<'a>,
    counts: FetchCounts,
    /// Every page given up, with what went wrong.
    failed_pages: Vec<(Request, String)>,
    /// The last failed attempt's error, for the breaker's stop reason.
    last_error: Option<String>,
    /// The last wait the deadline refused: what for, and how many seconds
    /// (for the stop reason).
    refused: Option<(WaitCause, u64)>,
    /// Where the page loop starts.
    start: Start,
    /// The source's OAuth2 token, shared with the sources that use the
    /// same endpoint and client.
    tokens: Option<Arc<TokenSource>>,
    /// Sends its token requests (the client's credentials, to the token
    /// endpoint only).
    token_client: Option<Client>,
    /// The run was told once that the refresh token was rotated.
    rotation_warned: bool,
    /// It fetches one page on purpose ([`Fetcher::one_page`]).
    one_page: bool,
    /// A partitioned source's partitions, shared with its other workers.
    partition_run: Option<Arc<PartitionRun>>,
    /// The partition this worker walks now, and what it holds back.
    route: Option<Route>,
    /// What the records of the partition being walked carry from it.
    inherited: Option<Arc<Inherited>>,
    /// Some configured header has a placeholder: each partition's
    /// requests go out with their own.
    header_placeholders: bool,
    /// The pages its helpers fetch ahead, when it walks with them.
    prefetch: Option<Arc<Prefetch>>,
    /// It is a helper: it fetches the pages another worker's walk asks
    /// for ahead, and walks nothing itself.
    serving: Option<Arc<Prefetch>>,
}

impl<'a> Fetcher<'a> {
    /// Builds source `index`'s fetcher; `seed` makes its jitter repeatable.
    pub fn new(index: usize, config: &'a Config, shared: Shared<'a>, seed: u64) -> Self {
        let source = &config.sources[index];
        let policies = &source.policies;
        let tokens = shared.tokens.of(index);
        let (client, token_client) = clients(&shared, source, &source.headers, tokens.as_ref());
        let header_placeholders = source.partitions.is_some()
            && source
                .headers
                .iter()
                .any(|h| crate::config::placeholders(&h.value).next().is_some());
        Self {
            index,
            source,
            config: policies,
            batch_size: config.batch_size,
            client,
            tokens,
            token_client,
            rotation_warned: false,
            one_page: false,
            gate: shared.gates.of(index),
            retry: RetryPolicy::new(policies.retry, seed.wrapping_add(index as u64)),
            shared,
            counts: zero_counts(source),
            failed_pages: Vec::new(),
            last_error: None,
            refused: None,
            start: Start::default(),
            partition_run: None,
            route: None,
            inherited: None,
            header_placeholders,
            prefetch: None,
            serving: None,
        }
    }

    /// Walks with helpers that fetch the pages ahead that `prefetch` asks
    /// for (`concurrency` of a `page` or `offset` source).
    pub fn fetching_ahead(mut self, prefetch: Arc<Prefetch>) -> Self {
        self.prefetch = Some(prefetch);
        self
    }

    /// Is a helper of another worker's walk: fetches what `prefetch` asks.
    pub fn helping(mut self, prefetch: Arc<Prefetch>) -> Self {
        self.serving = Some(prefetch);
        self
    }

    /// Counters at zero for this source.
    fn zero_counts(&self) -> FetchCounts {
        zero_counts(self.source)
    }

    /// Walks partitions of `run` (with the source's other workers)
    /// instead of running once.
    pub fn partitioned(mut self, run: Arc<PartitionRun>) -> Self {
        self.partition_run = Some(run);
        self
    }

    /// The source's client with `headers` instead of its configured ones
    /// (a partition's, placeholders filled), and its token client.
    fn clients_with(&self, headers: &[crate::config::Header]) -> (Client, Option<Client>) {
        clients(&self.shared, self.source, headers, self.tokens.as_ref())
    }

    /// Moves `pager` to a saved `position`, or says in the log why not.
    fn resume_at(&self, pager: &mut Paginator, position: Position) {
        if !pager.resume(&position) {
            let saved = position.to_json().to_string();
            warn!(source = self.name(), event = "resume_refused", position = saved; "");
        }
    }

    /// Starts at `start` instead of the source's first page.
    pub fn starting_at(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Fetches one page on purpose (`ingest check`): stopping after it is
    /// no news worth a warning.
    pub fn one_page(mut self) -> Self {
        self.one_page = true;
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
        let mut board = lock(&self.shared.board);
        let live = &mut board[self.index];
        *live = Live {
            phase,
            until,
            pages: self.counts.pages,
            requests: self.counts.requests,
            partitions: live.partitions,
        };
    }

    /// Fetches every page and sends every item; says how it ended.
    pub fn run(mut self, tx: QueueTx) -> SourceOutcome {
        if let Some(prefetch) = self.serving.take() {
            // A helper: its counters are what it fetched that the walk
            // did not take; the walk's worker says how the source ended.
            self.serve(&prefetch);
            return SourceOutcome {
                status: SourceStatus::Complete,
                stopped_at: None,
                resume: None,
                stop_reason: None,
                failed_pages: Vec::new(),
                counts: self.counts,
                partitions: None,
            };
        }
        let shown = self.shown(&self.source.url);
        info!(source = self.name(), event = "start", url = shown; "");
        let ending = match self.partition_run.take() {
            Some(run) => self.walk_partitions(&run, &tx),
            None => {
                let url = self
                    .start
                    .url
                    .clone()
                    .unwrap_or_else(|| self.source.url.clone());
                let mut pager = Paginator::new(&url, &self.source.pagination).sending(
                    self.source.method,
                    self.source.body.clone(),
                    self.source.params_in_body,
                );
                if let Some(position) = self.start.position.take() {
                    self.resume_at(&mut pager, position);
                }
                let ending = self.walk(&mut pager, &tx);
                if let Some(prefetch) = self.prefetch.take() {
                    let unused = prefetch.close();
                    self.count_speculative(unused);
                }
                ending
            }
        };
        let status = ending.status();
        if let Some(reason) = ending.reason.as_ref().filter(|_| {
            // `ingest check` stops every source after one page on purpose.
            !(self.one_page && status == SourceStatus::MaxPages)
        }) {
            let level = match status {
                SourceStatus::Complete => log::Level::Info,
                _ => log::Level::Warn,
            };
            log::log!(
                level, source = self.name(), event = "stop", reason = reason.kind(),
                detail:% = reason; ""
            );
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
            stopped_at: ending.stopped_at,
            resume: ending.resume,
            stop_reason: ending.reason,
            failed_pages: self.failed_pages,
            counts: self.counts,
            partitions: None,
        }
    }

    /// The page loop: fetch, hand over, step, until the source ends. Every
    /// way out returns an [`Ending`]; [`run`](Self::run) reports it.
    fn walk(&mut self, pager: &mut Paginator, tx: &QueueTx) -> Ending {
        let mut requested = 0u64;
        let mut failed = FailedRun::default();
        // Pages this walk gave up (a partitioned source walks many).
        let failed_before = self.counts.failed_pages;
        loop {
            let request = pager.request();
            if let Err(stop) = self.shared.control.check() {
                return Ending::before(&request, self.stopped(stop, requested + 1, None));
            }
            if requested >= self.config.max_pages {
                return Ending::before(&request, StopReason::MaxPages { requested });
            }
            requested += 1;
            let next = match self.fetch_or_take(pager, &request, requested) {
                PageOutcome::Received(answer) => {
                    failed = FailedRun::default();
                    match self.take_answer(pager, tx, answer, &request, requested) {
                        Ok(next) => next,
                        Err(ending) => return *ending,
                    }
                }
                PageOutcome::GivenUp { link_next, error } => {
                    let next = pager.after_given_up(link_next.as_deref());
                    if let Some(ending) = self.given_up(&mut failed, &request, error, &next) {
                        return ending;
                    }
                    next
                }
                PageOutcome::Skipped { link_next, rule } => {
                    let next = pager.after_given_up(link_next.as_deref());
                    match self.skipped(next, &request, requested, rule) {
                        Ok(next) => next,
                        Err(ending) => return *ending,
                    }
                }
                PageOutcome::Stopped(stop) => {
                    return Ending::before(&request, self.stopped(stop, requested, None));
                }
                PageOutcome::NoToken(why) => {
                    self.counts.add_error(ErrorKind::Auth);
                    return Ending::before(&request, StopReason::NoToken { why });
                }
            };
            let given_up = self.counts.failed_pages - failed_before;
            if let Some(ending) = self.step(next, &request, requested, given_up) {
                return ending;
            }
        }
    }

    /// A usable answer: its items handed over, and where the paginator
    /// goes next; or how the source stops when they could not be.
    fn take_answer(
        &mut self,
        pager: &mut Paginator,
        tx: &QueueTx,
        answer: Answer,
        request: &Request,
        page_no: u64,
    ) -> Result<Next, Box<Ending>> {
        let Answer {
            page,
            page_url,
            link_next,
            link_header,
        } = answer;
        if self.source.pagination == Pagination::LinkHeader {
            self.counts.envelope.note_link_header(link_header);
        }
        let Some(page) = page else {
            return Ok(Next::End);
        };
        if self.counts.items_at.is_none() {
            self.counts.items_at = Some(page.found_at.to_string());
        }
        let n = match self.hand_over(tx, &page, request) {
            Sent::All(n) => n,
            Sent::ProcessorGone => {
                return Err(Box::new(Ending::before(request, StopReason::ProcessorGone)))
            }
            Sent::Stopped { stop, dropped } => {
                let reason = self.stopped(stop, page_no, Some(dropped));
                return Err(Box::new(Ending::before(request, reason)));
            }
        };
        self.counts.announce(pager.announced_total(&page));
        let paths = paginate::envelope_paths(&self.source.pagination);
        self.counts.envelope.note_body(&page, &paths);
        if let Some(asked) = pager.asked_size() {
            self.counts.envelope.note_page_size(asked, n as u64);
        }
        Ok(pager.after_page(&page, n, &page_url, link_next.as_deref()))
    }

    /// Files a page given up; after `max_failed_pages_in_a_row` of them,
    /// how the source stops (resuming at the first of the run of
    /// failures, stopped where the paginator would have gone on).
    fn given_up(
        &mut self,
        failed: &mut FailedRun,
        request: &Request,
        error: String,
        next: &Next,
    ) -> Option<Ending> {
        if failed.count == 0 {
            failed.first = request.position.clone();
        }
        failed.count += 1;
        self.counts.failed_pages += 1;
        self.failed_pages.push((request.clone(), error.clone()));
        if failed.count < self.config.max_failed_pages_in_a_row {
            return None;
        }
        let stopped_at = match next {
            Next::Fetch(url) => Request::get(url.as_str()),
            _ => request.clone(),
        };
        Some(Ending {
            reason: Some(StopReason::FailedInARow {
                count: failed.count,
                last: error,
            }),
            stopped_at: Some(stopped_at),
            resume: failed.first.take(),
        })
    }

    /// Where the paginator said to go: on (`None`), or how the source ends
    /// (`given_up`: pages this walk gave up).
    fn step(
        &mut self,
        next: Next,
        request: &Request,
        page_no: u64,
        given_up: u64,
    ) -> Option<Ending> {
        let error = |reason, resume: Option<Position>| Ending {
            reason: Some(reason),
            stopped_at: Some(request.clone()),
            resume,
        };
        let here = request.position.clone();
        let reason = match next {
            Next::Fetch(_) => return None,
            Next::End => {
                return Some(Ending {
                    reason: (given_up > 0)
                        .then_some(StopReason::GivenUpOnTheWay { count: given_up }),
                    stopped_at: None,
                    resume: None,
                })
            }
            Next::Loop(target) => {
                self.counts.add_error(ErrorKind::PaginationLoop);
                let shown = self.shown(&target);
                // A loop has no position worth resuming at: start over.
                return Some(Ending {
                    reason: Some(StopReason::Loop {
                        page: page_no,
                        target: shown,
                    }),
                    stopped_at: Some(Request::get(target)),
                    resume: None,
                });
            }
            Next::Repeated { page, of } => {
                self.counts.add_error(ErrorKind::PaginationLoop);
                let unit = match self.source.pagination {
                    Pagination::Offset { .. } => "offset",
                    _ => "page",
                };
                return Some(error(StopReason::Repeated { unit, at: page, of }, None));
            }
            Next::Stuck => StopReason::Stuck { page: page_no },
            Next::BadUrl(target) => StopReason::BadUrl {
                url: self.shown(&target),
            },
            Next::BadPointer(what) => StopReason::BadPointer { what },
            Next::MoreWithoutCursor { has_more, cursor } => {
                StopReason::MoreWithoutCursor { has_more, cursor }
            }
        };
        Some(error(reason, here))
    }

    /// Hands a page's items over; the log says how many were not, when
    /// the run stopped part-way (the page is then where the source
    /// stopped, so a later run fetches it again).
    fn hand_over(&mut self, tx: &QueueTx, page: &Page, request: &Request) -> Sent {
        let sent = self.send(tx, page, request);
        if let Sent::Stopped { dropped, .. } = &sent {
            let shown = request.shown(|u| self.shown(u));
            debug!(
                source = self.name(), event = "page_cut_short", dropped = *dropped, url = shown; ""
            );
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

    /// Why a source stopped by `stop` before page `page_no` was done
    /// (`cut_short`: that many of its items were not handed over).
    fn stopped(&self, stop: Stop, page: u64, cut_short: Option<usize>) -> StopReason {
        let blocked = self.gate.breaker(|b| b.blocked_until());
        let waiting = match (stop, blocked, self.refused) {
            (Stop::Interrupted, ..) => return StopReason::Interrupted { page, cut_short },
            (Stop::Deadline, Some(_), _) => Waiting::Breaker(
                self.last_error
                    .clone()
                    .unwrap_or_else(|| "retryable errors".into()),
            ),
            (Stop::Deadline, None, Some((WaitCause::Quota, secs))) => Waiting::Quota(secs),
            (Stop::Deadline, None, Some((cause, secs))) => Waiting::Refused(cause, secs),
            (Stop::Deadline, None, None) => Waiting::Nothing,
        };
        StopReason::Deadline {
            page,
            cut_short,
            waiting,
            set_by: self.shared.control.deadline_words().to_string(),
        }
    }

    /// Sends a page's items in order, in batches of spans of its body. A
    /// full queue blocks, but never past the deadline or an interrupt,
    /// which are looked at before every batch and every wait for room
    /// (however fast the processor drains, a huge page must not keep the
    /// run going).
    fn send(&mut self, tx: &QueueTx, page: &Page, request: &Request) -> Sent {
        let control = self.shared.control;
        let page_url: Option<Arc<str>> = self
            .source
            .keep_rejected
            .then(|| request.shown(|u| self.shown(u)).into());
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
                inherited: self.inherited.clone(),
            };
            // A worker on a partition ahead of the head holds its batches
            // back until its turn (`partitions.rs`).
            if let Some(route) = &mut self.route {
                match route.hand_over(tx, batch, control) {
                    Ok(()) => {}
                    Err(HandOver::Gone) => return Sent::ProcessorGone,
                    Err(HandOver::Stop) => {
                        return cut_short(&mut spans).unwrap_or(Sent::ProcessorGone)
                    }
                }
                sent += n;
                continue;
            }
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

    /// The attempt loop of page `page_no`, sent as `request`: wait for a
    /// turn, send, classify, decide — until a usable answer, a page given
    /// up, or a stop.
    fn fetch_page(&mut self, request: &Request, page_no: u64) -> PageOutcome {
        // A pause a server asked for on the page given up before holds for
        // this one too.
        let mut turn = self
            .gate
            .paused_until()
            .map(|until| (until, WaitCause::RetryAfter));
        let mut retrying: Option<RetryCause> = None;
        let mut attempt = 0u32;
        // A 401 to a token gets one refresh and one repeat of the request.
        let mut repeated = false;
        loop {
            attempt = attempt.saturating_add(1);
            if let Err(stop) = self.wait_for_turn(turn, page_no, attempt) {
                return PageOutcome::Stopped(stop);
            }
            let sent_with = match self.authorize(page_no) {
                Ok(generation) => generation,
                Err(NoToken::Stopped(stop)) => return PageOutcome::Stopped(stop),
                Err(NoToken::Refused(why)) => return PageOutcome::NoToken(why),
            };
            let exchange = match self.send_attempt(request, page_no, attempt, retrying) {
                Ok(exchange) => exchange,
                Err(stop) => return PageOutcome::Stopped(stop),
            };
            let link_next = exchange.link_next.clone();
            let retry_after = exchange.retry_after.clone();
            let status = exchange.status;
            let error_body = exchange.error_body.clone();
            let quota = exchange.quota;
            self.note_quota(quota, page_no);
            self.gate.mark_answered();
            let error = match self.classify(exchange) {
                Ok(page) => return PageOutcome::Received(page),
                Err(AttemptError::Skipped { rule, .. }) => {
                    return PageOutcome::Skipped { link_next, rule }
                }
                Err(error) => error,
            };
            if let (AttemptError::Status(401), Some(_)) = (&error, sent_with) {
                // A 401 to a token is the token's business, not a client
                // error: a forced refresh, then kind auth.
                self.counts.take_back_error(ErrorKind::ClientError);
            }
            let error = match (error, sent_with) {
                (AttemptError::Status(401), Some(generation)) if !repeated => {
                    // Not an attempt and no backoff: the same request once
                    // more with a fresh token (it takes a token of the
                    // bucket like every request).
                    repeated = true;
                    attempt -= 1;
                    turn = None;
                    // Says nothing of the server's health: if it was the
                    // breaker's probe, the repeat probes again.
                    self.gate.breaker(|b| b.probe_answered());
                    if let Some(tokens) = &self.tokens {
                        tokens.refused(generation);
                    }
                    debug!(source = self.name(), page = page_no, event = "token_refused_by_server"; "");
                    continue;
                }
                (AttemptError::Status(401), Some(_)) => self.failed(AttemptError::Unauthorized),
                (error, _) => error,
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
                        cause = cause.as_str(); ""
                    );
                    let until = self.shared.control.after(wait);
                    if cause == WaitCause::RetryAfter {
                        // The server asked the whole API to wait: every
                        // request of the source does, not just this one.
                        self.gate.pause(until);
                    }
                    turn = Some((until, cause));
                    retrying = Some(error.retry_cause());
                }
                Decision::GiveUp => {
                    if let Some(pause) = retry_after {
                        let until = self.shared.control.after(pause);
                        self.gate.pause(until);
                    }
                    let shown = request.shown(|u| self.shown(u));
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
            // The source's holds ([`hold`](Self::hold)) before the token
            // and again after it: another of its requests may have been
            // told to wait meanwhile.
            let (mut probe, mut learner) = (false, false);
            loop {
                if let Some((until, cause, phase)) = self.hold(&mut probe, &mut learner, page_no) {
                    self.wait_until(until, cause, phase)?;
                    continue;
                }
                self.take_token()?;
                // A hold that came while it waited for the token makes the
                // token stale: sent after the hold, it would bunch up with
                // others at the server. Another is taken after it.
                if self.hold(&mut probe, &mut learner, page_no).is_some() {
                    continue;
                }
                // The last answer's quota, less what is in flight.
                match self.gate.spend_budget() {
                    Budget::WaitUntil(until) => {
                        self.wait_until(until, WaitCause::Quota, Phase::QuotaReset)?;
                    }
                    Budget::NewWindow => {}
                    Budget::Go => return Ok(()),
                }
            }
        })();
        if waited == Err(Stop::Deadline) {
            warn!(
                source = self.name(), page = page_no, event = "stop",
                reason = "deadline_before_attempt", attempt = attempt; ""
            );
        }
        waited
    }

    /// What holds the source's next request now, if anything: a
    /// `Retry-After` another of its requests was told, its breaker (open,
    /// or a probe out — `probe`: this request is the probe), a quota used
    /// up, or its first answer of a quota window not back yet (`learner`:
    /// this request is the one out to learn it). Until when, why, and
    /// what the progress display says.
    fn hold(
        &self,
        probe: &mut bool,
        learner: &mut bool,
        page_no: u64,
    ) -> Option<(Instant, WaitCause, Phase)> {
        if let Some(until) = self.gate.paused_until() {
            return Some((until, WaitCause::RetryAfter, Phase::RetryAfter));
        }
        let now = Instant::now();
        let patience = self.config.timeouts.connect + self.config.timeouts.read;
        match self.gate.breaker(|b| b.admit(now, patience, *probe)) {
            Admit::Wait(until) => return Some((until, WaitCause::Breaker, Phase::BreakerOpen)),
            Admit::Go(Some(Transition::Probing)) => {
                *probe = true;
                info!(source = self.name(), page = page_no, event = "breaker_half_open"; "");
            }
            Admit::Go(_) => {}
        }
        if let Some(until) = self.gate.quota_until() {
            return Some((until, WaitCause::Quota, Phase::QuotaReset));
        }
        // The first answer of a quota window comes back before the other
        // requests go: it says what is left.
        if !self.gate.may_go(learner) {
            let poll = self.shared.control.after(FIRST_ANSWER_POLL);
            return Some((poll, WaitCause::RateLimit, Phase::RateLimit));
        }
        None
    }

    /// Phase 2: sends one attempt within the time left and counts it.
    /// `retrying` is what caused this attempt, when it is a retry.
    fn send_attempt(
        &mut self,
        request: &Request,
        page_no: u64,
        attempt: u32,
        retrying: Option<RetryCause>,
    ) -> Result<Exchange, Stop> {
        let time_left = self.shared.control.time_left()?;
        self.counts.requests += 1;
        if let Some(cause) = retrying {
            self.counts.add_retry(cause);
        }
        self.post(Phase::Fetching);
        if log::log_enabled!(log::Level::Trace) {
            let shown = request.shown(|u| self.shown(u));
            trace!(source = self.name(), page = page_no, attempt = attempt, event = "request", url = shown; "");
        }
        let (client, gate, control) = (&self.client, &self.gate, self.shared.control);
        let mut token_waits = Duration::ZERO;
        gate.on_wire(true);
        let exchange = client.send(request, time_left, || match gate.take(control) {
            Ok(waited) => {
                token_waits += waited;
                true
            }
            Err(_) => false,
        });
        gate.on_wire(false);
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

    /// Phase 3: the items of a usable answer, or why there are none. The
    /// body is read once, and the source's `on_response` rules judge the
    /// answer before SPEC §4 does (`rules.rs`).
    fn classify(&mut self, mut exchange: Exchange) -> Result<Answer, AttemptError> {
        let page = match self.read_answer(&mut exchange)? {
            Body::Empty => None,
            Body::Parsed(parsed) => self.read_page(parsed)?,
            Body::Failed(e) => return Err(self.failed(quota_refusal(e, exchange.quota))),
        };
        let Exchange {
            final_url: page_url,
            link_next,
            link_header,
            ..
        } = exchange;
        let page = Answer {
            page,
            page_url,
            link_next,
            link_header,
        };
        if let Some(Transition::Closed) = self.gate.breaker(|b| b.on_success()) {
            info!(source = self.name(), event = "breaker_closed"; "");
        }
        self.counts.pages += 1;
        Ok(page)
    }

    /// A 2xx body read as a page (given back with the text when it is
    /// none), and for a `graphql` source its `errors`: beside items the
    /// page is kept and they are counted, without items they fail it.
    fn read_page(
        &mut self,
        parsed: Result<Page, (BodyError, String)>,
    ) -> Result<Option<Page>, AttemptError> {
        let text = match &parsed {
            Ok(page) => page.text.as_str(),
            Err((_, text)) => text.as_str(),
        };
        let errors = graphql::errors_in(text).filter(|_| self.source.graphql);
        match (parsed, errors) {
            (Ok(page), Some(errors)) if page.items().next().is_some() => {
                self.counts.note_graphql_errors(&errors);
                Ok(Some(page))
            }
            (Ok(_) | Err((BodyError::NoItems(_), _)), Some(errors)) => {
                Err(self.failed(graphql_failure(errors)))
            }
            (parsed, _) => self.parsed(parsed.map_err(|(e, _)| e)),
        }
    }

    /// A body parsed as a page, or the failure it is.
    fn parsed(&mut self, parsed: Result<Page, BodyError>) -> Result<Option<Page>, AttemptError> {
        match parsed {
            Ok(page) => Ok(Some(page)),
            Err(BodyError::NoItems(found)) => Err(self.failed(AttemptError::NoItems(found))),
            Err(BodyError::Malformed(e)) => Err(self.failed(AttemptError::MalformedJson(e))),
        }
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
        if let Some(q) = quota.filter(|q| q.remaining > 0) {
            let reset = q.reset.unwrap_or(Duration::ZERO).min(MAX_QUOTA_WAIT);
            self.gate
                .note_budget(q.remaining, self.shared.control.after(reset));
        }
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
            self.gate.hold_for_quota(self.shared.control.after(wait));
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
            self.gate.breaker(|b| b.probe_answered());
        } else if !error.is_retryable() {
            if let Some(Transition::Closed) = self.gate.breaker(|b| b.on_non_retryable()) {
                info!(source = self.name(), event = "breaker_closed"; "");
            }
        } else if let Some(Transition::Opened) =
            self.gate.breaker(|b| b.on_retryable(Instant::now()))
        {
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
        if self.gate.try_take().is_ok() {
            return Ok(());
        }
        self.post(Phase::RateLimit);
        let waited = self.gate.take(self.shared.control)?;
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
        if result == Err(Stop::Deadline) && until > self.shared.control.deadline() {
            // Said in the stop reason: what the refused wait was for.
            let secs = until.saturating_duration_since(start).as_secs_f64().ceil();
            self.refused = Some((cause, secs as u64));
        }
        result
    }
}
