//! How a fetcher is doing and how it ended: its status, what it waits
//! for, its request-side counters, and the outcome it hands back through
//! its thread's join handle (SPEC §6).
//!
//! A fetcher keeps its [`FetchCounts`] to itself and posts only a small
//! [`Live`] view on the run's [`LiveBoard`] for the progress display; the
//! pipeline files the [`SourceOutcome`] when the thread ends.
//!
//! Among the counters, [`Envelope`] keeps what the pages said about the
//! pagination's own keys — a configured path never there, no `Link`
//! header, fewer items than `size` asked for — because each of these once
//! ended a real run `complete` with a fraction of the data, and only the
//! fetcher sees the pages.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::EnvelopePath;
use crate::error::{ErrorKind, RetryCause};
use crate::fetch::page::{Found, Page};
use crate::fetch::partitions::{PartitionOutcome, PartitionRun};
use crate::fetch::request::Request;
use crate::fetch::stop::StopReason;
use crate::state::{Ended, Position};
use crate::text::shorten;

/// How a source's pagination ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// Still fetching.
    Running,
    /// End of data reached (pages may have been given up on the way).
    Complete,
    /// Stopped by the run's deadline.
    Deadline,
    /// The deadline fell while the breaker was open.
    BreakerOpen,
    /// `max_pages` pages requested without reaching the end.
    MaxPages,
    /// Stopped by failures, a pagination loop, or a page it could not
    /// step over.
    Error,
    /// Stopped by Ctrl-C / SIGTERM / [`crate::control::RunControl::interrupt`].
    Interrupted,
}

impl SourceStatus {
    /// The progress phase a finished source shows.
    pub fn final_phase(self) -> Phase {
        Phase::Ended(self)
    }

    /// The name used in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Running => "running",
            SourceStatus::Complete => "complete",
            SourceStatus::Deadline => "deadline",
            SourceStatus::BreakerOpen => "breaker_open",
            SourceStatus::MaxPages => "max_pages",
            SourceStatus::Error => "error",
            SourceStatus::Interrupted => "interrupted",
        }
    }
}

/// What a source is doing right now (for the progress display).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending a request, or reading its answer.
    Fetching,
    /// Waiting for a token of its rate limit.
    RateLimit,
    /// Waiting out its backoff before retry `retry` of `of`.
    Backoff {
        /// The retry waited for (1-based).
        retry: u32,
        /// Retries allowed.
        of: u32,
    },
    /// Waiting out the server's Retry-After.
    RetryAfter,
    /// Waiting out the breaker's cooldown.
    BreakerOpen,
    /// Waiting for the server's quota to reset.
    QuotaReset,
    /// Finished, with this status.
    Ended(SourceStatus),
}

impl Phase {
    /// Whether the source has finished.
    pub fn is_ended(self) -> bool {
        matches!(self, Phase::Ended(_))
    }

    /// The state words of SPEC §7, with the time left of a wait (`until`,
    /// seen at `now`): `backoff (retry 2/3, 0.8 s)`, `breaker open 12 s`;
    /// a finished source says its status as the summary does (`done` for
    /// complete).
    pub fn words(self, left: Option<Duration>) -> String {
        let secs = |d: Duration| match d.as_secs_f64() {
            s if s < 10.0 => format!("{s:.1} s"),
            s => format!("{s:.0} s"),
        };
        let left = left.map_or_else(String::new, secs);
        match self {
            Phase::Fetching => "fetching".into(),
            Phase::RateLimit => "waiting: rate limit".into(),
            Phase::Backoff { retry, of } => format!("backoff (retry {retry}/{of}, {left})"),
            Phase::RetryAfter => format!("retry-after {left}"),
            Phase::BreakerOpen => format!("breaker open {left}"),
            Phase::QuotaReset => format!("quota reset {left}"),
            Phase::Ended(SourceStatus::Complete) => "done".into(),
            Phase::Ended(SourceStatus::MaxPages) => "max pages".into(),
            Phase::Ended(SourceStatus::BreakerOpen) => "breaker open (deadline)".into(),
            Phase::Ended(status) => status.as_str().into(),
        }
    }
}

