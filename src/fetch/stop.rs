//! Every way a source stops, as one value: [`StopReason`].
//!
//! The page loop decides *that* a source stops and returns the reason;
//! the one place that ends the loop logs it, and the summary's
//! `stop_reason` is its `Display`. The status a reason gives
//! ([`StopReason::status`]) is decided here too, so that the words and
//! the status can never disagree. URLs in a reason are already redacted.

use std::fmt;

use crate::fetch::outcome::{SourceStatus, WaitCause};

/// Why a source stopped before (or on reaching) its end of data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C, SIGTERM, or the run was told to stop.
    Interrupted {
        /// The page that was not done.
        page: u64,
        /// Items of that page not handed over, when it was cut short.
        cut_short: Option<usize>,
    },
    /// The run's deadline.
    Deadline {
        /// The page that was not done.
        page: u64,
        /// Items of that page not handed over, when it was cut short.
        cut_short: Option<usize>,
        /// What it was waiting for when the deadline refused the wait.
        waiting: Waiting,
        /// Which deadline it was, and how to raise it.
        set_by: String,
    },
    /// `max_pages` pages requested without reaching the end.
    MaxPages {
        /// Pages requested.
        requested: u64,
    },
    /// The processor is gone (it failed): nothing more can be handed over.
    ProcessorGone,
    /// `max_failed_pages_in_a_row` pages given up one after another.
    FailedInARow {
        /// Pages given up in a row.
        count: u32,
        /// What went wrong with the last of them.
        last: String,
    },
    /// The end of data was reached, but pages were given up on the way.
    GivenUpOnTheWay {
        /// Pages given up.
        count: u64,
    },
    /// A next pointer led back to a page already fetched.
    Loop {
        /// The page whose pointer it was.
        page: u64,
        /// The target, redacted.
        target: String,
    },
    /// A page's body is byte for byte the previous page's.
    Repeated {
        /// `page` or `offset`.
        unit: &'static str,
        /// Where the repeat was fetched.
        at: u64,
        /// The position it repeats.
        of: u64,
    },
    /// A page was given up and the style cannot step over it.
    Stuck {
        /// The page given up.
        page: u64,
    },
    /// An `on_response` rule said to skip a page, and the style cannot
    /// step over it (a cursor or next link is in the page skipped).
    Skipped {
        /// The page skipped.
        page: u64,
        /// The rule's index in `on_response`.
        rule: usize,
    },
    /// The next pointer is a URL ingest may not request.
    BadUrl {
        /// The URL, redacted.
        url: String,
    },
    /// The next pointer is there but is not a cursor or URL.
    BadPointer {
        /// Where, and what it was (`next: a number (2)`).
        what: String,
    },
    /// No token to send: the token endpoint refused (SPEC §11).
    NoToken {
        /// What the endpoint said.
        why: String,
    },
    /// Some partitions of a partitioned source ended badly (the others
    /// ran to their end).
    PartitionsFailed {
        /// Partitions that failed.
        failed: u64,
        /// Partitions this run had.
        total: u64,
        /// The first that failed, and why.
        first: String,
    },
    /// A partitioned source stopped between partitions: waiting for the
    /// next one, or for its turn to hand one over.
    BetweenPartitions(Box<StopReason>),
    /// A partitioned source stopped in one of its partitions.
    InPartition {
        /// The partition's values, as shown.
        partition: String,
        /// Why it stopped there.
        reason: Box<StopReason>,
    },
    /// `has_more_path` says there is more, but the cursor has no value:
    /// the next page cannot be asked for (not an end: data is missing).
    MoreWithoutCursor {
        /// The `has_more_path`.
        has_more: String,
        /// The cursor's path (`cursor_path`, or `last_item_path` in the
        /// last item).
        cursor: String,
    },
}

/// What a source was waiting for when the deadline stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing in particular (a request, a token, a backoff).
    Nothing,
    /// Its breaker's cooldown: the server kept failing with this.
    Breaker(String),
    /// The server's quota to reset, for this many seconds.
    Quota(u64),
    /// A wait for this cause, this many seconds long, which would have
    /// ended past the deadline (a Retry-After, a backoff, a token).
    Refused(WaitCause, u64),
}

