//! Politeness and APIs as they really are (SPEC §3, §4, §6): quota
//! headers of each family, decimal `Retry-After`, the pagination keys of
//! real APIs (`total_items_path`, `has_more_path`, `last_item_path`), a
//! server that ignores the position, and the words a source leaves behind
//! (`stop_reason`, `failed_page_errors`).
//!
//! Each test runs the pipeline in-process against a testsupport mock and
//! checks what the mock saw (its request log, its quota refusals) against
//! what the summary says and what was written; the harness checks the
//! accounting identity on every run. Quota windows are a few hundred
//! milliseconds; time is asserted only as generous lower bounds (a wait
//! did happen) or as "it did not wait for the deadline".

use std::collections::BTreeSet;
use std::time::Duration;

use ingest::Config;
use serde_json::{json, Value};
use testsupport::{FaultKind, MockServer, MockSource, Quota, QuotaFamily, Scenario, Style};

use crate::support::{fast_policies_with, n, run, Outcome};

const SEED: u64 = 1313;
/// Items per page of the small sources.
const IPP: usize = 3;

fn serve(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(SEED).with(source)).unwrap()
}

/// The mock's config over `fast_policies_with(policies)`, its one source
/// changed by `patch` first.
fn config(server: &MockServer, policies: Value, patch: impl FnOnce(&mut Value)) -> Config {
    let mut doc = server.config_json();
    patch(&mut doc["sources"][0]);
    for (k, v) in fast_policies_with(policies).as_object().unwrap() {
        doc[k] = v.clone();
    }
    Config::parse("test config", &doc.to_string()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"))
}

/// The mock's own config over the fast policies.
fn plain(server: &MockServer) -> Config {
    config(server, json!({}), |_| {})
}

/// Pages the mock was asked for, in order of arrival.
fn pages_asked(server: &MockServer) -> Vec<usize> {
    server.requests().iter().map(|r| r.page).collect()
}

/// The source received exactly what the mock served on pages `1..=pages`
/// (counts and record keys, under the product schema), and ended clean.
fn assert_complete(outcome: &Outcome, server: &MockServer, pages: usize) {
    let src = outcome.only();
    let name = server.scenario().sources[0].name.as_str();
    let expected = server.truth().source(name).unwrap().expected(1..=pages);
    assert_eq!(
        (n(src, "items"), n(src, "records"), n(src, "duplicates")),
        (expected.items, expected.records(), expected.duplicates),
        "{name}: (items, records, duplicates) got vs served"
    );
    assert_eq!(outcome.keys(), expected.keys, "{name}: record keys");
    assert_clean(outcome);
}

/// Status complete, exit 0, nothing given up, no stop reason.
fn assert_clean(outcome: &Outcome) {
    let src = outcome.only();
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(outcome.exit_code(), 0, "{src:#}");
    assert_eq!(n(src, "failed_pages"), 0, "{src:#}");
    assert_eq!(src["failed_page_errors"], json!([]));
    assert_eq!(src["stop_reason"], Value::Null, "{src:#}");
}

// ---------------------------------------------------------------- quotas

/// A source of `pages` pages of [`IPP`] items in `style`, under `quota`.
fn quota_source(style: Style, pages: usize, quota: Quota) -> MockSource {
    MockSource::new("api", style, pages, IPP).quota(quota)
}

/// What SPEC §4 promises against each header family, with windows of
/// 300 ms: (1) a quota announced on every answer is never exceeded — the
/// source waits at remaining 0, and the server refuses nothing; (2) a
/// quota already used up (by another client) is refused once, with 429
/// or GitHub's 403 and remaining 0, and the source waits for the reset
/// and completes, the refusal no `client_error`; (3) a reset past the
/// deadline is not waited for: the source stops with `deadline` and says
/// it was waiting for the quota.
fn quota_family_is_obeyed(family: QuotaFamily, style: Style) {
    let window = Duration::from_millis(300);

    // (1) Announced: 8 pages at 3 per window, never refused.
    let server = serve(quota_source(style, 8, Quota::new(family, 3, window)));
    let o = run(&plain(&server));
    assert_complete(&o, &server, 8);
    let src = o.only();
    assert_eq!(server.quota_refusals("api"), 0, "{family:?}: {src:#}");
    let requests = server.requests().len() as u64;
    assert_eq!(n(src, "requests"), requests);
    assert!(requests >= 8, "{family:?}: {requests} requests");
    // At least two resets waited for (8 requests at 3 a window), each
    // nearly a window: the first request of a window is answered with
    // 2 left, so the wait starts after the third.
    assert!(
        n(&src["waits_ms"], "quota") >= 2 * 200,
        "{family:?}: {}",
        src["waits_ms"]
    );
    assert_eq!(n(src, "retries"), 0, "{family:?}: {src:#}");

    // (2) Used up by someone else: one refusal, then obeyed.
    for status in [429, 403] {
        let quota = Quota::new(family, 3, window)
            .refusing_with(status)
            .used_up();
        let server = serve(quota_source(style, 4, quota));
        let o = run(&plain(&server));
        assert_complete(&o, &server, 4);
        let src = o.only();
        let said = format!("{family:?} {status}: {src:#}");
        assert_eq!(server.quota_refusals("api"), 1, "{said}");
        assert_eq!(n(&src["responses"], &status.to_string()), 1, "{said}");
        assert_eq!(n(&src["errors"], "client_error"), 0, "{said}");
        assert_eq!(n(&src["retries_by_cause"], "quota"), 1, "{said}");
        assert_eq!(n(src, "breaker_opens"), 0, "{said}");
        assert!(n(&src["waits_ms"], "quota") > 0, "{said}");
        let refused = &server.requests()[0];
        let retried = &server.requests()[1];
        assert!(
            retried.at - refused.at >= Duration::from_millis(250),
            "{said}: the retry came {:?} after the refusal",
            retried.at - refused.at
        );
    }

    // (3) A reset a minute away, a deadline in 5 s: not waited for.
    let quota = Quota::new(family, 2, Duration::from_secs(60));
    let server = serve(quota_source(style, 5, quota));
    let o = run(&config(&server, json!({"deadline_ms": 5000}), |_| {}));
    let src = o.only();
    assert_eq!(src["status"], "deadline", "{family:?}: {src:#}");
    let reason = src["stop_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("waiting") && reason.contains("for the quota to reset"),
        "{family:?}: {reason:?}"
    );
    assert_eq!(server.quota_refusals("api"), 0);
    assert_eq!(server.requests().len(), 2, "{family:?}");
    assert_eq!(n(src, "pages"), 2);
    assert!(
        o.elapsed < Duration::from_secs(4),
        "{family:?}: the wait was not started, yet the run took {:?}",
        o.elapsed
    );
    assert_eq!(o.exit_code(), 3);
}

/// `RateLimit: "default";r=N;t=S` (the IETF draft), on page numbers.
#[test]
fn the_ratelimit_draft_header_is_obeyed() {
    quota_family_is_obeyed(QuotaFamily::Draft, Style::Page);
}

/// `RateLimit-Remaining` / `RateLimit-Reset` (seconds), on offsets.
#[test]
fn ratelimit_remaining_and_reset_are_obeyed() {
    quota_family_is_obeyed(QuotaFamily::RateLimit, Style::Offset);
}

/// GitHub's `X-RateLimit-Remaining` / `X-RateLimit-Reset` (an epoch
/// second), on `Link` headers as GitHub paginates.
#[test]
fn github_x_ratelimit_headers_are_obeyed() {
    quota_family_is_obeyed(QuotaFamily::GitHub, Style::LinkHeader);
}

/// A source of 3 pages whose page 1 is answered with `status` (200: its
/// items) and these header lines.
fn announcing(status: u16, headers: &[(&str, &str)]) -> MockServer {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serve(MockSource::new("alpha", Style::Page, 3, IPP).fault(
        1,
        1,
        FaultKind::WithHeaders(status, headers),
    ))
}

/// SPEC §4: a reset further away than an hour is capped at an hour and
/// logged, whatever its size — never a panic (a reset near 2^63 once
/// overflowed the clock: exit 1, page 1's items lost), never ignored
/// (10^30 or u64::MAX once let the source go on sending at remaining 0).
/// Each case answers page 1 with remaining 0 (with its items, or as a
/// 429): an hour's wait would end past the 5 s deadline, so it is not
/// started — the source stops `deadline` at once, says it was the quota,
/// and keeps what page 1 brought.
#[test]
fn a_quota_reset_of_any_size_is_capped_at_an_hour() {
    let digits_400 = format!("1{}", "0".repeat(400));
    let remaining_0 = |family: &str, reset: &str| -> Vec<(String, String)> {
        vec![
            (format!("{family}-Remaining"), "0".into()),
            (format!("{family}-Reset"), reset.into()),
        ]
    };
    let cases = [
        (
            "i64::MAX seconds",
            200,
            remaining_0("RateLimit", "9223372036854775807"),
        ),
        (
            "1.7e19 epoch",
            200,
            remaining_0("X-RateLimit", "17000000000000000000"),
        ),
        (
            "u64::MAX",
            200,
            remaining_0("X-RateLimit", "18446744073709551615"),
        ),
        (
            "10^30",
            200,
            remaining_0("RateLimit", "1000000000000000000000000000000"),
        ),
        ("400 digits", 200, remaining_0("RateLimit", &digits_400)),
        (
            "a 429 at i64::MAX",
            429,
            remaining_0("RateLimit", "9223372036854775807"),
        ),
        (
            "an exponent past f64",
            200,
            vec![("RateLimit".into(), "\"default\";r=0;t=1e400".into())],
        ),
        (
            "a day on a second RateLimit line",
            200,
            vec![
                ("RateLimit".into(), "\"burst\";r=9;t=1".into()),
                ("RateLimit".into(), "\"day\";r=0;t=86400".into()),
            ],
        ),
    ];
    for (case, status, headers) in cases {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let server = announcing(status, &headers);
        let o = run(&config(&server, json!({"deadline_ms": 5000}), |_| {}));
        let src = o.only();
        assert_eq!(src["status"], "deadline", "{case}: {src:#}");
        let reason = src["stop_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("waiting 3600 s for the quota to reset"),
            "{case}: {reason:?}"
        );
        assert_eq!(
            pages_asked(&server),
            [1],
            "{case}: nothing sent at remaining 0"
        );
        let kept: &[usize] = if status == 200 { &[1] } else { &[] };
        let expected = server
            .truth()
            .source("alpha")
            .unwrap()
            .expected(kept.iter().copied());
        assert_eq!(o.keys(), expected.keys, "{case}: page 1's records");
        assert!(
            o.elapsed < Duration::from_secs(3),
            "{case}: the wait was not started, yet the run took {:?}",
            o.elapsed
        );
        assert_eq!(o.exit_code(), 3, "{case}");
    }
}

/// Several quota values on one answer: the most restrictive wins (SPEC
/// §4). Page 1 carries a lenient value and a strict one (remaining 0,
/// reset in 300 ms) — on a second `RateLimit` line, or in another header
/// family. The strict one is obeyed: page 2 waits for the reset (before,
/// the second line or family was never read and page 2 went at once).
#[test]
fn the_most_restrictive_of_several_quota_values_is_obeyed() {
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            "a second RateLimit line",
            &[
                ("RateLimit", "\"hour\";r=900;t=3000"),
                ("RateLimit", "\"burst\";r=0;t=0.3"),
            ],
        ),
        (
            "RateLimit-* with quota left, X-Rate-Limit-* without",
            &[
                ("RateLimit-Remaining", "50"),
                ("RateLimit-Reset", "30"),
                ("X-Rate-Limit-Remaining", "0"),
                ("X-Rate-Limit-Reset", "0.3"),
            ],
        ),
        (
            "two families at 0: the later reset",
            &[
                ("RateLimit-Remaining", "0"),
                ("RateLimit-Reset", "0.01"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "0.3"),
            ],
        ),
    ];
    for (case, headers) in cases {
        let server = announcing(200, headers);
        let o = run(&plain(&server));
        assert_complete(&o, &server, 3);
        let log = server.requests();
        assert_eq!(pages_asked(&server), [1, 2, 3, 4], "{case}");
        let gap = log[1].at - log[0].at;
        assert!(
            gap >= Duration::from_millis(250),
            "{case}: page 2 came {gap:?} after a reset of 300 ms"
        );
        let src = o.only();
        assert!(
            n(&src["waits_ms"], "quota") >= 250,
            "{case}: {}",
            src["waits_ms"]
        );
    }
}

