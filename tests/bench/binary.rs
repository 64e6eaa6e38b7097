//! Measurement 5: the release binary's size, and how long `ingest run`
//! takes from spawn to its first request.
//!
//! The first request is seen by an in-process `testsupport::MockServer`
//! (its request log has an `Instant` per request, on the same monotonic
//! clock as the bench), so the time covers exec, dynamic loading, config
//! parsing and validation, thread start, connect and sending the request
//! head. The median of `RUNS` runs is reported.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testsupport::{MockServer, Scenario};

use crate::child::run_watched;
use crate::pacing::round;

const RUNS: usize = 9;

pub fn measure(bin: &Path, tmp: &Path) -> Value {
    let bytes = std::fs::read(bin).expect("read the binary");
    // A stripped ELF has no symbol table section.
    let stripped = !bytes.windows(7).any(|w| w == b".symtab");

    let server = MockServer::start(Scenario::clean(42, 1, 5)).expect("start mock");
    let mut doc = server.config_json();
    doc["rate_limit"] = json!({ "per_second": 1000, "burst": 10 });
    let config_path = tmp.join("first-request.json");
    std::fs::write(&config_path, doc.to_string()).expect("write config");
    let mut first_ms = Vec::new();
    let mut run_ms = Vec::new();
    for _ in 0..RUNS {
        let seen = server.requests().len();
        let start = Instant::now();
        let usage = run_watched(
            Command::new(bin)
                .args(["run", "--no-progress", "--config"])
                .arg(&config_path)
                .arg("--out")
                .arg(tmp.join("first-request-out"))
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            Duration::from_secs(60),
        );
        assert!(
            usage.status.success(),
            "first-request run: {}",
            usage.status
        );
        let first = server.requests()[seen..]
            .iter()
            .map(|r| r.at)
            .min()
            .expect("the run sent a request");
        first_ms.push(first.duration_since(start).as_secs_f64() * 1e3);
        run_ms.push(usage.wall.as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    json!({
        "size_bytes": bytes.len(),
        "stripped": stripped,
        "first_request_ms": round(median(&mut first_ms), 2),
        "first_request_ms_min": round(first_ms[0], 2),
        "whole_run_ms": round(median(&mut run_ms), 1),
        "runs": RUNS,
    })
}
