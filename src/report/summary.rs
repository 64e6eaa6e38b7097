//! What a run reports: the `summary.json` document (SPEC §6) and the
//! table printed at the end.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::error::{ErrorKind, RetryCause};
use crate::fetch::outcome::{percentile, WaitCause};
use crate::process::stats::{rate, ItemCounts, SourceStats, Stats};
use crate::time::rfc3339;

/// The run-level facts the summary needs besides the counters.
#[derive(Debug)]
pub struct RunFacts<'a> {
    /// `complete`, `partial`, `interrupted` or `failed`.
    pub status: &'a str,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Time from process start to the summary.
    pub duration: Duration,
    /// The effective config, redacted.
    pub config: Value,
    /// The internal failure, when `status` is `failed`.
    pub error: Option<String>,
    /// Where the records went, when it was stdout.
    pub stdout: Option<StdoutFacts<'a>>,
}

/// A run whose records went to stdout (`--stdout`, `--format singer`).
#[derive(Debug, Clone, Copy)]
pub struct StdoutFacts<'a> {
    /// `jsonl` or `singer`.
    pub format: &'a str,
    /// The reader went away before the end: the records made after that
    /// are counted in `undelivered`.
    pub closed: bool,
}

/// The whole `summary.json` document (SPEC §6).
pub fn summary(facts: RunFacts<'_>, stats: &Stats) -> Value {
    let t = stats.totals();
    let mut doc = Map::new();
    doc.insert("status".into(), json!(facts.status));
    if let Some(error) = facts.error {
        doc.insert("error".into(), json!(error));
    }
    doc.insert("started_at".into(), json!(rfc3339(facts.started_at)));
    doc.insert(
        "duration_ms".into(),
        json!(facts.duration.as_millis() as u64),
    );
    doc.insert("config".into(), facts.config);
    if let Some(stdout) = facts.stdout {
        doc.insert(
            "stdout".into(),
            json!({ "format": stdout.format, "closed": stdout.closed }),
        );
    }
    let on_stdout = facts.stdout.is_some();
    let mut totals = Map::new();
    totals.insert("requests".into(), json!(t.requests));
    totals.insert("pages".into(), json!(t.pages));
    totals.insert("failed_pages".into(), json!(t.failed_pages));
    totals.insert("retries".into(), json!(t.retries));
    add_counts(&mut totals, &t.counts, t.pages, t.requests);
    if on_stdout {
        totals.insert("undelivered".into(), json!(t.counts.undelivered));
    }
    let warnings: usize = stats.sources.iter().map(|s| s.warnings.len()).sum();
    totals.insert("warnings".into(), json!(warnings));
    doc.insert("totals".into(), Value::Object(totals));
    let sources: Map<String, Value> = stats
        .sources
        .iter()
        .map(|s| (s.name.clone(), source_summary(s, on_stdout)))
        .collect();
    doc.insert("sources".into(), Value::Object(sources));
    Value::Object(doc)
}

fn add_counts(map: &mut Map<String, Value>, c: &ItemCounts, pages: u64, requests: u64) {
    map.insert("items".into(), json!(c.items));
    map.insert("records".into(), json!(c.records));
    map.insert("invalid".into(), json!(c.invalid_total()));
    map.insert("duplicates".into(), json!(c.duplicates));
    map.insert("request_success_rate".into(), json!(rate(pages, requests)));
    map.insert(
        "record_success_rate".into(),
        json!(rate(c.records, c.items)),
    );
}

