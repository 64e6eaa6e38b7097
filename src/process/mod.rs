//! The processor: items in, records out.
//!
//! It takes items off the channel in chunks of up to `batch_size` (a chunk
//! is whatever the channel holds, so records flow even when sources are
//! slow) and normalizes each chunk — a large one in parallel with rayon,
//! order-preserving, while taking the next chunk off the channel; a small
//! one on its own thread, where the pool would cost more than it saves
//! ([`PARALLEL_MIN_ITEMS`]). Then, sequentially and in arrival order, it dedupes
//! and writes. Each source's items arrive in its page-then-item order (one
//! thread per source, FIFO channel), so "first wins" is the same whatever
//! the thread timing. Counters are added once per chunk. Invalid items of
//! a source with `keep_rejected` are written as they arrive to
//! `rejected.jsonl`, with their source, reason and page URL: the stream is
//! never held twice. Records go to one [`RecordSink`] (`records.jsonl`,
//! or stdout as JSON Lines or Singer messages: see `sink.rs`); a source's
//! end, which follows its last batch on the queue, goes to the sink after
//! its records (the cue for its Singer STATE), with the greatest bookmark
//! its items had.

pub mod dedupe;
pub mod sink;
pub mod stats;

use std::io::Write;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use rayon::prelude::*;

use crate::config::{Config, Partitions};
use crate::control::lock;
use crate::json::node::{write_str, Malformed, Node};
use crate::partition::Partition;
use crate::process::dedupe::DedupeIndex;
use crate::queue::{Batch, Message, QueueRx};
use crate::record::bookmark::Bookmark;
use crate::record::normalize::{normalize, InvalidReason, Record};
use crate::state::Ended;
pub use sink::{Delivery, RecordSink};
use stats::{ItemCounts, Stats};
use std::ops::Range;

/// Where the processor writes: records, and the rejected items when any
/// source keeps them.
pub struct Sinks<'w> {
    /// `records.jsonl`, or stdout.
    pub records: &'w mut (dyn RecordSink + Send),
    /// `rejected.jsonl`, when some source has `keep_rejected`.
    pub rejected: Option<&'w mut (dyn Write + Send)>,
}

/// Where a parent's records fan out to, and whose records are written
/// (SPEC §12).
#[derive(Debug, Clone)]
pub struct Fanout {
    /// Per source: each child's index and the channel its partitions go
    /// to; closed (dropped) once the source has ended.
    pub children: Vec<Vec<(usize, Sender<Partition>)>>,
    /// Per source: its records are written (not `emit: false`, and its
    /// shard's); the others' are counted as `fetched_for_children`.
    pub written: Vec<bool>,
}

impl Fanout {
    /// No children, every record written.
    pub fn none(sources: usize) -> Fanout {
        Fanout {
            children: vec![Vec::new(); sources],
            written: vec![true; sources],
        }
    }
}

/// Per source, the index of each source that is its child.
fn children_of(config: &Config) -> Vec<Vec<usize>> {
    let mut children = vec![Vec::new(); config.sources.len()];
    for (i, s) in config.sources.iter().enumerate() {
        if let Some(Partitions::Parent(p)) = &s.partitions {
            children[p.index].push(i);
        }
    }
    children
}

/// Drains `rx` until every sender is gone, writing records (and rejected
/// items) to `out` and handing each parent record's partitions to its
/// children, then drains the record sink. Stops early only if a write
/// fails; the error is returned.
pub fn run(
    config: &Config,
    rx: QueueRx,
    mut out: Sinks<'_>,
    stats: &Arc<Mutex<Stats>>,
    mut fanout: Fanout,
) -> std::io::Result<()> {
    let children = children_of(config);
    let mut dedupe = DedupeIndex::new(config.sources.len());
    // Each source's greatest bookmark so far: what its end carries.
    let mut greatest: Vec<Option<Bookmark>> = vec![None; config.sources.len()];
    let mut chunk = Chunk::default();
    let mut next = Chunk::default();
    let signpost = lock(stats).signpost;
    while let Some(first) = rx.recv() {
        chunk.push(first);
        take_ready(&rx, &mut chunk, config.batch_size);
        loop {
            let counts = process_chunk(
                Ctx {
                    config,
                    children: &children,
                    fanout: &fanout,
                    signpost,
                },
                &rx,
                &chunk,
                &mut next,
                &mut dedupe,
                &mut out,
            );
            let mut counts = counts?;
            for (greatest, counts) in greatest.iter_mut().zip(&counts) {
                *greatest = Bookmark::max(*greatest, counts.bookmark);
            }
            for (source, ended) in &chunk.ended {
                let ended = Ended {
                    greatest: greatest[*source],
                    ..ended.clone()
                };
                out.records.source_ended(*source, &ended)?;
                // Its children have had every partition it brings.
                fanout.children[*source].clear();
            }
            count_undelivered(&mut counts, out.records.end_chunk()?);
            lock(stats).add_items(&counts);
            // The chunk's batches go, and with a page's last batch its body.
            chunk.clear();
            std::mem::swap(&mut chunk, &mut next);
            if chunk.is_empty() {
                break;
            }
        }
    }
    let mut counts = vec![ItemCounts::default(); config.sources.len()];
    count_undelivered(&mut counts, out.records.drain()?);
    lock(stats).add_items(&counts);
    Ok(())
}