impl StopReason {
    /// The source status this reason gives.
    pub fn status(&self) -> SourceStatus {
        match self {
            StopReason::InPartition { reason, .. } | StopReason::BetweenPartitions(reason) => {
                reason.status()
            }
            StopReason::Interrupted { .. } => SourceStatus::Interrupted,
            StopReason::Deadline {
                waiting: Waiting::Breaker(_),
                ..
            } => SourceStatus::BreakerOpen,
            StopReason::Deadline { .. } => SourceStatus::Deadline,
            StopReason::MaxPages { .. } => SourceStatus::MaxPages,
            StopReason::GivenUpOnTheWay { .. } => SourceStatus::Complete,
            StopReason::ProcessorGone
            | StopReason::FailedInARow { .. }
            | StopReason::Loop { .. }
            | StopReason::Repeated { .. }
            | StopReason::Stuck { .. }
            | StopReason::Skipped { .. }
            | StopReason::BadUrl { .. }
            | StopReason::BadPointer { .. }
            | StopReason::NoToken { .. }
            | StopReason::PartitionsFailed { .. }
            | StopReason::MoreWithoutCursor { .. } => SourceStatus::Error,
        }
    }

    /// A short name for log lines (`reason=pagination_loop`).
    pub fn kind(&self) -> &'static str {
        match self {
            StopReason::Interrupted { .. } => "interrupted",
            StopReason::Deadline { .. } => "deadline",
            StopReason::MaxPages { .. } => "max_pages",
            StopReason::ProcessorGone => "processor_gone",
            StopReason::FailedInARow { .. } => "failed_pages_in_a_row",
            StopReason::GivenUpOnTheWay { .. } => "pages_given_up",
            StopReason::Loop { .. } | StopReason::Repeated { .. } => "pagination_loop",
            StopReason::Stuck { .. } => "cannot_step_over_failed_page",
            StopReason::Skipped { .. } => "cannot_step_over_skipped_page",
            StopReason::BadUrl { .. } | StopReason::BadPointer { .. } => "unusable_next_pointer",
            StopReason::MoreWithoutCursor { .. } => "has_more_without_cursor",
            StopReason::NoToken { .. } => "no_token",
            StopReason::PartitionsFailed { .. } => "partitions_failed",
            StopReason::InPartition { reason, .. } | StopReason::BetweenPartitions(reason) => {
                reason.kind()
            }
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Interrupted { page, cut_short } => {
                write!(f, "interrupted (Ctrl-C or SIGTERM) before page {page} was done")?;
                write_cut_short(f, *page, *cut_short)
            }
            StopReason::Deadline {
                page,
                cut_short,
                waiting,
                set_by,
            } => {
                match waiting {
                    Waiting::Nothing => write!(f, "deadline reached before page {page} was done")?,
                    Waiting::Breaker(error) => write!(
                        f,
                        "deadline while the breaker was open, before page {page} (the server kept failing: {error})"
                    )?,
                    Waiting::Quota(secs) => write!(
                        f,
                        "deadline while waiting {secs} s for the quota to reset, before page {page}"
                    )?,
                    Waiting::Refused(cause, secs) => write!(
                        f,
                        "deadline: {} of {secs} s would have ended past it, before page {page}",
                        match cause {
                            WaitCause::RetryAfter => "the server's Retry-After",
                            WaitCause::Backoff => "a backoff before the retry",
                            WaitCause::Breaker => "the breaker's cooldown",
                            WaitCause::RateLimit => "a wait for a token of the rate limit",
                            WaitCause::Quota => "a wait for the quota",
                        }
                    )?,
                }
                write_cut_short(f, *page, *cut_short)?;
                write!(f, "; the deadline was {set_by}")
            }
            StopReason::MaxPages { requested } => write!(
                f,
                "max_pages ({requested}) requested without reaching the end of the data"
            ),
            StopReason::ProcessorGone => {
                f.write_str("the processor failed (see the summary's error)")
            }
            StopReason::FailedInARow { count, last } => {
                write!(f, "{count} pages given up in a row (the last: {last})")
            }
            StopReason::GivenUpOnTheWay { count: 1 } => f.write_str(
                "reached the end, but 1 page was given up (see failed_page_errors)",
            ),
            StopReason::GivenUpOnTheWay { count } => write!(
                f,
                "reached the end, but {count} pages were given up (see failed_page_errors)"
            ),
            StopReason::Loop { page, target } => write!(
                f,
                "pagination loop: page {page} points back to {target}, already fetched"
            ),
            StopReason::Repeated { unit, at, of } => write!(
                f,
                "pagination loop: {unit} {at} repeats {unit} {of} byte for byte (the server may ignore the position parameter)"
            ),
            StopReason::Stuck { page } => write!(
                f,
                "page {page} was given up and this pagination cannot step over it"
            ),
            StopReason::Skipped { page, rule } => write!(
                f,
                "page {page} was skipped by on_response[{rule}] and this pagination cannot step over it (the next page's pointer was in it)"
            ),
            StopReason::BadUrl { url } => write!(
                f,
                "unusable next pointer: next URL {url} is not an http(s) URL ingest may request"
            ),
            StopReason::BadPointer { what } => {
                write!(f, "unusable next pointer at {what}, not a cursor or URL")
            }
            StopReason::NoToken { why } => write!(
                f,
                "no OAuth2 token: {why}; no page was requested without one"
            ),
            StopReason::PartitionsFailed { .. }
            | StopReason::InPartition { .. }
            | StopReason::BetweenPartitions(_) => self.fmt_partitions(f),
            StopReason::MoreWithoutCursor { has_more, cursor } => write!(
                f,
                "{has_more} says there are more pages, but {cursor} has no value: the next page cannot be asked for (check cursor_path / last_item_path)"
            ),
        }
    }
}

