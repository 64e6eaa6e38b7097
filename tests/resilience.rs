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

use ingest::config::Config;
use serde_json::{json, Value};
use testsupport::{
    FaultKind, LoggedRequest, MockServer, MockSource, Outcome as Served, Scenario, Shape, Style,
};

use crate::support::{config_with, fast_policies, n, run, run_with, Outcome};

const SEED: u64 = 4242;
/// Items per page of the small sources.
const IPP: usize = 3;

/// `fast_policies()` with `overrides` merged one level deep, so a test
/// names only the settings it is about (`{"retry": {"max_retries": 6}}`
/// keeps the fast delays).
fn config(server: &MockServer, overrides: Value) -> Config {
    let mut policies = fast_policies();
    for (key, value) in overrides.as_object().unwrap() {
        match (policies.get_mut(key), value) {
            (Some(Value::Object(base)), Value::Object(over)) => base.extend(over.clone()),
            _ => policies[key] = value.clone(),
        }
    }
    config_with(server, policies)
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

/// Every fetch-side counter of a source summary that is not zero:
/// `requests`, `pages`, `failed_pages`, `retries`, `breaker_opens`, and
/// `responses.*`, `errors.*`, `retries_by_cause.*`. Comparing the whole map
/// means an unexpected counter fails the test too.
fn counters(source: &Value) -> BTreeMap<String, u64> {
    let mut got = BTreeMap::new();
    for key in [
        "requests",
        "pages",
        "failed_pages",
        "retries",
        "breaker_opens",
    ] {
        got.insert(key.to_string(), n(source, key));
    }
    for group in ["responses", "errors", "retries_by_cause"] {
        for (k, v) in source[group].as_object().unwrap() {
            got.insert(format!("{group}.{k}"), v.as_u64().unwrap());
        }
    }
    got.retain(|_, v| *v > 0);
    got
}

/// The expected counters, zeros left out.
fn want(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
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

// ---------------------------------------------------------------------------
// Retryable faults that recover on the next attempt.

/// Runs a 3-page source whose page 2 fails with `kind` on its first
/// attempt only, and checks what every recovering fault has in common:
/// page 2 took exactly 2 attempts, nothing was lost, the run is complete.
fn recovers_after_one(kind: FaultKind, overrides: Value) -> (MockServer, Outcome) {
    let server = serve(alpha(3).fault(2, 1, kind.clone()));
    let outcome = run(&config(&server, overrides));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1)]),
        "{kind:?}: attempts per page (page 4 is the 204 end)"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{kind:?}: {src:#}");
    assert_eq!(outcome.exit_code(), 0, "{kind:?}");
    assert_eq!(outcome.summary["status"], "complete");
    assert!(strings(&src["failed_page_urls"]).is_empty());
    assert!(src["stopped_at_url"].is_null());
    assert_received(&outcome, &server, "alpha", 1..=3);
    (server, outcome)
}

/// 5xx are retried; a 503's `Retry-After` is honoured like a 429's.
#[test]
fn status_500_then_503_are_retried_until_the_page_arrives() {
    let server = serve(alpha(3).fault(2, 1, FaultKind::Status(500)).fault(
        2,
        2,
        FaultKind::RetryAfter(503, "1".into()),
    ));
    let outcome = run(&config(&server, json!({})));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 3), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 6),
            ("pages", 4),
            ("retries", 2),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.500", 1),
            ("responses.503", 1),
            ("retries_by_cause.5xx", 2),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
    assert_received(&outcome, &server, "alpha", 1..=3);
    let gap = logged(&server, "alpha", 2, 3).at - logged(&server, "alpha", 2, 2).at;
    assert!(
        gap >= Duration::from_millis(980),
        "503 Retry-After: 1 → retry gap {gap:?}"
    );
    assert!(
        n(&src["waits_ms"], "retry_after") >= 950,
        "{}",
        src["waits_ms"]
    );
}

/// The other retryable statuses of the taxonomy: 408, 425, 502.
#[test]
fn statuses_408_425_502_are_retried() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(408))
            .fault(2, 2, FaultKind::Status(425))
            .fault(2, 3, FaultKind::Status(502)),
    );
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 4),
            ("retries", 3),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.408", 1),
            ("responses.425", 1),
            ("responses.502", 1),
            ("retries_by_cause.408", 1),
            ("retries_by_cause.425", 1),
            ("retries_by_cause.5xx", 1),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
    assert_received(&outcome, &server, "alpha", 1..=3);
}

