//! `make bench`: measures ingest against the targets of issue 6 and writes
//! `out/bench.json`.
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
//! throughput against a parse-only baseline and peak memory (`throughput`),
//! the normalizer alone (`normalize`), binary size and time to the first
//! request (`binary`). `BENCH_PAGES` (default 10000) sets the pages per
//! source of the big run, for a quicker smoke run.

mod binary;
mod child;
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

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn row(metric: &str, value: String, target: &str, ok: Option<bool>) {
    let verdict = match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    };
    println!("| {metric:<38} | {value:>14} | {target:<26} | {verdict:<6} |");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn print_table(report: &Value) {
    let (p, t, m, n, b) = (
        &report["pacing"],
        &report["throughput"],
        &report["memory"],
        &report["normalize"],
        &report["binary"],
    );
    println!(
        "\nmachine: {}\n",
        report["machine"]["description"].as_str().unwrap_or("?")
    );
    println!(
        "| {:<38} | {:>14} | {:<26} | {:<6} |",
        "metric", "value", "target", ""
    );
    println!("|{:-<40}|{:-<16}|{:-<28}|{:-<8}|", "", "", "", "");
    row(
        "pacing: measured / ideal (worst)",
        format!("{:.4}", f(&p["ratio"])),
        "<= 1.02",
        Some(f(&p["ratio"]) <= 1.02),
    );
    row(
        "pacing: worst window overshoot",
        format!("{}", p["window_overshoot"]),
        "0",
        Some(p["window_overshoot"] == 0),
    );
    row(
        "throughput: records/s",
        format!("{:.0}", f(&t["records_per_s"])),
        "",
        None,
    );
    row(
        "baseline (parse only): records/s",
        format!("{:.0}", f(&t["baseline_records_per_s"])),
        "",
        None,
    );
    row(
        "throughput: ratio to baseline",
        format!("{:.3}", f(&t["ratio"])),
        ">= 0.9",
        Some(f(&t["ratio"]) >= 0.9),
    );
    row(
        "throughput: response MB/s",
        format!("{:.2}", f(&t["mb_per_s"])),
        "",
        None,
    );
    row(
        "CPU s per million records",
        format!("{:.3}", f(&t["cpu_s_per_million"])),
        "",
        None,
    );
    row(
        "baseline CPU s per million records",
        format!("{:.3}", f(&t["baseline_cpu_s_per_million"])),
        "",
        None,
    );
    row(
        "mock CPU s (pipeline / baseline run)",
        format!(
            "{:.1} / {:.1}",
            f(&t["mock_cpu_s"]),
            f(&t["baseline_mock_cpu_s"])
        ),
        "",
        None,
    );
    row(
        "peak RSS, 30k items (MiB)",
        format!("{:.2}", f(&m["rss_30k_mib"])),
        "<= 16",
        Some(f(&m["rss_30k_mib"]) <= 16.0),
    );
    row(
        "peak RSS, 3M items (MiB)",
        format!("{:.2}", f(&m["rss_3m_mib"])),
        "",
        None,
    );
    let growth_target = f(&m["growth_target_bytes"]);
    row(
        "growth, bytes per distinct record",
        format!("{:.1}", f(&m["growth_bytes_per_record"])),
        &format!(
            "<= 24 + {:.2} (id) = {growth_target:.1}",
            f(&m["avg_id_len"])
        ),
        Some(f(&m["growth_bytes_per_record"]) <= growth_target),
    );
    row(
        "normalize: items/s, one thread",
        format!("{:.0}", f(&n["items_per_s_one_thread"])),
        "",
        None,
    );
    row(
        &format!("normalize: items/s, {} threads", n["threads"]),
        format!("{:.0}", f(&n["items_per_s_all_threads"])),
        "",
        None,
    );
    row(
        "binary: stripped size (bytes)",
        format!("{}", b["size_bytes"]),
        "",
        None,
    );
    row(
        "binary: start to first request (ms)",
        format!("{:.2}", f(&b["first_request_ms"])),
        "",
        None,
    );
}

fn main() {
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

    eprintln!("bench: using {}", bin.display());
    eprintln!("bench: 1/5 pacing (3 sources x 100 pages at 20/s, burst 5) ...");
    let pacing = pacing::measure(&bin, tmp);
    eprintln!(
        "bench: 2-3/5 throughput and memory (30k items, then {} items, then the baseline) ...",
        3 * big_pages * throughput::ITEMS_PER_PAGE
    );
    let heavy = throughput::measure(&bin, tmp, big_pages);
    eprintln!("bench: 4/5 normalizer ...");
    let normalize = normalize::measure();
    eprintln!("bench: 5/5 binary ...");
    let binary = binary::measure(&bin, tmp);

    let report = json!({
        "machine": machine(),
        "pacing": pacing.to_json(),
        "throughput": heavy.throughput,
        "memory": heavy.memory,
        "normalize": normalize,
        "binary": binary,
        "notes": heavy.notes,
        "bench_wall_s": pacing::round(started.elapsed().as_secs_f64(), 1),
        "binary_path": bin.display().to_string(),
    });
    print_table(&report);
    for note in &heavy.notes {
        println!("note: {note}");
    }
    let out = root.join("out").join("bench.json");
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