/// Counts a record of each of `sources` as undelivered.
fn count_undelivered(counts: &mut [ItemCounts], sources: Vec<usize>) {
    for source in sources {
        counts[source].undelivered += 1;
    }
}

/// What the processor took off the queue for one pass: batches, and the
/// sources whose end came with them.
#[derive(Default)]
struct Chunk {
    batches: Vec<Batch>,
    ended: Vec<(usize, Ended)>,
    /// Items in `batches`.
    items: usize,
}

impl Chunk {
    fn push(&mut self, message: Message) {
        match message {
            Message::Batch(batch) => {
                self.items += batch.items.len();
                self.batches.push(batch);
            }
            Message::SourceEnded { source, ended } => self.ended.push((source, ended)),
        }
    }

    fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.ended.is_empty()
    }

    fn clear(&mut self) {
        self.batches.clear();
        self.ended.clear();
        self.items = 0;
    }
}

/// What a chunk is processed with.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    config: &'a Config,
    /// Per source, its children.
    children: &'a [Vec<usize>],
    fanout: &'a Fanout,
    /// The run's start: no bookmark is counted past it.
    signpost: Option<Bookmark>,
}

/// Parses, normalizes and writes one chunk's items — a large chunk in
/// parallel, taking the next chunk off the queue meanwhile, so fetchers
/// are not kept waiting for the work — then dedupes and writes them in
/// arrival order. Returns the chunk's counts per source, no bookmark past
/// `signpost` (the run's start).
///
/// The parallel pass works on parts of a few items, each into one buffer
/// of its own: the records' lines, their ids, the fields they filled. The
/// sequential pass only looks ids up and copies lines, so one dispatch to
/// the pool serves the whole chunk and nothing is allocated per item.
fn process_chunk(
    ctx: Ctx<'_>,
    rx: &QueueRx,
    chunk: &Chunk,
    next: &mut Chunk,
    dedupe: &mut DedupeIndex,
    out: &mut Sinks<'_>,
) -> std::io::Result<Vec<ItemCounts>> {
    let Ctx {
        config,
        children,
        fanout,
        signpost,
    } = ctx;
    let items: Vec<(&Batch, usize)> = chunk
        .batches
        .iter()
        .flat_map(|b| (0..b.items.len()).map(move |i| (b, i)))
        .collect();
    let mut parts: Vec<Part> = Vec::new();
    if items.len() < PARALLEL_MIN_ITEMS || rayon::current_num_threads() < 2 {
        parts.push(Part::of(config, children, &items));
        take_ready(rx, next, config.batch_size);
    } else {
        rayon::in_place_scope(|s| {
            s.spawn(|_| {
                parts = items
                    .par_chunks(PART_ITEMS)
                    .map(|part| Part::of(config, children, part))
                    .collect();
            });
            take_ready(rx, next, config.batch_size);
        });
    }
    let mut counts = vec![ItemCounts::default(); config.sources.len()];
    let mut written: std::io::Result<()> = Ok(());
    for part in &parts {
        for done in &part.items {
            let c = &mut counts[done.source];
            c.items += 1;
            if let Some(read) = done.bookmark {
                c.add_bookmark(read, signpost);
            }
            match &done.outcome {
                Outcome::Invalid { reason, rejected } => {
                    c.add_invalid(*reason);
                    if let (Some(line), Some(sink), true) =
                        (rejected, &mut out.rejected, written.is_ok())
                    {
                        written = sink.write_all(&part.buf[line.clone()]);
                    }
                }
                Outcome::Record { line, id, fields } => {
                    let id = std::str::from_utf8(&part.buf[id.clone()]).unwrap_or_default();
                    if !dedupe.insert(done.source, id) {
                        c.duplicates += 1;
                        continue;
                    }
                    hand_to_children(done, &fanout.children[done.source], &mut counts);
                    let c = &mut counts[done.source];
                    if !fanout.written[done.source] {
                        c.fetched_for_children += 1;
                    } else if written.is_ok() {
                        let record = &part.buf[line.clone()];
                        match out.records.record(done.source, done.received, record) {
                            Ok(Delivery::Taken) => {}
                            Ok(Delivery::Undelivered) => c.undelivered += 1,
                            Err(e) => written = Err(e),
                        }
                    }
                    c.add_record_fields(
                        &part.filled[fields.filled.clone()],
                        &part.filled[fields.bad.clone()],
                        &part.filled[fields.nulls.clone()],
                    );
                }
            }
        }
    }
    written.map(|()| counts)
}