fn source_summary(s: &SourceStats, on_stdout: bool) -> Value {
    let f = &s.fetch;
    let mut m = Map::new();
    m.insert("status".into(), json!(s.status.as_str()));
    m.insert("requests".into(), json!(f.requests));
    m.insert("pages".into(), json!(f.pages));
    m.insert("failed_pages".into(), json!(f.failed_pages));
    // Said for sources with `on_response` rules, so that the summary of
    // a source without any reads as before.
    if let Some(rules) = &f.rules {
        m.insert("skipped_pages".into(), json!(rules.skipped_pages));
    }
    m.insert("retries".into(), json!(f.retries));
    m.insert("resends".into(), json!(f.resends));
    // Said for sources that send requests ahead (`concurrency`), so that
    // the summary of one that does not reads as before.
    if s.concurrent {
        m.insert("speculative_requests".into(), json!(f.speculative_requests));
    }
    add_counts(&mut m, &s.counts, f.pages, f.requests);
    if on_stdout {
        m.insert("undelivered".into(), json!(s.counts.undelivered));
    }
    let responses: Map<String, Value> = f
        .responses
        .iter()
        .map(|(code, n)| (code.to_string(), json!(n)))
        .collect();
    m.insert("responses".into(), Value::Object(responses));
    // `auth` is said for sources that authenticate (or somehow failed so),
    // `rule` for sources with `on_response` rules.
    let errors: Map<String, Value> = ErrorKind::ALL
        .iter()
        .filter(|&&k| match k {
            ErrorKind::Auth => s.authenticated || f.error(k) > 0,
            ErrorKind::Graphql => s.graphql || f.error(k) > 0,
            ErrorKind::Rule => f.rules.is_some() || f.error(k) > 0,
            _ => true,
        })
        .map(|&k| (k.as_str().to_string(), json!(f.error(k))))
        .collect();
    m.insert("errors".into(), Value::Object(errors));
    if let Some(rules) = &f.rules {
        // Every rule, by its index in `on_response`: one that never
        // matched says so with its 0.
        let matched: Map<String, Value> = (rules.matched.iter().enumerate())
            .map(|(i, n)| (i.to_string(), json!(n)))
            .collect();
        m.insert("rules_matched".into(), Value::Object(matched));
    }
    if s.oauth2 {
        let a = f.auth;
        m.insert(
            "auth".into(),
            json!({"token_requests": a.token_requests, "refreshes": a.refreshes,
                   "forced_refreshes": a.forced_refreshes}),
        );
    }
    let count = |counts: &[u64], i: usize| counts.get(i).copied().unwrap_or(0);
    let invalid: Map<String, Value> = (s.reasons.iter().enumerate())
        .map(|(i, r)| (r.clone(), json!(count(&s.counts.invalid, i))))
        .collect();
    m.insert("invalid_reasons".into(), Value::Object(invalid));
    // Declared fields, then the bookmark field (one key when they are the
    // same field: the counts add up).
    let mut bad_values: Map<String, Value> = Map::new();
    let bookmark = s.bookmark_field.clone().map(|f| (f, s.counts.bookmark_bad));
    let fields = s.fields.iter().enumerate();
    let counted = fields.map(|(i, f)| (f.clone(), count(&s.counts.bad_values, i)));
    for (field, n) in counted.chain(bookmark).filter(|(_, n)| *n > 0) {
        let sum = bad_values.get(&field).and_then(Value::as_u64).unwrap_or(0) + n;
        bad_values.insert(field, json!(sum));
    }
    m.insert("bad_values".into(), Value::Object(bad_values));
    let retries: Map<String, Value> = RetryCause::ALL
        .iter()
        .filter(|&&c| c.always_shown() || f.retries_for(c) > 0)
        .map(|&c| (c.as_str().to_string(), json!(f.retries_for(c))))
        .collect();
    m.insert("retries_by_cause".into(), Value::Object(retries));
    let waits: Map<String, Value> = WaitCause::ALL
        .iter()
        .map(|&c| (c.as_str().to_string(), json!(f.wait(c).as_millis() as u64)))
        .collect();
    m.insert("waits_ms".into(), Value::Object(waits));
    m.insert("breaker_opens".into(), json!(f.breaker_opens));
    let mut sorted = f.latencies_ms.clone();
    sorted.sort_unstable();
    m.insert(
        "latency_ms".into(),
        json!({
            "p50": percentile(&sorted, 50.0),
            "p95": percentile(&sorted, 95.0),
            "max": sorted.last().copied().unwrap_or(0),
        }),
    );
    fanout_fields(&mut m, s);
    m.insert("failed_page_urls".into(), json!(s.failed_page_urls));
    m.insert("failed_page_errors".into(), json!(s.failed_page_errors));
    m.insert(
        "stop_reason".into(),
        json!(s.stop_reason.as_ref().map(ToString::to_string)),
    );
    m.insert("stopped_at_url".into(), json!(s.stopped_at_url));
    m.insert("warnings".into(), json!(s.warnings));
    if s.stateful || s.bookmark_sent.is_some() {
        m.insert("resumed_from".into(), json!(s.resumed_from));
        m.insert("bookmark_sent".into(), json!(s.bookmark_sent));
        m.insert("bookmark_saved".into(), json!(s.bookmark_saved));
    }
    Value::Object(m)
}

