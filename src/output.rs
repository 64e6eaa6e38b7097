//! The run's outputs: `records.jsonl`, `summary.json`, and the end table.
//!
//! Both files are written atomically: into a temporary file in the same
//! directory, flushed to disk, then renamed over the final name — records
//! first, summary last — so a final name never holds half a file and a
//! previous run's outputs stay until replaced.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::aggregate::{rate, ItemCounts, SourceStats, Stats, WaitCause, ERROR_KINDS};
use crate::control::lock;
use crate::error::Error;
use crate::normalize::InvalidReason;

/// Name of the records file in the output directory.
pub const RECORDS_FILE: &str = "records.jsonl";
/// Name of the summary file in the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// Temporary files being written, so that a forced exit (a second Ctrl-C)
/// can remove them: nothing else would ever clean them up.
static OPEN_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary output file still being written. For the forced
/// exit only: the files' owners are about to vanish with the process.
pub fn remove_temp_files() {
    for tmp in lock(&OPEN_TEMPS).drain(..) {
        let _ = fs::remove_file(tmp);
    }
}

/// A file that appears under its final name only when complete.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: BufWriter<File>,
}

impl AtomicFile {
    /// Creates `dir` if needed and opens a temporary file beside `name`.
    pub fn create(dir: &Path, name: &str) -> Result<Self, Error> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Output { path, source }
        };
        check_target(dir, name)?;
        fs::create_dir_all(dir).map_err(err(dir))?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(err(&tmp))?;
        lock(&OPEN_TEMPS).push(tmp.clone());
        Ok(Self {
            tmp,
            path,
            writer: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// The writer for the file's content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let mut finish = || -> std::io::Result<()> {
            self.writer.flush()?;
            self.writer.get_ref().sync_all()?;
            fs::rename(&self.tmp, &self.path)
        };
        match finish() {
            Ok(()) => Ok(self.path.clone()),
            Err(source) => Err(Error::Output {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// A file never committed (a failed run, a failed write) leaves no
/// temporary file behind; after a commit there is none left to remove.
impl Drop for AtomicFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
        lock(&OPEN_TEMPS).retain(|t| *t != self.tmp);
    }
}

/// Fails if `dir/name` can plainly never be written: `dir` is a file, or
/// `name` in it is a directory. Checked for both outputs before a run
/// fetches anything, not found after the whole run when a rename fails.
pub fn check_target(dir: &Path, name: &str) -> Result<(), Error> {
    let problem = if dir.exists() && !dir.is_dir() {
        Some((dir.to_path_buf(), std::io::ErrorKind::NotADirectory))
    } else if dir.join(name).is_dir() {
        Some((dir.join(name), std::io::ErrorKind::IsADirectory))
    } else {
        None
    };
    match problem {
        Some((path, kind)) => Err(Error::Output {
            path,
            source: kind.into(),
        }),
        None => Ok(()),
    }
}

/// Writes `value` as pretty JSON to `dir/name`, atomically.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> Result<PathBuf, Error> {
    let mut file = AtomicFile::create(dir, name)?;
    let path = dir.join(name);
    serde_json::to_writer_pretty(file.writer(), value)
        .map_err(std::io::Error::from)
        .and_then(|()| file.writer().write_all(b"\n"))
        .map_err(|source| Error::Output { path, source })?;
    file.commit()
}

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
    let mut totals = Map::new();
    totals.insert("requests".into(), json!(t.requests));
    totals.insert("pages".into(), json!(t.pages));
    totals.insert("failed_pages".into(), json!(t.failed_pages));
    totals.insert("retries".into(), json!(t.retries));
    add_counts(&mut totals, &t.counts, t.pages, t.requests);
    doc.insert("totals".into(), Value::Object(totals));
    let sources: Map<String, Value> = stats
        .sources
        .iter()
        .map(|s| (s.name.clone(), source_summary(s)))
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

fn source_summary(s: &SourceStats) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!(s.status.as_str()));
    m.insert("requests".into(), json!(s.requests));
    m.insert("pages".into(), json!(s.pages));
    m.insert("failed_pages".into(), json!(s.failed_pages));
    m.insert("retries".into(), json!(s.retries));
    add_counts(&mut m, &s.counts, s.pages, s.requests);
    let responses: Map<String, Value> = s
        .responses
        .iter()
        .map(|(code, n)| (code.to_string(), json!(n)))
        .collect();
    m.insert("responses".into(), Value::Object(responses));
    let errors: Map<String, Value> = ERROR_KINDS
        .iter()
        .map(|k| (k.to_string(), json!(s.errors.get(k).copied().unwrap_or(0))))
        .collect();
    m.insert("errors".into(), Value::Object(errors));
    let invalid: Map<String, Value> = InvalidReason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), json!(s.counts.invalid[*r as usize])))
        .collect();
    m.insert("invalid_reasons".into(), Value::Object(invalid));
    let retries: Map<String, Value> = s
        .retries_by_cause
        .iter()
        .map(|(k, n)| (k.clone(), json!(n)))
        .collect();
    m.insert("retries_by_cause".into(), Value::Object(retries));
    let ms = |c| json!(s.wait(c).as_millis() as u64);
    m.insert(
        "waits_ms".into(),
        json!({
            "rate_limit": ms(WaitCause::RateLimit),
            "backoff": ms(WaitCause::Backoff),
            "retry_after": ms(WaitCause::RetryAfter),
            "breaker": ms(WaitCause::Breaker),
        }),
    );
    m.insert("breaker_opens".into(), json!(s.breaker_opens));
    let mut sorted = s.latencies_ms.clone();
    sorted.sort_unstable();
    m.insert(
        "latency_ms".into(),
        json!({
            "p50": crate::aggregate::percentile(&sorted, 50.0),
            "p95": crate::aggregate::percentile(&sorted, 95.0),
            "max": sorted.last().copied().unwrap_or(0),
        }),
    );
    m.insert("failed_page_urls".into(), json!(s.failed_page_urls));
    m.insert("stopped_at_url".into(), json!(s.stopped_at_url));
    Value::Object(m)
}

