//! How a fetcher is doing and how it ended: its status, what it waits
//! for, its request-side counters, and the outcome it hands back through
//! its thread's join handle (SPEC §6).
//!
//! A fetcher keeps its [`FetchCounts`] to itself and posts only a small
//! [`Live`] view on the run's [`LiveBoard`] for the progress display; the
//! pipeline files the [`SourceOutcome`] when the thread ends.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{ErrorKind, RetryCause};
use crate::fetch::request::Request;
use crate::fetch::stop::StopReason;
use crate::state::{Ended, Position};

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
    /// OAuth2 token requests this source sent.
    pub auth: AuthCounts,
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
        }
    }
}

impl SourceOutcome {
    /// How the source ended, as the state needs it (before its items are
    /// counted).
    pub fn ended(&self) -> Ended {
        Ended::new(
            self.status == SourceStatus::Complete,
            self.counts.failed_pages,
            self.resume.clone(),
        )
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
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 95.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
