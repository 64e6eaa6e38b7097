//! The processor: items in, records out.
//!
//! It takes items off the channel in chunks of up to `batch_size` (a chunk
//! is whatever the channel holds, so records flow even when sources are
//! slow) and normalizes each chunk in parallel with rayon — order-preserving
//! — while taking the next chunk off the channel, so fetchers are not kept
//! waiting for the work. Then, sequentially and in arrival order, it dedupes
//! and writes. Each source's items arrive in its page-then-item order (one
//! thread per source, FIFO channel), so "first wins" is the same whatever
//! the thread timing. Counters are added once per chunk.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;
use rayon::prelude::*;

use crate::aggregate::{ItemCounts, Stats};
use crate::config::Config;
use crate::control::lock;
use crate::dedupe::DedupeIndex;
use crate::fetch::Item;
use crate::normalize::{normalize, Record};

/// Drains `rx` until every sender is gone, writing records to `out`.
/// Stops early only if `out` fails; the error is returned.
pub fn run(
    config: &Config,
    rx: Receiver<Item>,
    out: &mut impl Write,
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
                    }
                    Ok(record) if !dedupe.insert(item.source, &record.id) => c.duplicates += 1,
                    Ok(record) => {
                        if written.is_ok() {
                            written = write_line(out, &mut line, &record);
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

/// Serializes `record` into the reused `line` buffer and writes it: no
/// allocation per record once the buffer has grown.
fn write_line(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    record: &Record<'_>,
) -> std::io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, record)?;
    line.push(b'\n');
    out.write_all(line)
}
