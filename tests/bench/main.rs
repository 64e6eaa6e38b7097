//! `make bench`: measures ingest against the targets of issues 6 and 11
//! and writes `out/bench.json`.
//!
//! Not part of `make test` (a `harness = false` bench target, which `cargo
//! test` does not build). It needs the release binary (`make bench` builds
//! it first); its path comes from `INGEST_BIN`, else
//! `${CARGO_TARGET_DIR:-target}/release/ingest`. The mock sources run in a
//! separate `ingest serve-mock` process, so their CPU is not the
//! pipeline's; every child is killed and reaped by a guard on every path,
//! and everything listens on 127.0.0.1 at ephemeral ports.
//!
//! Measurements, each in its own module: pacing precision (`pacing`),
//! throughput and CPU against the parse-to-`Value` and fetch-only
//! baselines (`throughput`, the baselines in `baseline`) and peak memory
//! there, the normalizer alone (`normalize`), binary size and time to the
//! first request (`binary`), one big page's memory (`big_page`).
//! `BENCH_PAGES` (default 10000) sets the pages per source of the big run,
//! for a quicker smoke run. The baselines run as children of this same
//! binary (`baseline::CHILD_ENV`), which `main` checks before anything
//! else.

mod baseline;
mod big_page;
mod binary;
mod child;
mod fanout;
mod latency;
mod normalize;
mod pacing;
mod throughput;
mod walk;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

/// Pages per source of the throughput / 3-million-item run.
const BIG_PAGES: usize = 10_000;

fn ingest_bin(root: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("INGEST_BIN") {
        return PathBuf::from(bin);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    root.join(target).join("release").join("ingest")
}

fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    json!({
        "description": format!("{model}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}"),
        "cpu": model,
        "cores": cores,
        "mem_gib": pacing::round(mem_gib, 1),
        "kernel": kernel,
    })
}

