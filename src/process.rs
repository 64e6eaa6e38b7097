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
//! never held twice.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::aggregate::{ItemCounts, Stats};
use crate::config::Config;
use crate::control::lock;
use crate::dedupe::DedupeIndex;
use crate::fetch::Item;
use crate::normalize::normalize;

/// Where the processor writes: records, and the rejected items when any
/// source keeps them.
pub struct Sinks<'w, W: Write> {
    /// `records.jsonl`.
    pub records: &'w mut W,
    /// `rejected.jsonl`, when some source has `keep_rejected`.
    pub rejected: Option<&'w mut W>,
}

/// Drains `rx` until every sender is gone, writing records (and rejected
/// items) to `out`. Stops early only if a write fails; the error is
/// returned.
pub fn run<W: Write>(
    config: &Config,
    rx: Receiver<Item>,
    mut out: Sinks<'_, W>,
    stats: &Arc<Mutex<Stats>>,
) -> std::io::Result<()> {
    let mut dedupe = DedupeIndex::new(config.sources.len());
    let mut line = Vec::with_capacity(256);
    let mut chunk = Vec::with_capacity(config.batch_size);
    let mut next = Vec::with_capacity(config.batch_size);
    while let Ok(first) = rx.recv() {
        chunk.push(first);
        take_ready(&rx, &mut chunk, config.batch_size);
        loop {
            // Normalize this chunk on the pool while this thread takes the
            // next one off the channel, so fetchers are not kept waiting
            // for the whole chunk's work.
            let mut results = Vec::new();
            rayon::in_place_scope(|s| {
                s.spawn(|_| {
                    results = chunk
                        .par_iter()
                        .map(|item| {
                            let source = &config.sources[item.source];
                            normalize(&source.name, &item.value, &source.record)
                        })
                        .collect();
                });
                take_ready(&rx, &mut next, config.batch_size);
            });
            let mut counts = vec![ItemCounts::default(); config.sources.len()];
            let mut written: std::io::Result<()> = Ok(());
            for (item, result) in chunk.iter().zip(results) {
                let c = &mut counts[item.source];
                c.items += 1;
                match result {
                    Err(reason) => {
                        let schema = &config.sources[item.source].record;
                        c.add_invalid(schema.reason_index(reason));
                        if let (Some(page), Some(rejected), true) =
                            (&item.page, &mut out.rejected, written.is_ok())
                        {
                            let rejection = Rejected {
                                source: &config.sources[item.source].name,
                                reason: schema.reason_name(reason),
                                page_url: page,
                                item: &item.value,
                            };
                            written = write_line(*rejected, &mut line, &rejection);
                        }
                    }
                    Ok(record) if !dedupe.insert(item.source, &record.id) => c.duplicates += 1,
                    Ok(record) => {
                        if written.is_ok() {
                            written = write_line(out.records, &mut line, &record);
                        }
                        c.add_record(&record);
                    }
                }
            }
            lock(stats).add_items(&counts);
            written?;
            chunk.clear();
            std::mem::swap(&mut chunk, &mut next);
            if chunk.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

/// Moves what the channel holds right now into `chunk`, up to `limit`.
fn take_ready(rx: &Receiver<Item>, chunk: &mut Vec<Item>, limit: usize) {
    while chunk.len() < limit {
        match rx.try_recv() {
            Ok(item) => chunk.push(item),
            Err(_) => break,
        }
    }
}

/// A line of `rejected.jsonl`: an invalid item as it came, and why.
#[derive(Serialize)]
struct Rejected<'a> {
    source: &'a str,
    reason: String,
    page_url: &'a str,
    item: &'a Value,
}

/// Serializes `line_of` into the reused `line` buffer and writes it: no
/// allocation per line once the buffer has grown.
fn write_line(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    line_of: &impl Serialize,
) -> std::io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, line_of)?;
    line.push(b'\n');
    out.write_all(line)
}
