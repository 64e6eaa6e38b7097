//! Measurements 2 and 3: unthrottled throughput and CPU against two
//! baselines, and peak memory at 30 thousand and 3 million items.
//!
//! The 3-million-item run *is* the throughput run (3 sources × 10 000
//! pages × 100 items, rate limit effectively off, ~30 s here): one mock
//! start (its data takes a few seconds to generate) serves the pipeline
//! run, then the *parse to `Value`* baseline, then the *fetch only* one
//! (`baseline.rs`), all three fetching exactly the same pages. The 30k
//! run uses its own small mock (3 × 100 pages × 100 items).
//!
//! All three are child processes timed the same way: wall clock from
//! spawn to exit (the pipeline's startup and both outputs included), CPU
//! as user + system time of all their threads. Since they fetch the same
//! pages, a baseline's "records/s" and "CPU per record" use the
//! pipeline's record count (so the throughput ratio is parse-to-`Value`
//! wall / pipeline wall, and a CPU ratio is one CPU time over the other),
//! and MB/s is the response body bytes (counted by the parse baseline)
//! over the pipeline's wall time.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::baseline::{self, Baseline, Kind};
use crate::child::{run_watched, MockProcess, Usage};
use crate::pacing::round;

pub const ITEMS_PER_PAGE: usize = 100;
const SMALL_PAGES: usize = 100;

/// Policies for an unthrottled run that must not stop early.
fn unthrottled() -> Value {
    json!({
        "rate_limit": { "per_second": 1_000_000, "burst": 1_000 },
        "max_pages": 1_000_000,
        "deadline_ms": 3_600_000,
    })
}

/// One watched `ingest run` and what its summary says.
#[derive(Debug)]
pub struct PipelineRun {
    pub usage: Usage,
    pub summary: Value,
    /// Mock CPU seconds spent during the run.
    pub mock_cpu_s: f64,
}

impl PipelineRun {
    pub fn total(&self, key: &str) -> u64 {
        self.summary["totals"][key].as_u64().unwrap_or(0)
    }
}

fn run_pipeline(bin: &Path, mock: &MockProcess, tmp: &Path, tag: &str) -> PipelineRun {
    let config_path = tmp.join(format!("{tag}.json"));
    let out = tmp.join(format!("{tag}-out"));
    std::fs::write(&config_path, mock.config_with(&unthrottled()).to_string())
        .expect("write config");
    let mock_before = mock.cpu_s();
    let usage = run_watched(
        Command::new(bin)
            .args(["run", "--no-progress", "--config"])
            .arg(&config_path)
            .arg("--out")
            .arg(&out)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
        Duration::from_secs(600),
    );
    let mock_cpu_s = mock.cpu_s() - mock_before;
    assert!(usage.status.success(), "{tag} run: {}", usage.status);
    let summary: Value = serde_json::from_slice(
        &std::fs::read(out.join("summary.json")).expect("read summary.json"),
    )
    .expect("parse summary.json");
    PipelineRun {
        usage,
        summary,
        mock_cpu_s,
    }
}

/// Average byte length of the `id` of the records in `records.jsonl`.
fn average_id_len(records: &Path) -> f64 {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let file = std::fs::File::open(records).expect("open records.jsonl");
    let (mut n, mut bytes) = (0u64, 0u64);
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line.expect("read records.jsonl");
        let rec: IdOnly = serde_json::from_str(&line).expect("parse a record");
        n += 1;
        bytes += rec.id.len() as u64;
    }
    bytes as f64 / n.max(1) as f64
}

pub struct Results {
    pub throughput: Value,
    pub memory: Value,
    pub notes: Vec<String>,
}