/// A `Retry-After` of 0, garbage or a date in the past is ignored: the
/// retries follow the (tiny) backoff, and nothing is counted as a
/// Retry-After wait.
#[test]
fn retry_after_zero_garbage_or_past_is_ignored() {
    let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::RetryAfter(429, "0".into()))
            .fault(2, 2, FaultKind::RetryAfter(429, "soon".into()))
            .fault(2, 3, FaultKind::RetryAfter(503, past)),
    );
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(n(&src["waits_ms"], "retry_after"), 0, "{}", src["waits_ms"]);
    for attempt in 1..=3 {
        let gap =
            logged(&server, "alpha", 2, attempt + 1).at - logged(&server, "alpha", 2, attempt).at;
        // Backoff here is at most 20 ms; an honoured "1 s" would be 1000.
        assert!(
            gap < Duration::from_millis(500),
            "attempt {attempt} → {}: {gap:?}",
            attempt + 1
        );
    }
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
}

/// Before retry n the wait is in [d/2, d], d = min(max, base × 2^(n−1)):
/// here 60 ms, then 120 ms capped. Lower bounds from the mock's log, and
/// the cap checked against what an uncapped schedule would at least wait.
#[test]
fn backoff_doubles_from_base_and_is_capped_at_max_delay() {
    let server = serve(alpha(2).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({
            "retry": {"max_retries": 4, "base_delay_ms": 60, "max_delay_ms": 120},
            "breaker": {"failure_threshold": 10},
        }),
    ));
    assert_eq!(attempts(&server, "alpha").get(&2), Some(&5));
    let at = |attempt| logged(&server, "alpha", 2, attempt).at;
    let ms = Duration::from_millis;
    let ceilings = [60, 120, 120, 120];
    for (retry, d) in (1..=4).zip(ceilings) {
        let gap = at(retry + 1) - at(retry);
        assert!(
            gap >= ms(d / 2),
            "retry {retry}: waited {gap:?}, want >= {} ms",
            d / 2
        );
    }
    // Uncapped, retry 4 would wait at least 480 / 2 = 240 ms.
    let last = at(5) - at(4);
    assert!(
        last < ms(240),
        "retry 4 waited {last:?}: max_delay_ms not applied"
    );
    let backoff = n(&outcome.source("alpha")["waits_ms"], "backoff");
    assert!(backoff >= (60 + 120 * 3) / 2, "waits_ms.backoff {backoff}");
}

/// The retry of a 429 waits its `Retry-After: 1` (the mock sees the gap),
/// and that wait is counted under `retry_after`, not `backoff`.
#[test]
fn status_429_waits_its_retry_after_then_recovers() {
    let (server, outcome) = recovers_after_one(FaultKind::RetryAfter(429, "1".into()), json!({}));
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.429", 1),
            ("retries_by_cause.429", 1),
        ])
    );
    let (first, retry) = (
        logged(&server, "alpha", 2, 1),
        logged(&server, "alpha", 2, 2),
    );
    assert_eq!(first.outcome, Served::Status(429));
    // The retry cannot leave before the 429 arrived + 1 s; 20 ms of slack
    // for the granularity of the two clocks readings.
    let gap = retry.at - first.at;
    assert!(
        gap >= Duration::from_millis(980),
        "429 → retry gap {gap:?}, want >= 1 s"
    );
    let waits = &src["waits_ms"];
    assert!(n(waits, "retry_after") >= 950, "retry_after wait: {waits}");
    assert_eq!(
        n(waits, "backoff"),
        0,
        "the larger wait takes it all: {waits}"
    );
}

/// A transport fault on page 2's first attempt: counted as `transport`,
/// retried once, recovered.
fn transport_fault_recovers(kind: FaultKind, served: Served) {
    let (server, outcome) = recovers_after_one(kind.clone(), json!({}));
    assert_eq!(logged(&server, "alpha", 2, 1).outcome, served, "{kind:?}");
    // A truncated answer's head (200) did arrive; close and reset never
    // answered at all.
    let heads = if served == Served::Truncated { 4 } else { 3 };
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", heads),
            ("responses.204", 1),
            ("errors.transport", 1),
            ("retries_by_cause.transport", 1),
        ]),
        "{kind:?}"
    );
}