/// `Retry-After: 0.2` is 200 ms, not ignored and not rounded away: the
/// retry comes at least that long after the 429 (the backoff alone is at
/// most 20 ms here).
#[test]
fn a_decimal_retry_after_is_honoured_to_the_millisecond() {
    let source = MockSource::new("alpha", Style::Page, 3, IPP).fault(
        2,
        1,
        FaultKind::RetryAfter(429, "0.2".into()),
    );
    let server = serve(source);
    let o = run(&plain(&server));
    assert_complete(&o, &server, 3);
    let log = server.requests();
    let at = |attempt| {
        log.iter()
            .find(|r| r.page == 2 && r.attempt == attempt)
            .unwrap()
            .at
    };
    let gap = at(2) - at(1);
    assert!(gap >= Duration::from_millis(200), "retried after {gap:?}");
    let src = o.only();
    assert!(
        n(&src["waits_ms"], "retry_after") >= 190,
        "{}",
        src["waits_ms"]
    );
    assert_eq!(n(&src["retries_by_cause"], "429"), 1);
}

// ------------------------------------------------------------ pagination

/// DRF's `count`: the source stops after page ceil(count / page size),
/// the page size being the first page's item count (DRF sets it), and
/// never asks for the page past the last, which would answer 404.
#[test]
fn total_items_path_ends_drf_pages_before_the_404() {
    let server = serve(MockSource::new("drf", Style::PageCount, 4, 5));
    let o = run(&config(&server, json!({}), |s| {
        s["record"] = json!({"id": "id", "fields": {"reference": "reference"}});
    }));
    assert_clean(&o);
    assert_eq!(pages_asked(&server), [1, 2, 3, 4], "nothing past the last");
    let truth = server.truth();
    let served: BTreeSet<String> = (1..=4)
        .flat_map(|p| truth.source("drf").unwrap().items(p))
        .map(|item| format!("drf:{}", item["id"]))
        .collect();
    assert_eq!(served.len(), 20);
    assert_eq!(o.keys(), served, "every order a record");
    assert_eq!(n(o.only(), "requests"), 4);
    assert_eq!(o.only()["warnings"], json!([]));

    // A page lost on the way: stepped over, the end still found by the
    // count, and the shortfall against it said.
    let lossy = MockSource::new("drf", Style::PageCount, 4, 5)
        .faults_for_every_attempt(2, FaultKind::Status(400));
    let server = serve(lossy);
    let o = run(&config(&server, json!({}), |s| {
        s["record"] = json!({"id": "id"});
    }));
    let src = o.only();
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(pages_asked(&server), [1, 2, 3, 4]);
    assert_eq!(
        src["warnings"],
        json!([
            "received 15 of the 20 items the server announced; the pagination may not be moving"
        ])
    );
}