/// CPU time stolen by the hypervisor so far, all CPUs, in seconds (from
/// /proc/stat): a noisy neighbour shows up here, not in our numbers.
fn steal_s() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.to_string();
            line.split_whitespace().nth(8)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |ticks| ticks / 100.0)
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One table line: metric, value as shown, target, and whether it is met.
type Row = (String, String, String, Option<bool>);

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn rows(report: &Value) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |metric: &str, value: String, target: &str, ok: Option<bool>| {
        rows.push((metric.into(), value, target.into(), ok));
    };
    let p = &report["pacing"];
    if !p.is_null() {
        let ratio = f(&p["ratio"]);
        add(
            "pacing: measured / ideal (worst source)",
            format!("{ratio:.4}"),
            "<= 1.02",
            Some(ratio <= 1.02),
        );
        let over = &p["window_overshoot"];
        add(
            "pacing: worst window overshoot",
            over.to_string(),
            "0",
            Some(*over == 0),
        );
    }
    let t = &report["throughput"];
    if !t.is_null() {
        let (parse, fetch) = (&t["parse_to_value"], &t["fetch_only"]);
        add(
            "throughput: records/s",
            format!("{:.0}", f(&t["records_per_s"])),
            "",
            None,
        );
        add(
            "baseline (parse to Value): records/s",
            format!("{:.0}", f(&parse["records_per_s"])),
            "",
            None,
        );
        add(
            "baseline (fetch only): records/s",
            format!("{:.0}", f(&fetch["records_per_s"])),
            "",
            None,
        );
        let ratio = f(&t["ratio"]);
        add(
            "throughput: ratio to parse to Value",
            format!("{ratio:.3}"),
            ">= 1.0",
            Some(ratio >= 1.0),
        );
        add(
            "throughput: response MB/s",
            format!("{:.2}", f(&t["mb_per_s"])),
            "",
            None,
        );
        add(
            "CPU s / million records: pipeline",
            format!("{:.3}", f(&t["cpu_s_per_million"])),
            "",
            None,
        );
        add(
            "CPU s / million records: parse to Value",
            format!("{:.3}", f(&parse["cpu_s_per_million"])),
            "",
            None,
        );
        add(
            "CPU s / million records: fetch only",
            format!("{:.3}", f(&fetch["cpu_s_per_million"])),
            "",
            None,
        );
        let to_parse = f(&t["cpu_ratio_to_parse"]);
        add(
            "CPU: pipeline / parse to Value",
            format!("{to_parse:.3}"),
            "<= 1.0",
            Some(to_parse <= 1.0),
        );
        let to_fetch = f(&t["cpu_ratio_to_fetch"]);
        add(
            "CPU: pipeline / fetch only",
            format!("{to_fetch:.2}"),
            "<= 6",
            Some(to_fetch <= 6.0),
        );
        add(
            "mock CPU s (pipeline / parse / fetch)",
            format!(
                "{:.1} / {:.1} / {:.1}",
                f(&t["mock_cpu_s"]),
                f(&parse["mock_cpu_s"]),
                f(&fetch["mock_cpu_s"])
            ),
            "",
            None,
        );
    }
    let m = &report["memory"];
    if !m.is_null() {
        let rss_30k = f(&m["rss_30k_mib"]);
        add(
            "peak RSS, 30k items (MiB)",
            format!("{rss_30k:.2}"),
            "<= 16",
            Some(rss_30k <= 16.0),
        );
        add(
            "peak RSS, 3M items (MiB)",
            format!("{:.2}", f(&m["rss_3m_mib"])),
            "",
            None,
        );
        let (growth, target) = (
            f(&m["growth_bytes_per_record"]),
            f(&m["growth_target_bytes"]),
        );
        add(
            "growth, bytes per distinct record",
            format!("{growth:.1}"),
            &format!("<= 24 + {:.2} (id) = {target:.1}", f(&m["avg_id_len"])),
            Some(growth <= target),
        );
    }
    let g = &report["big_page"];
    if !g.is_null() {
        let (peak, target) = (f(&g["peak_rss_mb"]), f(&g["target_mb"]));
        add(
            &format!("big page ({:.1} MB): peak RSS (MB)", f(&g["body_mb"])),
            format!("{peak:.2}"),
            &format!("<= 1.5 x body + 8 = {target:.1}"),
            Some(peak <= target),
        );
        let lines = g["records_lines"].as_u64().unwrap_or(0);
        add(
            "big page: records written",
            lines.to_string(),
            &g["items"].to_string(),
            Some(g["items"] == lines),
        );
    }
    let n = &report["normalize"];
    if !n.is_null() {
        add(
            "normalize: items/s, one thread",
            format!("{:.0}", f(&n["items_per_s_one_thread"])),
            "",
            None,
        );
        add(
            &format!("normalize: items/s, {} threads", n["threads"]),
            format!("{:.0}", f(&n["items_per_s_all_threads"])),
            "",
            None,
        );
        let d = &n["declared"];
        add(
            "normalize 10 fields: items/s, one thread",
            format!("{:.0}", f(&d["items_per_s_one_thread"])),
            "",
            None,
        );
        add(
            &format!("normalize 10 fields: items/s, {} threads", d["threads"]),
            format!("{:.0}", f(&d["items_per_s_all_threads"])),
            "",
            None,
        );
    }
    let x = &report["fanout"];
    if !x.is_null() {
        let (many, one) = (&x["concurrent"], &x["sequential"]);
        add(
            &format!(
                "fan-out {}x{} at {} ms: wall s, concurrency {}",
                x["parents"], x["child_pages"], x["latency_ms"], many["concurrency"]
            ),
            format!("{:.2}", f(&many["wall_s"])),
            &format!(
                ">= {:.2} (latency / concurrency)",
                f(&x["requests_lower_bound_s"])
            ),
            None,
        );
        add(
            "fan-out: wall s, concurrency 1",
            format!("{:.2}", f(&one["wall_s"])),
            &format!("speedup {:.1}x", f(&x["speedup"])),
            None,
        );
        let (threads, target) = (f(&many["peak_threads"]), f(&x["thread_target"]));
        add(
            "fan-out: peak threads",
            format!("{threads:.0}"),
            &format!("<= {target:.0} (never one per partition)"),
            Some(threads <= target),
        );
        let rss = f(&many["peak_rss_mb"]);
        add(
            "fan-out: peak RSS (MB)",
            format!("{rss:.2}"),
            "<= 64",
            Some(rss <= 64.0),
        );
        let once = many["each_once"] == true && one["each_once"] == true;
        add(
            "fan-out: every child record exactly once",
            format!(
                "{} of {}",
                many["child_records"], many["child_records_expected"]
            ),
            "all, each once",
            Some(once),
        );
    }
    let l = &report["latency"];
    if !l.is_null() {
        let (many, one) = (&l["concurrent"], &l["sequential"]);
        let ratio = f(&l["wall_ratio"]);
        add(
            &format!(
                "latency-bound: wall s, concurrency {} (bound {:.2} s)",
                many["concurrency"],
                f(&l["politeness_bound_s"])
            ),
            format!("{:.2} ({ratio:.2}x)", f(&many["wall_s"])),
            "<= 1.3 x bound",
            Some(ratio <= 1.3),
        );
        add(
            "latency-bound: wall s, concurrency 1",
            format!("{:.2}", f(&one["wall_s"])),
            "",
            None,
        );
        let pacing = f(&l["worst_pacing_ratio"]);
        add(
            "latency-bound: pacing at the server (worst)",
            format!("{pacing:.4}"),
            "<= 1.02",
            Some(pacing <= 1.02),
        );
        let over = f(&l["worst_overshoot"]);
        add(
            "latency-bound: window overshoot after 100 ms",
            format!("{over:.0}"),
            "0 (2 ms jitter)",
            Some(over == 0.0),
        );
        add(
            "latency-bound: overshoot from the first request",
            format!(
                "{:.0} ({:.2} ms late)",
                f(&l["worst_overshoot_from_start"]),
                f(&l["worst_jitter_ms"])
            ),
            "(cold connections)",
            None,
        );
        let spec = f(&l["worst_speculative"]);
        add(
            "latency-bound: speculative requests (worst source)",
            format!("{spec:.0}"),
            "<= 7",
            Some(spec <= 7.0),
        );
    }
    let b = &report["binary"];
    if !b.is_null() {
        add(
            "binary: stripped size (bytes)",
            b["size_bytes"].to_string(),
            "",
            None,
        );
        add(
            "binary: start to first request (ms)",
            format!("{:.2}", f(&b["first_request_ms"])),
            "",
            None,
        );
    }
    rows
}