/// Why a fetcher waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// For a token.
    RateLimit,
    /// Our own backoff.
    Backoff,
    /// The server's Retry-After (when larger than the backoff).
    RetryAfter,
    /// The breaker's cooldown.
    Breaker,
    /// The server's announced quota, until its reset.
    Quota,
}

impl WaitCause {
    /// Every cause, in the summary's `waits_ms` order.
    pub const ALL: [WaitCause; 5] = [
        WaitCause::RateLimit,
        WaitCause::Backoff,
        WaitCause::RetryAfter,
        WaitCause::Breaker,
        WaitCause::Quota,
    ];

    /// The key in the summary's `waits_ms`.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitCause::RateLimit => "rate_limit",
            WaitCause::Backoff => "backoff",
            WaitCause::RetryAfter => "retry_after",
            WaitCause::Breaker => "breaker",
            WaitCause::Quota => "quota",
        }
    }
}

/// The request-side counters of one source, kept by its fetcher.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchCounts {
    /// HTTP attempts sent.
    pub requests: u64,
    /// Successful responses, the one that ends the data included.
    pub pages: u64,
    /// Pages given up.
    pub failed_pages: u64,
    /// Attempts after a page's first.
    pub retries: u64,
    /// Requests sent once more at once because a pooled connection was
    /// stale (not attempts).
    pub resends: u64,
    /// Requests sent ahead for pages that turned out to be past the end
    /// (`concurrency`): part of `requests`, never failures.
    pub speculative_requests: u64,
    /// Answers by HTTP status.
    pub responses: BTreeMap<u16, u64>,
    /// Failed attempts by kind, in `ErrorKind::ALL` order.
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Retries by the failure that caused them, in `RetryCause::ALL`
    /// order.
    pub retries_by_cause: [u64; RetryCause::ALL.len()],
    /// Time spent waiting, by `WaitCause`.
    pub waits: [Duration; WaitCause::ALL.len()],
    /// Times the breaker opened.
    pub breaker_opens: u64,
    /// Latency of each attempt that got a whole answer, in ms.
    pub latencies_ms: Vec<u32>,
    /// The largest item total the server announced (`X-Total-Count`, the
    /// value at `total_path`), if any.
    pub announced: Option<u64>,
    /// Where the first page's item array was found (`items_path`, or what
    /// the detection found; empty for a body that is the array).
    pub items_at: Option<String>,
    /// What the pages said about the pagination's envelope.
    pub envelope: Envelope,
    /// OAuth2 token requests this source sent.
    pub auth: AuthCounts,
    /// What its `on_response` rules did; `None` for a source without
    /// rules (its summary then says nothing of them).
    pub rules: Option<RuleCounts>,
    /// GraphQL `errors` that came beside items (the pages were kept), and
    /// the first one's message.
    pub graphql_errors: (u64, Option<String>),
}

/// What a source's `on_response` rules did (the summary's
/// `rules_matched` and `skipped_pages`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Answers each rule matched, by its index in `on_response`.
    pub matched: Vec<u64>,
    /// Pages a `skip` rule gave up (not failed pages).
    pub skipped_pages: u64,
    /// The first rule that matched an answer, if any (`ingest check`).
    pub first: Option<usize>,
}

impl RuleCounts {
    /// Zeroed counters for `rules` rules.
    pub fn new(rules: usize) -> Self {
        Self {
            matched: vec![0; rules],
            ..Self::default()
        }
    }

    /// Counts an answer that rule `rule` matched.
    pub fn note_match(&mut self, rule: usize) {
        if let Some(n) = self.matched.get_mut(rule) {
            *n += 1;
        }
        self.first.get_or_insert(rule);
    }
}