/// `2026-11-28T12:00:00Z` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let (date, secs, _) = civil(t);
    format!("{date}T{}Z", clock(secs))
}

/// `2026-11-28T12:00:00.123Z` (UTC, milliseconds), for log lines.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (date, secs, millis) = civil(t);
    format!("{date}T{}.{millis:03}Z", clock(secs))
}

/// The UTC date of `t`, the seconds into its day, and the milliseconds.
fn civil(t: SystemTime) -> (String, u64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant's algorithm), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}-{month:02}-{day:02}");
    (date, rem, since.subsec_millis())
}

/// `hh:mm:ss` of seconds into a day.
fn clock(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The short human-readable table printed at the end of a run, then the
/// paths of the outputs (`records` is `None` when this run wrote none).
pub fn end_table(stats: &Stats, status: &str, records: Option<&Path>, summary: &Path) -> String {
    let mut s = String::new();
    let header = [
        "source", "status", "pages", "items", "records", "invalid", "dupes", "retries", "opens",
        "p95 ms",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for src in &stats.sources {
        let c = &src.counts;
        rows.push(vec![
            src.name.clone(),
            src.status.as_str().to_string(),
            src.pages.to_string(),
            c.items.to_string(),
            c.records.to_string(),
            c.invalid_total().to_string(),
            c.duplicates.to_string(),
            src.retries.to_string(),
            src.breaker_opens.to_string(),
            src.latency_percentile(95.0).to_string(),
        ]);
    }
    let t = stats.totals();
    rows.push(vec![
        "total".into(),
        status.to_string(),
        t.pages.to_string(),
        t.counts.items.to_string(),
        t.counts.records.to_string(),
        t.counts.invalid_total().to_string(),
        t.counts.duplicates.to_string(),
        t.retries.to_string(),
        stats
            .sources
            .iter()
            .map(|s| s.breaker_opens)
            .sum::<u64>()
            .to_string(),
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
    match records {
        Some(path) => s.push_str(&format!("records: {}\n", path.display())),
        None => s.push_str("records: not written (see the summary's error)\n"),
    }
    s.push_str(&format!("summary: {}\n", summary.display()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_867_200);
        assert_eq!(rfc3339(t), "2026-11-28T12:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
        assert_eq!(rfc3339(leap), "2000-02-29T23:59:59Z");
        let t = leap + Duration::from_millis(7);
        assert_eq!(rfc3339_millis(t), "2000-02-29T23:59:59.007Z");
        assert_eq!(
            rfc3339_millis(t + Duration::from_millis(993)),
            "2000-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = std::env::temp_dir().join(format!("ingest-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut f = AtomicFile::create(&dir, "x.json").unwrap();
        f.writer().write_all(b"hello").unwrap();
        assert!(!dir.join("x.json").exists());
        let path = f.commit().unwrap();
        assert_eq!(fs::read_to_string(path).unwrap(), "hello");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        // Dropped without a commit: the old file stays, the new one vanishes.
        let mut f = AtomicFile::create(&dir, "x.json").unwrap();
        f.writer().write_all(b"half").unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(dir.join("x.json")).unwrap(), "hello");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temporary removed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