pub fn measure(bin: &Path, tmp: &Path, big_pages: usize) -> Results {
    let mut notes = Vec::new();
    // 30k: its own small mock.
    let small = {
        let mock = MockProcess::start(bin, SMALL_PAGES, ITEMS_PER_PAGE);
        run_pipeline(bin, &mock, tmp, "small")
    };

    let mock = MockProcess::start(bin, big_pages, ITEMS_PER_PAGE);
    eprintln!(
        "bench: mock with {} items ready in {:.1} s",
        3 * big_pages * ITEMS_PER_PAGE,
        mock.startup.as_secs_f64()
    );
    let big = run_pipeline(bin, &mock, tmp, "big");
    eprintln!("bench: baseline: parse to Value ...");
    let parse = baseline::run(Kind::ParseToValue, &mock, tmp);
    eprintln!("bench: baseline: fetch only ...");
    let fetch = baseline::run(Kind::FetchOnly, &mock, tmp);
    drop(mock);
    let avg_id_len = average_id_len(&tmp.join("big-out").join("records.jsonl"));
    let _ = std::fs::remove_dir_all(tmp.join("big-out"));

    let records = big.total("records") as f64;
    let items = big.total("items") as f64;
    let wall = big.usage.wall.as_secs_f64();
    for (name, base) in [("parse to Value", &parse), ("fetch only", &fetch)] {
        if base.walked.requests != big.total("requests") {
            notes.push(format!(
                "the {name} baseline sent {} requests, the pipeline {}: the comparison is off",
                base.walked.requests,
                big.total("requests")
            ));
        }
    }
    if fetch.walked.bytes != parse.walked.bytes {
        notes.push(format!(
            "fetch only read {} bytes, parse to Value {}: not the same pages",
            fetch.walked.bytes, parse.walked.bytes
        ));
    }
    let cpu_per_million = |cpu_s: f64| round(cpu_s / records * 1e6, 3);
    let side = |b: &Baseline| {
        let wall = b.usage.wall.as_secs_f64();
        json!({
            "records_per_s": round(records / wall, 0),
            "mb_per_s": round(b.walked.bytes as f64 / 1e6 / wall, 2),
            "cpu_s_per_million": cpu_per_million(b.usage.cpu_s),
            "wall_s": round(wall, 3),
            "cpu_s": round(b.usage.cpu_s, 2),
            "peak_rss_mib": round(b.usage.peak_rss_kib as f64 / 1024.0, 2),
            "mock_cpu_s": round(b.mock_cpu_s, 2),
            "mock_cores_busy": round(b.mock_cpu_s / wall, 2),
            "requests": b.walked.requests,
            "response_bytes": b.walked.bytes,
            "source_wall_s": b.per_source_s,
        })
    };
    let parse_wall = parse.usage.wall.as_secs_f64();
    let throughput = json!({
        "records_per_s": round(records / wall, 0),
        // Pipeline records/s ÷ parse-to-Value records/s.
        "ratio": round(parse_wall / wall, 3),
        "mb_per_s": round(parse.walked.bytes as f64 / 1e6 / wall, 2),
        "cpu_s_per_million": cpu_per_million(big.usage.cpu_s),
        "cpu_ratio_to_parse": round(big.usage.cpu_s / parse.usage.cpu_s, 3),
        "cpu_ratio_to_fetch": round(big.usage.cpu_s / fetch.usage.cpu_s, 3),
        "items_per_s": round(items / wall, 0),
        "wall_s": round(wall, 3),
        "summary_duration_ms": big.summary["duration_ms"],
        "cpu_s": round(big.usage.cpu_s, 2),
        "mock_cpu_s": round(big.mock_cpu_s, 2),
        // Cores the mock kept busy: near 1 of 2, it is what limits both.
        "mock_cores_busy": round(big.mock_cpu_s / wall, 2),
        "parse_to_value": side(&parse),
        "fetch_only": side(&fetch),
        "requests": big.total("requests"),
        "items": big.total("items"),
        "records": big.total("records"),
        "response_bytes": parse.walked.bytes,
        "status": big.summary["status"],
        "source_status": big.summary["sources"].as_object().map(|m| m.iter()
            .map(|(k, v)| (k.clone(), v["status"].clone())).collect::<serde_json::Map<_, _>>()),
    });

    let mib = |kib: u64| kib as f64 / 1024.0;
    let distinct = big.total("records") as f64 - small.total("records") as f64;
    let growth = (big.usage.peak_rss_kib as f64 - small.usage.peak_rss_kib as f64) * 1024.0
        / distinct.max(1.0);
    let memory = json!({
        "rss_30k_mib": round(mib(small.usage.peak_rss_kib), 2),
        "rss_3m_mib": round(mib(big.usage.peak_rss_kib), 2),
        "growth_bytes_per_record": round(growth, 1),
        "avg_id_len": round(avg_id_len, 2),
        "growth_target_bytes": round(24.0 + avg_id_len, 1),
        "items_30k": small.total("items"),
        "items_3m": big.total("items"),
        "records_30k": small.total("records"),
        "records_3m": big.total("records"),
    });
    Results {
        throughput,
        memory,
        notes,
    }
}