#[test]
fn connection_closed_before_any_answer_is_a_transport_retry() {
    transport_fault_recovers(FaultKind::Close, Served::Closed);
}

#[test]
fn truncated_body_is_a_transport_retry() {
    transport_fault_recovers(FaultKind::Truncate, Served::Truncated);
}

#[test]
fn connection_reset_is_a_transport_retry() {
    transport_fault_recovers(FaultKind::Reset, Served::Reset);
}

/// An answer slower than `read_ms` is cut at `read_ms` and retried.
#[test]
fn answer_slower_than_read_ms_is_a_timeout_retry() {
    let (server, outcome) = recovers_after_one(
        FaultKind::Delay(Duration::from_millis(600)),
        json!({"timeouts": {"read_ms": 200}}),
    );
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.timeout", 1),
            ("retries_by_cause.timeout", 1),
        ])
    );
    // The client gave up after its read budget, not after the server's 600 ms.
    let gap = logged(&server, "alpha", 2, 2).at - logged(&server, "alpha", 2, 1).at;
    assert!(
        gap >= Duration::from_millis(200),
        "timeout → retry gap {gap:?}"
    );
}

// ---------------------------------------------------------------------------
// Non-retryable faults: one attempt, the page is given up, pagination steps
// over it (page style), the run is partial.

/// Page 2 of a 3-page source fails with `kind` on every attempt; returns the
/// run after checking what every non-retryable fault has in common.
fn given_up_at_once(kind: FaultKind, overrides: Value) -> (MockServer, Outcome) {
    let server = serve(alpha(3).faults_for_every_attempt(2, kind.clone()));
    let outcome = run(&config(&server, overrides));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1), (3, 1), (4, 1)]),
        "{kind:?}: exactly one attempt at page 2, then on"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{kind:?}: stepped over: {src:#}");
    assert_eq!(outcome.exit_code(), 3, "{kind:?}: a page was given up");
    assert_eq!(outcome.summary["status"], "partial");
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2)],
        "{kind:?}"
    );
    assert!(src["stopped_at_url"].is_null());
    assert_received(&outcome, &server, "alpha", [1, 3]);
    (server, outcome)
}

#[test]
fn malformed_json_is_given_up_at_once_and_stepped_over() {
    let (_server, outcome) = given_up_at_once(FaultKind::MalformedJson, json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.malformed_json", 1),
        ])
    );
}

#[test]
fn status_404_is_a_client_error_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::Status(404), json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 2),
            ("responses.204", 1),
            ("responses.404", 1),
            ("errors.client_error", 1),
        ])
    );
}

/// SPEC §4: "3xx left after redirects" is non-retryable. A 302 without a
/// `Location` cannot be followed, so it is left: one attempt, counted as a
/// `client_error`, never retried (nor counted toward the breaker).
#[test]
fn redirect_without_location_is_a_client_error_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::Status(302), json!({}));
    let got = counters(outcome.source("alpha"));
    assert_eq!(got.get("errors.client_error"), Some(&1), "{got:?}");
    assert_eq!(got.get("failed_pages"), Some(&1), "{got:?}");
    assert_eq!(got.get("retries"), None, "{got:?}");
}

#[test]
fn body_over_max_body_bytes_is_given_up_at_once() {
    // Normal pages of 3 flat items are a few hundred bytes.
    let (_server, outcome) = given_up_at_once(
        FaultKind::Oversized(16 * 1024),
        json!({"max_body_bytes": 4096}),
    );
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.body_too_large", 1),
        ])
    );
}

#[test]
fn body_without_an_item_array_is_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::NoItems, json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.no_items", 1),
        ])
    );
}

/// A retryable fault on every attempt: exactly `1 + max_retries` attempts,
/// then the page is given up and pagination goes on. The breaker threshold
/// is out of reach so only the retry budget is at work.
#[test]
fn retryable_fault_on_every_attempt_is_given_up_after_one_plus_max_retries() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({"retry": {"max_retries": 4}, "breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 5), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 8),
            ("pages", 3),
            ("failed_pages", 1),
            ("retries", 4),
            ("responses.200", 2),
            ("responses.204", 1),
            ("responses.503", 5),
            ("retries_by_cause.5xx", 4),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2)]
    );
    assert_received(&outcome, &server, "alpha", [1, 3]);
}

