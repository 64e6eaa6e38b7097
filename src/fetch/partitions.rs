//! A partitioned source's loop (SPEC §12, §13): one pagination per
//! partition, up to `concurrency` partitions at once, all through the
//! source's one [`Gate`](super::gate::Gate) (bucket, breaker, pauses).
//!
//! Partitions come from a [`Feed`]: listed at the start (values, windows),
//! or handed over by the processor as the parent's records are made (a
//! child starts while its parent is still fetching). The source's workers
//! share one [`PartitionRun`]: each pulls the next partition (numbered in
//! feed order), walks it with the same page loop as a source that runs
//! once, and files how it ended: complete, failed (the next one starts
//! anyway), or cut by the deadline or an interrupt.
//!
//! Items are handed over in partition order, whatever the number of
//! workers: the partition at the head sends its batches to the queue as
//! they come; a worker on a later one keeps its batches (up to
//! [`MAX_HELD_BYTES`] of bodies, then it waits for its turn) and parks
//! them when its partition ends, and they go out when the head reaches
//! it. So records, dedupe winners and every count but `requests` are those
//! of one worker. A partition is done (for the state) once its items are
//! handed over; completed partitions are named by their stable hash, so a
//! cut fan-out resumes without fetching finished children again.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, warn};

use crate::config::Partitions;
use crate::control::{lock, RunControl, Stop};
use crate::partition::{Inherited, Partition, Shard};
use crate::queue::{Batch, QueueTx, SendError};
use crate::state::{PartitionStart, PartitionsEnded, Position};

use super::outcome::SourceStatus;
use super::paginate::Paginator;
use super::request::Request;
use super::stop::StopReason;
use super::{Ending, Fetcher, SEND_CHECK_INTERVAL};

/// The most failed partitions the summary lists.
pub const MAX_FAILED_LISTED: usize = 100;

/// How much body a worker ahead of the head keeps before it waits for
/// its turn.
pub const MAX_HELD_BYTES: usize = 8 << 20;

/// How long a cut source goes on handing over partitions that finished
/// ahead of their turn ([`PartitionRun::flush_parked`]).
const FLUSH_GRACE: Duration = Duration::from_millis(250);

/// How often a worker waiting (for its parent's records, or for its
/// turn) looks at the deadline and for an interrupt.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Where a partitioned source's partitions come from.
pub enum Feed {
    /// Known at the start: a list's values, the windows to fetch (made
    /// as they are taken).
    Listed(Box<dyn Iterator<Item = Partition> + Send>),
    /// The parent's valid, first-seen records, as the processor makes
    /// them; the channel closes when the parent has ended.
    Parent(Receiver<Partition>),
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feed::Listed(_) => f.write_str("Feed::Listed"),
            Feed::Parent(rx) => f.debug_tuple("Feed::Parent").field(rx).finish(),
        }
    }
}

