//! The processor: items in, records out.
//!
//! It takes items off the channel in chunks of up to `batch_size` (a chunk
//! is whatever the channel holds, so records flow even when sources are
//! slow) and normalizes each chunk in parallel with rayon — order-preserving
//! — while taking the next chunk off the channel, so fetchers are not kept
//! waiting for the work. Then, sequentially and in arrival order, it dedupes
//! and writes. Each source's items arrive in its page-then-item order (one
//! thread per source, FIFO channel), so "first wins" is the same whatever
//! the thread timing. Counters are added once per chunk. Invalid items of
//! a source with `keep_rejected` are written as they arrive to
//! `rejected.jsonl`, with their source, reason and page URL: the stream is
//! never held twice. Records go to `records.jsonl`, or to stdout
//! ([`StdoutSink`], flushed once per chunk, so a reader sees them while
//! the run goes on); a source's last message is the cue for its Singer
//! STATE, written after its records.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::aggregate::{ItemCounts, Stats};
use crate::config::Config;
use crate::control::lock;
use crate::dedupe::DedupeIndex;
use crate::node::{write_str, Malformed, Node};
use crate::normalize::{normalize, InvalidReason, Record};
use crate::queue::{Batch, QueueRx};
use crate::stdout::StdoutSink;

/// Where the processor writes: records, and the rejected items when any
/// source keeps them.
pub struct Sinks<'w, 'r, W: Write> {
    /// `records.jsonl` or stdout.
    pub records: RecordSink<'w, 'r, W>,
    /// `rejected.jsonl`, when some source has `keep_rejected`.
    pub rejected: Option<&'w mut W>,
}

/// Where records go.
pub enum RecordSink<'w, 'r, W: Write> {
    /// `records.jsonl`, one record per line.
    File(&'w mut W),
    /// stdout (`--stdout`, `--format singer`).
    Stdout(&'w mut StdoutSink<'r>),
}

/// Drains `rx` until every sender is gone, writing records (and rejected
/// items) to `out`. Stops early only if a write fails; the error is
/// returned.
pub fn run<W: Write>(
    config: &Config,
    rx: QueueRx,
    mut out: Sinks<'_, '_, W>,
    stats: &Arc<Mutex<Stats>>,
) -> std::io::Result<()> {
    let mut dedupe = DedupeIndex::new(config.sources.len());
    let mut line = Vec::with_capacity(256);
    let mut chunk: Vec<Batch> = Vec::new();
    let mut next: Vec<Batch> = Vec::new();
    while let Some(first) = rx.recv() {
        chunk.push(first);
        take_ready(&rx, &mut chunk, config.batch_size);
        loop {
            let counts = process_chunk(
                config,
                &rx,
                &chunk,
                &mut next,
                &mut dedupe,
                &mut out,
                &mut line,
            );
            let mut counts = counts?;
            if let RecordSink::Stdout(sink) = &mut out.records {
                for source in sink.flush()? {
                    counts[source].undelivered += 1;
                }
            }
            lock(stats).add_items(&counts);
            end_sources(&chunk, &mut out.records, stats)?;
            // The chunk's batches go, and with a page's last batch its body.
            chunk.clear();
            std::mem::swap(&mut chunk, &mut next);
            if chunk.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

/// Parses and normalizes one chunk's items in parallel — taking the next
/// chunk off the queue meanwhile, so fetchers are not kept waiting for the
/// work — then dedupes and writes them in arrival order. Returns the
/// chunk's counts per source.
fn process_chunk<W: Write>(
    config: &Config,
    rx: &QueueRx,
    chunk: &[Batch],
    next: &mut Vec<Batch>,
    dedupe: &mut DedupeIndex,
    out: &mut Sinks<'_, '_, W>,
    line: &mut Vec<u8>,
) -> std::io::Result<Vec<ItemCounts>> {
    let items: Vec<(&Batch, usize)> = chunk
        .iter()
        .flat_map(|b| (0..b.items.len()).map(move |i| (b, i)))
        .collect();
    let mut nodes = Vec::new();
    rayon::in_place_scope(|s| {
        s.spawn(|_| {
            nodes = items
                .par_iter()
                .map(|&(batch, i)| Node::parse(batch.item(i)))
                .collect();
        });
        take_ready(rx, next, config.batch_size);
    });
    let results: Vec<Result<Record<'_>, InvalidReason>> = items
        .par_iter()
        .zip(&nodes)
        .map(|(&(batch, _), node)| {
            let source = &config.sources[batch.source];
            match node {
                Ok(node) => normalize(&source.name, node, &source.record),
                Err(Malformed) => Err(InvalidReason::MalformedItem),
            }
        })
        .collect();
    let mut counts = vec![ItemCounts::default(); config.sources.len()];
    let mut written: std::io::Result<()> = Ok(());
    for ((&(batch, i), result), node) in items.iter().zip(results).zip(&nodes) {
        let c = &mut counts[batch.source];
        c.items += 1;
        if let (Ok(_), Ok(node), Some(inc)) =
            (&result, node, &config.sources[batch.source].incremental)
        {
            c.add_bookmark(inc.field.get(node).map_or(Ok(None), |v| inc.kind.read(v)));
        }
        match result {
            Err(reason) => {
                let schema = &config.sources[batch.source].record;
                c.add_invalid(schema.reason_index(reason));
                if let (Some(page), Some(rejected), true) =
                    (&batch.page_url, &mut out.rejected, written.is_ok())
                {
                    line.clear();
                    let source = &config.sources[batch.source].name;
                    let reason = schema.reason_name(reason);
                    write_rejected(
                        line,
                        source,
                        &reason,
                        page,
                        batch.item(i),
                        node.as_ref().ok(),
                    );
                    written = rejected.write_all(line);
                }
            }
            Ok(record) if !dedupe.insert(batch.source, &record.id) => c.duplicates += 1,
            Ok(record) => {
                match &mut out.records {
                    RecordSink::File(file) if written.is_ok() => {
                        line.clear();
                        record.write_json(line);
                        line.push(b'\n');
                        written = file.write_all(line);
                    }
                    RecordSink::File(_) => {}
                    RecordSink::Stdout(sink) => {
                        if !sink.record(batch.source, batch.received, &record) {
                            c.undelivered += 1;
                        }
                    }
                }
                c.add_record(&record);
            }
        }
    }
    written.map(|()| counts)
}

/// Writes the Singer STATE of each source whose last message is in
/// `chunk`, after its records (which the chunk, or an earlier one, held),
/// with the greatest bookmark its items had.
fn end_sources<W: Write>(
    chunk: &[Batch],
    records: &mut RecordSink<'_, '_, W>,
    stats: &Arc<Mutex<Stats>>,
) -> std::io::Result<()> {
    let RecordSink::Stdout(sink) = records else {
        return Ok(());
    };
    let mut any = false;
    for batch in chunk {
        if let Some(ended) = &batch.ended {
            let greatest = lock(stats).sources[batch.source].counts.bookmark;
            sink.source_ended(
                batch.source,
                &crate::state::Ended {
                    greatest,
                    ..(**ended).clone()
                },
            );
            any = true;
        }
    }
    if any {
        sink.flush()?;
    }
    Ok(())
}

/// Moves what the queue holds right now into `chunk`, until it has
/// `limit` items.
fn take_ready(rx: &QueueRx, chunk: &mut Vec<Batch>, limit: usize) {
    let mut items: usize = chunk.iter().map(|b| b.items.len()).sum();
    while items < limit {
        match rx.try_recv() {
            Some(batch) => {
                items += batch.items.len();
                chunk.push(batch);
            }
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
