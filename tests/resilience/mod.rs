//! SPEC §4 end to end: every fault of the taxonomy, step-over rules, the
//! breaker, pacing, Retry-After, the deadline, interrupts, and chaos.
//!
//! Each test scripts a mock, runs the pipeline in-process, and checks three
//! things against each other: what the mock saw (its request log: attempts
//! per page, arrival times), what the summary says (counters, statuses,
//! URLs), and what was written (record keys against the mock's truth). The
//! harness checks the accounting identity on every run. Delays are in
//! milliseconds; the only seconds-long waits are the ones a test is about
//! (a `Retry-After: 1`, a 3 s deadline).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ingest::Config;
use serde_json::{json, Value};
use testsupport::{
    FaultKind, LoggedRequest, MockServer, MockSource, Outcome as Served, Scenario, Shape, Style,
};

use crate::support::{
    config_with, counters, fast_policies, fast_policies_with, n, run, run_with, want, Outcome,
};

const SEED: u64 = 4242;
/// Items per page of the small sources.
const IPP: usize = 3;

/// The mock's config over `fast_policies()` with `overrides` merged one
/// level deep (see [`fast_policies_with`]).
fn config(server: &MockServer, overrides: Value) -> Config {
    config_with(server, fast_policies_with(overrides))
}

fn serve(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(SEED).with(source)).unwrap()
}

/// A `page`-style source "alpha" of `pages` pages of [`IPP`] items.
fn alpha(pages: usize) -> MockSource {
    MockSource::new("alpha", Style::Page, pages, IPP)
}

/// Attempts the mock saw, per page of `source`.
fn attempts(server: &MockServer, source: &str) -> BTreeMap<usize, u32> {
    let mut per_page = BTreeMap::new();
    for r in server.requests().iter().filter(|r| r.source == source) {
        *per_page.entry(r.page).or_default() += 1;
    }
    per_page
}

/// `{page: attempts}` from pairs.
fn per_page(pairs: &[(usize, u32)]) -> BTreeMap<usize, u32> {
    pairs.iter().copied().collect()
}

/// The logged request for `attempt` of `page` of `source`.
fn logged(server: &MockServer, source: &str, page: usize, attempt: u32) -> LoggedRequest {
    server
        .requests()
        .into_iter()
        .find(|r| r.source == source && r.page == page && r.attempt == attempt)
        .unwrap_or_else(|| panic!("the mock never saw {source} page {page} attempt {attempt}"))
}

/// The URL the client requested for `page` of `source` (from the mock's log).
fn url_of(server: &MockServer, source: &str, page: usize) -> String {
    format!(
        "{}{}",
        server.base_url(),
        logged(server, source, page, 1).path
    )
}

/// Keys of the records of one source.
fn keys_of(outcome: &Outcome, source: &str) -> BTreeSet<String> {
    let prefix = format!("{source}:");
    outcome
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

/// The source's item-side counters and record keys are exactly what the
/// mock served on `pages`, in that order (first-wins dedupe).
fn assert_received(
    outcome: &Outcome,
    server: &MockServer,
    source: &str,
    pages: impl IntoIterator<Item = usize>,
) {
    let expected = server.truth().source(source).unwrap().expected(pages);
    let got = outcome.source(source);
    assert_eq!(
        (n(got, "items"), n(got, "records"), n(got, "duplicates")),
        (expected.items, expected.records(), expected.duplicates),
        "{source}: (items, records, duplicates) got vs served"
    );
    assert_eq!(
        keys_of(outcome, source),
        expected.keys,
        "{source}: record keys got vs served"
    );
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

mod breaker;
mod chaos;
mod deadline;
mod edges;
mod ends;
mod given_up;
mod pacing;
mod recovering;
mod step_over;