/// What a source did for its OAuth2 token (the summary's `auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Tokens fetched to replace one (before expiry, or after a 401).
    pub refreshes: u64,
    /// Of those, the ones a 401 asked for.
    pub forced_refreshes: u64,
    /// The lifetime of the last token this source fetched, when the
    /// endpoint said (`expires_in`).
    pub lifetime: Option<std::time::Duration>,
    /// The endpoint rotated the refresh token this source sent.
    pub rotated: bool,
}

/// Top-level keys kept of the first body, for the messages.
const SHOWN_KEYS: usize = 12;
/// Longest key, and longest value, quoted in a message (characters).
const SHOWN_CHARS: usize = 40;

/// What a source's answers said about its pagination's envelope (SPEC §6
/// turn 3): whether each configured path was ever there, the keys the
/// first body had instead, the `Link` headers, the page size the server
/// used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// Bodies read for their envelope (a 204 has none).
    pub bodies: u64,
    /// The first body's top-level keys, in order, at most 12 (each cut
    /// short); `None` when it was not an object.
    pub first_keys: Option<Vec<String>>,
    /// Whether the first body had more keys than `first_keys` holds.
    pub more_keys: bool,
    /// The first answer's response header names, lowercased, at most 12,
    /// when a configured path reads a header (`header:NAME`): what a
    /// header path that never matched can be put right with.
    pub first_headers: Option<Vec<String>>,
    /// Whether the first answer had more headers than `first_headers`.
    pub more_headers: bool,
    /// Each configured envelope path, in the order the style reads them.
    pub paths: Vec<PathSeen>,
    /// For a `link_header` source: answers that carried a `Link` header
    /// (`None` for other styles).
    pub link_headers: Option<u64>,
    /// For a `page` source that sends `size`: what it asked for and what
    /// the server sent, on the first page known not to be the last
    /// (another page with items followed it).
    pub page_size: Option<(u64, u64)>,
    /// The same for the latest page, not yet known to be the last or not
    /// (a source that ends on an empty page does not know its last page
    /// with data until the next one comes back empty).
    pub last_page_size: Option<(u64, u64)>,
}

impl Envelope {
    /// Adds what another worker of the same source saw.
    fn add(&mut self, other: Envelope) {
        if self.bodies == 0 {
            self.first_keys = other.first_keys;
            self.more_keys = other.more_keys;
            self.first_headers = other.first_headers;
            self.more_headers = other.more_headers;
        }
        self.bodies += other.bodies;
        if self.paths.is_empty() {
            self.paths = other.paths;
        } else {
            for (mine, theirs) in self.paths.iter_mut().zip(other.paths) {
                if mine.present == 0 {
                    mine.first = theirs.first;
                }
                mine.present += theirs.present;
            }
        }
        if let Some(n) = other.link_headers {
            self.link_headers = Some(self.link_headers.unwrap_or(0) + n);
        }
        self.page_size = self.page_size.or(other.page_size);
        self.last_page_size = other.last_page_size.or(self.last_page_size);
    }
}

/// One configured envelope path, as the answers had it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSeen {
    /// Its config key: `next_path`, `cursor_path`, `total_items_path`, …
    pub key: &'static str,
    /// The path as configured.
    pub path: String,
    /// Whether it reads a response header rather than the body.
    pub in_header: bool,
    /// Bodies that had it, `null` included.
    pub present: u64,
    /// What the first body had there.
    pub first: Seen,
}

/// What one body had at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The key was missing.
    Absent,
    /// The key was there with `null`.
    Null,
    /// The key was there with a value: its JSON text, cut short.
    Value(String),
}