impl Feed {
    /// The next partition; `Ok(None)` once there are no more.
    fn next(&mut self, control: &RunControl) -> Result<Option<Partition>, Stop> {
        match self {
            Feed::Listed(list) => {
                // Passing over millions of windows done must still stop.
                control.check()?;
                Ok(list.next())
            }
            Feed::Parent(rx) => loop {
                control.check()?;
                match rx.recv_timeout(CHECK_INTERVAL) {
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

/// How one partition ended, filed once its items are handed over.
#[derive(Debug)]
enum Filed {
    /// Reached its end with no page given up.
    Complete {
        hash: u64,
        window: Option<(i64, i64)>,
    },
    /// Ended badly: its values, and why.
    Failed { shown: String, why: String },
}

/// A partition whose worker has finished it before its turn.
#[derive(Debug)]
struct Parked {
    batches: Vec<Batch>,
    filed: Filed,
}

/// Which partition hands over now, and the finished ones after it.
#[derive(Debug, Default)]
struct Order {
    /// The number of the partition whose items go to the queue now.
    head: u64,
    /// Partitions finished ahead of their turn, by number.
    parked: BTreeMap<u64, Parked>,
}

/// Where a source was cut: the earliest partition a worker stopped in.
#[derive(Debug, Clone)]
struct Cut {
    seq: u64,
    hash: u64,
    reason: StopReason,
    stopped_at: Option<Request>,
    resume: Option<Position>,
}

/// What the feed gives out, with the next partition's number.
#[derive(Debug)]
struct Pulling {
    feed: Feed,
    next_seq: u64,
    /// Two parent records may stand for one partition: it runs once.
    seen: HashSet<u64>,
}

/// The partitions of one source and how they are going, shared by its
/// workers.
#[derive(Debug)]
pub struct PartitionRun {
    plan: PartitionPlan,
    /// Taken by one worker at a time, to number what it pulls.
    pulling: Mutex<Pulling>,
    /// The hand-over order. Every worker reads `head`; the head's worker
    /// advances it and hands the parked partitions over.
    order: Mutex<Order>,
    /// Notified when the head moves.
    turn: Condvar,
    /// Counted as partitions are handed over (or found done before).
    outcome: Mutex<PartitionOutcome>,
    /// The earliest cut, if a worker was cut.
    cut: Mutex<Option<Cut>>,
    /// Set when a worker was cut: the others stop instead of waiting for
    /// a head that will not move.
    abandoned: AtomicBool,
    /// The number of workers, for the bound on parked partitions.
    workers: usize,
}

/// Why a worker could not hand over.
enum Blocked {
    /// The run is stopping.
    Stop(Stop),
    /// Another worker was cut: the head will not move.
    Abandoned,
    /// The processor is gone.
    ProcessorGone,
}

impl PartitionRun {
    /// A run over `feed` as `plan` says, for `workers` workers.
    pub fn new(feed: Feed, plan: PartitionPlan, workers: usize) -> Arc<PartitionRun> {
        let outcome = PartitionOutcome {
            done: plan.start.done.iter().copied().collect(),
            ..PartitionOutcome::default()
        };
        Arc::new(PartitionRun {
            plan,
            pulling: Mutex::new(Pulling {
                feed,
                next_seq: 0,
                seen: HashSet::new(),
            }),
            order: Mutex::new(Order::default()),
            turn: Condvar::new(),
            outcome: Mutex::new(outcome),
            cut: Mutex::new(None),
            abandoned: AtomicBool::new(false),
            workers: workers.max(1),
        })
    }

    /// The next partition this run walks, numbered; `Ok(None)` when there
    /// are no more. Partitions of another shard, seen already or done by
    /// an earlier run are passed over (the last counted).
    fn pull(&self, control: &RunControl) -> Result<Option<(u64, Partition)>, Blocked> {
        // Finished partitions wait for their turn in memory: a worker
        // does not run too far ahead of the head.
        self.wait(control, |order| order.parked.len() < 2 * self.workers)?;
        let mut pulling = lock(&self.pulling);
        loop {
            let Some(partition) = pulling.feed.next(control).map_err(Blocked::Stop)? else {
                return Ok(None);
            };
            let hash = partition.hash();
            if self.plan.shard.is_some_and(|s| !s.owns(hash)) || !pulling.seen.insert(hash) {
                continue;
            }
            let mut outcome = lock(&self.outcome);
            outcome.total += 1;
            if self.plan.start.done.contains(&hash) {
                outcome.done_before += 1;
                continue;
            }
            let seq = pulling.next_seq;
            pulling.next_seq += 1;
            return Ok(Some((seq, partition)));
        }
    }

    /// Waits until `ready` holds of the order, the run stops, or another
    /// worker was cut.
    fn wait(&self, control: &RunControl, ready: impl Fn(&Order) -> bool) -> Result<(), Blocked> {
        let mut order = lock(&self.order);
        loop {
            if ready(&order) {
                return Ok(());
            }
            control.check().map_err(Blocked::Stop)?;
            if self.abandoned.load(Ordering::Acquire) {
                return Err(Blocked::Abandoned);
            }
            order = self
                .turn
                .wait_timeout(order, CHECK_INTERVAL)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn is_head(&self, seq: u64) -> bool {
        lock(&self.order).head == seq
    }

    /// Partition `seq` has ended as `filed`, `held` its items not handed
    /// over yet: parked until its turn, or, at its turn, handed over with
    /// every parked one after it.
    fn finish(
        &self,
        seq: u64,
        held: Vec<Batch>,
        filed: Filed,
        tx: &QueueTx,
        control: &RunControl,
    ) -> Result<(), Blocked> {
        let mut order = lock(&self.order);
        if order.head != seq {
            order.parked.insert(
                seq,
                Parked {
                    batches: held,
                    filed,
                },
            );
            return Ok(());
        }
        let mut next = Some(Parked {
            batches: held,
            filed,
        });
        while let Some(parked) = next {
            for batch in parked.batches {
                send(tx, batch, control)?;
            }
            self.file(parked.filed);
            order.head += 1;
            let head = order.head;
            next = order.parked.remove(&head);
        }
        drop(order);
        self.turn.notify_all();
        Ok(())
    }

    /// Counts a partition handed over.
    fn file(&self, filed: Filed) {
        let mut out = lock(&self.outcome);
        match filed {
            Filed::Complete { hash, window } => {
                out.complete += 1;
                out.done.push(hash);
                out.windows.extend(window);
            }
            Filed::Failed { shown, why } => {
                out.failed += 1;
                if out.failed_list.len() < MAX_FAILED_LISTED {
                    out.failed_list.push((shown, why));
                }
            }
        }
    }

    /// A worker was cut in partition `seq`: the earliest cut is the
    /// source's, and the other workers stop.
    fn cut(&self, cut: Cut) {
        self.abandoned.store(true, Ordering::Release);
        let mut slot = lock(&self.cut);
        if slot.as_ref().is_none_or(|c| cut.seq < c.seq) {
            *slot = Some(cut);
        }
        self.turn.notify_all();
    }

    /// At a cut: hands the partitions that finished ahead of their turn
    /// over anyway, out of order (they are whole; fetching them again next
    /// run would be the waste the state exists to avoid), within a short
    /// grace so that a processor that does not take them cannot hold the
    /// run past its stop. Those it hands over are done.
    fn flush_parked(&self, tx: &QueueTx) {
        let grace = std::time::Instant::now() + FLUSH_GRACE;
        let mut order = lock(&self.order);
        let parked = std::mem::take(&mut order.parked);
        drop(order);
        'partitions: for (_, parked) in parked {
            for mut batch in parked.batches {
                loop {
                    let left = grace.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break 'partitions;
                    }
                    batch = match tx.send_timeout(batch, left.min(SEND_CHECK_INTERVAL)) {
                        Ok(()) => break,
                        Err(SendError::Timeout(back)) => back,
                        Err(SendError::Disconnected) => break 'partitions,
                    };
                }
            }
            self.file(parked.filed);
        }
    }

    /// How the source's partitions went, once every worker has ended: the
    /// outcome, and why the source did not end cleanly, where it stopped
    /// and where a later run resumes.
    pub(super) fn ended(&self) -> (PartitionOutcome, Ending) {
        let mut outcome = lock(&self.outcome).clone();
        let cut = lock(&self.cut).clone();
        let ending = match cut {
            Some(cut) => {
                outcome.at = cut.resume.is_some().then_some(cut.hash);
                Ending {
                    reason: Some(cut.reason),
                    stopped_at: cut.stopped_at,
                    resume: cut.resume,
                }
            }
            None => Ending {
                reason: outcome.failed_list.first().map(|(shown, why)| {
                    StopReason::PartitionsFailed {
                        failed: outcome.failed,
                        total: outcome.total,
                        first: format!("{shown}: {why}"),
                    }
                }),
                stopped_at: None,
                resume: None,
            },
        };
        (outcome, ending)
    }
}

impl PartitionRun {
    /// How the source ended, as the state needs it, once every worker
    /// has ended (its greatest bookmark is added by the processor).
    pub fn source_ended(&self) -> crate::state::Ended {
        let (outcome, ending) = self.ended();
        crate::state::Ended {
            partitions: Some(outcome.ended()),
            ..crate::state::Ended::new(ending.status() == SourceStatus::Complete, 0, ending.resume)
        }
    }
}

/// Sends `batch` once there is room, looking at the deadline and for an
/// interrupt while it waits.
fn send(tx: &QueueTx, mut batch: Batch, control: &RunControl) -> Result<(), Blocked> {
    loop {
        control.check().map_err(Blocked::Stop)?;
        batch = match tx.send_timeout(batch, SEND_CHECK_INTERVAL) {
            Ok(()) => return Ok(()),
            Err(SendError::Timeout(back)) => back,
            Err(SendError::Disconnected) => return Err(Blocked::ProcessorGone),
        };
    }
}

/// The partition a worker is walking, and the items it holds back until
/// its turn.
#[derive(Debug)]
pub(super) struct Route {
    run: Arc<PartitionRun>,
    seq: u64,
    held: Vec<Batch>,
    /// Bytes of the distinct bodies in `held`.
    held_bytes: usize,
}

impl Route {
    /// Hands `batch` over in partition order: to the queue at the head's
    /// turn (after what it held), else held back, waiting for its turn
    /// once it holds [`MAX_HELD_BYTES`]. `Err` says why it could not.
    pub(super) fn hand_over(
        &mut self,
        tx: &QueueTx,
        batch: Batch,
        control: &RunControl,
    ) -> Result<(), HandOver> {
        if !self.run.is_head(self.seq) {
            let new_body = self
                .held
                .last()
                .is_none_or(|b| !Arc::ptr_eq(&b.body, &batch.body));
            if self.held_bytes < MAX_HELD_BYTES {
                if new_body {
                    self.held_bytes += batch.body.len();
                }
                self.held.push(batch);
                return Ok(());
            }
            let seq = self.seq;
            self.run
                .wait(control, |order| order.head == seq)
                .map_err(HandOver::from)?;
        }
        for held in std::mem::take(&mut self.held) {
            send(tx, held, control).map_err(HandOver::from)?;
        }
        self.held_bytes = 0;
        send(tx, batch, control).map_err(HandOver::from)
    }
}

/// Why a batch was not handed over.
pub(super) enum HandOver {
    /// The run is stopping, or another worker was cut.
    Stop,
    /// The processor is gone.
    Gone,
}

impl From<Blocked> for HandOver {
    fn from(b: Blocked) -> Self {
        match b {
            // Another worker was cut: by the run's stop (said as such by
            // the caller, which looks at the control), or by a processor
            // that is gone.
            Blocked::Stop(_) | Blocked::Abandoned => HandOver::Stop,
            Blocked::ProcessorGone => HandOver::Gone,
        }
    }
}

impl Fetcher<'_> {
    /// Walks the partitions `run` gives this worker; says how the worker
    /// ended (the source's ending is [`PartitionRun::ended`]'s).
    pub(super) fn walk_partitions(&mut self, run: &Arc<PartitionRun>, tx: &QueueTx) -> Ending {
        let start_url = self
            .start
            .url
            .clone()
            .unwrap_or_else(|| self.source.url.clone());
        let control = self.shared.control;
        loop {
            self.post_partitions(run);
            let (seq, partition) = match run.pull(control) {
                Ok(Some(next)) => next,
                Ok(None) => return Ending::clean(),
                Err(blocked) => return self.blocked(run, blocked, tx),
            };
            let hash = partition.hash();
            let resume = run
                .plan
                .start
                .at
                .as_ref()
                .filter(|(h, _)| *h == hash)
                .map(|(_, p)| p.clone());
            self.route = Some(Route {
                run: Arc::clone(run),
                seq,
                held: Vec::new(),
                held_bytes: 0,
            });
            let failed_before = self.counts.failed_pages;
            let ending = self.walk_partition(&partition, &start_url, resume, tx);
            let failed_pages = self.counts.failed_pages - failed_before;
            let held = self.route.take().map(|r| r.held).unwrap_or_default();
            let filed = match ending.reason {
                None if failed_pages == 0 => Filed::Complete {
                    hash,
                    window: partition.window,
                },
                // `ingest check` fetches one page on purpose: where the
                // partition would go on is the news.
                Some(reason)
                    if cut(&reason)
                        || (self.one_page && reason.status() == SourceStatus::MaxPages) =>
                {
                    let reason = StopReason::InPartition {
                        partition: partition.to_string(),
                        reason: Box::new(reason),
                    };
                    // Its position is worth resuming at only if every
                    // page before it was handed over: a worker ahead of
                    // the head held its pages back, and they are lost.
                    let resume = ending.resume.clone().filter(|_| held.is_empty());
                    run.cut(Cut {
                        seq,
                        hash,
                        reason: reason.clone(),
                        stopped_at: ending.stopped_at.clone(),
                        resume,
                    });
                    run.flush_parked(tx);
                    return Ending {
                        reason: Some(reason),
                        ..ending
                    };
                }
                reason => Filed::Failed {
                    shown: partition.to_string(),
                    why: self.failure(reason, failed_pages, &partition),
                },
            };
            if let Err(blocked) = run.finish(seq, held, filed, tx, control) {
                return self.blocked(run, blocked, tx);
            }
        }
    }

    /// Why partition `partition` failed, with what the server said.
    fn failure(
        &self,
        reason: Option<StopReason>,
        failed_pages: u64,
        partition: &Partition,
    ) -> String {
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
        why
    }

    /// How a worker that could not go on between partitions (waiting for
    /// one, or for its turn to hand one over) ends; the run is cut there,
    /// past every partition it has numbered.
    fn blocked(&self, run: &PartitionRun, blocked: Blocked, tx: &QueueTx) -> Ending {
        let reason = match blocked {
            Blocked::Stop(Stop::Interrupted) => StopReason::Interrupted {
                page: 0,
                cut_short: None,
            },
            Blocked::Stop(stop) => self.stopped(stop, 0, None),
            Blocked::ProcessorGone => StopReason::ProcessorGone,
            // The worker that was cut says why.
            Blocked::Abandoned => return Ending::clean(),
        };
        run.cut(Cut {
            seq: u64::MAX,
            hash: 0,
            reason: StopReason::BetweenPartitions(Box::new(reason.clone())),
            stopped_at: None,
            resume: None,
        });
        run.flush_parked(tx);
        Ending {
            reason: Some(reason),
            stopped_at: None,
            resume: None,
        }
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
    fn post_partitions(&self, run: &PartitionRun) {
        let out = lock(&run.outcome);
        let done = out.complete + out.failed + out.done_before;
        lock(&self.shared.board)[self.index].partitions = Some((done, out.total));
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
