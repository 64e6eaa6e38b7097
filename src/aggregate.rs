//! Counters of a run, per source and in total (SPEC §6).
//!
//! One [`Stats`] lives behind an `Arc<Mutex<…>>` for the whole run. A
//! fetcher keeps its request-side counters ([`FetchCounts`]) to itself and
//! only posts a [`Live`] view (what it is doing, pages, requests) for the
//! progress display; its counters and how it ended come back to the
//! pipeline through its join handle as a `SourceOutcome`, and
//! [`SourceStats::finish`] files them. The processor writes the item-side
//! counters ([`ItemCounts`]) once per chunk. Nobody holds the lock across
//! I/O or a wait. Because the processor alone counts an item as it
//! classifies it, the accounting identity `items == records + invalid +
//! duplicates` holds by construction at every moment, not only at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::bookmark::Bookmark;
use crate::config::Config;
use crate::error::{ErrorKind, RetryCause};
use crate::position::Position;
use crate::schema::RecordSchema;

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

/// The item-side counters, which the processor adds up per chunk.
///
/// The per-reason and per-field counters are indexed by the source's
/// schema (its `reason_names` and its fields), and grow as counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Items handed to the processor.
    pub items: u64,
    /// Records made (valid, first of their key): written, or, on a
    /// closed stdout, counted in `undelivered` too.
    pub records: u64,
    /// Records not written because the reader of stdout had gone
    /// (`--stdout`); always part of `records`.
    pub undelivered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Invalid items, by the schema's reason index.
    pub invalid: Vec<u64>,
    /// Per field: values its type could not take, nulled in a written
    /// record.
    pub bad_values: Vec<u64>,
    /// Per field: written records in which it has a value.
    pub filled: Vec<u64>,
    /// The greatest bookmark value among the valid items (records and
    /// duplicates) of an incremental source.
    pub bookmark: Option<Bookmark>,
    /// Valid items whose bookmark field held a value of another kind.
    pub bookmark_bad: u64,
}

/// `counts[i] += n`, growing `counts` as needed.
fn bump(counts: &mut Vec<u64>, i: usize, n: u64) {
    if counts.len() <= i {
        counts.resize(i + 1, 0);
    }
    counts[i] += n;
}

impl ItemCounts {
    /// Invalid items of every reason.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    /// Counts one invalid item under reason `index`.
    pub fn add_invalid(&mut self, index: usize) {
        bump(&mut self.invalid, index, 1);
    }

    /// Counts one record written: the fields it filled and nulled (by
    /// index).
    pub fn add_record_fields(&mut self, filled: &[u16], bad: &[u16]) {
        self.records += 1;
        for &i in filled {
            bump(&mut self.filled, usize::from(i), 1);
        }
        for &i in bad {
            bump(&mut self.bad_values, usize::from(i), 1);
        }
    }

    /// Counts a valid item's bookmark field: its value, or a bad one.
    pub fn add_bookmark(&mut self, read: Result<Option<Bookmark>, ()>) {
        match read {
            Ok(value) => self.bookmark = Bookmark::max(self.bookmark, value),
            Err(()) => self.bookmark_bad += 1,
        }
    }

    fn add(&mut self, other: &ItemCounts) {
        self.bookmark = Bookmark::max(self.bookmark, other.bookmark);
        self.bookmark_bad += other.bookmark_bad;
        self.items += other.items;
        self.records += other.records;
        self.undelivered += other.undelivered;
        self.duplicates += other.duplicates;
        for (mine, theirs) in [
            (&mut self.invalid, &other.invalid),
            (&mut self.bad_values, &other.bad_values),
            (&mut self.filled, &other.filled),
        ] {
            for (i, &n) in theirs.iter().enumerate() {
                bump(mine, i, n);
            }
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
    /// Answers by HTTP status.
    pub responses: BTreeMap<u16, u64>,
    /// Failed attempts by kind, in `ErrorKind::ALL` order.
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Retries by the failure that caused them, in `RetryCause::ALL`
    /// order.
    pub retries_by_cause: [u64; RetryCause::ALL.len()],
    /// Time spent waiting, by `WaitCause`.
    pub waits: [Duration; 5],
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
}

impl FetchCounts {
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
}

/// How a fetcher ended, handed back through its join handle.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOutcome {
    /// How its pagination ended.
    pub status: SourceStatus,
    /// The URL it would have fetched next, when it stopped early (as
    /// requested, not redacted: whoever shows it redacts it).
    pub stopped_at: Option<String>,
    /// The page a later run resumes at, when the source stopped early
    /// somewhere it can go on from (SPEC §9).
    pub resume: Option<Position>,
    /// Why it did not end cleanly, in one line (`stop_reason`).
    pub stop_reason: Option<String>,
    /// Every page given up, in order (as requested, not redacted), with
    /// what went wrong (`kind: detail`, secrets already hidden).
    pub failed_pages: Vec<(String, String)>,
    /// Its request-side counters.
    pub counts: FetchCounts,
}

/// Everything counted about one source.
#[derive(Debug, Clone)]
pub struct SourceStats {
    /// The source's name.
    pub name: String,
    /// How its pagination ended ([`SourceStatus::Running`] until filed).
    pub status: SourceStatus,
    /// What the fetcher last posted.
    pub live: Live,
    /// Request-side counters, filed when the fetcher ends.
    pub fetch: FetchCounts,
    /// Item-side counters.
    pub counts: ItemCounts,
    /// The schema's invalid reasons, in summary order.
    pub reasons: Vec<String>,
    /// The schema's field names, in record order.
    pub fields: Vec<String>,
    /// Whether the fields were declared by the user (not the product
    /// schema's).
    pub declared: bool,
    /// Pages given up, redacted.
    pub failed_page_urls: Vec<String>,
    /// What went wrong with each page given up.
    pub failed_page_errors: Vec<String>,
    /// Why the source did not end cleanly (null when it did).
    pub stop_reason: Option<String>,
    /// Where the source would have gone on, when it stopped early; redacted.
    pub stopped_at_url: Option<String>,
    /// What looks wrong about the source's results (filled at the end).
    pub warnings: Vec<String>,
    /// The page a later run resumes at (from the fetcher's outcome).
    pub resume: Option<Position>,
    /// The saved position this run resumed from, as shown.
    pub resumed_from: Option<Value>,
    /// The bookmark this run sent, for an incremental source.
    pub bookmark_sent: Option<Value>,
    /// The bookmark the state holds after this run.
    pub bookmark_saved: Option<Value>,
    /// Whether the run kept state (`--state`): the summary then says
    /// `resumed_from` and the bookmarks.
    pub stateful: bool,
    /// The incremental source's bookmark field (its `bad_values` key).
    pub bookmark_field: Option<String>,
}

impl SourceStats {
    fn new(name: &str, schema: &RecordSchema) -> Self {
        Self {
            name: name.to_string(),
            reasons: schema.reason_names(),
            fields: schema.fields.iter().map(|f| f.name.clone()).collect(),
            declared: !schema.product,
            status: SourceStatus::Running,
            live: Live {
                phase: Phase::Fetching,
                until: None,
                pages: 0,
                requests: 0,
            },
            fetch: FetchCounts::default(),
            counts: ItemCounts::default(),
            failed_page_urls: Vec::new(),
            failed_page_errors: Vec::new(),
            stop_reason: None,
            stopped_at_url: None,
            warnings: Vec::new(),
            resume: None,
            resumed_from: None,
            bookmark_sent: None,
            bookmark_saved: None,
            stateful: false,
            bookmark_field: None,
        }
    }