impl Envelope {
    /// Notes one body: whether each of `paths` (config key, path) is in
    /// it or in its answer's headers; the first body also gives its keys
    /// (and header names, when a path reads a header) and what it had at
    /// each.
    pub fn note_body(&mut self, page: &Page, paths: &[(&'static str, &EnvelopePath)]) {
        let first = self.bodies == 0;
        self.bodies += 1;
        if first {
            self.first_keys = page.top_keys().map(|keys| {
                let mut keys = keys.map(|k| shorten(k, SHOWN_CHARS).into_owned());
                let shown: Vec<String> = keys.by_ref().take(SHOWN_KEYS).collect();
                self.more_keys = keys.next().is_some();
                shown
            });
            self.paths.clear();
            if paths.iter().any(|(_, p)| p.is_header()) {
                let mut names = page.headers.names().map(str::to_string);
                self.first_headers = Some(names.by_ref().take(SHOWN_KEYS).collect());
                self.more_headers = names.next().is_some();
            }
        }
        for (i, (key, path)) in paths.iter().enumerate() {
            let found = page.find_at(path);
            if first {
                let first = match found {
                    Found::Absent => Seen::Absent,
                    Found::Null => Seen::Null,
                    Found::Value(text) => Seen::Value(shorten(text, SHOWN_CHARS).into_owned()),
                };
                self.paths.push(PathSeen {
                    key,
                    path: path.to_string(),
                    in_header: path.is_header(),
                    present: 0,
                    first,
                });
            }
            if let (Some(seen), false) = (self.paths.get_mut(i), found == Found::Absent) {
                seen.present += 1;
            }
        }
    }

    /// Notes a page of `sent` items of a source that asked for `asked`: a
    /// page with items shows the one before was not the last, which is
    /// then judged (the last page is short by nature).
    pub fn note_page_size(&mut self, asked: u64, sent: u64) {
        if sent > 0 && self.page_size.is_none() {
            self.page_size = self.last_page_size;
        }
        self.last_page_size = Some((asked, sent));
    }

    /// Counts one answer of a `link_header` source, with or without a
    /// `Link` header.
    pub fn note_link_header(&mut self, carried: bool) {
        *self.link_headers.get_or_insert(0) += u64::from(carried);
    }

    /// What the first answer held instead of a missing path: its body's
    /// top-level keys, or for a header path its header names.
    pub fn where_words(&self, path: &PathSeen) -> String {
        if !path.in_header {
            // A key whose own name has the path's dots (OData's
            // `@odata.nextLink`) is one key: say how to write it.
            let dotted = self
                .first_keys
                .iter()
                .flatten()
                .find(|k| k.contains('.') && **k == path.path);
            return match dotted {
                Some(k) => format!(
                    "{}; `{k}` is one key with a dot in its name: write it `{}`",
                    self.keys_words(),
                    k.replace('.', "\\.")
                ),
                None => self.keys_words(),
            };
        }
        match &self.first_headers {
            None => "no answer had a body".to_string(),
            Some(names) if names.is_empty() => "the answer had no headers".to_string(),
            Some(names) => {
                let more = if self.more_headers { ", …" } else { "" };
                format!("response headers: {}{more}", names.join(", "))
            }
        }
    }

    /// What the first body held instead of a missing path: `top-level
    /// keys: count, next, results`, or that it was not an object.
    pub fn keys_words(&self) -> String {
        match &self.first_keys {
            None if self.bodies == 0 => "no answer had a body".to_string(),
            None => "the body is not an object".to_string(),
            Some(keys) if keys.is_empty() => "the body has no keys".to_string(),
            Some(keys) => {
                let more = if self.more_keys { ", …" } else { "" };
                format!("top-level keys: {}{more}", keys.join(", "))
            }
        }
    }
}

impl FetchCounts {
    /// Adds another worker's counters of the same source.
    pub fn add(&mut self, other: FetchCounts) {
        self.requests += other.requests;
        self.pages += other.pages;
        self.failed_pages += other.failed_pages;
        self.retries += other.retries;
        self.resends += other.resends;
        self.speculative_requests += other.speculative_requests;
        for (status, n) in other.responses {
            *self.responses.entry(status).or_default() += n;
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        for (mine, theirs) in self.retries_by_cause.iter_mut().zip(other.retries_by_cause) {
            *mine += theirs;
        }
        for (mine, theirs) in self.waits.iter_mut().zip(other.waits) {
            *mine += theirs;
        }
        self.breaker_opens += other.breaker_opens;
        self.latencies_ms.extend(other.latencies_ms);
        self.announce(other.announced);
        self.items_at = self.items_at.take().or(other.items_at);
        self.envelope.add(other.envelope);
        self.auth.token_requests += other.auth.token_requests;
        self.auth.refreshes += other.auth.refreshes;
        self.auth.forced_refreshes += other.auth.forced_refreshes;
        self.auth.lifetime = self.auth.lifetime.or(other.auth.lifetime);
        self.auth.rotated |= other.auth.rotated;
        if let (Some(mine), Some(theirs)) = (&mut self.rules, other.rules) {
            for (m, t) in mine.matched.iter_mut().zip(theirs.matched) {
                *m += t;
            }
            mine.skipped_pages += theirs.skipped_pages;
            mine.first = mine.first.or(theirs.first);
        }
        self.graphql_errors.0 += other.graphql_errors.0;
        if self.graphql_errors.1.is_none() {
            self.graphql_errors.1 = other.graphql_errors.1;
        }
    }

    /// Notes GraphQL `errors` that came beside a page's items.
    pub fn note_graphql_errors(&mut self, errors: &crate::fetch::graphql::Errors) {
        self.graphql_errors.0 += errors.count;
        self.graphql_errors
            .1
            .get_or_insert_with(|| errors.first.clone());
    }

    /// Notes an item total the server announced.
    pub fn announce(&mut self, total: Option<u64>) {
        if let Some(total) = total {
            self.announced = Some(self.announced.map_or(total, |a| a.max(total)));
        }
    }

    /// Counts one failed attempt of `kind`.
    pub fn add_error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    /// Takes back a failed attempt counted under `kind` before it was
    /// known to be something else (a 401 that a token refresh answers).
    pub fn take_back_error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] = self.errors[kind as usize].saturating_sub(1);
    }

    /// Failed attempts of `kind`.
    pub fn error(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    /// Counts one retry caused by `cause`.
    pub fn add_retry(&mut self, cause: RetryCause) {
        self.retries += 1;
        self.retries_by_cause[cause as usize] += 1;
    }

    /// Retries caused by `cause`.
    pub fn retries_for(&self, cause: RetryCause) -> u64 {
        self.retries_by_cause[cause as usize]
    }

    /// Adds time waited for `cause`.
    pub fn add_wait(&mut self, cause: WaitCause, d: Duration) {
        self.waits[cause as usize] += d;
    }

    /// Time waited for `cause`.
    pub fn wait(&self, cause: WaitCause) -> Duration {
        self.waits[cause as usize]
    }

    /// The latency percentile `p` (0–100) in ms, nearest-rank; 0 when none.
    pub fn latency_percentile(&self, p: f64) -> u32 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_unstable();
        percentile(&sorted, p)
    }
}

/// What a running fetcher shows the progress display: posted by the
/// fetcher when it changes, read by the display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// What the source is doing now.
    pub phase: Phase,
    /// When the wait it is in ends, if it is waiting.
    pub until: Option<std::time::Instant>,
    /// Successful responses so far.
    pub pages: u64,
    /// Attempts sent so far.
    pub requests: u64,
    /// A partitioned source's partitions done and known so far.
    pub partitions: Option<(u64, u64)>,
}

