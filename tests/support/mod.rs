//! Shared harness: run the pipeline in-process against a mock, with every
//! delay scaled down to milliseconds, and read back what it wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ingest::Config;
use ingest::RunControl;
use ingest::{RunOptions, RunReport};
use serde_json::{json, Value};
use testsupport::MockServer;

pub mod scripted;

/// Policies for tests: fast, but every mechanism still in play.
pub fn fast_policies() -> Value {
    json!({
        "rate_limit": { "per_second": 1000, "burst": 50 },
        "retry": { "max_retries": 3, "base_delay_ms": 4, "max_delay_ms": 20 },
        "breaker": { "failure_threshold": 3, "cooldown_ms": 60 },
        "timeouts": { "connect_ms": 1000, "read_ms": 2000 },
        "deadline_ms": 20000
    })
}

/// `fast_policies()` with `overrides` merged one level deep, so a test
/// names only the settings it is about (`{"retry": {"max_retries": 6}}`
/// keeps the fast delays).
pub fn fast_policies_with(overrides: Value) -> Value {
    let mut policies = fast_policies();
    for (key, value) in overrides.as_object().unwrap() {
        match (policies.get_mut(key), value) {
            (Some(Value::Object(base)), Value::Object(over)) => base.extend(over.clone()),
            _ => policies[key] = value.clone(),
        }
    }
    policies
}

