//! Every numeric config key at both ends of its range passes validation
//! and then runs against a small mock without a panic (issue 13: the
//! largest `max_retries` once wrapped `1..=max_retries + 1`).
//!
//! One table: each row sets one key (or a pair that must move together)
//! at the top level, in a source's own policies, or in a pagination, to
//! its least or greatest accepted value; the rest are the fast test
//! policies. The mock fails page 1 three times (503), so retries, backoff
//! and the breaker all come into play, and serves one page per source
//! (`page` and `offset`). A bound that would wait long (a huge backoff or
//! cooldown) meets the deadline instead, which refuses any wait that would
//! cross it; every run ends within the 3 s deadline of the test policies.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;

const U64_MAX: u64 = u64::MAX;
const U32_MAX: u64 = u32::MAX as u64;
/// The largest pagination `start`: 2^53 − 1.
const MAX_START: u64 = (1 << 53) - 1;

/// A key path into the config (`.`-separated, numbers index arrays) and
/// the value set there.
type Set = (String, Value);

/// A key and its least and greatest accepted values.
type Bounds = (&'static str, Value, Value);

/// The rows: what each sets. Keys of a policy are set at the top level and
/// in `sources.0` (the `page` source), pagination keys in the source of
/// their style (`sources.0` pages, `sources.1` offsets).
fn rows() -> Vec<Vec<Set>> {
    let policies: Vec<Bounds> = vec![
        ("rate_limit.per_second", json!(5e-324), json!(f64::MAX)),
        ("rate_limit.burst", json!(1), json!(U64_MAX)),
        ("retry.max_retries", json!(0), json!(U32_MAX)),
        ("breaker.failure_threshold", json!(1), json!(U32_MAX)),
        ("breaker.cooldown_ms", json!(1), json!(U64_MAX)),
        ("timeouts.connect_ms", json!(1), json!(U64_MAX)),
        ("timeouts.read_ms", json!(1), json!(U64_MAX)),
        ("max_pages", json!(1), json!(U64_MAX)),
        ("max_failed_pages_in_a_row", json!(1), json!(U32_MAX)),
        ("max_body_bytes", json!(1), json!(U64_MAX)),
    ];
    let run_wide: Vec<Bounds> = vec![
        ("queue_capacity", json!(1), json!(1_000_000)),
        ("batch_size", json!(1), json!(100_000)),
        ("deadline_ms", json!(1), json!(U64_MAX)),
        ("sources.0.pagination.start", json!(0), json!(MAX_START)),
        ("sources.0.pagination.size", json!(1), json!(U64_MAX)),
        ("sources.1.pagination.start", json!(0), json!(MAX_START)),
        ("sources.1.pagination.limit", json!(1), json!(U64_MAX)),
    ];
    let mut rows: Vec<Vec<Set>> = Vec::new();
    let mut bounds = |key: String, least: &Value, greatest: &Value| {
        rows.push(vec![(key.clone(), least.clone())]);
        rows.push(vec![(key, greatest.clone())]);
    };
    for prefix in ["", "sources.0."] {
        for (key, least, greatest) in &policies {
            bounds(format!("{prefix}{key}"), least, greatest);
        }
    }
    for (key, least, greatest) in &run_wide {
        bounds(key.to_string(), least, greatest);
    }
    // max_delay_ms >= base_delay_ms: each bound with the other key beside it.
    for prefix in ["", "sources.0."] {
        let (base, max) = (
            format!("{prefix}retry.base_delay_ms"),
            format!("{prefix}retry.max_delay_ms"),
        );
        for (b, m) in [(1, 1), (U64_MAX, U64_MAX), (1, U64_MAX)] {
            rows.push(vec![(base.clone(), json!(b)), (max.clone(), json!(m))]);
        }
    }
    rows
}

/// `doc` with `value` at the `.`-separated `path` (objects created on
/// the way; numbers index arrays).
fn set_at(doc: &mut Value, path: &str, value: Value) {
    let mut here = doc;
    for key in path.split('.') {
        here = match key.parse::<usize>() {
            Ok(i) => &mut here[i],
            Err(_) => {
                if here.get(key).is_none() {
                    here[key] = json!({});
                }
                &mut here[key]
            }
        };
    }
    *here = value;
}

/// What went wrong with one row, if anything.
fn check(server: &MockServer, sets: &[Set]) -> Option<String> {
    let mut doc = server.config_json();
    for (k, v) in fast_policies().as_object().unwrap() {
        doc[k] = v.clone();
    }
    for (path, value) in sets {
        set_at(&mut doc, path, value.clone());
    }
    let config = match Config::parse("edge config", &doc.to_string()) {
        Ok(config) => config,
        Err(e) => return Some(format!("refused by validation: {e}")),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| run(&config)));
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Some(format!("the run panicked: {message}"));
        }
    };
    let summary = &outcome.summary;
    if summary["status"] == "failed" {
        return Some(format!("the run failed: {}", summary["error"]));
    }
    if outcome.elapsed > Duration::from_secs(10) {
        return Some(format!("took {:?}", outcome.elapsed));
    }
    None
}

/// The mock of one row: page 1 of each source fails three times (the
/// fault schedule counts attempts over the server's life, so each row
/// gets a server of its own).
fn mock() -> MockServer {
    let failing = |source: MockSource| {
        (1..=3).fold(source, |s, attempt| {
            s.fault(1, attempt, FaultKind::Status(503))
        })
    };
    MockServer::start(
        Scenario::new(SEED)
            .with(failing(alpha(1)))
            .with(failing(MockSource::new("offsets", Style::Offset, 1, IPP))),
    )
    .unwrap()
}

#[test]
fn every_numeric_key_at_its_bounds_validates_and_runs() {
    let rows = rows();
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|sets| {
            let problem = check(&mock(), sets)?;
            let shown: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Some(format!("{}: {problem}", shown.join(", ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