/// How a fetcher ended, handed back through its join handle.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOutcome {
    /// How its pagination ended.
    pub status: SourceStatus,
    /// The request it would have sent next, when it stopped early (as
    /// requested, not redacted: whoever shows it redacts it).
    pub stopped_at: Option<Request>,
    /// The page a later run resumes at, when the source stopped early
    /// somewhere it can go on from (SPEC §9).
    pub resume: Option<Position>,
    /// Why it did not end cleanly (`stop_reason`).
    pub stop_reason: Option<StopReason>,
    /// Every page given up, in order (as requested, not redacted), with
    /// what went wrong (`kind: detail`, secrets already hidden).
    pub failed_pages: Vec<(Request, String)>,
    /// Its request-side counters.
    pub counts: FetchCounts,
    /// How its partitions went, for a partitioned source.
    pub partitions: Option<PartitionOutcome>,
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Default for Live {
    /// A source about to send its first request.
    fn default() -> Self {
        Live {
            phase: Phase::Fetching,
            until: None,
            pages: 0,
            requests: 0,
            partitions: None,
        }
    }
}

impl SourceOutcome {
    /// The outcome of a partitioned source's workers, once all have
    /// ended: their counters and pages given up together, and the
    /// source's ending and partitions as `run` says.
    pub fn merged(workers: Vec<SourceOutcome>, run: &PartitionRun) -> SourceOutcome {
        let (partitions, ending) = run.ended();
        let mut counts = FetchCounts::default();
        let mut failed_pages = Vec::new();
        for worker in workers {
            counts.add(worker.counts);
            failed_pages.extend(worker.failed_pages);
        }
        SourceOutcome {
            status: ending.status(),
            stopped_at: ending.stopped_at,
            resume: ending.resume,
            stop_reason: ending.reason,
            failed_pages,
            counts,
            partitions: Some(partitions),
        }
    }

