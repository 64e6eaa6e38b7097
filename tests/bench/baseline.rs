//! The two baselines of the throughput run, each in a child process: this
//! bench binary run again with `INGEST_BENCH_BASELINE` set (`main` checks
//! it first and does nothing else).
//!
//! Why a child: its CPU is then measured exactly as the pipeline's is
//! (`child::run_watched`: user + system time of all its threads, read from
//! `/proc/PID/stat` while it is a zombie, before it is reaped), with no
//! unsafe code, no `getrusage` binding, and none of the bench process's
//! own threads (the mock's stdout reader, rayon's pool from the normalizer
//! measurement) or allocator state mixed in; and its wall time is spawn
//! to exit, as the pipeline's is.
//!
//! - *parse to `Value`*: one thread per source walks its pages
//!   (`walk::walk`), parsing each body into a `serde_json::Value`, and
//!   writes the URLs it fetched to `baseline-urls.json`;
//! - *fetch only*: one thread per source requests those same URLs again
//!   and reads each body whole, parsing nothing (`walk::fetch_only`).
//!
//! Each writes what it fetched to `baseline-{kind}.json` in the scratch
//! directory, which the parent reads back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::child::{run_watched, MockProcess, Usage};
use crate::pacing::round;
use crate::walk::{self, Walked};

/// Set to a [`Kind`]'s name, it makes this binary a baseline child.
pub const CHILD_ENV: &str = "INGEST_BENCH_BASELINE";
/// The scratch directory the child reads its sources from and writes to.
const DIR_ENV: &str = "INGEST_BENCH_BASELINE_DIR";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ParseToValue,
    FetchOnly,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ParseToValue => "parse",
            Kind::FetchOnly => "fetch",
        }
    }
}

/// What one baseline run fetched and cost.
#[derive(Debug)]
pub struct Baseline {
    pub walked: Walked,
    /// Each source's walk time, by name: a slow mock route shows up here.
    pub per_source_s: Map<String, Value>,
    /// The child process, spawn to exit, and its CPU.
    pub usage: Usage,
    pub mock_cpu_s: f64,
}

/// Runs baseline `kind` over every source of `mock` in a child process.
/// `FetchOnly` replays the URLs of a `ParseToValue` run made before it.
pub fn run(kind: Kind, mock: &MockProcess, tmp: &Path) -> Baseline {
    std::fs::write(tmp.join("baseline-sources.json"), mock.config.to_string())
        .expect("write baseline sources");
    let exe = std::env::current_exe().expect("the bench's own path");
    let mock_before = mock.cpu_s();
    let usage = run_watched(
        Command::new(exe)
            .env(CHILD_ENV, kind.name())
            .env(DIR_ENV, tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
        Duration::from_secs(600),
    );
    let mock_cpu_s = mock.cpu_s() - mock_before;
    assert!(
        usage.status.success(),
        "{} baseline: {}",
        kind.name(),
        usage.status
    );
    let result = read_json(&result_path(tmp, kind));
    let n = |k: &str| result[k].as_u64().unwrap_or(0);
    Baseline {
        walked: Walked {
            requests: n("requests"),
            items: n("items"),
            bytes: n("bytes"),
        },
        per_source_s: result["per_source_s"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        usage,
        mock_cpu_s,
    }
}

fn result_path(tmp: &Path, kind: Kind) -> PathBuf {
    tmp.join(format!("baseline-{}.json", kind.name()))
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The child's whole life: run the baseline named by `kind`, write its
/// result, return.
pub fn child_main(kind: &str) {
    let kind = match kind {
        "parse" => Kind::ParseToValue,
        "fetch" => Kind::FetchOnly,
        other => panic!("{CHILD_ENV}={other:?}: expected parse or fetch"),
    };
    let tmp = PathBuf::from(std::env::var_os(DIR_ENV).expect("INGEST_BENCH_BASELINE_DIR"));
    let config = read_json(&tmp.join("baseline-sources.json"));
    let sources = config["sources"].as_array().expect("sources");
    let replay = match kind {
        Kind::FetchOnly => Some(read_json(&tmp.join("baseline-urls.json"))),
        Kind::ParseToValue => None,
    };
    let agent = walk::agent();
    let start = Instant::now();
    let mut per_source_s = Map::new();
    let mut urls = Map::new();
    let mut total = Walked::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .map(|source| {
                let agent = agent.clone();
                let name = source["name"].as_str().unwrap_or("?");
                let replay: Option<Vec<String>> = replay
                    .as_ref()
                    .map(|r| serde_json::from_value(r[name].clone()).expect("the source's URLs"));
                scope.spawn(move || {
                    let (walked, fetched) = match replay {
                        Some(list) => (walk::fetch_only(&agent, &list), Vec::new()),
                        None => walk::walk(&agent, source, drop),
                    };
                    (walked, fetched, start.elapsed())
                })
            })
            .collect();
        for (h, source) in handles.into_iter().zip(sources) {
            let (walked, fetched, took) = h.join().expect("baseline thread");
            total.add(walked);
            let name = source["name"].as_str().unwrap_or("?").to_string();
            per_source_s.insert(name.clone(), json!(round(took.as_secs_f64(), 2)));
            urls.insert(name, json!(fetched));
        }
    });
    if kind == Kind::ParseToValue {
        std::fs::write(
            tmp.join("baseline-urls.json"),
            Value::Object(urls).to_string(),
        )
        .expect("write baseline-urls.json");
    }
    let result = json!({
        "requests": total.requests,
        "items": total.items,
        "bytes": total.bytes,
        "per_source_s": per_source_s,
    });
    std::fs::write(result_path(&tmp, kind), result.to_string()).expect("write baseline result");
}