/// A first-seen parent record's partitions, to each child; a partition
/// without a value for a field is counted as skipped by its child.
fn hand_to_children(
    done: &Done,
    children: &[(usize, Sender<Partition>)],
    counts: &mut [ItemCounts],
) {
    for (child, partition) in &done.fanout {
        match partition {
            Ok(partition) => {
                if let Some((_, tx)) = children.iter().find(|(c, _)| c == child) {
                    // A child that has stopped takes no more.
                    let _ = tx.send(partition.clone());
                }
            }
            Err(()) => counts[*child].partitions_skipped += 1,
        }
    }
}

/// Items one task of the pool takes at a time.
const PART_ITEMS: usize = 8;

/// Chunks of fewer items are parsed and normalized on the processor
/// thread itself: handing them to the pool costs more than it saves (the
/// other worker is woken, steals a few parts, then spins before it sleeps
/// again). Measured on the throughput bench's workload, 2 cores: with the
/// default `batch_size` of 50, the pool took 21 % more CPU and 20 % more
/// wall time than the processor thread alone; at 400-item chunks, 10 %
/// and 14 % more. A larger `batch_size` brings the pool in, which pays
/// when normalizing is the bottleneck and cores are free.
const PARALLEL_MIN_ITEMS: usize = 128;

/// A few items, parsed, normalized and written by one task of the pool.
#[derive(Default)]
struct Part {
    /// The lines and ids the items' outcomes point into.
    buf: Vec<u8>,
    /// The field indices records filled, nulled and found without a
    /// value, ranges of it per item.
    filled: Vec<u16>,
    items: Vec<Done>,
}

/// One item's outcome in a [`Part`].
struct Done {
    source: usize,
    /// When its page arrived (Singer's `time_extracted`).
    received: std::time::SystemTime,
    outcome: Outcome,
    /// An incremental source's bookmark field, read (valid items only).
    bookmark: Option<Result<Option<crate::record::bookmark::Bookmark>, ()>>,
    /// A parent record's partition for each of its children (by index),
    /// or `Err` when the item has no value for one of its fields.
    fanout: Vec<(usize, Result<Partition, ()>)>,
}

enum Outcome {
    /// A record: its JSON object and its id, in `buf`; the fields it
    /// filled and nulled, in `filled`.
    Record {
        line: Range<usize>,
        id: Range<usize>,
        fields: Fields,
    },
    /// Not a record: why (the schema's reason index), and the
    /// rejected.jsonl line when its source keeps rejected items.
    Invalid {
        reason: usize,
        rejected: Option<Range<usize>>,
    },
}

/// Where a record's filled, nulled and valueless field indices are in
/// `filled`.
struct Fields {
    filled: Range<usize>,
    bad: Range<usize>,
    nulls: Range<usize>,
}

impl Part {
    fn of(config: &Config, children: &[Vec<usize>], items: &[(&Batch, usize)]) -> Part {
        let mut part = Part::default();
        for &(batch, i) in items {
            let source = &config.sources[batch.source];
            let text = batch.item(i);
            let parsed = Node::parse(text);
            // The item inside its array element, where the source says
            // (a GraphQL edge's node); an element without it is read whole.
            let node = parsed.as_ref().map(|element| source.item(element));
            let mut result = match &node {
                Ok(node) => normalize(&source.name, node, &source.record),
                Err(Malformed) => Err(InvalidReason::MalformedItem),
            };
            if let (Ok(record), Some(inherited)) = (&mut result, &batch.inherited) {
                record.include = &inherited.include;
                record.scope = inherited.scope.as_deref();
            }
            let fanout = match (&result, &node) {
                (Ok(_), Ok(node)) => partitions_of(config, &children[batch.source], node),
                _ => Vec::new(),
            };
            let bookmark = match (&result, &node, &source.incremental) {
                (Ok(_), Ok(node), Some(inc)) => {
                    Some(inc.field.get(*node).map_or(Ok(None), |v| inc.kind.read(v)))
                }
                _ => None,
            };
            let outcome = match result {
                Ok(record) => part.record(&record),
                Err(reason) => {
                    let schema = &source.record;
                    let rejected = batch.page_url.as_ref().map(|page| {
                        let start = part.buf.len();
                        let name = schema.reason_name(reason);
                        write_rejected(
                            &mut part.buf,
                            &source.name,
                            &name,
                            page,
                            text,
                            // The element as it came.
                            parsed.as_ref().ok(),
                        );
                        start..part.buf.len()
                    });
                    Outcome::Invalid {
                        reason: schema.reason_index(reason),
                        rejected,
                    }
                }
            };
            part.items.push(Done {
                source: batch.source,
                received: batch.received,
                outcome,
                bookmark,
                fanout,
            });
        }
        part
    }