    /// How the source ended, as the state needs it (before its items are
    /// counted).
    pub fn ended(&self) -> Ended {
        Ended {
            partitions: self.partitions.as_ref().map(|p| p.ended()),
            ..Ended::new(
                self.status == SourceStatus::Complete,
                self.counts.failed_pages,
                self.resume.clone(),
            )
        }
    }
}

/// What every source is doing now, one [`Live`] per source in config
/// order: each fetcher writes its own entry, the progress display reads
/// them all.
pub type LiveBoard = Mutex<Vec<Live>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_counts_each_path_in_every_body_and_keeps_the_first_keys() {
        let next: EnvelopePath = "next".parse().unwrap();
        let total: EnvelopePath = "meta.total".parse().unwrap();
        let paths = [("next_path", &next), ("total_items_path", &total)];
        let mut e = Envelope::default();
        let body = |text: &str| Page::parse(text.to_string(), None).unwrap();
        e.note_body(&body(r#"{"results": [], "next": "/p?page=2"}"#), &paths);
        e.note_body(&body(r#"{"results": [], "next": null}"#), &paths);
        assert_eq!(e.bodies, 2);
        let seen: Vec<(&str, u64, &Seen)> = e
            .paths
            .iter()
            .map(|p| (p.key, p.present, &p.first))
            .collect();
        assert_eq!(
            seen,
            [
                ("next_path", 2, &Seen::Value("\"/p?page=2\"".into())),
                ("total_items_path", 0, &Seen::Absent)
            ]
        );
        assert_eq!(e.keys_words(), "top-level keys: results, next");
        let mut wide = Envelope::default();
        let keys: Vec<String> = (0..15).map(|i| format!("\"k{i}\": 1")).collect();
        wide.note_body(
            &body(&format!("{{\"data\": [], {}}}", keys.join(", "))),
            &[],
        );
        assert!(
            wide.keys_words().ends_with("k10, …"),
            "{}",
            wide.keys_words()
        );
        let mut bare = Envelope::default();
        assert_eq!(bare.keys_words(), "no answer had a body");
        bare.note_body(&body("[]"), &paths);
        assert_eq!(bare.keys_words(), "the body is not an object");
        bare.note_link_header(false);
        bare.note_link_header(true);
        assert_eq!(bare.link_headers, Some(1));
    }

    #[test]
    fn a_page_size_is_judged_only_once_a_page_with_items_followed() {
        let mut e = Envelope::default();
        e.note_page_size(50, 8);
        e.note_page_size(50, 0);
        assert_eq!(e.page_size, None, "8 items, then none: the last page");
        let mut e = Envelope::default();
        e.note_page_size(50, 10);
        assert_eq!(e.page_size, None, "not known yet");
        e.note_page_size(50, 10);
        e.note_page_size(50, 3);
        assert_eq!(e.page_size, Some((50, 10)), "the first page judged");
        assert_eq!(e.last_page_size, Some((50, 3)));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 95.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
