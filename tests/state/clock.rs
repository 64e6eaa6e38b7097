//! Bookmarks never run ahead of the clock (SPEC §9): an item stamped in
//! the future is kept as a record, but the bookmark stops at the run's
//! start, and the source warns how many such items there were. Before,
//! one item stamped 9999-12-31 moved the bookmark there for good, and
//! every later run asked for nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use testsupport::{parse_rfc3339, rfc3339};

use super::{read_state, state_dir, with_policies};
use crate::support::run_with_state;
use crate::support::scripted::Scripted;

/// Nanoseconds since the epoch.
fn ns(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

/// `t` as RFC 3339 (whole seconds), by the mock's clock.
fn stamp(t: SystemTime) -> String {
    rfc3339(t.duration_since(UNIX_EPOCH).unwrap().as_secs())
}

#[test]
fn a_bookmark_stops_at_the_runs_start_and_future_items_are_counted() {
    let in_an_hour = stamp(SystemTime::now() + Duration::from_secs(3600));
    let items = json!([
        { "id": 1, "updated_at": "2026-01-01T00:00:00Z" },
        { "id": 2, "updated_at": "9999-12-31T00:00:00Z" },
        { "id": 3, "updated_at": in_an_hour },
        { "id": 4, "updated_at": "2026-01-02T00:00:00Z" }
    ]);
    let body = items.to_string();
    let server = Scripted::start(move |_| (200, Vec::new(), body.clone()));
    let doc = json!({ "sources": [{
        "name": "s", "url": format!("{}/items", server.base()),
        "record": { "id": "id", "fields": {
            "updated_at": { "path": "updated_at", "type": "timestamp", "required": true } } },
        "incremental": { "field": "updated_at", "param": "since" }
    }] });
    let config = super::parse(with_policies(doc, json!({})), json!({}));
    let (_dir, state) = state_dir();
    let before = SystemTime::now();
    let first = run_with_state(&config, &state, |_| {});
    let after = SystemTime::now();
    let s = first.source("s");
    assert_eq!(first.keys().len(), 4, "every item is a record");
    let saved = s["bookmark_saved"].as_str().unwrap().to_string();
    let at = parse_rfc3339(&saved).unwrap();
    // The run's start, give or take the two clocks it is read from.
    let slack = Duration::from_millis(1).as_nanos() as i128;
    assert!(
        ns(before) - slack <= at && at <= ns(after),
        "saved {saved}: between {} and {}",
        stamp(before),
        stamp(after)
    );
    assert_eq!(read_state(&state)["sources"]["s"]["bookmark"], json!(saved));
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("2 items") && warnings.contains("updated_at"),
        "{warnings}"
    );
    assert_eq!(first.summary["totals"]["warnings"], 1, "{warnings}");

    // The next run asks from there, not from the year 9999.
    let second = run_with_state(&config, &state, |_| {});
    assert_eq!(second.source("s")["bookmark_sent"], json!(saved));
    let sent = server.requests().last().unwrap().query("since");
    assert_eq!(sent, Some(saved));
}