    fn record(&mut self, record: &Record<'_>) -> Outcome {
        let start = self.buf.len();
        record.write_json(&mut self.buf);
        let line = start..self.buf.len();
        let id_start = self.buf.len();
        self.buf.extend_from_slice(record.unique_id().as_bytes());
        let id = id_start..self.buf.len();
        let filled_start = self.filled.len();
        let set = record
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some());
        self.filled.extend(set.map(|(i, _)| i as u16));
        let bad_start = self.filled.len();
        self.filled.extend_from_slice(&record.bad);
        let nulls_start = self.filled.len();
        self.filled.extend_from_slice(&record.nulls);
        Outcome::Record {
            line,
            id,
            fields: Fields {
                filled: filled_start..bad_start,
                bad: bad_start..nulls_start,
                nulls: nulls_start..self.filled.len(),
            },
        }
    }
}

/// The partition a parent item stands for, for each of `children`.
fn partitions_of(
    config: &Config,
    children: &[usize],
    item: &Node<'_>,
) -> Vec<(usize, Result<Partition, ()>)> {
    children
        .iter()
        .filter_map(|&child| match &config.sources[child].partitions {
            Some(Partitions::Parent(parent)) => {
                Some((child, Partition::of_parent(parent, item).map_err(|_| ())))
            }
            _ => None,
        })
        .collect()
}

/// Moves what the queue holds right now into `chunk`, until it has
/// `limit` items.
fn take_ready(rx: &QueueRx, chunk: &mut Chunk, limit: usize) {
    while chunk.items < limit {
        match rx.try_recv() {
            Some(message) => chunk.push(message),
            None => break,
        }
    }
}