// ---------------------------------------------------------------------------
// Ends that are not end of data.

#[test]
fn endless_page_numbers_stop_at_max_pages_with_the_next_url() {
    let server = serve(alpha(3).endless().fault(2, 1, FaultKind::Status(500)));
    let outcome = run(&config(&server, json!({"max_pages": 6})));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1), (5, 1), (6, 1)]),
        "exactly max_pages pages (a retry is not a page)"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "max_pages");
    assert_eq!(
        src["stopped_at_url"],
        json!(format!("{}?page=7&limit={IPP}", server.source_url("alpha")))
    );
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 6),
            ("retries", 1),
            ("responses.200", 6),
            ("responses.500", 1),
            ("retries_by_cause.5xx", 1),
        ])
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", 1..=6);
}

/// The endless pointer styles point from their last page back to page 2:
/// a loop, detected before the repeated page is requested.
#[test]
fn endless_pointers_are_a_pagination_loop() {
    for style in [Style::Cursor, Style::NextUrl, Style::LinkHeader] {
        let server = serve(
            MockSource::new("loop", style, 3, IPP)
                .shape(Shape::Flat)
                .endless(),
        );
        let outcome = run(&config(&server, json!({})));
        assert_eq!(
            attempts(&server, "loop"),
            per_page(&[(1, 1), (2, 1), (3, 1)]),
            "{style:?}: no page twice"
        );
        let src = outcome.source("loop");
        assert_eq!(src["status"], "error", "{style:?}");
        assert_eq!(
            counters(src),
            want(&[
                ("requests", 3),
                ("pages", 3),
                ("responses.200", 3),
                ("errors.pagination_loop", 1),
            ]),
            "{style:?}"
        );
        assert_eq!(
            src["stopped_at_url"],
            json!(url_of(&server, "loop", 2)),
            "{style:?}: the loop's target"
        );
        assert_eq!(outcome.exit_code(), 3, "{style:?}");
        let expected = server.truth().source("loop").unwrap().expected(1..=3);
        assert_eq!(n(src, "items"), expected.items, "{style:?}");
    }
}

// ---------------------------------------------------------------------------
// Step-over rules.

/// A page lost after its retries: `page`, `offset` and `link_header` (whose
/// failed answer still carries its `Link`) step over it and complete; the
/// other styles cannot know where to go and stop with `error` at it.
#[test]
fn a_lost_page_is_stepped_over_only_where_the_style_can() {
    let status = FaultKind::Status(503);
    let cases = [
        (Style::Page, status.clone(), true),
        (Style::Offset, status.clone(), true),
        (Style::LinkHeader, status.clone(), true),
        // A closed connection carries no Link header to step over with.
        (Style::LinkHeader, FaultKind::Close, false),
        (Style::Cursor, status.clone(), false),
        (Style::NextUrl, status.clone(), false),
        (Style::None, status, false),
    ];
    for (style, fault, steps_over) in cases {
        let pages = if style == Style::None { 1 } else { 4 };
        let lost = if style == Style::None { 1 } else { 2 };
        let name = style.config_name();
        let server = serve(
            MockSource::new(name, style, pages, IPP)
                .shape(Shape::Flat)
                .faults_for_every_attempt(lost, fault),
        );
        let outcome = run(&config(
            &server,
            json!({"retry": {"max_retries": 1}, "breaker": {"failure_threshold": 10}}),
        ));
        let src = outcome.source(name);
        let lost_url = url_of(&server, name, lost);
        assert_eq!(
            strings(&src["failed_page_urls"]),
            [lost_url.as_str()],
            "{name}"
        );
        assert_eq!(n(src, "failed_pages"), 1, "{name}");
        assert_eq!(outcome.exit_code(), 3, "{name}");
        let seen = attempts(&server, name);
        assert_eq!(
            seen.get(&lost),
            Some(&2),
            "{name}: 1 + max_retries attempts"
        );
        let received: Vec<usize> = (1..=pages).filter(|&p| p != lost).collect();
        if steps_over {
            assert_eq!(src["status"], "complete", "{name}: {src:#}");
            assert!(src["stopped_at_url"].is_null(), "{name}");
            assert!(
                received.iter().all(|p| seen.get(p) == Some(&1)),
                "{name}: every other page once: {seen:?}"
            );
            assert_received(&outcome, &server, name, received);
        } else {
            assert_eq!(src["status"], "error", "{name}: {src:#}");
            assert_eq!(src["stopped_at_url"], json!(lost_url), "{name}");
            assert_eq!(
                seen.keys().copied().collect::<Vec<_>>(),
                (1..=lost).collect::<Vec<_>>(),
                "{name}: nothing requested after the lost page"
            );
            assert_received(&outcome, &server, name, 1..lost);
        }
    }
}