/// `has_more_path` alone ends `page`, `offset` and `cursor`: no request
/// past the last page (no 204, no empty page), and for `cursor` the last
/// page's cursor, which points back to page 2, is not followed.
#[test]
fn has_more_path_ends_page_offset_and_cursor() {
    for style in [Style::Page, Style::Offset, Style::Cursor] {
        let server = serve(MockSource::new("more", style, 4, IPP).has_more());
        let o = run(&plain(&server));
        assert_complete(&o, &server, 4);
        assert_eq!(pages_asked(&server), [1, 2, 3, 4], "{style:?}");
        assert_eq!(n(&o.only()["errors"], "pagination_loop"), 0, "{style:?}");
    }
}

/// Stripe's lists: the cursor is the last item's `id`, sent as
/// `starting_after`; `has_more: false` ends the source on the last page.
/// Without `has_more_path` the empty page after the last ends it instead.
#[test]
fn last_item_path_follows_stripe_lists() {
    let server = serve(MockSource::new("stripe", Style::StartingAfter, 4, 5));
    let o = run(&plain(&server));
    assert_complete(&o, &server, 4);
    assert_eq!(o.records.len(), 20, "every charge a record");
    let truth = server.truth();
    let truth = truth.source("stripe").unwrap();
    let last_id = |page: usize| {
        let items = truth.items(page);
        items.last().unwrap()["id"].as_str().unwrap().to_string()
    };
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    let mut want = vec!["/stripe/charges".to_string()];
    want.extend((1..=3).map(|p| format!("/stripe/charges?starting_after={}", last_id(p))));
    assert_eq!(paths, want);

    let server = serve(MockSource::new("stripe", Style::StartingAfter, 4, 5));
    let o = run(&config(&server, json!({}), |s| {
        s["pagination"]
            .as_object_mut()
            .unwrap()
            .remove("has_more_path");
    }));
    assert_complete(&o, &server, 4);
    let last = server.requests().pop().unwrap();
    assert_eq!(
        (last.page, last.path),
        (5, format!("/stripe/charges?starting_after={}", last_id(4))),
        "then the empty list past the last"
    );
}