/// A line of `rejected.jsonl`: `{"source", "reason", "page_url", "item"}`,
/// the item as it came (written compactly); an item that could not be
/// parsed on its own is kept as its text, in `item_text`.
fn write_rejected(
    line: &mut Vec<u8>,
    source: &str,
    reason: &str,
    page_url: &str,
    text: &str,
    node: Option<&Node<'_>>,
) {
    line.extend_from_slice(b"{\"source\":");
    write_str(line, source);
    line.extend_from_slice(b",\"reason\":");
    write_str(line, reason);
    line.extend_from_slice(b",\"page_url\":");
    write_str(line, page_url);
    match node {
        Some(node) => {
            line.extend_from_slice(b",\"item\":");
            node.write_json(line);
        }
        None => {
            line.extend_from_slice(b",\"item_text\":");
            write_str(line, text);
        }
    }
    line.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::bounded;
    use std::time::SystemTime;

    /// What a sink was told, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum Event {
        Record(usize),
        Ended(usize, Option<Bookmark>),
        EndChunk,
        Drain,
    }

    /// A sink that writes records as `records.jsonl` would and logs every
    /// call.
    #[derive(Default)]
    struct Log {
        lines: Vec<u8>,
        events: Vec<Event>,
    }

    impl RecordSink for Log {
        fn record(
            &mut self,
            source: usize,
            _: SystemTime,
            record: &[u8],
        ) -> std::io::Result<Delivery> {
            self.lines.extend_from_slice(record);
            self.lines.push(b'\n');
            self.events.push(Event::Record(source));
            Ok(Delivery::Taken)
        }

        fn source_ended(&mut self, source: usize, ended: &Ended) -> std::io::Result<()> {
            self.events.push(Event::Ended(source, ended.greatest));
            Ok(())
        }

        fn end_chunk(&mut self) -> std::io::Result<Vec<usize>> {
            self.events.push(Event::EndChunk);
            Ok(Vec::new())
        }

        fn drain(&mut self) -> std::io::Result<Vec<usize>> {
            self.events.push(Event::Drain);
            Ok(Vec::new())
        }
    }

    /// Every item of `pages` pages of `per_page` items per source, queued
    /// before the processor starts, run through chunks of `batch_size`.
    /// Some items repeat an id, some have no price, one is not JSON.
    /// Source `a`'s end is queued after its last page, before `b`'s last
    /// page.
    /// Per source: items, records, invalid, duplicates.
    type Counts = Vec<(u64, u64, u64, u64)>;

    fn processed(batch_size: usize) -> (Log, Counts) {
        let doc = serde_json::json!({
            "batch_size": batch_size,
            "queue_capacity": 1_000_000,
            "sources": [{"name": "a", "url": "http://h/"}, {"name": "b", "url": "http://h/"}],
        });
        let mut doc = doc;
        for source in doc["sources"].as_array_mut().unwrap() {
            source["incremental"] =
                serde_json::json!({"field": "n", "param": "since", "type": "integer"});
        }
        let config = Config::parse("t", &doc.to_string()).unwrap();
        let (tx, rx) = bounded(config.queue_capacity);
        for page in 0..6 {
            for source in 0..2 {
                let texts: Vec<String> = (0..100)
                    .map(|i| match (page * 100 + i) % 37 {
                        0 => "{\"id\": 1, \"name\": \"again\", \"price\": 1}".to_string(),
                        5 => format!("{{\"id\": {i}, \"name\": \"free\"}}"),
                        _ => format!(
                            "{{\"id\": \"{source}-{page}-{i}\", \"name\": \"n{i}\", \"price\": \"{i}.5 EUR\", \"n\": {}}}",
                            source * 1000 + page * 100 + i
                        ),
                    })
                    .chain(std::iter::once("{\"id\": ".to_string()))
                    .collect();
                let mut body = String::from("[");
                let mut items = Vec::new();
                for text in &texts {
                    items.push(body.len()..body.len() + text.len());
                    body.push_str(text);
                    body.push(',');
                }
                body.push(']');
                let batch = Batch {
                    source,
                    body: Arc::new(body),
                    items,
                    page_url: None,
                    received: SystemTime::now(),
                    inherited: None,
                };
                tx.send_timeout(batch, std::time::Duration::from_secs(1))
                    .unwrap();
                if page == 5 && source == 0 {
                    tx.source_ended(0, Ended::new(true, 0, None)).unwrap();
                }
            }
        }
        tx.source_ended(1, Ended::new(true, 0, None)).unwrap();
        drop(tx);
        let stats = Arc::new(Mutex::new(Stats::for_config(&config)));
        let mut log = Log::default();
        let sinks = Sinks {
            records: &mut log,
            rejected: None,
        };
        run(&config, rx, sinks, &stats, Fanout::none(2)).unwrap();
        let stats = lock(&stats);
        let counts = stats
            .sources
            .iter()
            .map(|s| {
                let c = &s.counts;
                (c.items, c.records, c.invalid.iter().sum(), c.duplicates)
            })
            .collect();
        (log, counts)
    }

    #[test]
    fn a_source_ends_after_its_records_with_its_greatest_bookmark() {
        for batch_size in [10, 1_000] {
            let (log, _) = processed(batch_size);
            let events = &log.events;
            let at = |e: &Event| events.iter().position(|x| x == e);
            let last_record = |s: usize| events.iter().rposition(|e| *e == Event::Record(s));
            let greatest = |s: usize| Some(Bookmark::Integer(s as i128 * 1000 + 599));
            let a = at(&Event::Ended(0, greatest(0))).expect("a ends, with its bookmark");
            let b = at(&Event::Ended(1, greatest(1))).expect("b ends, with its bookmark");
            assert!(a > last_record(0).unwrap() && b > last_record(1).unwrap());
            // Each end comes before the end of its chunk, which passes it on.
            assert_eq!(events[b + 1], Event::EndChunk);
            assert_eq!(events.last(), Some(&Event::Drain));
        }
    }

    #[test]
    fn small_and_pooled_chunks_write_the_same_records_in_the_same_order() {
        const SMALL: usize = 10;
        const POOLED: usize = 1_000;
        const _: () = assert!(SMALL < PARALLEL_MIN_ITEMS && POOLED >= PARALLEL_MIN_ITEMS);
        let (inline, counts) = processed(SMALL);
        let (pooled, pooled_counts) = processed(POOLED);
        let (inline, pooled) = (inline.lines, pooled.lines);
        assert_eq!(counts, pooled_counts);
        assert!(inline.len() > 100_000);
        assert_eq!(inline, pooled, "byte for byte");
        for (items, records, invalid, duplicates) in counts {
            assert_eq!(items, 606);
            assert_eq!(items, records + invalid + duplicates);
            assert!(
                invalid >= 6 + 16 && duplicates >= 15,
                "{invalid} {duplicates}"
            );
        }
    }
}