/// `max_failed_pages_in_a_row` pages given up one after another stop the
/// source (at the page it would fetch next); a good page in between resets
/// the count.
#[test]
fn failed_pages_in_a_row_stop_the_source_but_a_good_page_resets_the_count() {
    let policies = json!({"max_failed_pages_in_a_row": 2});

    let server = serve(
        alpha(6)
            .faults_for_every_attempt(2, FaultKind::Status(404))
            .faults_for_every_attempt(3, FaultKind::NoItems),
    );
    let outcome = run(&config(&server, policies.clone()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1), (3, 1)]),
        "stopped right after the second failure in a row"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "error", "{src:#}");
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2), url_of(&server, "alpha", 3)]
    );
    assert_eq!(
        src["stopped_at_url"],
        json!(format!("{}?page=4&limit={IPP}", server.source_url("alpha")))
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);

    let server = serve(
        alpha(6)
            .faults_for_every_attempt(2, FaultKind::Status(404))
            .faults_for_every_attempt(4, FaultKind::NoItems),
    );
    let outcome = run(&config(&server, policies));
    assert_eq!(
        attempts(&server, "alpha"),
        (1..=7).map(|p| (p, 1)).collect::<BTreeMap<_, _>>()
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(n(src, "failed_pages"), 2);
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1, 3, 5, 6]);
}

// ---------------------------------------------------------------------------
// Circuit breaker.

const COOLDOWN_MS: u64 = 300;

/// Threshold 3, a 300 ms cooldown, near-zero backoff and enough retries
/// that the page is never given up first: only the breaker can make gaps.
fn breaker_policies() -> Value {
    json!({
        "breaker": {"failure_threshold": 3, "cooldown_ms": COOLDOWN_MS},
        "retry": {"max_retries": 6, "base_delay_ms": 1, "max_delay_ms": 2},
    })
}

/// Page 2 of a 3-page source answers 503 to its first `failures` attempts.
fn breaker_run(failures: u32) -> (MockServer, Outcome, Vec<LoggedRequest>) {
    let mut source = alpha(3);
    for attempt in 1..=failures {
        source = source.fault(2, attempt, FaultKind::Status(503));
    }
    let server = serve(source);
    let outcome = run(&config(&server, breaker_policies()));
    let log = server.requests();
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, failures + 1), (3, 1), (4, 1)])
    );
    assert_eq!(outcome.source("alpha")["status"], "complete");
    assert_eq!(outcome.exit_code(), 0, "the page recovered");
    assert_received(&outcome, &server, "alpha", 1..=3);
    (server, outcome, log)
}

/// Gaps between consecutive requests of the log, as (from, to, gap).
fn gaps(log: &[LoggedRequest]) -> Vec<(String, String, Duration)> {
    let label = |r: &LoggedRequest| format!("p{}a{}", r.page, r.attempt);
    log.windows(2)
        .map(|w| (label(&w[0]), label(&w[1]), w[1].at - w[0].at))
        .collect()
}

/// Asserts which gaps of the log are cooldowns: those listed in `long`
/// (as "from→to") are at least the cooldown, all others well under it.
fn assert_cooldowns(log: &[LoggedRequest], long: &[&str]) {
    let cooldown = Duration::from_millis(COOLDOWN_MS);
    for (from, to, gap) in gaps(log) {
        let name = format!("{from}→{to}");
        if long.contains(&name.as_str()) {
            assert!(
                gap >= cooldown,
                "{name}: {gap:?} < cooldown; log gaps: {:?}",
                gaps(log)
            );
        } else {
            // Expected ~2 ms (backoff and a local round trip).
            assert!(
                gap < cooldown / 2,
                "{name}: {gap:?}, no wait expected; log gaps: {:?}",
                gaps(log)
            );
        }
    }
}