impl StopReason {
    /// How a partitioned source's reasons read.
    fn fmt_partitions(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::PartitionsFailed {
                failed,
                total,
                first,
            } => write!(
                f,
                "{failed} of {total} partitions failed (see failed_partitions; the first: {first})"
            ),
            StopReason::InPartition { partition, reason } => {
                write!(f, "in partition {partition}: {reason}")
            }
            StopReason::BetweenPartitions(reason) => match reason.as_ref() {
                StopReason::Deadline { set_by, .. } => write!(
                    f,
                    "deadline reached between partitions (no page was cut); the deadline was {set_by}"
                ),
                StopReason::Interrupted { .. } => {
                    f.write_str("interrupted (Ctrl-C or SIGTERM) between partitions (no page was cut)")
                }
                other => write!(f, "between partitions: {other}"),
            },
            _ => Ok(()),
        }
    }
}

fn write_cut_short(f: &mut fmt::Formatter<'_>, page: u64, dropped: Option<usize>) -> fmt::Result {
    match dropped {
        Some(n) => write!(
            f,
            " (page {page} cut short: {n} of its items not handed over)"
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_says_why_in_one_line_with_its_status() {
        let deadline = |waiting| StopReason::Deadline {
            page: 4,
            cut_short: None,
            waiting,
            set_by: "the 60 s default (raise it with --deadline SECS or deadline_ms)".into(),
        };
        let cases: Vec<(StopReason, SourceStatus, &str)> = vec![
            (
                StopReason::Interrupted { page: 3, cut_short: Some(7) },
                SourceStatus::Interrupted,
                "interrupted (Ctrl-C or SIGTERM) before page 3 was done (page 3 cut short: 7 of its items not handed over)",
            ),
            (
                deadline(Waiting::Nothing),
                SourceStatus::Deadline,
                "deadline reached before page 4 was done; the deadline was the 60 s default (raise it with --deadline SECS or deadline_ms)",
            ),
            (
                deadline(Waiting::Quota(12)),
                SourceStatus::Deadline,
                "deadline while waiting 12 s for the quota to reset, before page 4; the deadline was",
            ),
            (
                deadline(Waiting::Breaker("timeout: read".into())),
                SourceStatus::BreakerOpen,
                "deadline while the breaker was open, before page 4 (the server kept failing: timeout: read)",
            ),
            (
                StopReason::MaxPages { requested: 10 },
                SourceStatus::MaxPages,
                "max_pages (10) requested without reaching the end of the data",
            ),
            (
                StopReason::GivenUpOnTheWay { count: 1 },
                SourceStatus::Complete,
                "reached the end, but 1 page was given up (see failed_page_errors)",
            ),
            (
                StopReason::GivenUpOnTheWay { count: 2 },
                SourceStatus::Complete,
                "but 2 pages were given up",
            ),
            (
                StopReason::Skipped { page: 3, rule: 1 },
                SourceStatus::Error,
                "page 3 was skipped by on_response[1] and this pagination cannot step over it",
            ),
            (
                StopReason::Repeated { unit: "offset", at: 40, of: 20 },
                SourceStatus::Error,
                "pagination loop: offset 40 repeats offset 20 byte for byte",
            ),
            (
                StopReason::MoreWithoutCursor {
                    has_more: "has_more".into(),
                    cursor: "the last item's id".into(),
                },
                SourceStatus::Error,
                "has_more says there are more pages, but the last item's id has no value",
            ),
        ];
        for (reason, status, words) in cases {
            assert_eq!(reason.status(), status, "{reason}");
            let text = reason.to_string();
            assert!(
                text.starts_with(words) || text.contains(words),
                "{text}\nwanted: {words}"
            );
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }
}
