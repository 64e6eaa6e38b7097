//! Peak memory of one big page, as the run itself reports it: the
//! `peak_rss_kib` of its `event=end` line (the process's own `VmHWM`), so
//! the figure does not depend on timing or on polling from outside.
//!
//! A page in flight should cost about its body (one buffer, items as spans
//! of it) plus the binary's own baseline; parsing it into a tree of
//! `serde_json::Value`s cost 12–13 times the body. Measured here with the
//! debug binary: 9 MB for a tiny page, 20 MB for this 8 MB one (1.4 × the
//! body above the baseline). The bound, 4 × the body + 40 MiB (73 MB),
//! is more than three times that, so a loaded machine cannot make it
//! fail, and well under the ≈ 100 MB a tree of the whole page would take.

use serde_json::{json, Value};
use testsupport::{products_body, OneBody};

use crate::cli::{run_command, summary_in};
use crate::support::OutDir;

/// About 8.1 MB of products, all of them records.
const ITEMS: usize = 80_000;

#[test]
fn a_big_page_costs_about_its_body_not_a_tree_of_it() {
    let body = products_body(ITEMS);
    let body_kib = body.len() as u64 / 1024;
    let server = OneBody::start(body.into_bytes()).unwrap();
    let config = json!({
        "sources": [{
            "name": "big",
            "url": server.url(),
            "items_path": "data",
            "pagination": { "style": "none" },
        }],
    });
    let dir = OutDir::new();
    let o = run_command(&dir.0, &config)
        .arg("--log-json")
        .env("RUST_LOG", "info")
        .output()
        .expect("run the ingest binary");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");

    // Checks the accounting identity, and one line of records.jsonl per
    // record counted.
    let summary = summary_in(&dir.0.join("out"));
    let totals = &summary["totals"];
    assert_eq!(
        [
            &totals["items"],
            &totals["records"],
            &totals["invalid"],
            &totals["duplicates"]
        ],
        [&json!(ITEMS), &json!(ITEMS), &json!(0), &json!(0)],
        "items, records, invalid, duplicates: {totals:#}"
    );
    assert_eq!(server.served(), 1, "one request");

    // The run's own end line is its last (each source logs one before).
    let end: Value = stderr
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "end")
        .unwrap_or_else(|| panic!("no event=end line in:\n{stderr}"));
    let peak_kib = end["peak_rss_kib"]
        .as_u64()
        .unwrap_or_else(|| panic!("no peak_rss_kib number in {end}"));
    let bound_kib = 4 * body_kib + 40 * 1024;
    eprintln!(
        "memory: peak RSS {peak_kib} KiB for a {body_kib} KiB page ({:.2}x the body); bound {bound_kib} KiB",
        peak_kib as f64 / body_kib as f64
    );
    assert!(
        peak_kib < bound_kib,
        "peak RSS {peak_kib} KiB, bound 4 x {body_kib} KiB body + 40 MiB = {bound_kib} KiB"
    );
}