/// Three failures open the breaker; nothing is sent for the cooldown; the
/// one probe succeeds and closes it, so the next pages flow at once.
#[test]
fn breaker_opens_after_threshold_and_a_good_probe_closes_it() {
    let (_server, outcome, log) = breaker_run(3);
    assert_cooldowns(&log, &["p2a3→p2a4"]);
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 4),
            ("retries", 3),
            ("breaker_opens", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.503", 3),
            ("retries_by_cause.5xx", 3),
        ])
    );
    let breaker_wait = n(&src["waits_ms"], "breaker");
    assert!(
        breaker_wait >= COOLDOWN_MS - 10,
        "waits_ms.breaker {breaker_wait}"
    );
}

/// A failed probe reopens the breaker for a full cooldown: exactly one
/// request between the two cooldowns, then the next probe succeeds.
#[test]
fn breaker_failed_probe_reopens_for_a_full_cooldown() {
    let (_server, outcome, log) = breaker_run(4);
    assert_cooldowns(&log, &["p2a3→p2a4", "p2a4→p2a5"]);
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 8),
            ("pages", 4),
            ("retries", 4),
            ("breaker_opens", 2),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.503", 4),
            ("retries_by_cause.5xx", 4),
        ])
    );
    let breaker_wait = n(&src["waits_ms"], "breaker");
    assert!(
        breaker_wait >= 2 * COOLDOWN_MS - 20,
        "waits_ms.breaker {breaker_wait}"
    );
}

/// In CLOSED a non-retryable failure neither trips nor resets the count:
/// two 503s, a 404 (page given up), then one more 503 on the next page
/// is the third in a row and opens the breaker.
#[test]
fn breaker_counts_through_a_non_retryable_failure() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(503))
            .fault(2, 2, FaultKind::Status(503))
            .fault(2, 3, FaultKind::Status(404))
            .fault(3, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(&server, breaker_policies()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 3), (3, 2), (4, 1)])
    );
    assert_cooldowns(&server.requests(), &["p3a1→p3a2"]);
    let src = outcome.source("alpha");
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(src, "failed_pages"), 1);
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1, 3]);
}

/// A non-retryable answer to the probe proves the server is up: it closes
/// the breaker (count back to 0), so the next page's single 503 is
/// retried at once, without a cooldown.
#[test]
fn a_non_retryable_probe_answer_closes_the_breaker() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(503))
            .fault(2, 2, FaultKind::Status(503))
            .fault(2, 3, FaultKind::Status(503))
            .fault(2, 4, FaultKind::Status(404))
            .fault(3, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(&server, breaker_policies()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 2), (4, 1)])
    );
    assert_cooldowns(&server.requests(), &["p2a3→p2a4"]);
    let src = outcome.source("alpha");
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(src, "failed_pages"), 1);
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
}

/// A cooldown that would end past the deadline is not waited out: the
/// source stops at once, and says its breaker was open.
#[test]
fn the_deadline_during_a_cooldown_is_breaker_open() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 1, "cooldown_ms": 5000}, "deadline_ms": 1000}),
    ));
    assert!(
        outcome.elapsed < Duration::from_millis(1000),
        "run took {:?}: it waited instead of stopping",
        outcome.elapsed
    );
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "breaker_open", "{src:#}");
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(&src["waits_ms"], "breaker"), 0, "no cooldown was started");
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);
}

// ---------------------------------------------------------------------------
// Pacing.