/// The mock's config with `policies` merged in (later keys win).
pub fn config_with(server: &MockServer, policies: Value) -> Config {
    let mut doc = server.config_json();
    for (k, v) in fast_policies()
        .as_object()
        .unwrap()
        .iter()
        .chain(policies.as_object().unwrap())
    {
        doc[k] = v.clone();
    }
    Config::parse("test config", &doc.to_string()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"))
}

/// A fresh output directory, removed when dropped.
pub struct OutDir(pub PathBuf);

impl OutDir {
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ingest-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run produced.
pub struct Outcome {
    pub report: RunReport,
    pub records: Vec<Value>,
    pub summary: Value,
    #[allow(dead_code)] // read by the deadline tests
    pub elapsed: Duration,
    _out: OutDir,
}

impl Outcome {
    /// The lines of `rejected.jsonl`, parsed (none when not written).
    pub fn rejected(&self) -> Vec<Value> {
        let Some(path) = &self.report.rejected_path else {
            return Vec::new();
        };
        std::fs::read_to_string(path)
            .expect("rejected.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The set of record keys written.
    pub fn keys(&self) -> BTreeSet<String> {
        self.records
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect()
    }

    /// One source's summary.
    pub fn source(&self, name: &str) -> &Value {
        &self.summary["sources"][name]
    }

    /// The summary of the run's only source.
    pub fn only(&self) -> &Value {
        let sources = self.summary["sources"].as_object().unwrap();
        assert_eq!(sources.len(), 1, "one source");
        sources.values().next().unwrap()
    }

    /// The summary's exit code.
    pub fn exit_code(&self) -> u8 {
        ingest::ExitCode::from(self.report.status).code()
    }
}

/// Runs `config` to the end with seed 42.
pub fn run(config: &Config) -> Outcome {
    run_with(config, |_| {})
}

/// Runs `config`; `during` gets the control (to interrupt) on another thread.
pub fn run_with(config: &Config, during: impl FnOnce(&RunControl) + Send) -> Outcome {
    run_full(config, None, during)
}

/// Runs `config` to the end with `--strict`: any warning makes it partial.
pub fn run_strict(config: &Config) -> Outcome {
    run_opts(config, None, true, |_| {})
}

/// Runs `config` with `--state state`; `during` as for [`run_with`].
pub fn run_with_state(
    config: &Config,
    state: &Path,
    during: impl FnOnce(&RunControl) + Send,
) -> Outcome {
    run_full(config, Some(state.to_path_buf()), during)
}

fn run_full(
    config: &Config,
    state: Option<PathBuf>,
    during: impl FnOnce(&RunControl) + Send,
) -> Outcome {
    run_opts(config, state, false, during)
}

/// Runs `config` to the end with the options `tweak` sets (`--shard`).
pub fn run_options(config: &Config, tweak: impl FnOnce(&mut RunOptions)) -> Outcome {
    run_tweaked(config, None, false, tweak, |_| {})
}

fn run_opts(
    config: &Config,
    state: Option<PathBuf>,
    strict: bool,
    during: impl FnOnce(&RunControl) + Send,
) -> Outcome {
    run_tweaked(config, state, strict, |_| {}, during)
}

fn run_tweaked(
    config: &Config,
    state: Option<PathBuf>,
    strict: bool,
    tweak: impl FnOnce(&mut RunOptions),
    during: impl FnOnce(&RunControl) + Send,
) -> Outcome {
    let out = OutDir::new();
    let started = Instant::now();
    // As the binary does.
    let control = config.control(started);
    let mut options = RunOptions {
        out_dir: out.0.clone(),
        seed: 42,
        progress: false,
        strict,
        state,
        started,
        ..RunOptions::default()
    };
    tweak(&mut options);
    let report = std::thread::scope(|s| {
        s.spawn(|| during(&control));
        ingest::run(config, &options, &control).expect("run")
    });
    let elapsed = started.elapsed();
    let records_path = report.records_path.as_ref().expect("records.jsonl written");
    let text = std::fs::read_to_string(records_path).expect("records.jsonl");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // Compared as text: serde_json's default float parsing is not exact
    // (no `float_roundtrip`), so a parsed rate can differ by one ulp from
    // the value that was written; the bytes cannot.
    let summary_text = std::fs::read_to_string(&report.summary_path).unwrap();
    let reported = serde_json::to_string_pretty(&report.summary).unwrap() + "\n";
    assert_eq!(
        summary_text, reported,
        "summary.json is what the run reported"
    );
    let summary: Value = serde_json::from_str(&summary_text).unwrap();
    let outcome = Outcome {
        report,
        records,
        summary,
        elapsed,
        _out: out,
    };
    assert_accounting(&outcome);
    outcome
}

/// The accounting identity per source and in totals, records == lines
/// (but those fetched only for children), and no key twice — checked on
/// every run.
pub fn assert_accounting(o: &Outcome) {
    assert_identity(&o.summary);
    let not_written: u64 = o.summary["sources"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["fetched_for_children"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        o.records.len() as u64 + not_written,
        o.summary["totals"]["records"].as_u64().unwrap(),
        "records == lines + fetched_for_children"
    );
    assert_eq!(o.keys().len(), o.records.len(), "no key appears twice");
}

/// In `summary`: `items == records + invalid + duplicates` per source and
/// in totals, invalid == the sum of its reasons, and the sources' records
/// add up to the total.
pub fn assert_identity(s: &Value) {
    let check = |scope: &str, v: &Value| {
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("{scope}.{k} missing"))
        };
        assert_eq!(
            n("items"),
            n("records") + n("invalid") + n("duplicates"),
            "{scope}: items == records + invalid + duplicates"
        );
    };
    check("totals", &s["totals"]);
    let mut sum_records = 0;
    for (name, src) in s["sources"].as_object().unwrap() {
        check(name, src);
        let reasons: u64 = src["invalid_reasons"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            reasons,
            src["invalid"].as_u64().unwrap(),
            "{name}: invalid == sum of reasons"
        );
        sum_records += src["records"].as_u64().unwrap();
    }
    assert_eq!(sum_records, s["totals"]["records"].as_u64().unwrap());
}

/// Invalid counts by reason of one source's summary, zeros left out.
pub fn invalid_reasons(source: &Value) -> BTreeMap<String, u64> {
    source["invalid_reasons"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `u64` field of a JSON object.
pub fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {v}"))
}

/// The mock's config over the fast policies, its first source changed by
/// `patch`.
pub fn config_patched(server: &MockServer, patch: impl FnOnce(&mut Value)) -> Config {
    let mut doc = server.config_json();
    patch(&mut doc["sources"][0]);
    parse_fast(doc)
}

/// `doc` over the fast policies, parsed.
pub fn parse_fast(mut doc: Value) -> Config {
    for (k, v) in fast_policies().as_object().unwrap() {
        doc[k] = v.clone();
    }
    Config::parse("test config", &doc.to_string()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"))
}

/// Every fetch-side counter of a source summary that is not zero:
/// `requests`, `pages`, `failed_pages`, `skipped_pages`, `retries`,
/// `breaker_opens`, and `responses.*`, `errors.*`, `retries_by_cause.*`,
/// `rules_matched.*`. Comparing the whole map means an unexpected counter
/// fails the test too.
pub fn counters(source: &Value) -> BTreeMap<String, u64> {
    let mut got = BTreeMap::new();
    for key in [
        "requests",
        "pages",
        "failed_pages",
        "skipped_pages",
        "retries",
        "breaker_opens",
    ] {
        got.insert(key.to_string(), source[key].as_u64().unwrap_or(0));
    }
    for group in ["responses", "errors", "retries_by_cause", "rules_matched"] {
        let Some(map) = source[group].as_object() else {
            continue;
        };
        for (k, v) in map {
            got.insert(format!("{group}.{k}"), v.as_u64().unwrap());
        }
    }
    got.retain(|_, v| *v > 0);
    got
}

/// The expected counters, zeros left out.
pub fn want(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

/// The records (sorted lines) and the summary of a run without its
/// timings, requests and latencies: what must not depend on
/// `concurrency`.
pub fn comparable(o: &Outcome) -> (Vec<String>, Value) {
    let mut lines: Vec<String> = o.records.iter().map(Value::to_string).collect();
    lines.sort();
    let mut sources = o.summary["sources"].clone();
    for source in sources.as_object_mut().unwrap().values_mut() {
        let s = source.as_object_mut().unwrap();
        for key in [
            "requests",
            "latency_ms",
            "waits_ms",
            "request_success_rate",
            "resends",
            "speculative_requests",
        ] {
            s.remove(key);
        }
    }
    (lines, sources)
}
