//! A partitioned source's loop (SPEC §12): one pagination per partition,
//! all through the source's one token bucket, breaker and quota.
//!
//! Partitions come from a [`Feed`]: listed at the start (values, windows),
//! or handed over by the processor as the parent's records are made (a
//! child starts while its parent is still fetching). Each partition is
//! walked by the same page loop as a source that runs once; how it ended
//! is filed here: complete, failed (the next one starts anyway), or cut
//! by the deadline or an interrupt (the source stops, and the state keeps
//! the partition's position). Completed partitions are named by their
//! stable hash for the state, so a cut fan-out resumes without fetching
//! finished children again.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, warn};

use crate::config::Partitions;
use crate::control::Stop;
use crate::partition::{Inherited, Partition, Shard};
use crate::queue::QueueTx;
use crate::state::{PartitionStart, PartitionsEnded, Position};

use super::outcome::SourceStatus;
use super::paginate::Paginator;
use super::stop::StopReason;
use super::{Ending, Fetcher};

/// The most failed partitions the summary lists.
pub const MAX_FAILED_LISTED: usize = 100;

/// How often a child waiting for its parent's records looks at the
/// deadline and for an interrupt.
const FEED_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Where a partitioned source's partitions come from.
#[derive(Debug)]
pub enum Feed {
    /// Known at the start: a list's values, the windows to fetch.
    Listed(std::vec::IntoIter<Partition>),
    /// The parent's valid, first-seen records, as the processor makes
    /// them; the channel closes when the parent has ended.
    Parent(Receiver<Partition>),
}

impl Feed {
    /// The next partition; `Ok(None)` once there are no more.
    fn next(&mut self, control: &crate::control::RunControl) -> Result<Option<Partition>, Stop> {
        match self {
            Feed::Listed(list) => Ok(list.next()),
            Feed::Parent(rx) => loop {
                control.check()?;
                match rx.recv_timeout(FEED_CHECK_INTERVAL) {
                    Ok(p) => return Ok(Some(p)),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(None),
                }
            },
        }
    }
}

/// Where a partitioned source starts, by the state and `--shard`.
#[derive(Debug, Clone, Default)]
pub struct PartitionPlan {
    /// What the state says: partitions done, the one cut and where.
    pub start: PartitionStart,
    /// This run's share of the partitions, with `--shard`.
    pub shard: Option<Shard>,
}

/// How a partitioned source's partitions went (the summary's
/// `partitions` and `failed_partitions`; the state's completed set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionOutcome {
    /// Partitions this run had to do (its shard's, done or not).
    pub total: u64,
    /// Partitions that reached their end with no page given up.
    pub complete: u64,
    /// Partitions that ended badly.
    pub failed: u64,
    /// Partitions an earlier run of the pass completed.
    pub done_before: u64,
    /// The first [`MAX_FAILED_LISTED`] failed partitions: values, and why.
    pub failed_list: Vec<(String, String)>,
    /// The hashes of the pass's completed partitions (earlier runs' and
    /// this one's), for the state.
    pub done: Vec<u64>,
    /// The partition the source was cut in (its position is the
    /// source's `resume`).
    pub at: Option<u64>,
    /// The windows this run completed.
    pub windows: Vec<(i64, i64)>,
}

impl PartitionOutcome {
    /// What the state keeps of it.
    pub fn ended(&self) -> PartitionsEnded {
        PartitionsEnded {
            done: self.done.clone(),
            at: self.at,
            windows: self.windows.clone(),
        }
    }
}

