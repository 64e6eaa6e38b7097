//! Measurement 6: what one big page costs in memory. A single page of
//! 100,000 distinct, valid products (about 10.2 MB, `testsupport`'s
//! `products_body`) served by a `testsupport::OneBody` in this process
//! (`serve-mock` caps a page at 10,000 items for its users), fetched by one
//! `ingest run` with `--log-json`.
//!
//! The peak is the run's own figure, the `peak_rss_kib` of its last log
//! line (its `VmHWM` at the end), so no polling can miss a short peak; the
//! target is 1.5 × the body + 8 MB (decimal MB, like the body's size).
//! Every item must come out a record: records.jsonl has 100,000 lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use testsupport::{products_body, OneBody};

use crate::child::run_watched;
use crate::pacing::round;

pub const ITEMS: usize = 100_000;

pub fn measure(bin: &Path, tmp: &Path) -> Value {
    let body = products_body(ITEMS);
    let body_bytes = body.len() as u64;
    let server = OneBody::start(body.into_bytes()).expect("start the one-body server");
    let config = json!({
        "sources": [{
            "name": "big",
            "url": server.url(),
            "items_path": "data",
            "pagination": { "style": "none" },
        }],
    });
    let config_path = tmp.join("big-page.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");
    let out = tmp.join("big-page-out");
    let log_path = tmp.join("big-page.log");
    let log = std::fs::File::create(&log_path).expect("create big-page log");
    let usage = run_watched(
        Command::new(bin)
            .args(["run", "--no-progress", "--log-json", "--config"])
            .arg(&config_path)
            .arg("--out")
            .arg(&out)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
        Duration::from_secs(120),
    );
    let log = std::fs::read_to_string(&log_path).expect("read big-page log");
    assert!(
        usage.status.success(),
        "big-page run: {}\n{log}",
        usage.status
    );
    // The run's own end line is its last (the source logs one before).
    let end = log
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "end")
        .unwrap_or_else(|| panic!("no event=end line in:\n{log}"));
    let peak_kib = end["peak_rss_kib"]
        .as_u64()
        .unwrap_or_else(|| panic!("no peak_rss_kib in {end}"));
    let lines = std::fs::read_to_string(out.join("records.jsonl"))
        .expect("read records.jsonl")
        .lines()
        .count();
    let summary: Value = serde_json::from_slice(
        &std::fs::read(out.join("summary.json")).expect("read summary.json"),
    )
    .expect("parse summary.json");
    let _ = std::fs::remove_dir_all(&out);

    let mb = |bytes: f64| bytes / 1e6;
    let peak_bytes = peak_kib as f64 * 1024.0;
    let target_bytes = 1.5 * body_bytes as f64 + 8e6;
    json!({
        "body_mb": round(mb(body_bytes as f64), 2),
        "items": ITEMS,
        "peak_rss_mb": round(mb(peak_bytes), 2),
        "peak_rss_kib": peak_kib,
        "peak_over_body": round(peak_bytes / body_bytes as f64, 2),
        "target_mb": round(mb(target_bytes), 2),
        // The bench's own polling of VmHWM, for comparison.
        "polled_peak_rss_kib": usage.peak_rss_kib,
        "records_lines": lines,
        "summary_records": summary["totals"]["records"],
        "summary_items": summary["totals"]["items"],
        "requests_served": server.served(),
        "wall_s": round(usage.wall.as_secs_f64(), 3),
        "cpu_s": round(usage.cpu_s, 3),
    })
}
