//! Measurement 1, pacing precision: does each source send exactly as fast
//! as its token bucket allows, and never faster?
//!
//! Request times come from ingest itself: `RUST_LOG=ingest::fetch=trace`
//! with `--log-json` logs one `event=request` line per HTTP attempt, right
//! after its token was taken, with a millisecond `ts` (env_logger's
//! `timestamp_millis`, taken when the line is logged). The mock process's
//! own request log is not visible from outside, and these lines are what a
//! user can check too.
//!
//! - ratio, per source: (last request − first request) / ideal, where
//!   ideal = (requests − burst) / per_second, the end-finding request
//!   included; the worst source is reported.
//! - window overshoot: over every window [t_i, t_j] of a source, the
//!   requests in it minus `burst + per_second × (t_j − t_i + 1 ms)`
//!   (the 1 ms absorbs the truncation of ms timestamps), rounded up; the
//!   largest positive excess is reported (0 = the bucket never overshot).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::child::{run_watched, MockProcess};

pub const PER_SECOND: f64 = 20.0;
pub const BURST: u64 = 5;
const PAGES: usize = 100;
const ITEMS_PER_PAGE: usize = 20;
/// Timestamp resolution of the log lines, seconds.
const RESOLUTION_S: f64 = 0.001;

#[derive(Debug)]
pub struct SourcePacing {
    pub name: String,
    pub requests: usize,
    pub measured_s: f64,
    pub ideal_s: f64,
    pub overshoot: u64,
}

#[derive(Debug)]
pub struct Pacing {
    pub sources: Vec<SourcePacing>,
    pub wall_s: f64,
}

impl Pacing {
    pub fn worst_ratio(&self) -> f64 {
        self.sources
            .iter()
            .map(|s| s.measured_s / s.ideal_s)
            .fold(0.0, f64::max)
    }

    pub fn overshoot(&self) -> u64 {
        self.sources.iter().map(|s| s.overshoot).max().unwrap_or(0)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ratio": round(self.worst_ratio(), 4),
            "window_overshoot": self.overshoot(),
            "per_second": PER_SECOND,
            "burst": BURST,
            "pages_per_source": PAGES,
            "process_wall_s": round(self.wall_s, 3),
            "sources": self.sources.iter().map(|s| json!({
                "name": s.name,
                "requests": s.requests,
                "measured_s": round(s.measured_s, 3),
                "ideal_s": round(s.ideal_s, 3),
                "ratio": round(s.measured_s / s.ideal_s, 4),
                "window_overshoot": s.overshoot,
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-28T12:47:55.469Z` → seconds since the epoch.
fn parse_ts(ts: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let millis = num(20..23)?;
    Some(secs as f64 + millis as f64 / 1000.0)
}

/// Largest number of requests over `burst + rate × (Δt + resolution)` in
/// any window of the sorted times `t`.
fn window_overshoot(t: &[f64], burst: f64, rate: f64) -> u64 {
    let mut worst = 0.0f64;
    for i in 0..t.len() {
        for j in i..t.len() {
            let count = (j - i + 1) as f64;
            let allowed = burst + rate * (t[j] - t[i] + RESOLUTION_S);
            worst = worst.max(count - allowed);
        }
    }
    worst.ceil().max(0.0) as u64
}

pub fn measure(bin: &Path, tmp: &Path) -> Pacing {
    let mock = MockProcess::start(bin, PAGES, ITEMS_PER_PAGE);
    let config = mock.config_with(&json!({
        "rate_limit": { "per_second": PER_SECOND, "burst": BURST },
        "max_pages": 1_000_000,
        "deadline_ms": 600_000,
    }));
    let config_path = tmp.join("pacing.json");
    std::fs::write(&config_path, config.to_string()).expect("write pacing config");
    let log_path = tmp.join("pacing.log");
    let log = std::fs::File::create(&log_path).expect("create pacing log");
    let usage = run_watched(
        Command::new(bin)
            .args(["run", "--no-progress", "--log-json", "--config"])
            .arg(&config_path)
            .arg("--out")
            .arg(tmp.join("pacing-out"))
            .env("RUST_LOG", "ingest::fetch=trace")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
        Duration::from_secs(120),
    );
    drop(mock);
    assert!(usage.status.success(), "pacing run: {}", usage.status);

    let text = std::fs::read_to_string(&log_path).expect("read pacing log");
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["event"] != "request" {
            continue;
        }
        let (Some(source), Some(ts)) = (v["source"].as_str(), v["ts"].as_str()) else {
            continue;
        };
        let t = parse_ts(ts).unwrap_or_else(|| panic!("bad ts {ts:?} in {line}"));
        times.entry(source.to_string()).or_default().push(t);
    }
    assert_eq!(times.len(), 3, "request lines per source: {times:?}");
    let sources = times
        .into_iter()
        .map(|(name, mut t)| {
            t.sort_by(f64::total_cmp);
            let n = t.len();
            SourcePacing {
                requests: n,
                measured_s: t[n - 1] - t[0],
                ideal_s: (n as f64 - BURST as f64) / PER_SECOND,
                overshoot: window_overshoot(&t, BURST as f64, PER_SECOND),
                name,
            }
        })
        .collect();
    Pacing {
        sources,
        wall_s: usage.wall.as_secs_f64(),
    }
}

/// Checks the timestamp parser and the window check on known inputs, so
/// a parsing slip cannot pass for perfect pacing. Runs at every bench.
pub fn self_check() {
    assert_eq!(parse_ts("1970-01-02T00:00:01.250Z"), Some(86_401.25));
    // 5 at once, then 20/s: exactly what the bucket allows.
    let exact: Vec<f64> = (0..20).map(|k| (k.max(4) - 4) as f64 / 20.0).collect();
    assert_eq!(window_overshoot(&exact, 5.0, 20.0), 0);
    let mut early = exact.clone();
    early[10] -= 0.04; // one request 40 ms before its token
    assert_eq!(window_overshoot(&early, 5.0, 20.0), 1);
}