/// A server that ignores the position parameter answers page 2 with page
/// 1's bytes: a pagination loop, found at the second request — not 10,000
/// requests later at `max_pages`.
#[test]
fn a_server_ignoring_the_position_is_a_loop_after_two_requests() {
    for (style, words) in [
        (Style::Page, "page 2 repeats page 1"),
        (Style::Offset, "offset 3 repeats offset 0"),
    ] {
        let server = serve(MockSource::new("stuck", style, 5, IPP).ignoring_position());
        let o = run(&config(&server, json!({"max_pages": 10_000}), |_| {}));
        let src = o.only();
        assert_eq!(src["status"], "error", "{style:?}: {src:#}");
        assert_eq!(n(&src["errors"], "pagination_loop"), 1, "{style:?}");
        let reason = src["stop_reason"].as_str().unwrap();
        assert!(reason.contains(words), "{style:?}: {reason:?}");
        assert_eq!(n(src, "requests"), 2, "{style:?}");
        assert_eq!(server.requests().len(), 2, "{style:?}");
        assert_eq!(n(src, "records"), IPP as u64, "page 1's items, once");
        assert_eq!(o.exit_code(), 3);
    }
}

// ------------------------------------------------------ words left behind

/// A page given up says why in `failed_page_errors`: the kind, the status
/// and the start of the body — a 422 names what the server objected to —
/// with a secret the server echoed shown as `***`, in at most 200
/// characters. The source reached the end, and says pages were lost.
#[test]
fn a_422_given_up_says_what_the_server_objected_to() {
    const SECRET: &str = "tok3n-s3cret-value";
    let detail: Vec<Value> = (0..8)
        .map(|i| json!({"resource": "Product", "field": format!("field_{i}"), "code": "invalid"}))
        .collect();
    let body = json!({"message": "Validation Failed", "token": SECRET, "errors": detail});
    let source = MockSource::new("alpha", Style::Page, 3, IPP)
        .faults_for_every_attempt(2, FaultKind::StatusWithBody(422, body.to_string()));
    let server = serve(source);
    let o = run(&config(&server, json!({}), |s| {
        s["headers"] = json!({"Authorization": format!("Bearer {SECRET}")});
    }));
    let src = o.only();
    let errors: Vec<&str> = src["failed_page_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 1, "{src:#}");
    assert_eq!(src["failed_page_urls"].as_array().unwrap().len(), 1);
    let entry = errors[0];
    let start = r#"client_error: status 422: {"message":"Validation Failed","token":"***""#;
    assert!(entry.starts_with(start), "{entry}");
    assert!(
        entry.chars().count() <= 200,
        "{} chars",
        entry.chars().count()
    );
    assert!(entry.ends_with('…'), "a long body is cut: {entry}");
    assert!(
        !o.summary.to_string().contains(SECRET),
        "the secret nowhere"
    );
    assert_eq!(n(&src["errors"], "client_error"), 1);
    assert_eq!(n(src, "requests"), 4, "a 422 is not retried");
    assert_eq!(src["status"], "complete");
    let reason = src["stop_reason"].as_str().unwrap();
    assert!(reason.contains("1 page was given up"), "{reason:?}");
    assert_eq!(o.exit_code(), 3);
}

/// `stop_reason` is null when a source ends clean and one line saying why
/// whenever it did not: the deadline, `max_pages`, pages given up in a
/// row, a next pointer it cannot use — in the summary and under the end
/// table.
#[test]
fn stop_reason_says_why_a_source_did_not_end_cleanly() {
    type Patch = fn(&mut Value);
    let keep: Patch = |_| {};
    let cases: [(&str, MockSource, Value, Patch, &str, &str); 5] = [
        (
            "clean",
            MockSource::new("s", Style::Page, 2, IPP),
            json!({}),
            keep,
            "complete",
            "",
        ),
        (
            "deadline",
            MockSource::new("s", Style::Page, 3, IPP).faults_for_every_attempt(2, FaultKind::Hang),
            json!({"deadline_ms": 600}),
            keep,
            "deadline",
            "deadline reached before page 2 was done; the deadline was deadline_ms 600 of the config (raise it there, or with --deadline SECS)",
        ),
        (
            "max_pages",
            MockSource::new("s", Style::Page, 2, IPP).endless(),
            json!({"max_pages": 4}),
            keep,
            "max_pages",
            "max_pages (4) requested without reaching the end",
        ),
        (
            "given up in a row",
            MockSource::new("s", Style::Page, 6, IPP)
                .faults_for_every_attempt(2, FaultKind::Status(404))
                .faults_for_every_attempt(3, FaultKind::Status(404))
                .faults_for_every_attempt(4, FaultKind::Status(404)),
            json!({}),
            keep,
            "error",
            "3 pages given up in a row (the last: client_error: status 404",
        ),
        (
            "unusable pointer",
            MockSource::new("s", Style::Cursor, 3, IPP),
            json!({}),
            |s| s["pagination"]["cursor_path"] = json!("meta"),
            "error",
            "unusable next pointer at meta: an object",
        ),
    ];
    for (case, source, policies, patch, status, words) in cases {
        let server = serve(source);
        let o = run(&config(&server, policies, patch));
        let src = o.only();
        assert_eq!(src["status"], status, "{case}: {src:#}");
        // Under the end table too, as SPEC §7 says.
        let table = o.report.end_table();
        if words.is_empty() {
            assert_eq!(src["stop_reason"], Value::Null, "{case}");
            assert!(!table.contains("stop_reason"), "{case}: {table}");
            continue;
        }
        let reason = src["stop_reason"].as_str().unwrap_or_default();
        assert!(reason.contains(words), "{case}: {reason:?}");
        assert!(!reason.contains('\n'), "{case}: one line");
        assert!(
            table.contains(&format!("\nstop_reason: s: {reason}\n")),
            "{case}: {table}"
        );
    }
}