/// In any window of t seconds at most `burst + per_second × t` requests,
/// retries included, checked on every window of the mock's log.
#[test]
fn requests_never_outpace_the_token_bucket() {
    const PER_SECOND: f64 = 50.0;
    const BURST: usize = 5;
    let server = serve(
        MockSource::new("alpha", Style::Page, 40, 2)
            .fault(10, 1, FaultKind::Status(503))
            .fault(20, 1, FaultKind::Status(503))
            .fault(30, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(
        &server,
        json!({"rate_limit": {"per_second": PER_SECOND, "burst": BURST}}),
    ));
    assert_eq!(outcome.source("alpha")["status"], "complete");
    let log = server.requests();
    assert_eq!(log.len(), 44, "40 pages, 3 retries and the 204");
    // The log holds arrival times, not token times: a request that spent
    // longer in transit than a later one shrinks the window it starts. One
    // request of slack (20 ms at 50/s) covers that loopback jitter and the
    // timer granularity of the bucket's refill.
    const SLACK: f64 = 1.0;
    for i in 0..log.len() {
        for j in i + 1..log.len() {
            let t = (log[j].at - log[i].at).as_secs_f64();
            let sent = (j - i + 1) as f64;
            let allowed = BURST as f64 + PER_SECOND * t + SLACK;
            assert!(
                sent <= allowed,
                "{sent} requests in {t:.3} s (requests {i}..={j}), allowed {allowed:.2}"
            );
        }
    }
    // A lower bound on the whole run is never flaky.
    let floor = (log.len() - BURST) as f64 / PER_SECOND * 0.9;
    assert!(
        outcome.elapsed.as_secs_f64() >= floor,
        "run took {:?}, the bucket allows no less than {floor:.3} s",
        outcome.elapsed
    );
    assert!(n(&outcome.source("alpha")["waits_ms"], "rate_limit") > 0);
}

// ---------------------------------------------------------------------------
// Deadline.

/// A server that never answers page 2 cannot hold the run past its
/// deadline: the other sources complete, what arrived is written.
#[test]
fn a_hanging_server_is_cut_at_the_deadline() {
    let scenario = Scenario::new(SEED)
        .with(alpha(4).faults_for_every_attempt(2, FaultKind::Hang))
        .with(MockSource::new("beta", Style::Offset, 3, IPP).shape(Shape::Flat))
        .with(MockSource::new("gamma", Style::Cursor, 3, IPP).shape(Shape::Flat));
    let server = MockServer::start(scenario).unwrap();
    // read_ms beyond the deadline: only the deadline can cut the request.
    let outcome = run(&config(
        &server,
        json!({"deadline_ms": 3000, "timeouts": {"read_ms": 10000}}),
    ));
    assert!(
        outcome.elapsed < Duration::from_secs(4),
        "run took {:?} with a 3 s deadline",
        outcome.elapsed
    );
    let status = |name: &str| outcome.source(name)["status"].clone();
    assert_eq!(
        [status("alpha"), status("beta"), status("gamma")],
        [json!("deadline"), json!("complete"), json!("complete")]
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(outcome.summary["status"], "partial");
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1)]),
        "one attempt at the hanging page, cut at the deadline"
    );
    let got = counters(outcome.source("alpha"));
    assert_eq!(
        got.get("errors.timeout"),
        None,
        "a cut is not a server timeout: {got:?}"
    );
    assert_eq!(
        outcome.source("alpha")["stopped_at_url"],
        json!(url_of(&server, "alpha", 2))
    );
    assert_received(&outcome, &server, "alpha", [1]);
    assert_received(&outcome, &server, "beta", 1..=3);
    assert_received(&outcome, &server, "gamma", 1..=3);
}

/// A Retry-After that would end past the deadline is not waited out: the
/// source stops at once, long before the deadline itself.
#[test]
fn a_retry_after_past_the_deadline_is_not_waited() {
    let server = serve(alpha(3).fault(2, 1, FaultKind::RetryAfter(429, "30".into())));
    let outcome = run(&config(&server, json!({"deadline_ms": 1500})));
    assert!(
        outcome.elapsed < Duration::from_millis(1500),
        "run took {:?}: it waited instead of stopping",
        outcome.elapsed
    );
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "deadline");
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 2),
            ("pages", 1),
            ("responses.200", 1),
            ("responses.429", 1)
        ])
    );
    let waits = &src["waits_ms"];
    assert_eq!(
        (n(waits, "retry_after"), n(waits, "backoff")),
        (0, 0),
        "no wait was started: {waits}"
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);
}

// ---------------------------------------------------------------------------
// Chaos and interrupts.

