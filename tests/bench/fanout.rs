//! Measurement 7: a fan-out (SPEC §12, §13). 2,000 customers, each with
//! exactly 2 pages of orders, every child answer 20 ms late (testsupport's
//! latency, in this process), fetched by one `ingest run` with
//! `concurrency: 8` on the child, then again with `concurrency: 1` for
//! the ratio.
//!
//! Targets: a bounded number of threads (the run's own, the processor's
//! pool, and at most `concurrency` workers per source: never one per
//! partition), peak RSS <= 64 MB, and every child record exactly once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Shape, Style};

use crate::child::run_watched;
use crate::pacing::round;

pub const PARENTS: usize = 2_000;
pub const CHILD_PAGES: usize = 2;
pub const LATENCY: Duration = Duration::from_millis(20);
pub const CONCURRENCY: u64 = 8;

/// One run of the fan-out at `concurrency`.
fn run(bin: &Path, tmp: &Path, server: &MockServer, concurrency: u64) -> Value {
    let mut config = server.config_json();
    config["rate_limit"] = json!({"per_second": 100_000, "burst": 1000});
    config["deadline_ms"] = json!(600_000);
    config["sources"][1]["concurrency"] = json!(concurrency);
    let tag = format!("fanout-{concurrency}");
    let config_path = tmp.join(format!("{tag}.json"));
    std::fs::write(&config_path, config.to_string()).expect("write config");
    let out = tmp.join(format!("{tag}-out"));
    let usage = run_watched(
        Command::new(bin)
            .args(["run", "--no-progress", "--config"])
            .arg(&config_path)
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        Duration::from_secs(600),
    );
    assert!(usage.status.success(), "fan-out run: {}", usage.status);
    let text = std::fs::read_to_string(out.join("records.jsonl")).expect("records.jsonl");
    let keys: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["source"] == "orders")
        .map(|v| v["key"].as_str().unwrap_or_default().to_string())
        .collect();
    let lines = keys.len();
    let got: std::collections::BTreeSet<String> = keys.into_iter().collect();
    let expected = server.truth().children("orders").expect("orders").keys();
    let _ = std::fs::remove_dir_all(&out);
    json!({
        "concurrency": concurrency,
        "wall_s": round(usage.wall.as_secs_f64(), 2),
        "cpu_s": round(usage.cpu_s, 2),
        "peak_rss_mb": round(usage.peak_rss_kib as f64 * 1024.0 / 1e6, 2),
        "peak_threads": usage.peak_threads,
        "child_records": lines,
        "child_records_expected": expected.len(),
        "each_once": got == expected && lines == expected.len(),
    })
}

pub fn measure(bin: &Path, tmp: &Path) -> Value {
    let parents_per_page = 100;
    let server = MockServer::start(
        Scenario::new(21)
            .with(
                MockSource::new(
                    "customers",
                    Style::Page,
                    PARENTS / parents_per_page,
                    parents_per_page,
                )
                .shape(Shape::StripeList),
            )
            .with(
                MockSource::children("orders", "customers", CHILD_PAGES, 25)
                    .full_pages()
                    .latency(LATENCY),
            ),
    )
    .expect("start the fan-out mock");
    let parents = server
        .truth()
        .children("orders")
        .expect("orders")
        .parent_ids
        .len();
    let many = run(bin, tmp, &server, CONCURRENCY);
    let one = run(bin, tmp, &server, 1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    // main, processor, stdout writer slack, the rayon pool, the parent's
    // fetcher and the child's workers.
    let thread_target = 3 + cores + 1 + CONCURRENCY;
    json!({
        "parents": parents,
        "child_pages": CHILD_PAGES,
        "latency_ms": LATENCY.as_millis() as u64,
        "requests_lower_bound_s": round((parents * CHILD_PAGES) as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64, 2),
        "thread_target": thread_target,
        "concurrent": many,
        "sequential": one,
        "speedup": round(one["wall_s"].as_f64().unwrap_or(f64::NAN) / many["wall_s"].as_f64().unwrap_or(f64::NAN), 2),
    })
}