impl Fetcher<'_> {
    /// Walks every partition of `feed`; says how the source ended.
    pub(super) fn walk_partitions(
        &mut self,
        mut feed: Feed,
        plan: PartitionPlan,
        tx: &QueueTx,
    ) -> Ending {
        let start_url = self
            .start
            .url
            .clone()
            .unwrap_or_else(|| self.source.url.clone());
        let mut out = PartitionOutcome {
            done: plan.start.done.iter().copied().collect(),
            ..PartitionOutcome::default()
        };
        // Two parent records may stand for one partition: it runs once.
        let mut seen = std::collections::HashSet::new();
        let mut first_failure: Option<String> = None;
        let ending = loop {
            let partition = match feed.next(self.shared.control) {
                Ok(Some(p)) => p,
                Ok(None) => break None,
                Err(stop) => {
                    break Some(Ending {
                        reason: Some(self.stopped(stop, 1, None)),
                        stopped_at: None,
                        resume: None,
                    })
                }
            };
            let hash = partition.hash();
            if plan.shard.is_some_and(|s| !s.owns(hash)) || !seen.insert(hash) {
                continue;
            }
            out.total += 1;
            self.post_partitions(&out);
            if plan.start.done.contains(&hash) {
                out.done_before += 1;
                continue;
            }
            let resume = plan
                .start
                .at
                .as_ref()
                .filter(|(h, _)| *h == hash)
                .map(|(_, p)| p.clone());
            let failed_before = self.counts.failed_pages;
            let ending = self.walk_partition(&partition, &start_url, resume, tx);
            let failed_pages = self.counts.failed_pages - failed_before;
            match ending.reason {
                None if failed_pages == 0 => {
                    out.complete += 1;
                    out.done.push(hash);
                    out.windows.extend(partition.window);
                }
                // `ingest check` fetches one page on purpose: where the
                // partition would go on is the news.
                Some(reason)
                    if cut(&reason)
                        || (self.one_page && reason.status() == SourceStatus::MaxPages) =>
                {
                    out.at = ending.resume.as_ref().map(|_| hash);
                    break Some(Ending {
                        reason: Some(StopReason::InPartition {
                            partition: partition.to_string(),
                            reason: Box::new(reason),
                        }),
                        ..ending
                    });
                }
                reason => {
                    out.failed += 1;
                    let mut why = match reason {
                        Some(reason) => reason.to_string(),
                        None => format!("{failed_pages} pages given up"),
                    };
                    // What the server said: a 404 for a parent gone.
                    if let Some((_, last)) = self.failed_pages.last().filter(|_| failed_pages > 0) {
                        why = format!("{why} (the last page given up: {last})");
                    }
                    warn!(
                        source = self.name(), event = "partition_failed",
                        partition = partition.to_string(), reason = why.as_str(); ""
                    );
                    first_failure.get_or_insert_with(|| format!("{partition}: {why}"));
                    if out.failed_list.len() < MAX_FAILED_LISTED {
                        out.failed_list.push((partition.to_string(), why));
                    }
                }
            }
            self.post_partitions(&out);
        };
        let ending = ending.unwrap_or_else(|| Ending {
            reason: first_failure.map(|first| StopReason::PartitionsFailed {
                failed: out.failed,
                total: out.total,
                first,
            }),
            stopped_at: None,
            resume: None,
        });
        self.partitions = Some(out);
        ending
    }

    /// One partition's pagination, from its first page or from `resume`.
    fn walk_partition(
        &mut self,
        partition: &Partition,
        start_url: &str,
        resume: Option<Position>,
        tx: &QueueTx,
    ) -> Ending {
        let filled = partition.filled(self.source, start_url);
        if self.header_placeholders {
            self.client = self.clients_with(&filled.headers).0;
        }
        self.inherited = match &self.source.partitions {
            Some(Partitions::Parent(parent)) => {
                let inherited = partition.inherited(parent);
                (inherited != Inherited::default()).then(|| Arc::new(inherited))
            }
            _ => None,
        };
        debug!(source = self.name(), event = "partition", partition = partition.to_string(); "");
        let mut pager = Paginator::new(&filled.url, &self.source.pagination).sending(
            self.source.method,
            filled.body,
            self.source.params_in_body,
        );
        if let Some(position) = resume {
            self.resume_at(&mut pager, position);
        }
        self.walk(&mut pager, tx)
    }

    /// Posts the partitions done so far for the progress display.
    fn post_partitions(&self, out: &PartitionOutcome) {
        let done = out.complete + out.failed + out.done_before;
        crate::control::lock(&self.shared.board)[self.index].partitions = Some((done, out.total));
    }
}

/// Whether a partition's ending stops the whole source: the run is
/// stopping, or nothing more can be handed over.
fn cut(reason: &StopReason) -> bool {
    matches!(
        reason,
        StopReason::Deadline { .. } | StopReason::Interrupted { .. } | StopReason::ProcessorGone
    )
}