fn print_table(report: &Value) {
    println!(
        "\nmachine: {}\n",
        report["machine"]["description"].as_str().unwrap_or("?")
    );
    println!(
        "| {:<40} | {:>16} | {:<28} | {:<6} |",
        "metric", "value", "target", ""
    );
    println!("|{:-<42}|{:-<18}|{:-<30}|{:-<8}|", "", "", "", "");
    for (metric, value, target, ok) in rows(report) {
        let verdict = match ok {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "",
        };
        println!("| {metric:<40} | {value:>16} | {target:<28} | {verdict:<6} |");
    }
}

fn main() {
    if let Ok(kind) = std::env::var(baseline::CHILD_ENV) {
        baseline::child_main(&kind);
        return;
    }
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = ingest_bin(&root);
    assert!(
        bin.is_file(),
        "no ingest binary at {} (run `make bench`, which builds it, or set INGEST_BIN)",
        bin.display()
    );
    let big_pages = std::env::var("BENCH_PAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(BIG_PAGES);
    let scratch =
        Scratch(std::env::temp_dir().join(format!("ingest-bench-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).expect("create scratch dir");
    let tmp = scratch.0.as_path();
    pacing::self_check();

    // BENCH_ONLY=normalize,binary (etc.) runs a subset, for profiling;
    // its results go to out/bench-partial.json, never to out/bench.json.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    eprintln!("bench: using {}", bin.display());
    let steal_before = steal_s();
    let mut report = json!({ "machine": machine() });
    let mut notes = Vec::new();
    if wanted("pacing") {
        eprintln!("bench: pacing (3 sources x 100 pages at 20/s, burst 5) ...");
        report["pacing"] = pacing::measure(&bin, tmp).to_json();
    }
    if wanted("normalize") {
        eprintln!("bench: normalizer ...");
        report["normalize"] = normalize::measure();
    }
    if wanted("binary") {
        eprintln!("bench: binary ...");
        report["binary"] = binary::measure(&bin, tmp);
    }
    if wanted("bigpage") {
        eprintln!("bench: one page of {} products ...", big_page::ITEMS);
        report["big_page"] = big_page::measure(&bin, tmp);
    }
    if wanted("fanout") {
        eprintln!(
            "bench: fan-out ({} parents x {} child pages at {} ms, concurrency {} then 1) ...",
            fanout::PARENTS,
            fanout::CHILD_PAGES,
            fanout::LATENCY.as_millis(),
            fanout::CONCURRENCY
        );
        report["fanout"] = fanout::measure(&bin, tmp);
    }
    if wanted("latency") {
        eprintln!(
            "bench: latency-bound (3 sources x {} pages at {} ms, {}/s burst {}, concurrency {} then 1) ...",
            latency::PAGES,
            latency::LATENCY.as_millis(),
            latency::PER_SECOND,
            latency::BURST,
            latency::CONCURRENCY
        );
        report["latency"] = latency::measure(&bin, tmp);
    }
    if wanted("throughput") {
        eprintln!(
            "bench: throughput and memory (30k items, then {} items, then the baselines) ...",
            3 * big_pages * throughput::ITEMS_PER_PAGE
        );
        let heavy = throughput::measure(&bin, tmp, big_pages);
        report["throughput"] = heavy.throughput;
        report["memory"] = heavy.memory;
        notes = heavy.notes;
    }
    report["notes"] = json!(notes);
    report["machine"]["cpu_steal_s"] = json!(pacing::round(steal_s() - steal_before, 2));
    report["bench_wall_s"] = json!(pacing::round(started.elapsed().as_secs_f64(), 1));
    report["binary_path"] = json!(bin.display().to_string());
    print_table(&report);
    for note in &notes {
        println!("note: {note}");
    }
    let name = if only.is_empty() {
        "bench.json"
    } else {
        "bench-partial.json"
    };
    let out = root.join("out").join(name);
    std::fs::create_dir_all(root.join("out")).expect("create out/");
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&report).expect("json") + "\n",
    )
    .expect("write out/bench.json");
    println!(
        "\nwrote {} ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
}