/// A partitioned source's `partitions` and `failed_partitions`, and a
/// parent's `fetched_for_children` (SPEC §12): said only where they apply.
fn fanout_fields(m: &mut Map<String, Value>, s: &SourceStats) {
    if s.counts.fetched_for_children > 0 {
        m.insert(
            "fetched_for_children".into(),
            json!(s.counts.fetched_for_children),
        );
    }
    if let Some(p) = &s.partitions {
        m.insert(
            "partitions".into(),
            json!({"total": p.total, "complete": p.complete, "failed": p.failed,
                   "skipped": s.counts.partitions_skipped, "done_before": p.done_before}),
        );
        let failed: Vec<Value> = p
            .failed_list
            .iter()
            .map(|(partition, reason)| json!({"partition": partition, "reason": reason}))
            .collect();
        m.insert("failed_partitions".into(), Value::Array(failed));
    }
}

/// Where a run's outputs were written, for the end table.
#[derive(Debug, Clone, Copy)]
pub struct OutputPaths<'a> {
    /// `records.jsonl`; `None` when this run wrote none.
    pub records: Option<&'a Path>,
    /// The records went to stdout instead.
    pub stdout: bool,
    /// `rejected.jsonl`, when written.
    pub rejected: Option<&'a Path>,
    /// `summary.json`.
    pub summary: &'a Path,
}

/// The short human-readable table printed at the end of a run, then each
/// source's stop reason and warnings, one line each, then the paths of the
/// outputs (`records` is `None` when this run wrote none).
pub fn end_table(stats: &Stats, status: &str, files: &OutputPaths<'_>) -> String {
    let mut s = String::new();
    // `lost`: pages given up. Breaker openings are in the summary and in
    // the stop reason, so the table keeps to 80 columns.
    let header = [
        "source", "status", "pages", "lost", "items", "records", "invalid", "dupes", "retries",
        "p95 ms",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for src in &stats.sources {
        let c = &src.counts;
        rows.push(vec![
            src.name.clone(),
            src.status.as_str().to_string(),
            src.fetch.pages.to_string(),
            src.fetch.failed_pages.to_string(),
            c.items.to_string(),
            c.records.to_string(),
            c.invalid_total().to_string(),
            c.duplicates.to_string(),
            src.fetch.retries.to_string(),
            src.fetch.latency_percentile(95.0).to_string(),
        ]);
    }
    let t = stats.totals();
    rows.push(vec![
        "total".into(),
        status.to_string(),
        t.pages.to_string(),
        t.failed_pages.to_string(),
        t.counts.items.to_string(),
        t.counts.records.to_string(),
        t.counts.invalid_total().to_string(),
        t.counts.duplicates.to_string(),
        t.retries.to_string(),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
        if n == 0 || n == rows.len() - 2 {
            s.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            s.push('\n');
        }
    }
    for src in &stats.sources {
        if let Some(reason) = &src.stop_reason {
            s.push_str(&format!("stop_reason: {}: {reason}\n", src.name));
        }
        for warning in &src.warnings {
            s.push_str(&format!("warning: {}: {warning}\n", src.name));
        }
    }
    let undelivered = t.counts.undelivered;
    match (files.records, files.stdout) {
        (_, true) if undelivered > 0 => s.push_str(&format!(
            "records: stdout ({undelivered} of {} not delivered: the reader went away or fell behind)\n",
            t.counts.records
        )),
        (_, true) => s.push_str("records: stdout\n"),
        (Some(path), false) => s.push_str(&format!("records: {}\n", path.display())),
        (None, false) => s.push_str("records: not written (see the summary's error)\n"),
    }
    if let Some(path) = files.rejected {
        s.push_str(&format!("rejected: {}\n", path.display()));
    }
    s.push_str(&format!("summary: {}\n", files.summary.display()));
    s
}