/// Everything the mock answered well is in the output, every page it never
/// answered well is listed as failed, and nothing else.
#[test]
fn nothing_is_lost_in_chaos() {
    let mut scenario = Scenario::chaos(SEED, 8, 10);
    // Flat items everywhere: this test is about what the fetch path loses,
    // so record keys must not depend on the normalizer's shape handling.
    for source in &mut scenario.sources {
        source.shape = Shape::Flat;
    }
    let server = MockServer::start(scenario).unwrap();
    let outcome = run(&config(&server, json!({})));
    assert_eq!(outcome.exit_code(), 3, "chaos loses pages");
    let log = server.requests();
    for source in &server.scenario().sources {
        let name = source.name.as_str();
        // A good answer: a complete 200 or 204 whose scripted fault (if
        // any) does not fail (Delay stays under read_ms here).
        let good = |r: &LoggedRequest| {
            matches!(r.outcome, Served::Status(200 | 204))
                && source
                    .fault_for(r.page, r.attempt)
                    .and_then(FaultKind::failure)
                    .is_none()
        };
        let mut good_pages: Vec<usize> = Vec::new();
        let mut requested: Vec<usize> = Vec::new();
        for r in log.iter().filter(|r| r.source == name) {
            if !requested.contains(&r.page) {
                requested.push(r.page);
            }
            if good(r) {
                assert!(
                    !good_pages.contains(&r.page),
                    "{name}: page {} fetched after a good answer",
                    r.page
                );
                good_pages.push(r.page);
            }
        }
        let lost: Vec<usize> = requested
            .iter()
            .copied()
            .filter(|p| !good_pages.contains(p))
            .collect();
        assert_eq!(
            lost,
            source.lost_pages(4),
            "{name}: pages never answered well"
        );
        let src = outcome.source(name);
        let lost_urls: BTreeSet<String> = lost.iter().map(|&p| url_of(&server, name, p)).collect();
        let listed: BTreeSet<String> = strings(&src["failed_page_urls"]).into_iter().collect();
        assert_eq!(listed, lost_urls, "{name}: failed_page_urls");
        assert_eq!(n(src, "failed_pages"), lost.len() as u64, "{name}");
        assert_eq!(
            src["status"], "complete",
            "{name}: every lost page stepped over: {src:#}"
        );
        assert_received(&outcome, &server, name, good_pages);
    }
}

/// An interrupt stops a slow source within a second, keeps what arrived,
/// writes both outputs, and leaves finished sources as they were.
#[test]
fn an_interrupt_stops_promptly_and_keeps_what_arrived() {
    let scenario = Scenario::new(SEED)
        .with(MockSource::new("alpha", Style::Page, 200, 2))
        .with(MockSource::new("beta", Style::None, 1, IPP).shape(Shape::Flat));
    let server = MockServer::start(scenario).unwrap();
    let config = config(
        &server,
        json!({"rate_limit": {"per_second": 20, "burst": 1}}),
    );
    let interrupted_at = OnceLock::new();
    let outcome = run_with(&config, |control| {
        std::thread::sleep(Duration::from_millis(200));
        interrupted_at.set(Instant::now()).unwrap();
        control.interrupt();
    });
    let after = Instant::now() - *interrupted_at.get().unwrap();
    assert!(
        after < Duration::from_millis(1500),
        "ended {after:?} after the interrupt"
    );
    assert_eq!(outcome.exit_code(), 130);
    assert_eq!(outcome.summary["status"], "interrupted");
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "interrupted");
    assert!(src["stopped_at_url"].is_string(), "{src:#}");
    assert_eq!(outcome.source("beta")["status"], "complete");
    assert!(
        n(src, "records") > 0,
        "what arrived before the interrupt is kept"
    );
    assert!(
        attempts(&server, "alpha").len() < 200,
        "the slow source was stopped early"
    );
}

/// An interrupt also cuts a request in flight: a server that never answers
/// cannot hold the run (read_ms is far beyond the test).
#[test]
fn an_interrupt_cuts_a_request_in_flight() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Hang));
    let config = config(&server, json!({"timeouts": {"read_ms": 10000}}));
    let interrupted_at = OnceLock::new();
    let outcome = run_with(&config, |control| {
        // Wait until the hanging request has reached the mock.
        let give_up = Instant::now() + Duration::from_secs(5);
        while !server.requests().iter().any(|r| r.page == 2) {
            assert!(Instant::now() < give_up, "page 2 was never requested");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        interrupted_at.set(Instant::now()).unwrap();
        control.interrupt();
    });
    let after = Instant::now() - *interrupted_at.get().unwrap();
    assert!(
        after < Duration::from_secs(1),
        "ended {after:?} after the interrupt"
    );
    assert_eq!(outcome.exit_code(), 130);
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "interrupted");
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    let got = counters(src);
    assert!(
        !got.keys().any(|k| k.starts_with("errors.")),
        "a cut is not the server's failure: {got:?}"
    );
    assert_received(&outcome, &server, "alpha", [1]);
}