    /// Files a finished fetcher's outcome, its URLs as `show` shows them
    /// (redacted).
    pub fn finish(&mut self, outcome: SourceOutcome, show: impl Fn(&str) -> String) {
        self.live = Live {
            phase: outcome.status.final_phase(),
            until: None,
            pages: outcome.counts.pages,
            requests: outcome.counts.requests,
        };
        self.status = outcome.status;
        self.resume = outcome.resume;
        self.stopped_at_url = outcome.stopped_at.as_deref().map(&show);
        self.failed_page_urls = outcome.failed_pages.iter().map(|(u, _)| show(u)).collect();
        self.failed_page_errors = outcome.failed_pages.into_iter().map(|(_, e)| e).collect();
        self.stop_reason = outcome.stop_reason;
        self.fetch = outcome.counts;
    }

    /// Marks a source whose fetcher never ran or failed: status `error`.
    pub fn fail(&mut self) {
        self.status = SourceStatus::Error;
        self.live.phase = Phase::Ended(SourceStatus::Error);
    }
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The counters of every source of a run, in config order.
#[derive(Debug, Clone)]
pub struct Stats {
    /// One entry per source, in config order.
    pub sources: Vec<SourceStats>,
}

impl Stats {
    /// Zeroed counters for the named sources, all of the product schema.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let product = RecordSchema::product(&Default::default());
        Self {
            sources: names
                .into_iter()
                .map(|name| SourceStats::new(name, &product))
                .collect(),
        }
    }

    /// Zeroed counters for the sources of `config`, each by its schema.
    pub fn for_config(config: &Config) -> Self {
        Self {
            sources: config
                .sources
                .iter()
                .map(|s| SourceStats {
                    bookmark_field: s.incremental.as_ref().map(|i| i.field.to_string()),
                    ..SourceStats::new(&s.name, &s.record)
                })
                .collect(),
        }
    }

    /// Adds a chunk's item counts, `per_source[i]` to source `i`.
    pub fn add_items(&mut self, per_source: &[ItemCounts]) {
        for (stats, counts) in self.sources.iter_mut().zip(per_source) {
            stats.counts.add(counts);
        }
    }

    /// Totals over all sources.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in &self.sources {
            t.requests += s.fetch.requests;
            t.pages += s.fetch.pages;
            t.failed_pages += s.fetch.failed_pages;
            t.retries += s.fetch.retries;
            t.counts.add(&s.counts);
        }
        t
    }
}

/// Run-wide sums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// HTTP attempts sent.
    pub requests: u64,
    /// Successful responses.
    pub pages: u64,
    /// Pages given up.
    pub failed_pages: u64,
    /// Retries.
    pub retries: u64,
    /// Item-side counters.
    pub counts: ItemCounts,
}

/// `num / den`, or `None` when `den` is 0.
pub fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 95.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn totals_add_every_source_and_keep_the_identity() {
        let mut stats = Stats::new(["a", "b"]);
        let mut a = ItemCounts {
            items: 5,
            records: 3,
            duplicates: 1,
            ..Default::default()
        };
        a.add_invalid(3);
        let b = ItemCounts {
            items: 2,
            records: 2,
            ..Default::default()
        };
        stats.add_items(&[a.clone(), b]);
        stats.add_items(&[a, ItemCounts::default()]);
        assert_eq!(stats.sources[0].counts.invalid, [0, 0, 0, 2]);
        let t = stats.totals().counts;
        assert_eq!(
            (t.items, t.records, t.duplicates, t.invalid_total()),
            (12, 8, 2, 2)
        );
        assert_eq!(t.items, t.records + t.invalid_total() + t.duplicates);
        assert_eq!(rate(1, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
    }
}
